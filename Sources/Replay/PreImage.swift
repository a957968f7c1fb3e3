import Glibc
import LinuxABI
import Trace

/// A `pre-image` event: what a path held just before the run first changed it (Docs/trace-format.md).
/// A regular file's blob is its contents, a symbolic link's its target, a folder's empty.
public struct PreImage: Equatable, Sendable {
    /// The blob's SHA-256, in hex.
    public var digest: String
    public var path: ByteString

    public init(digest: String, path: ByteString) {
        self.digest = digest
        self.path = path
    }

    public func encoded() -> [UInt8] { Hex.bytes(digest) + path.bytes }

    /// nil when the payload is too short to hold a digest and a path.
    public static func decode(_ payload: [UInt8]) -> PreImage? {
        guard payload.count > 32 else { return nil }
        return PreImage(digest: Hex.string(Array(payload[0..<32])), path: ByteString(Array(payload[32...])))
    }
}

/// A file time, as `stat` gives it.
public struct FileTime: Equatable, Sendable {
    public var seconds: Int64
    public var nanoseconds: Int64
    public init(seconds: Int64, nanoseconds: Int64) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }
    public init(_ t: timespec) { self.init(seconds: Int64(t.tv_sec), nanoseconds: Int64(t.tv_nsec)) }
    public var timespec: Glibc.timespec { Glibc.timespec(tv_sec: Int(seconds), tv_nsec: Int(nanoseconds)) }
}

/// The `pre-image attributes` event that follows each pre-image from events version 6: the path's
/// type and permissions (`st_mode`) and its access and modification times.
public struct PreImageAttributes: Equatable, Sendable {
    public var mode: UInt32
    public var accessed: FileTime
    public var modified: FileTime

    public init(mode: UInt32, accessed: FileTime, modified: FileTime) {
        self.mode = mode
        self.accessed = accessed
        self.modified = modified
    }

    public init(_ st: stat) {
        self.init(mode: st.st_mode, accessed: FileTime(st.st_atim), modified: FileTime(st.st_mtim))
    }

    public var type: UInt32 { mode & UInt32(S_IFMT) }

    public func encoded() -> [UInt8] {
        var b: [UInt8] = []
        appendVarint(&b, UInt64(mode))
        for t in [accessed, modified] {
            appendVarint(&b, zigzag(t.seconds))
            appendVarint(&b, UInt64(max(0, t.nanoseconds)))
        }
        return b
    }

    /// nil unless the payload is exactly five varints with a mode and nanoseconds in range.
    public static func decode(_ payload: [UInt8]) -> PreImageAttributes? {
        var at = 0
        var v: [UInt64] = []
        while at < payload.count, v.count < 5 {
            guard let (x, n) = readVarint(payload, at) else { return nil }
            v.append(x)
            at += n
        }
        guard v.count == 5, at == payload.count, v[0] <= UInt32.max, v[2] < 1_000_000_000, v[4] < 1_000_000_000
        else { return nil }
        func time(_ s: UInt64, _ ns: UInt64) -> FileTime { FileTime(seconds: unzigzag(s), nanoseconds: Int64(ns)) }
        return PreImageAttributes(mode: UInt32(v[0]), accessed: time(v[1], v[2]), modified: time(v[3], v[4]))
    }
}

/// A pre-image where it stands in its stream: with its attributes (from version 6), after how
/// many syscall events, and the number of the call it comes before.
public struct PlacedPreImage {
    public var preImage: PreImage
    public var attributes: PreImageAttributes?
    /// The syscall events before it: the call it comes before is event `event`.
    public var event: Int
    /// That call's number (nil: the stream ends first).
    public var call: UInt64?

    /// A regular file's (before version 6 every pre-image was one, without attributes).
    public var isRegularFile: Bool { attributes.map { $0.type == UInt32(S_IFREG) } ?? true }

    /// Every pre-image of an events file, in order, and the file's version; a pre-image or its
    /// attributes that do not read are a corrupt event.
    public static func all(inEvents path: String) throws(TraceError) -> (version: UInt32, [PlacedPreImage]) {
        var reader = try EventReader(path: path)
        var out: [PlacedPreImage] = []
        var events = 0
        var pending = 0  // pre-images at the end of `out` still waiting for their call
        var afterPreImage = false  // attributes come right after their pre-image
        while let e = try reader.next() {
            defer { afterPreImage = e.kind == EventKind.preImage.rawValue }
            switch EventKind(rawValue: e.kind) {
            case .preImage:
                guard let p = PreImage.decode(e.payload) else {
                    throw .corruptEvent(index: UInt64(events), why: "a pre-image event that does not read")
                }
                out.append(PlacedPreImage(preImage: p, attributes: nil, event: events, call: nil))
                pending += 1
            case .preImageAttributes:
                guard afterPreImage, let a = PreImageAttributes.decode(e.payload) else {
                    throw .corruptEvent(index: UInt64(events), why: "pre-image attributes that do not read")
                }
                out[out.count - 1].attributes = a
            case .syscall:
                if pending > 0 {
                    let number = try? SyscallEvent.decode(e.payload).number
                    for i in out.count - pending..<out.count { out[i].call = number }
                    pending = 0
                }
                events += 1
            default: break
            }
        }
        return (reader.version, out)
    }
}

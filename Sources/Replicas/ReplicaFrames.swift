import Glibc
import LinuxABI
import Trace

/// What a replica tells the supervisor, on its own pipe (Docs/replicas.md "Frames"): each point
/// where replicas are compared — a call that writes (its bytes' digest), every `--compare-every`
/// events (the state's digest), the first event a backup cannot replay, and the end. Replicas
/// are deterministic, so the k-th frame of every healthy replica is the same; the supervisor
/// compares frames in that order.
public struct ReplicaFrame: Equatable, Sendable {
    public enum Kind: UInt8, Sendable {
        /// A call of the write family (any descriptor): digest of its number, descriptor and bytes.
        case output = 1
        /// Every `--compare-every` events: digest of the call and of the guest's writable memory.
        case state = 2
        /// A backup could not replay this event: digest of its report (two backups that fail
        /// alike agree, against the log).
        case failed = 3
        /// The guest ended: digest of its exit status.
        case end = 4
        /// A backup waits for the log at an event where the primary waits for a commit, and its
        /// own call there writes nothing: digest of its call (number and arguments).
        case call = 5
        /// A backup took the primary's place at this event (Docs/replicas.md "Taking over"):
        /// no point of comparison (the supervisor takes it out of the sequence). The digest's
        /// first 8 bytes: the number of its own frame whose commit it waits for (all ones: none).
        case tookOver = 6
    }
    public var kind: Kind
    /// The event (syscall, counted from 0 as `log syscalls` counts them) it was taken at.
    public var event: UInt64
    public var digest: [UInt8]
    /// Set by the primary on a write to Revenant's stdout or stderr: it waits for the commit.
    public var commit: Bool
    /// For the reports: what the call was ("write to stdout", "the replay diverged: …").
    public var what: String

    public init(kind: Kind, event: UInt64, digest: [UInt8], commit: Bool = false, what: String) {
        self.kind = kind
        self.event = event
        self.digest = digest
        self.commit = commit
        self.what = what
    }

    /// The digest's first 8 bytes as a number (little-endian): an `end` frame's exit status, a
    /// `tookOver` frame's frame number.
    public var leadingWord: UInt64 {
        digest.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    }

    /// What replicas must agree on (`commit` and `what` are the primary's or informational).
    public var vote: Vote { Vote(kind: kind, event: event, digest: digest) }
    public struct Vote: Hashable, Sendable {
        public var kind: Kind
        public var event: UInt64
        public var digest: [UInt8]
    }

    /// kind u8, flags u8 (bit 0: commit), event u64 LE, 32-byte digest, what: length u16 LE + UTF-8.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = [kind.rawValue, commit ? 1 : 0]
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: event >> (8 * UInt64(i)))) }
        out += digest.count == 32 ? digest : [UInt8](repeating: 0, count: 32)
        let text = Array(what.utf8.prefix(Int(UInt16.max)))
        out += [UInt8(text.count & 0xff), UInt8(text.count >> 8)] + text
        return out
    }

    public static let fixedSize = 44

    /// The frame at the start of `bytes` and its length; nil when more bytes are needed; throws
    /// on bytes that are no frame (a replica's pipe is the supervisor's own, but checked).
    public static func decode(_ bytes: ArraySlice<UInt8>) throws(FrameError) -> (ReplicaFrame, Int)? {
        guard bytes.count >= fixedSize else { return nil }
        let b = bytes.startIndex
        guard let kind = Kind(rawValue: bytes[b]), bytes[b + 1] <= 1 else { throw FrameError() }
        var event: UInt64 = 0
        for i in 0..<8 { event |= UInt64(bytes[b + 2 + i]) << (8 * UInt64(i)) }
        let length = Int(bytes[b + 42]) | Int(bytes[b + 43]) << 8
        guard bytes.count >= fixedSize + length else { return nil }
        let what = String(decoding: bytes[(b + fixedSize)..<(b + fixedSize + length)], as: UTF8.self)
        let frame = ReplicaFrame(
            kind: kind, event: event, digest: Array(bytes[(b + 10)..<(b + 42)]), commit: bytes[b + 1] == 1,
            what: what)
        return (frame, fixedSize + length)
    }

    public struct FrameError: Error {}
}

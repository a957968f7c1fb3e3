import FoundationEssentials
import Glibc
import LinuxABI

/// The `header` file: what was run, where, on which CPU. 16 bytes (magic "RVNTHEAD", format
/// version, JSON length), the JSON below, then the SHA-256 of everything before it, so that a
/// changed byte is found before anything runs (Docs/trace-format.md). Paths, arguments and
/// environment are `ByteString`s: any byte a program can be given arrives unchanged in replay.
public struct TraceHeader: Codable, Equatable, Sendable {
    public struct Mount: Codable, Equatable, Sendable {
        public var guest: ByteString, host: ByteString, writable: Bool
        public init(guest: ByteString, host: ByteString, writable: Bool) {
            self.guest = guest
            self.host = host
            self.writable = writable
        }
    }
    public struct CPUIDLeaf: Codable, Equatable, Sendable {
        public var leaf: UInt32, subleaf: UInt32, eax: UInt32, ebx: UInt32, ecx: UInt32, edx: UInt32
        public init(leaf: UInt32, subleaf: UInt32, eax: UInt32, ebx: UInt32, ecx: UInt32, edx: UInt32) {
            self.leaf = leaf
            self.subleaf = subleaf
            self.eax = eax
            self.ebx = ebx
            self.ecx = ecx
            self.edx = edx
        }
    }

    public var program: ByteString
    public var argv: [ByteString]
    public var env: [ByteString]
    public var cwd: ByteString
    public var mounts: [Mount]
    public var memory: UInt64
    public var network: Bool
    public var trapStrategy: String
    public var hypervisor: String
    public var cpuid: [CPUIDLeaf]
    public var revenantVersion: String
    public var recordedAt: String
    /// The initial process state the loader builds (it must be rebuilt exactly in replay).
    public var process: Process?
    /// Files the loader mapped (the program, its interpreter), each with its blob's digest.
    public var files: [LoadedFile]?
    /// The shims loaded into the guest ("perl"), and where from (added in 0.3; absent before).
    public var shims: [String]?
    /// Where the shims were loaded from, for the programs the run execs: the VMM puts them into each
    /// (the Perl shim into perl, the SQLite shim first in LD_PRELOAD) in record and replay alike.
    /// Absent in traces from before child processes (their programs got no shims at execve).
    public var shimLibraries: ShimLibraries?
    public struct ShimLibraries: Codable, Equatable, Sendable {
        public var perl: String?, sqlite: String?
        public init(perl: String?, sqlite: String?) {
            self.perl = perl
            self.sqlite = sqlite
        }
    }
    /// The version of the syscall rewriter the recording ran with (the trapless path: the program's
    /// `syscall` instructions rewritten as they first trapped); absent when every syscall trapped.
    /// Replay rewrites the same way, or refuses another version.
    public var syscallRewriter: Int?
    /// The umask the program started with (the one revenant inherited): the modes of the files it
    /// created follow from it (`restore`). Absent in traces recorded before it was kept.
    public var umask: UInt32?
    /// `record --keep-channel`: the live channel is in the trace's `channel.live` (a debugging aid).
    public var keptChannel: Bool?
    /// Revenant's own stdout and stderr where they were regular files: where they started and
    /// whether they append, so that a replay can move and write as the program did.
    public var consoles: [Console]?

    public struct Console: Codable, Equatable, Sendable {
        public var fd: Int32, offset: Int64, append: Bool
        public init(fd: Int32, offset: Int64, append: Bool) {
            self.fd = fd
            self.offset = offset
            self.append = append
        }

        /// Those of `fds` that are regular files, as they are now.
        public static func regularFiles(_ fds: [Int32]) -> [Console] {
            fds.compactMap { fd in
                var st = stat()
                guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
                let offset = lseek(fd, 0, SEEK_CUR)
                guard offset >= 0 else { return nil }
                return Console(fd: fd, offset: Int64(offset), append: fcntl(fd, F_GETFL) & O_APPEND != 0)
            }
        }
    }

    public struct LoadedFile: Codable, Equatable, Sendable {
        public var path: ByteString, blob: String
        public init(path: ByteString, blob: String) {
            self.path = path
            self.blob = blob
        }
    }

    /// The blob holding the file the loader mapped from `path`.
    public func blob(loadedFrom path: ByteString) -> String? { files?.first { $0.path == path }?.blob }

    public struct Process: Codable, Equatable, Sendable {
        public var atRandom: String  // hex of the 16 AT_RANDOM bytes
        public var pid: Int32, ppid: Int32
        public var uid: UInt32, euid: UInt32, gid: UInt32, egid: UInt32
        public var hwcap: UInt64
        public init(
            atRandom: String, pid: Int32, ppid: Int32, uid: UInt32, euid: UInt32, gid: UInt32, egid: UInt32,
            hwcap: UInt64
        ) {
            self.atRandom = atRandom
            self.pid = pid
            self.ppid = ppid
            self.uid = uid
            self.euid = euid
            self.gid = gid
            self.egid = egid
            self.hwcap = hwcap
        }
    }

    public init(
        program: ByteString, argv: [ByteString], env: [ByteString], cwd: ByteString, mounts: [Mount],
        memory: UInt64, network: Bool, trapStrategy: String, hypervisor: String, cpuid: [CPUIDLeaf],
        revenantVersion: String, recordedAt: String
    ) {
        self.program = program
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.mounts = mounts
        self.memory = memory
        self.network = network
        self.trapStrategy = trapStrategy
        self.hypervisor = hypervisor
        self.cpuid = cpuid
        self.revenantVersion = revenantVersion
        self.recordedAt = recordedAt
    }

    public static let magic: [UInt8] = Array("RVNTHEAD".utf8)
    /// 2: paths, arguments and environment as bytes, loaded files as a list, a trailing SHA-256.
    public static let version: UInt32 = 2
    static let digestSize = 32

    public func encoded() throws -> [UInt8] {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .prettyPrinted]
        let json = Array(try enc.encode(self))
        let body = TraceHeader.magic + le(TraceHeader.version) + le(UInt32(json.count)) + json
        return body + SHA256.digest(body)
    }

    public static func decode(_ bytes: [UInt8], path: String = "header") throws(TraceError) -> TraceHeader {
        guard bytes.count >= 16, Array(bytes[0..<8]) == magic else {
            throw .notATrace(path: path, why: "the header does not start with RVNTHEAD")
        }
        let v = readLE32(bytes, 8)
        guard v == version else { throw .unsupportedVersion(file: path, found: v, supported: version) }
        let n = Int(readLE32(bytes, 12))
        guard n <= bytes.count - 16 - digestSize else {
            throw .corruptHeader(why: "JSON length \(n) runs past the end of the file")
        }
        guard bytes.count == 16 + n + digestSize else {
            throw .corruptHeader(why: "\(bytes.count - 16 - n - digestSize) bytes after its checksum")
        }
        guard SHA256.digest(bytes[0..<16 + n]) == Array(bytes[(16 + n)...]) else {
            throw .corruptHeader(why: "its checksum does not match its contents (the file was changed)")
        }
        do {
            return try JSONDecoder().decode(TraceHeader.self, from: Data(bytes[16..<16 + n]))
        } catch {
            throw .corruptHeader(why: "JSON does not decode (\(error))")
        }
    }
}

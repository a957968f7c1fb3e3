import FoundationEssentials
import Glibc

/// The `header` file: what was run, where, on which CPU. 16 bytes (magic "RVNTHEAD", format
/// version, JSON length) then the JSON below (Docs/trace-format.md).
public struct TraceHeader: Codable, Equatable, Sendable {
    public struct Mount: Codable, Equatable, Sendable {
        public var guest: String, host: String, writable: Bool
        public init(guest: String, host: String, writable: Bool) {
            self.guest = guest
            self.host = host
            self.writable = writable
        }
    }
    public struct CPUIDLeaf: Codable, Equatable, Sendable {
        public var leaf: UInt32, subleaf: UInt32, eax: UInt32, ebx: UInt32, ecx: UInt32, edx: UInt32
        public init(leaf: UInt32, subleaf: UInt32, eax: UInt32, ebx: UInt32, ecx: UInt32, edx: UInt32) {
            self.leaf = leaf; self.subleaf = subleaf; self.eax = eax; self.ebx = ebx; self.ecx = ecx; self.edx = edx
        }
    }

    public var program: String
    public var argv: [String]
    public var env: [String]
    public var cwd: String
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
    /// Files the loader mapped (the program, its interpreter): guest path → blob digest.
    public var files: [String: String]?
    /// The shims loaded into the guest ("perl"), and where from (added in 0.3; absent before).
    public var shims: [String]?
    /// `record --keep-channel`: the live channel is in the trace's `channel.live` (a debugging aid).
    public var keptChannel: Bool?

    public struct Process: Codable, Equatable, Sendable {
        public var atRandom: String   // hex of the 16 AT_RANDOM bytes
        public var pid: Int32, ppid: Int32
        public var uid: UInt32, euid: UInt32, gid: UInt32, egid: UInt32
        public var hwcap: UInt64
        public init(atRandom: String, pid: Int32, ppid: Int32, uid: UInt32, euid: UInt32, gid: UInt32, egid: UInt32, hwcap: UInt64) {
            self.atRandom = atRandom; self.pid = pid; self.ppid = ppid
            self.uid = uid; self.euid = euid; self.gid = gid; self.egid = egid; self.hwcap = hwcap
        }
    }

    public init(program: String, argv: [String], env: [String], cwd: String, mounts: [Mount], memory: UInt64,
                network: Bool, trapStrategy: String, hypervisor: String, cpuid: [CPUIDLeaf],
                revenantVersion: String, recordedAt: String) {
        self.program = program; self.argv = argv; self.env = env; self.cwd = cwd; self.mounts = mounts
        self.memory = memory; self.network = network; self.trapStrategy = trapStrategy; self.hypervisor = hypervisor
        self.cpuid = cpuid; self.revenantVersion = revenantVersion; self.recordedAt = recordedAt
    }

    public static let magic: [UInt8] = Array("RVNTHEAD".utf8)
    public static let version: UInt32 = 1

    public func encoded() throws -> [UInt8] {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .prettyPrinted]
        let json = Array(try enc.encode(self))
        return TraceHeader.magic + le(TraceHeader.version) + le(UInt32(json.count)) + json
    }

    public static func decode(_ bytes: [UInt8], path: String = "header") throws(TraceError) -> TraceHeader {
        guard bytes.count >= 16, Array(bytes[0..<8]) == magic else {
            throw .notATrace(path: path, why: "the header does not start with RVNTHEAD")
        }
        let v = readLE32(bytes, 8)
        guard v == version else { throw .unsupportedVersion(file: path, found: v, supported: version) }
        let n = Int(readLE32(bytes, 12))
        guard n <= bytes.count - 16 else { throw .corruptHeader(why: "JSON length \(n) runs past the end of the file") }
        do {
            return try JSONDecoder().decode(TraceHeader.self, from: Data(bytes[16..<16 + n]))
        } catch {
            throw .corruptHeader(why: "JSON does not decode (\(error))")
        }
    }
}

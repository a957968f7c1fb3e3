import Glibc

/// What `record --replicas` leaves beside the trace (`replicas`, Docs/trace-format.md): how many
/// replicas ran, each fault with the replica and event, each recovery. Text, one entry a line;
/// `info` lists it. Read as everything in a trace is: checked, bounded, refused when malformed.
public struct ReplicaRecord: Equatable, Sendable {
    public struct Fault: Equatable, Sendable {
        public var replica: Int
        public var event: UInt64
        public var what: String
        public init(replica: Int, event: UInt64, what: String) {
            self.replica = replica
            self.event = event
            self.what = what
        }
    }
    public struct Recovery: Equatable, Sendable {
        public var replica: Int
        public var donor: Int
        public var event: UInt64
        public init(replica: Int, donor: Int, event: UInt64) {
            self.replica = replica
            self.donor = donor
            self.event = event
        }
    }
    /// A backup that took the primary's place (`replica`, the old primary `from`, the event).
    public struct TakeOver: Equatable, Sendable {
        public var replica: Int
        public var from: Int
        public var event: UInt64
        public init(replica: Int, from: Int, event: UInt64) {
            self.replica = replica
            self.from = from
            self.event = event
        }
    }
    public var replicas: Int
    public var faults: [Fault] = []
    public var recoveries: [Recovery] = []
    public var takeOvers: [TakeOver] = []
    public init(replicas: Int) { self.replicas = replicas }

    /// 2 added `takeover` lines; version 1 files are read as they are.
    static let magic = "revenant-replicas 2"
    static let readable = ["revenant-replicas 1", magic]
    public static func path(in dir: TraceDirectory) -> String { dir.path + "/replicas" }

    /// magic, `replicas N`, then `fault R E TEXT`, `recovery R DONOR E` and `takeover R FROM E`
    /// lines.
    public func encoded() -> String {
        var lines = [Self.magic, "replicas \(replicas)"]
        lines += faults.map { "fault \($0.replica) \($0.event) \($0.what.filter { $0 != "\n" })" }
        lines += recoveries.map { "recovery \($0.replica) \($0.donor) \($0.event)" }
        lines += takeOvers.map { "takeover \($0.replica) \($0.from) \($0.event)" }
        return lines.joined(separator: "\n") + "\n"
    }

    public func write(to dir: TraceDirectory) throws(TraceError) {
        let path = Self.path(in: dir)
        if let e = writeWholeFile(path, Array(encoded().utf8)) { throw .io(path: path, errno: e) }
    }

    /// nil when the trace has none (a run without replicas).
    public static func read(from dir: TraceDirectory) throws(TraceError) -> ReplicaRecord? {
        let path = Self.path(in: dir)
        guard access(path, F_OK) == 0 else { return nil }
        let bytes = try readRegularFile(path)
        func bad(_ why: String) -> TraceError { .notATrace(path: path, why: why) }
        guard bytes.count <= 1 << 20 else { throw bad("it is larger than 1 MiB") }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
        guard let first = lines.first, readable.contains(first), lines.count >= 2, lines[1].hasPrefix("replicas "),
            let n = Int(lines[1].dropFirst(9)), (2...64).contains(n)
        else { throw bad("it does not start with '\(magic)' and a replica count") }
        var record = ReplicaRecord(replicas: n)
        for line in lines.dropFirst(2) {
            let f = line.split(separator: " ", maxSplits: 3).map(String.init)
            switch f.first {
            case "fault" where f.count == 4:
                guard let r = Int(f[1]), let e = UInt64(f[2]) else { throw bad("a fault line does not read: \(line)") }
                record.faults.append(Fault(replica: r, event: e, what: f[3]))
            case "recovery" where f.count == 4:
                guard let r = Int(f[1]), let d = Int(f[2]), let e = UInt64(f[3]) else {
                    throw bad("a recovery line does not read: \(line)")
                }
                record.recoveries.append(Recovery(replica: r, donor: d, event: e))
            case "takeover" where f.count == 4 && first == magic:
                guard let r = Int(f[1]), let from = Int(f[2]), let e = UInt64(f[3]) else {
                    throw bad("a takeover line does not read: \(line)")
                }
                record.takeOvers.append(TakeOver(replica: r, from: from, event: e))
            default: throw bad("a line does not read: \(line.prefix(80))")
            }
        }
        return record
    }
}

/// A fault injected into one replica, for tests and demos (`--inject`, Docs/replicas.md):
///   flip replica=R event=E reg=RAX bit=B   the call's result, as the guest gets it back
///   flip replica=R event=E addr=A bit=B    a bit of guest memory, after the call
///   kill replica=R event=E                 the replica's process, SIGKILL, at the call
///   stall replica=R event=E                the replica stops making progress there
///   flip replica=0 stdin=N bit=B           byte N of a piped stdin or a terminal, as the primary
///                                          gets it (the supervisor keeps it right)
///   flip replica=0 socket=N bit=B          byte N of what the guest reads from stream and
///                                          datagram sockets (all of them, in order), as the
///                                          primary gets it
///   flip replica=0 sender=N bit=B          byte N of the senders' addresses of the datagrams the
///                                          guest reads (all of them, in order), as the primary
///                                          gets them
///   flip replica=0 file=N bit=B            byte N of what the guest reads from files the
///                                          backups check (FileReads), as the primary gets it
///   flip replica=R event=E addr=A bit=B in=checkpoint
///                                          a bit of the checkpoint backup R takes at event E
///                                          (two replicas), before the supervisor verifies it
/// Replica 0 is the primary. A flip in the primary happens after its recorder logged the call:
/// the log stays right, as when a CPU's fault hits one machine.
public struct FaultInjection: Equatable, Sendable, CustomStringConvertible {
    public enum Action: Equatable, Sendable {
        case flipResult(bit: Int)
        case flipMemory(address: UInt64, bit: Int)
        case flipStdin(byte: Int, bit: Int)
        case flipSocket(byte: Int, bit: Int)
        case flipSender(byte: Int, bit: Int)
        case flipFile(byte: Int, bit: Int)
        case kill
        case stall
    }
    public var replica: Int
    public var event: UInt64
    public var action: Action
    /// `in=checkpoint`: the flip is in the checkpoint taken at the event, not in the replica.
    public var inCheckpoint = false
    public let description: String

    /// One `--inject` value; a line naming what is wrong when it is not one.
    public init(parsing text: String) throws(InjectionError) {
        description = text
        let words = text.split(separator: " ").map(String.init)
        guard let verb = words.first else { throw InjectionError("--inject: empty (e.g. 'kill replica=1 event=40')") }
        var fields: [String: String] = [:]
        for w in words.dropFirst() {
            let kv = w.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2, fields[kv[0]] == nil else {
                throw InjectionError("--inject '\(text)': '\(w)' is not KEY=VALUE (or is given twice)")
            }
            fields[kv[0]] = kv[1]
        }
        func number(_ key: String) throws(InjectionError) -> UInt64 {
            guard let v = fields.removeValue(forKey: key) else {
                throw InjectionError("--inject '\(text)': \(key)= is missing")
            }
            let parsed = v.hasPrefix("0x") ? UInt64(v.dropFirst(2), radix: 16) : UInt64(v)
            guard let parsed else { throw InjectionError("--inject '\(text)': \(key)=\(v) is not a number") }
            return parsed
        }
        let replica = try number("replica")
        guard replica < ReplicaBoard.maxReplicas else {
            throw InjectionError("--inject '\(text)': replica=\(replica): replicas are numbered from 0 (the primary)")
        }
        self.replica = Int(replica)
        // A byte of stdin, of a socket, of a datagram's sender or of a file is no event's.
        let input = ["stdin", "socket", "sender", "file"].first { fields[$0] != nil }
        event = verb == "flip" && input != nil && fields["event"] == nil ? 0 : try number("event")
        switch verb {
        case "flip":
            let bit = try number("bit")
            if let input {
                let byte = try number(input)
                guard replica == 0 else {
                    let what = ["file": "files", "sender": "senders"][input] ?? input
                    throw InjectionError("--inject '\(text)': \(input)=: only the primary (replica 0) reads \(what)")
                }
                guard bit < 8 else { throw InjectionError("--inject '\(text)': bit=\(bit): a byte's, 0 to 7") }
                switch input {
                case "stdin": action = .flipStdin(byte: Int(byte), bit: Int(bit))
                case "socket": action = .flipSocket(byte: Int(byte), bit: Int(bit))
                case "sender": action = .flipSender(byte: Int(byte), bit: Int(bit))
                default: action = .flipFile(byte: Int(byte), bit: Int(bit))
                }
            } else if let reg = fields.removeValue(forKey: "reg") {
                guard reg.uppercased() == "RAX" else {
                    throw InjectionError(
                        "--inject '\(text)': reg=\(reg): at a syscall only RAX (the call's result) can be flipped")
                }
                guard bit < 64 else { throw InjectionError("--inject '\(text)': bit=\(bit): 0 to 63") }
                action = .flipResult(bit: Int(bit))
            } else {
                let address = try number("addr")
                guard bit < 8 else { throw InjectionError("--inject '\(text)': bit=\(bit): a byte's, 0 to 7") }
                action = .flipMemory(address: address, bit: Int(bit))
            }
        case "kill": action = .kill
        case "stall": action = .stall
        default:
            throw InjectionError("--inject '\(text)': '\(verb)' is not flip, kill or stall")
        }
        if let target = fields.removeValue(forKey: "in") {
            guard target == "checkpoint", case .flipMemory = action else {
                throw InjectionError("--inject '\(text)': in=\(target): only a flip of memory can be in=checkpoint")
            }
            inCheckpoint = true
        }
        if let extra = fields.keys.sorted().first {
            throw InjectionError("--inject '\(text)': \(extra)= does not apply to \(verb)")
        }
    }
}

public struct InjectionError: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}

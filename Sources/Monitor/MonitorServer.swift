import Glibc
import RevenantKit
import SQLReplay
import Trace

/// `revenant monitor`: the JSON-lines protocol of Docs/monitor-protocol.md over a ReplayMonitor.
/// The monitor speaks first only after `hello`; between notifications it sends requests, each
/// answered by one reply or error, until `continue` or `stop` lets the replay go on.
public final class MonitorServer {
    public static let protocolVersion = 1
    let monitor: ReplayMonitor
    let process: MonitorProcess
    private var transcript: UnsafeMutablePointer<FILE>?
    /// What ends the session from inside the replay's hooks (a monitor gone, silent, garbled).
    private var fatal: (any Error)?

    public init(monitor: ReplayMonitor, command: [String], timeout: Double, transcript path: String?) throws {
        self.monitor = monitor
        if let path {
            guard let f = fopen(path, "w") else {
                throw CLIError("--transcript \(path): \(String(cString: strerror(errno)))")
            }
            transcript = f
        }
        process = try MonitorProcess(command: command, timeout: timeout)
    }

    deinit { if let transcript { fclose(transcript) } }

    /// The whole session: hello, requests until the first `continue`, the replay with its
    /// notifications, `end`; then the monitor's exit status.
    public func run() throws -> Int32 {
        try send([
            "type": .string("hello"), "protocol": .int(Int64(Self.protocolVersion)), "trace": .string(monitor.trace),
            "pid": monitor.pid.map { .int(Int64($0)) } ?? .null, "levels": .array(monitor.levels.map { .string($0) }),
        ])
        if try converse(nil) == .stop {
            try send(["type": .string("end"), "reason": .string("stopped"), "events": .int(0)])
            return try process.finish()
        }
        let finished = try monitor.run { [unowned self] notification, pause in
            guard fatal == nil else { return .stop }
            do {
                try send(message(notification))
                return try converse(pause)
            } catch {
                fatal = error
                return .stop
            }
        }
        if let fatal { throw fatal }
        try send([
            "type": .string("end"), "reason": .string(finished ? "finished" : "stopped"),
            "events": .int(Int64(monitor.eventsReplayed)),
        ])
        return try process.finish()
    }

    /// Requests until `continue` or `stop`.
    private func converse(_ pause: MonitorPause?) throws -> MonitorResume {
        while true {
            let line = try process.receive()
            log("monitor", line)
            let request: JSONValue
            do { request = try JSONValue(parsing: line) } catch {
                throw CLIError(
                    "the monitor \(process.name) sent a line that is not JSON (\(error)): \(String(line.prefix(80)))")
            }
            let id = request["id"] ?? .null
            func refuse(_ why: String) throws { try send(["type": .string("error"), "id": id, "error": .string(why)]) }
            guard case .object = request else {
                try refuse("a request is a JSON object")
                continue
            }
            do {
                let (result, resume) = try answer(request, pause)
                try send(["type": .string("reply"), "id": id, "result": .sorted(result)])
                if let resume { return resume }
            } catch let e as CustomStringConvertible & Error
                where e is RequestError || e is QueryError || e is SubscriptionError || (e as? CLIError)?.code == 1
            {
                // Answers: the session goes on. Anything else ends it.
                try refuse(e.description)
            }
        }
    }

    /// One request's result, and how the replay goes on when it says so.
    private func answer(_ r: JSONValue, _ pause: MonitorPause?) throws -> ([String: JSONValue], MonitorResume?) {
        guard let name = r["request"]?.string else { throw RequestError("a request needs \"request\": a name") }
        func paused() throws -> MonitorPause {
            guard let pause else { throw RequestError("\(name): the replay is not paused yet (ask at a notification)") }
            return pause
        }
        switch name {
        case "continue": return ([:], .proceed)
        case "stop": return ([:], .stop)
        case "subscribe": return (["subscription": .int(Int64(try monitor.subscribe(try subscription(r))))], nil)
        case "unsubscribe":
            let id = try number(r, "subscription")
            guard monitor.unsubscribe(Int(id)) else { throw RequestError("unsubscribe: no subscription \(id)") }
            return ([:], nil)
        case "print":
            print(try string(r, "text"))
            fflush(nil)
            return ([:], nil)
        case "position": return (["position": position(try paused().position, at: nil)], nil)
        case "registers":
            let registers = try paused().registers().map { ($0.0, JSONValue.string("0x" + String($0.1, radix: 16))) }
            return (["registers": .object(registers)], nil)
        case "memory":
            let bytes = try paused().memory(at: try address(r, "address"), count: Int(try number(r, "length")))
            return (["hex": .string(Hex.string(bytes))], nil)
        case "symbolize": return (["symbol": .string(try paused().symbolize(try address(r, "address")))], nil)
        case "lookup":
            let found = try paused().addresses(of: try string(r, "symbol"))
            return (["addresses": .array(found.map { .int(Int64($0)) })], nil)
        case "perl": return (["value": .string(try paused().perl(try string(r, "expression")))], nil)
        case "file":
            let data = try paused().file(try string(r, "path"))
            var out: [String: JSONValue] = ["size": .int(Int64(data.count)), "base64": .string(base64(data))]
            if let text = String(validating: data, as: UTF8.self) { out["text"] = .string(text) }
            return (out, nil)
        case "database":
            let force = r["force"] == .bool(true)
            let said = try paused().database(try string(r, "output"), name: r["db"]?.string, force: force)
            return (["summary": .string(said)], nil)
        default:
            throw RequestError("unknown request \"\(name)\"")
        }
    }

    /// A subscribe request's kind and its one parameter.
    private func subscription(_ r: JSONValue) throws -> SubscriptionKind {
        let kind = try string(r, "kind")
        switch kind {
        case "syscall": return .syscall(filter: try string(r, "filter"))
        case "perl":
            if let line = r["line"]?.string { return .perlLine(line) }
            if let when = r["when"]?.string { return .perlWhen(when) }
            return .perlStatements
        case "sql":
            if let table = r["table"]?.string { return .sqlTable(table) }
            if let when = r["when"]?.string { return .sqlWhen(when) }
            return .sqlStatements
        case "code":
            if let symbol = r["symbol"]?.string { return .symbol(symbol) }
            return .address(try address(r, "address"))
        case "watch": return .watch(address: try address(r, "address"), length: Int(try number(r, "length")))
        case "process": return .process
        default:
            throw RequestError("subscribe: unknown kind \"\(kind)\" (syscall, perl, sql, code, watch or process)")
        }
    }

    private func message(_ n: MonitorNotification) -> [String: JSONValue] {
        var details: [String: JSONValue] = [:]
        for (k, v) in n.details {
            switch v {
            case .text(let s): details[k] = .string(s)
            case .number(let i): details[k] = .int(i)
            case .unsigned(let u): details[k] = .int(Int64(truncatingIfNeeded: u))
            case .list(let l): details[k] = .array(l.map { .string($0) })
            }
        }
        return [
            "type": .string("notification"), "subscription": .int(Int64(n.subscription)),
            "kind": .string(n.kind.level), "position": position(n.position, at: n.at), "details": .sorted(details),
        ]
    }

    private func position(_ p: Position, at: RunPosition?) -> JSONValue {
        var out: [String: JSONValue] = ["event": .int(Int64(p.event))]
        out["perl"] = p.perl.map { .string($0) } ?? .null
        if let caller = p.perlCaller { out["perl_caller"] = .string(caller) }
        out["sql"] = p.sql.map { .int(Int64($0)) } ?? .null
        if let at { out["at"] = .string(at.description) }
        return .sorted(out)
    }

    private func send(_ message: [String: JSONValue]) throws {
        let line = JSONValue.sorted(message).text
        log("revenant", line)
        try process.send(line)
    }

    private func log(_ who: String, _ line: String) {
        guard let transcript else { return }
        fputs("\(who): \(line)\n", transcript)
        fflush(transcript)
    }

    private func string(_ r: JSONValue, _ key: String) throws -> String {
        guard let s = r[key]?.string else { throw RequestError("\(name(r)): \"\(key)\" must be a string") }
        return s
    }

    private func number(_ r: JSONValue, _ key: String) throws -> Int64 {
        guard let n = r[key]?.integer else { throw RequestError("\(name(r)): \"\(key)\" must be a whole number") }
        return n
    }

    private func name(_ r: JSONValue) -> String { r["request"]?.string ?? "?" }

    /// An address: a number, or a string in hex (`"0x7f…"`), exact beyond 2^53.
    private func address(_ r: JSONValue, _ key: String) throws -> UInt64 {
        if let s = r[key]?.string, s.hasPrefix("0x"), let a = UInt64(s.dropFirst(2), radix: 16) { return a }
        let n = try number(r, key)
        guard n >= 0 else { throw RequestError("\(name(r)): \"\(key)\" must not be negative") }
        return UInt64(n)
    }
}

/// RFC 4648 base64, with padding.
func base64(_ bytes: [UInt8]) -> String {
    let table = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    var out: [UInt8] = []
    out.reserveCapacity((bytes.count + 2) / 3 * 4)
    var i = 0
    while i < bytes.count {
        let n = min(3, bytes.count - i)
        var v = UInt32(bytes[i]) << 16
        if n > 1 { v |= UInt32(bytes[i + 1]) << 8 }
        if n > 2 { v |= UInt32(bytes[i + 2]) }
        for k in 0..<4 { out.append(k <= n ? table[Int((v >> (18 - 6 * UInt32(k))) & 63)] : UInt8(ascii: "=")) }
        i += 3
    }
    return String(decoding: out, as: UTF8.self)
}

/// A request that cannot be answered: its error reply.
struct RequestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

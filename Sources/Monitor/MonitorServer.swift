import Foundation
import RevenantKit
import SQLReplay

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
            "type": "hello", "protocol": Self.protocolVersion, "trace": monitor.trace,
            "pid": monitor.pid.map { Int($0) as Any } ?? NSNull(), "levels": monitor.levels,
        ])
        if try converse(nil) == .stop {
            try send(["type": "end", "reason": "stopped", "events": 0])
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
            "type": "end", "reason": finished ? "finished" : "stopped", "events": monitor.eventsReplayed,
        ])
        return try process.finish()
    }

    /// Requests until `continue` or `stop`.
    private func converse(_ pause: MonitorPause?) throws -> MonitorResume {
        while true {
            let line = try process.receive()
            log("monitor", line)
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) else {
                throw CLIError("the monitor \(process.name) sent a line that is not JSON: \(String(line.prefix(80)))")
            }
            guard let request = object as? [String: Any] else {
                try send(["type": "error", "id": NSNull(), "error": "a request is a JSON object"])
                continue
            }
            let id = request["id"] ?? NSNull()
            do {
                let (result, resume) = try answer(request, pause)
                try send(["type": "reply", "id": id, "result": result])
                if let resume { return resume }
            } catch let e as RequestError {
                try send(["type": "error", "id": id, "error": e.description])
            } catch let e as QueryError {
                try send(["type": "error", "id": id, "error": e.description])
            } catch let e as SubscriptionError {
                try send(["type": "error", "id": id, "error": e.description])
            } catch let e as CLIError where e.code == 1 {
                try send(["type": "error", "id": id, "error": e.message])
            }
        }
    }

    /// One request's result, and how the replay goes on when it says so.
    private func answer(_ r: [String: Any], _ pause: MonitorPause?) throws -> ([String: Any], MonitorResume?) {
        guard let name = r["request"] as? String else { throw RequestError("a request needs \"request\": a name") }
        func paused() throws -> MonitorPause {
            guard let pause else { throw RequestError("\(name): the replay is not paused yet (ask at a notification)") }
            return pause
        }
        switch name {
        case "continue": return ([:], .proceed)
        case "stop": return ([:], .stop)
        case "subscribe": return (["subscription": try monitor.subscribe(try subscription(r))], nil)
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
            var out: [String: Any] = [:]
            for (k, v) in try paused().registers() { out[k] = "0x" + String(v, radix: 16) }
            return (["registers": out], nil)
        case "memory":
            let bytes = try paused().memory(at: try address(r, "address"), count: Int(try number(r, "length")))
            return (["hex": hexString(bytes)], nil)
        case "symbolize": return (["symbol": try paused().symbolize(try address(r, "address"))], nil)
        case "lookup": return (["addresses": try paused().addresses(of: try string(r, "symbol")).map { Int($0) }], nil)
        case "perl": return (["value": try paused().perl(try string(r, "expression"))], nil)
        case "file":
            let data = try paused().file(try string(r, "path"))
            var out: [String: Any] = ["size": data.count, "base64": Data(data).base64EncodedString()]
            if let text = String(validating: data, as: UTF8.self) { out["text"] = text }
            return (out, nil)
        default:
            throw RequestError("unknown request \"\(name)\"")
        }
    }

    /// A subscribe request's kind and its one parameter.
    private func subscription(_ r: [String: Any]) throws -> SubscriptionKind {
        let kind = try string(r, "kind")
        switch kind {
        case "syscall": return .syscall(filter: try string(r, "filter"))
        case "perl":
            if let line = r["line"] as? String { return .perlLine(line) }
            if let when = r["when"] as? String { return .perlWhen(when) }
            return .perlStatements
        case "sql":
            if let table = r["table"] as? String { return .sqlTable(table) }
            if let when = r["when"] as? String { return .sqlWhen(when) }
            return .sqlStatements
        case "code":
            if let symbol = r["symbol"] as? String { return .symbol(symbol) }
            return .address(try address(r, "address"))
        case "watch": return .watch(address: try address(r, "address"), length: Int(try number(r, "length")))
        default:
            throw RequestError("subscribe: unknown kind \"\(kind)\" (syscall, perl, sql, code or watch)")
        }
    }

    private func message(_ n: MonitorNotification) -> [String: Any] {
        var details: [String: Any] = [:]
        for (k, v) in n.details {
            switch v {
            case .text(let s): details[k] = s
            case .number(let i): details[k] = Int(i)
            case .unsigned(let u): details[k] = Int(truncatingIfNeeded: u)
            case .list(let l): details[k] = l
            }
        }
        return [
            "type": "notification", "subscription": n.subscription, "kind": n.kind.level,
            "position": position(n.position, at: n.at), "details": details,
        ]
    }

    private func position(_ p: Position, at: RunPosition?) -> [String: Any] {
        var out: [String: Any] = ["event": p.event]
        out["perl"] = p.perl ?? NSNull()
        if let caller = p.perlCaller { out["perl_caller"] = caller }
        out["sql"] = p.sql ?? NSNull()
        if let at { out["at"] = at.description }
        return out
    }

    private func send(_ message: [String: Any]) throws {
        let data = try JSONSerialization.data(withJSONObject: message, options: [.sortedKeys, .withoutEscapingSlashes])
        let line = String(decoding: data, as: UTF8.self)
        log("revenant", line)
        try process.send(line)
    }

    private func log(_ who: String, _ line: String) {
        guard let transcript else { return }
        fputs("\(who): \(line)\n", transcript)
        fflush(transcript)
    }

    private func string(_ r: [String: Any], _ key: String) throws -> String {
        guard let s = r[key] as? String else {
            throw RequestError("\(r["request"] ?? "?"): \"\(key)\" must be a string")
        }
        return s
    }

    private func number(_ r: [String: Any], _ key: String) throws -> Int64 {
        guard let n = r[key] as? NSNumber, n.doubleValue == n.doubleValue.rounded(), abs(n.doubleValue) < 9.3e18 else {
            throw RequestError("\(r["request"] ?? "?"): \"\(key)\" must be a whole number")
        }
        return n.int64Value
    }

    /// An address: a number, or a string in hex (`"0x7f…"`), exact beyond 2^53.
    private func address(_ r: [String: Any], _ key: String) throws -> UInt64 {
        if let s = r[key] as? String, s.hasPrefix("0x"), let a = UInt64(s.dropFirst(2), radix: 16) { return a }
        let n = try number(r, key)
        guard n >= 0 else { throw RequestError("\(r["request"] ?? "?"): \"\(key)\" must not be negative") }
        return UInt64(n)
    }
}

/// A request that cannot be answered: its error reply.
struct RequestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

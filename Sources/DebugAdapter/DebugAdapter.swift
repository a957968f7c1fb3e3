import Glibc
import Monitor
import PerlReplay
import Regen
import Replay
import RevenantKit
import SQLReplay

/// `revenant dap`: the Perl-level replay (the VM form, as `perl --debug` steps it) behind the
/// Debug Adapter Protocol (Docs/dap.md). Forward commands steer the running replay; a step
/// backwards replays again from the start to the statement wanted (deterministic replay makes
/// it exact), with the breakpoints' conditions and hit counts evaluated on the way.
public final class DebugAdapter {
    let io = DAPConnection()
    var trace: String?
    var run: PerlReplayRun?
    var lines: [String: [LineBreakpoint]] = [:]
    var functions: [(name: String, condition: Condition?, entries: Set<Int>)] = []
    /// The exception filters set: `die` (in the program's own code) and `die-all`.
    var dieFilters: Set<String> = []
    /// The statement a stop for a `die` is before (its die is not stopped at again), and the
    /// message.
    var exceptionStop: Int?
    var exceptionMessage: String?
    /// The replay under way ends for another (a step backwards, a die to stop before).
    var restarting = false
    var stopOnEntry = false
    var launched = false, configured = false, finished = false, disconnected = false
    /// Where the next replay goes: a statement (and the reason to give there), or the scan that
    /// finds the last breakpoint stop before a statement.
    var next: Mode = .proceed
    var mode: Mode = .proceed
    var counts: [String: Int] = [:]
    var references: [Int: Reference] = [:]
    package var evaluation = EvaluationLimit()

    enum Mode {
        case target(Int, reason: String)
        case stepIn
        case over(depth: Int)
        case out(depth: Int)
        case proceed
        case scan(until: Int, last: Int?)
    }

    enum Reference {
        case locals, package(String), value(UInt64)
    }

    struct LineBreakpoint {
        /// FILE:LINE, FILE as the index knows it (the client's absolute path made relative to
        /// the recorded working directory where it lies under it).
        var point: Breakpoint
        var condition: Condition?
        var hit: HitCondition?
        var id: String { "\(point.file):\(point.line)" }
    }

    /// A breakpoint's condition: the VMM's subset, read from memory at each arrival, or any
    /// other Perl expression, evaluated by perl in a throw-away clone of the paused VM (~20 ms).
    enum Condition {
        case subset(PerlExpression)
        case perl(String)
        init?(_ text: String?) {
            guard let text, !text.allSatisfy(\.isWhitespace) else { return nil }
            if let e = try? PerlExpression.parse(text) { self = .subset(e) } else { self = .perl(text) }
        }
    }

    /// `N` (the N-th time), `>= N`, `> N`, `% N` (every N-th).
    struct HitCondition {
        var op: String, n: Int
        init?(_ text: String) {
            let t = text.filter { $0 != " " }
            for op in [">=", ">", "%", "=="] where t.hasPrefix(op) {
                guard let n = Int(t.dropFirst(op.count)), n > 0 else { return nil }
                (self.op, self.n) = (op, n)
                return
            }
            guard let n = Int(t), n > 0 else { return nil }
            (self.op, self.n) = ("==", n)
        }
        func holds(_ count: Int) -> Bool {
            switch op {
            case ">=": return count >= n
            case ">": return count > n
            case "%": return count % n == 0
            default: return count == n
            }
        }
    }

    public init(trace: String?) { self.trace = trace }

    /// Serve until the client disconnects or closes the connection; the exit status.
    public func serve() throws -> Int32 {
        while !disconnected {
            if launched && configured && !finished, run != nil {
                try replay()
                continue
            }
            guard let request = try io.receive() else { return 0 }
            handle(request, at: nil)
        }
        return 0
    }

    // MARK: the replay

    /// One replay, from the start, in the mode `next` says; ends at the program's end (the
    /// session is then over), at a disconnect, or when a step backwards needs another.
    private func replay() throws {
        guard let run else { return }
        let session = try questionReplay(run.trace, mailbox: false, process: run.process)
        let stepper = PerlStepper(session: session)
        mode = next
        next = .proceed
        counts = [:]
        restarting = false
        // At each resume: breakpoints set at a stop count from the next one.
        func aim() {
            let breakpointStatements = (try? self.breakpointStatements()) ?? []
            switch mode {
            case .stepIn, .over, .out:
                stepper.stepAll = true
            case .target(let seq, _):
                stepper.stepAll = false
                stepper.targets = (breakpointStatements + [(seq, (try? run.index.statementEvent(seq: seq)) ?? 0)])
                    .sorted { $0.seq < $1.seq }
            case .proceed, .scan:
                stepper.stepAll = false
                stepper.targets = breakpointStatements
            }
        }
        aim()
        watchDies(session, stepper)
        stepper.onStop = { [unowned self] stop, stepper in
            let hit = breakpointHit(stop, stepper, session)
            func depth() -> Int { (try? stepper.inspector().depth()) ?? 0 }
            var reason: String?
            switch mode {
            case .target(let seq, let why):
                if stop.seq >= seq { reason = why }
            case .stepIn: reason = "step"
            case .over(let d): reason = depth() <= d ? "step" : hit
            case .out(let d): reason = depth() < d ? "step" : hit
            case .proceed: reason = hit
            case .scan(let until, let last):
                if stop.seq >= until {
                    next = last.map { .target($0, reason: "breakpoint") } ?? .target(0, reason: "entry")
                    restarting = true
                    return false
                }
                if hit != nil { mode = .scan(until: until, last: stop.seq) }
            }
            guard let reason else { return true }
            references = [:]
            var event: [String: JSONValue] = [
                "reason": .string(reason), "threadId": .int(1), "allThreadsStopped": .bool(true),
            ]
            if reason == "exception" {
                exceptionStop = stop.seq
                event["text"] = .string(exceptionMessage ?? "die")
                event["description"] = .string("dies: " + (exceptionMessage ?? "?"))
            } else {
                exceptionStop = nil
            }
            io.event("stopped", event)
            // The other levels of this position, as extra information.
            let position = Position(event: stop.event, perl: stop.location, sql: stepper.current().sql)
            say("statement #\(stop.seq): \(position)")
            let context = Stop(stop: stop, stepper: stepper, session: session, depth: depth())
            while true {
                guard let request = try? io.receive() else {
                    disconnected = true
                    return false
                }
                switch handle(request, at: context) {
                case .wait: continue
                case .resume:
                    aim()
                    return true
                case .restart:
                    restarting = true
                    return false
                case .end:
                    disconnected = true
                    return false
                }
            }
        }
        let outcome = session.run()
        // The hooks hold the stepper and the session: let go of them (and of the guest's
        // address range, which the next replay needs).
        stepper.onStop = nil
        stepper.onEvent = nil
        session.machine.onBreakpoint = nil
        if let e = stepper.error { throw CLIError("\(run.trace): \(e)") }
        if restarting || disconnected { return }
        let status: Int32
        switch outcome {
        case .finished(let end, _): status = end.exitStatus
        case .stopped: status = 0
        case .diverged(let d): throw CLIError(d, code: 124)
        case .traceFailed(let t): throw CLIError(t)
        }
        finished = true
        io.event("exited", ["exitCode": .int(Int64(status))])
        io.event("terminated")
    }

    /// Exception breakpoints: a machine breakpoint on perl's `Perl_die_unwind` (every `die`,
    /// caught or not). Going forwards, a die in a statement after the last stop ends this replay
    /// and the next one stops right before that statement, with the message: every value shown
    /// is then the statement's, exact.
    private func watchDies(_ session: ReplaySession, _ stepper: PerlStepper) {
        guard !dieFilters.isEmpty else { return }
        let symbols = SymbolBreakpoints(machine: session.machine)
        stepper.onEvent = { _ in symbols.add(["Perl_die_unwind"]) }
        session.machine.onBreakpoint = { [unowned self, unowned session, unowned stepper] address in
            // (A replay that is ending runs on to its next event: what dies meanwhile is not seen.)
            guard !restarting, !disconnected, symbols.names[address] != nil, session.replayer.isTarget,
                let statement = stepper.current().statement
            else { return }
            switch mode {
            case .proceed, .stepIn, .over, .out: break
            case .target, .scan: return
            }
            guard statement.seq != exceptionStop,
                dieFilters.contains("die-all") || ChannelDecoder.isProgramCode(statement.file)
            else { return }
            // perl's die_unwind(my_perl, msv): the message is its second argument.
            let message = session.machine.programRegisters().flatMap { r in
                try? stepper.inspector().scalar(r.regs.rsi).bytes.map { String(decoding: $0, as: UTF8.self) }
            }
            var text = message ?? "die"
            while text.last == "\n" { text.removeLast() }
            exceptionMessage = text
            next = .target(statement.seq, reason: "exception")
            restarting = true
            session.replayer.stopRequested = true
        }
    }

    /// A line in the client's debug console.
    func say(_ text: String) {
        io.event("output", ["category": .string("console"), "output": .string(text + "\n")])
    }

    /// Every statement a breakpoint is on (lines, and the entries of subs).
    private func breakpointStatements() throws -> [(seq: Int, event: Int)] {
        guard let run else { return [] }
        var all = try run.targets(lines.values.joined().map(\.point))
        for f in functions { all += try run.index.statements(seqs: Array(f.entries)).map { ($0.key, $0.value.event) } }
        return all.sorted { $0.seq < $1.seq }
    }

    /// A breakpoint at this statement whose condition holds and whose hit count is met: its
    /// reason ("breakpoint", "function breakpoint"), else nil. Hits are counted from the start.
    private func breakpointHit(_ stop: PerlStop, _ stepper: PerlStepper, _ session: ReplaySession) -> String? {
        var reason: String?
        func holds(_ condition: Condition?) -> Bool {
            switch condition {
            case nil: return true
            case .subset(let e):
                return ((try? stepper.evaluator(package: stop.package).truthInScope(e)) ?? nil) == true
            case .perl(let text):
                let answer = Result {
                    try CloneEvaluation.evaluate("(\(text)) ? 1 : 0", in: session, evaluation: evaluation)
                }
                switch answer {
                case .success(.success(let v)): return v == "1"
                case .success(.failure(let e)): say("condition \(text) at \(stop.location): \(e.message)")
                case .failure(let e): say("condition \(text) at \(stop.location): \(e)")
                }
                return false
            }
        }
        for b in lines.values.joined() where b.point.matches(stop) {
            guard holds(b.condition) else { continue }
            counts[b.id, default: 0] += 1
            if b.hit?.holds(counts[b.id]!) ?? true { reason = "breakpoint" }
        }
        for f in functions where f.entries.contains(stop.seq) && holds(f.condition) {
            reason = reason ?? "function breakpoint"
        }
        return reason
    }
}

/// Where the replay is paused, for the requests that look at it.
struct Stop {
    var stop: PerlStop
    var stepper: PerlStepper
    var session: ReplaySession
    var depth: Int
}

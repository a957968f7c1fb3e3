import Glibc
import GuestMemory
import LinuxABI
import Machine
import PerlReplay
import Regen
import Replay
import RevenantKit
import SQLReplay
import Trace

/// A notification: the replay is paused where a subscription matched.
public struct MonitorNotification {
    public var subscription: Int
    public var kind: SubscriptionKind
    /// The position at every level: the event, the Perl statement running, the SQL statement
    /// last started.
    public var position: Position
    /// The same place as `--at` takes it (Docs/positions.md), where it has that form.
    public var at: RunPosition?
    /// What matched, by level: the call (as `log syscalls` prints it), the Perl statement's number
    /// and sub, the SQL statement's number and text, the function, the bytes before and after.
    public var details: [(String, MonitorValue)] = []

    /// One of the details, by name.
    public func detail(_ key: String) -> MonitorValue? { details.first { $0.0 == key }?.1 }
}

/// A value in a notification or an answer.
public enum MonitorValue: Equatable {
    case text(String)
    case number(Int64)
    case unsigned(UInt64)
    case list([String])
}

extension MonitorValue: CustomStringConvertible {
    public var description: String {
        switch self {
        case .text(let s): return s
        case .number(let n): return String(n)
        case .unsigned(let u): return String(u)
        case .list(let l): return l.joined(separator: ", ")
        }
    }
}

/// How the replay goes on after a notification.
public enum MonitorResume {
    case proceed
    /// End the replay here (the session ends as if the program had).
    case stop
}

/// The monitor interface in Swift (Docs/monitor-protocol.md is its JSON-lines form): subscribe,
/// run, and at each notification look at the paused replay and say how it goes on. The replay
/// is the one `replay` runs, with every call an exit (no mailbox), so that the vCPU's registers
/// are there at every notification and a Perl stop can be cloned; nothing the monitor asks
/// changes what the program does.
public final class ReplayMonitor {
    public let trace: String
    let session: ReplaySession
    let stepper: PerlStepper
    let symbols: SymbolBreakpoints
    /// The process's index, when the run had shims (positions at the Perl and SQL levels).
    let index: TraceIndex?
    /// perl:FILE:LINE:K of a Perl notification, from the index.
    let executions: PerlExecutions?
    let directory: TraceDirectory
    /// The process followed (nil: the first).
    let pid: Int32?
    package var evaluation = EvaluationLimit()
    /// The levels this run has: the machine's always, Perl's and SQL's with their shims.
    public var levels: [String] {
        let shims = session.header.shims ?? []
        return ["machine"] + (shims.contains("perl") ? ["perl"] : []) + (shims.contains("sqlite") ? ["sql"] : [])
    }
    /// Events replayed so far, of the process followed.
    public var eventsReplayed: Int { Int(session.replayer.index) }
    /// In subscription order (ids only grow): the order notifications at one place come in.
    private var subscriptions: [ActiveSubscription] = []
    private var nextID = 1
    private var handler: ((MonitorNotification, MonitorPause) -> MonitorResume)?
    private var stopped = false
    /// A failure inside a hook, thrown once the replay is back.
    private var failure: (any Error)?

    /// Every call an exit (the default): registers at every notification, clones at Perl ones.
    /// Without, calls go through the mailbox, as `replay` serves them (faster; `when` searches
    /// so): registers only at a code notification, the VMM's Perl subset only.
    public let everyCallAnExit: Bool
    /// Code notifications in the shims' own libraries too (their wrappers of the program's calls).
    public var includeShims = false
    /// Whether any function a `symbol` subscription names was found in a mapping.
    public var symbolsFound: Bool { !symbols.names.isEmpty }

    public init(trace: String, pid: Int32?, everyCallAnExit: Bool = true) throws {
        self.trace = trace
        self.everyCallAnExit = everyCallAnExit
        let header: TraceHeader
        do { (directory, header) = try TraceDirectory.open(trace) } catch { throw CLIError(error.description) }
        let table: ProcessTable
        do { table = try ProcessTable(directory, firstPID: header.process?.pid ?? 0) } catch {
            throw CLIError("\(trace): \(error)")
        }
        let first = header.process?.pid ?? 0
        if let pid {
            do { _ = try table.stream(of: pid, in: trace) } catch { throw CLIError("--pid \(pid): \(error)") }
        }
        self.pid = pid == first ? nil : pid
        if let shim = header.shims?.first {
            index = try requireIndexes(trace, shim: shim, what: shim, pid: self.pid)[0].index
        } else {
            index = nil
        }
        let followed = self.pid
        executions = index.map { PerlExecutions(index: $0, pid: followed) }
        session = try questionReplay(trace, mailbox: !everyCallAnExit, process: self.pid)
        stepper = PerlStepper(session: session)
        symbols = SymbolBreakpoints(machine: session.machine)
        install()
    }

    // MARK: subscriptions

    /// Subscribe; the id names it in notifications. A bad filter or expression is refused here.
    public func subscribe(_ kind: SubscriptionKind) throws(SubscriptionError) -> Int {
        let s = try ActiveSubscription(id: nextID, kind: kind)
        if case .watch(let address, _) = kind, let why = kind.problem(in: GuestLayout(memory: session.header.memory)) {
            throw SubscriptionError("watch 0x\(String(address, radix: 16)): \(why)")
        }
        switch kind {
        case .perlStatements, .perlLine, .perlWhen, .sqlStatements, .sqlTable:
            guard index != nil else {
                throw SubscriptionError("\(trace) was recorded without shims: no \(kind.level) level")
            }
        case .sqlWhen(let query):
            s.sqlHits = try sqlHits(query)
            s.nextSQLHit = s.sqlHits.firstIndex { $0.endEvent >= Int(session.replayer.index) } ?? s.sqlHits.count
        case .watch(let address, let length):
            s.last = try? session.personality.memory.bytes(at: address, count: length)
        default: break
        }
        nextID += 1
        subscriptions.append(s)
        arm(s)
        refreshStepping()
        return s.id
    }

    /// Unsubscribe; false when there is no such subscription.
    @discardableResult
    public func unsubscribe(_ id: Int) -> Bool {
        guard let k = subscriptions.firstIndex(where: { $0.id == id }) else { return false }
        let s = subscriptions.remove(at: k)
        if case .symbol(let name) = s.kind,
            !subscriptions.contains(where: { $0.kind == .symbol(name) })
        {
            symbols.remove(name)
        }
        for address in s.armed
        where !subscriptions.contains(where: { $0.armed.contains(address) }) && symbols.names[address] == nil {
            session.machine.removeBreakpoint(at: address)
        }
        refreshStepping()
        return true
    }

    /// sqlWhen: where the query becomes true, from the query log (outside the VM).
    private func sqlHits(_ query: String) throws(SubscriptionError) -> [TimeTravel.Statement] {
        guard session.header.shims?.contains("sqlite") == true else {
            throw SubscriptionError("\(trace) was recorded without the SQLite shim: it has no query log")
        }
        var hits: [TimeTravel.Statement] = []
        do {
            let travel = try sqlTimeTravel(trace, directory, pid: pid)
            _ = try travel.whenTrue(query, label: "sql when", timeout: evaluation.seconds, db: nil, first: false) {
                if $0.pid == nil { hits.append($0) }
            }
        } catch let t as TimeTravel.TimedOut {
            throw SubscriptionError(
                "sql when: one evaluation ran past \(evaluation.seconds) s at statement #\(t.statement)")
        } catch {
            throw SubscriptionError("sql when: \(error)")
        }
        return hits
    }

    /// Stepping the channel costs a flush per record: only while a subscription needs it.
    private func refreshStepping() {
        stepper.stepAll = subscriptions.contains { $0.kind.steps }
    }

    /// Breakpoints for a code subscription: armed now where its code is mapped, and at every
    /// event after for mappings to come.
    private func arm(_ s: ActiveSubscription) {
        switch s.kind {
        case .symbol(let name): symbols.add([name])
        case .address(let a):
            let space = session.machine.space
            guard !s.armed.contains(a),
                space.mappings.contains(where: { $0.prot & PROT_EXEC != 0 && a >= $0.start && a < $0.end })
            else { return }
            // (Armed already for another subscription, or a symbol's: that int3 serves both.)
            if subscriptions.contains(where: { $0.armed.contains(a) }) || symbols.names[a] != nil
                || session.machine.insertBreakpoint(at: a)
            {
                s.armed.insert(a)
            }
        default: break
        }
    }

    // MARK: the replay

    /// Replay to the end, or to a `stop`: true if the program's end was reached. A divergence is
    /// exit 124 and a broken trace 125 (CLIError), as for `replay`.
    public func run(_ handler: @escaping (MonitorNotification, MonitorPause) -> MonitorResume) throws -> Bool {
        self.handler = handler
        defer { self.handler = nil }
        let finished = Result { try replayToEnd(session) { self.where() } }
        if let failure { throw failure }
        if let e = stepper.error { throw CLIError("\(trace): \(e)") }
        return try finished.get() && !stopped
    }

    private func `where`() -> String? {
        stepper.current().statement.map { "last Perl statement: \($0.location)" }
    }

    private func install() {
        // (The hooks reach the replayer through self: a hook that held it would keep the
        // session, and the guest's address range, alive after the monitor.)
        let memory = session.personality.memory
        stepper.onEvent = { [unowned self] i in
            symbols.arm()
            for s in subscriptions where !stopped {
                switch s.kind {
                case .address: arm(s)
                case .watch(let address, let length):
                    let now = try? memory.bytes(at: address, count: length)
                    defer { s.last = now }
                    guard i > 0, now != s.last else { continue }
                    func hex(_ b: [UInt8]?) -> String { b.map(Hex.string) ?? "unmapped" }
                    notify(
                        s, position(i), at: returnBefore(i),
                        [("old", .text(hex(s.last))), ("new", .text(hex(now)))])
                case .sqlWhen:
                    while s.nextSQLHit < s.sqlHits.count, s.sqlHits[s.nextSQLHit].endEvent <= i, !stopped {
                        let st = s.sqlHits[s.nextSQLHit]
                        s.nextSQLHit += 1
                        notify(
                            s, Position(event: i, perl: st.perlCaller ?? st.perl, sql: st.seq),
                            at: RunPosition(pid: pid, .afterSQL(st.seq)),
                            [("statement", .number(Int64(st.seq))), ("sql", .text(st.sql))])
                    }
                default: break
                }
            }
        }
        session.replayer.onServed = { [unowned self] i, req, e in
            guard session.replayer.isTarget, !stopped else { return }
            for s in subscriptions where !stopped {
                let details: [(String, MonitorValue)]
                if let p = s.predicate {
                    guard p.matches(req, e, memory: memory) else { continue }
                    details = [("call", .text(SyscallText.call(e)))]
                } else if s.kind == .process, let what = Self.processEvent(e) {
                    details = what + [("call", .text(SyscallText.call(e)))]
                } else {
                    continue
                }
                notify(s, position(Int(i)), at: RunPosition(pid: pid, .afterEvent(Int(i))), details, served: true)
            }
        }
        session.machine.onBreakpoint = { [unowned self] address in
            guard session.replayer.isTarget, !stopped else { return }
            let i = Int(session.replayer.index)
            for s in subscriptions where !stopped {
                let hit: Bool
                switch s.kind {
                case .symbol(let name):
                    hit = symbols.names[address] == name && (includeShims || !symbols.inShims.contains(address))
                case .address(let a): hit = a == address
                default: hit = false
                }
                guard hit else { continue }
                notify(
                    s, position(i), at: returnBefore(i),
                    [("address", .unsigned(address)), ("symbol", .text(session.machine.describe(rip: address)))],
                    atBreakpoint: true)
            }
        }
        stepper.onStop = { [unowned self] stop, stepper in
            for s in subscriptions where !stopped {
                switch s.kind {
                case .perlStatements: break
                case .perlLine: guard s.line?.matches(stop) == true else { continue }
                case .perlWhen:
                    guard let e = s.expression else { continue }
                    let now: Bool?
                    do { now = try stepper.evaluator(package: stop.package).truthInScope(e) } catch {
                        failure = CLIError(
                            "cannot evaluate the subscription's expression at \(stop.location): \(error)")
                        stopped = true
                        continue
                    }
                    // Where its variables are not visible it is not evaluated.
                    guard let now else { continue }
                    defer { s.previous = now }
                    guard now, s.previous != true else { continue }
                default: continue
                }
                let at = try? executions?.position(seq: stop.seq, file: stop.file, line: stop.line)
                var details: [(String, MonitorValue)] = [("statement", .number(Int64(stop.seq)))]
                if let sub = stop.sub { details.append(("sub", .text(sub))) }
                notify(
                    s, Position(event: stop.event, perl: stop.location, sql: stepper.current().sql), at: at, details,
                    perl: stop)
            }
            return !stopped
        }
        stepper.onSQL = { [unowned self] stop, _ in
            for s in subscriptions where !stopped {
                switch s.kind {
                case .sqlStatements: break
                case .sqlTable(let t):
                    guard (stop.reads + stop.writes).contains(where: { $0.lowercased() == t.lowercased() }) else {
                        continue
                    }
                default: continue
                }
                let now = stepper.current()
                let perl = now.statement?.location
                notify(
                    s, Position(event: stop.event, perl: now.caller ?? perl, sql: stop.seq),
                    at: stop.seq > 0 ? RunPosition(pid: pid, .afterSQL(stop.seq - 1)) : nil,
                    [
                        ("statement", .number(Int64(stop.seq))), ("sql", .text(stop.sql)),
                        ("reads", .list(stop.reads)), ("writes", .list(stop.writes)),
                    ])
            }
            return !stopped
        }
    }

    /// A process event: a fork's child, an exec's program, the end.
    static func processEvent(_ e: SyscallEvent) -> [(String, MonitorValue)]? {
        switch e.outcome {
        case .exec:
            return [
                ("what", .text("exec")),
                ("program", .text(e.paths.first.map { String(decoding: $0.bytes, as: UTF8.self) } ?? "?")),
            ]
        case .exit(let status): return [("what", .text("exit")), ("status", .number(Int64(status)))]
        case .killed(let signal, _): return [("what", .text("killed")), ("signal", .number(Int64(signal)))]
        default:
            guard e.child > 0 else { return nil }
            return [("what", .text("fork")), ("pid", .number(e.child))]
        }
    }

    private func notify(
        _ s: ActiveSubscription, _ position: Position, at: RunPosition?, _ details: [(String, MonitorValue)],
        perl: PerlStop? = nil, served: Bool = false, atBreakpoint: Bool = false
    ) {
        guard let handler else { return }
        let n = MonitorNotification(subscription: s.id, kind: s.kind, position: position, at: at, details: details)
        // Inside a served call's hook the call is done (it is among the events before).
        let before = Int(session.replayer.index) + (served ? 1 : 0)
        let pause = MonitorPause(
            monitor: self, position: position, eventsBefore: before, perl: perl,
            registers: everyCallAnExit || atBreakpoint)
        defer { pause.valid = false }
        if handler(n, pause) == .stop {
            stopped = true
            session.replayer.stopRequested = true
        }
    }

    /// The position between events, where a hit inside an interval is placed.
    private func position(_ event: Int) -> Position {
        let now = stepper.current()
        guard let statement = now.statement else { return Position(event: event, perl: nil, sql: now.sql) }
        return Position(event: event, perl: statement.location, perlCaller: now.caller, sql: now.sql)
    }

    /// A hit between two calls (a breakpoint, a memory change): the return it follows.
    private func returnBefore(_ event: Int) -> RunPosition {
        RunPosition(pid: pid, event > 0 ? .afterEvent(event - 1) : .start)
    }
}

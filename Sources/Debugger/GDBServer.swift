import CHost
import Glibc
import Machine
import Replay

/// `revenant gdb`: a GDB remote-protocol server over a replay (Docs/gdb.md). gdb sees the
/// recorded program as a live one that can also run backwards. Everything runs on one thread:
/// the replay calls `paused` at every breakpoint, step, syscall return and at the end, and the
/// server answers gdb's packets from inside that call until gdb lets the program go on.
///
/// Going backwards replays again from the start (a fresh VM): a search run finds the position
/// wanted (the last breakpoint hit before the current position, or the instruction before it),
/// and a second run goes there and stops.
public final class GDBServer: GuestDebugger {
    let connection: RemoteConnection
    /// A fresh replay of the trace, without the mailbox (every syscall an exit).
    let openReplay: () throws -> ReplaySession
    /// The thread id gdb is shown: the recorded pid.
    let pid: Int32

    /// Paused copies of this server at positions passed, and the replay time of the last one.
    let checkpoints = ReplayCheckpoints()
    var lastCheckpoint: UInt64 = 0
    /// A checkpoint is taken at a syscall return at most this often (replay time), and at every stop.
    static let checkpointInterval: UInt64 = 250_000_000
    /// The process that started: it waits for the checkpoints that take over from it.
    let firstProcess = getpid()

    /// Where the replay is: returns since the start, segments since the last return, and the
    /// arrivals at each armed address since the last segment ended.
    var position = ReplayPosition(returns: 0)
    var arrivals: [UInt64: Int] = [:]
    /// Going to a position without gdb (nil: gdb is told of every stop).
    var navigation: Navigation?
    /// What the next replay is for, when gdb asked to go backwards (or `run`).
    var restart: Plan?
    var session: ReplaySession?
    /// `catch syscall`: nil when off; the numbers caught (none: every call). GDBSyscallCatch.swift.
    var caughtSyscalls: Set<UInt64>?
    /// The number of the last call the replay served (the one a `.returned` pause follows), and
    /// whether it came back to the instruction after its `syscall` (no handler, program, sigreturn).
    var lastCall: UInt64?
    var lastReturnPlain = false

    /// gdb's breakpoints (Z0), armed in every replay; ours, armed while navigation needs them.
    var gdbBreakpoints = Set<UInt64>()
    var ownBreakpoints = Set<UInt64>()
    /// gdb's write watchpoints (Z2): address and length. Checked at every syscall return and
    /// stop; a change is then narrowed to its instruction by single steps (GDBWatchpoints.swift).
    var watchpoints: [UInt64: Int] = [:]
    /// While the program runs: where the watched bytes were last read, and what they held.
    var watchBase: (position: ReplayPosition, values: [[UInt8]?])?
    /// The last stop reply, for `?`; whether gdb waits for the next one (after c, s, bc, bs).
    var lastStop = "S05"
    var gdbWaiting = false
    /// The last resume was a single step.
    var stepping = false
    /// gdb detached or killed: every replay ends.
    var quit = false
    /// The initial stack's auxiliary vector, read at the program's start.
    var auxv: [UInt8] = []
    /// Where the first replay goes (`--at`); nil: the program's first instruction.
    var firstPlan: Plan?
    /// The program's entry point (the start of every replay).
    var entry: UInt64 = 0
    /// The program gdb is shown starts after this event of the process (its last execve; -1: a
    /// child's start, at the fork that made it); nil: the recorded program's first instruction.
    /// Before it, the replay runs unseen (GDBProcess.swift).
    public var startEvent: Int?
    /// Where that is, once a replay has reached it (the same in every replay).
    var origin: ReplayPosition?
    /// The program's path when it is not the recorded one (loaded by an execve).
    public var programOverride: [UInt8]?
    /// gdb follows a child: positions are printed with `PID/` in front.
    public var isChild = false
    /// The Perl and SQL positions at an event (`monitor where`), when the trace has an index.
    public var describeEvent: ((Int) -> String?)?
    /// A position in the shared syntax as the server goes to it (`monitor goto`; the CLI resolves
    /// Perl and SQL forms through the index).
    public var resolvePosition: ((String) throws -> Goto)?
    /// gdb waits for `monitor goto`'s answer (not a stop reply), kept alive since this time.
    var monitorWaiting = false
    var lastKeepalive: UInt64 = 0
    /// When the connection was last looked at for gdb's end during a replay.
    var lastPeerCheck: UInt64 = 0
    /// The return of the last event's call (a shim channel call's return is no event's), and the
    /// next event then.
    var eventReturn = 0
    var eventAtReturn = 0
    /// Open vFile handles: the host fd and the host path (a checkpoint taking over reopens them).
    var openFiles: [Int32: (fd: Int32, path: String)] = [:]

    /// What a replay is for: going to `target`, then what to do there.
    struct Plan {
        var target: ReplayPosition?
        var purpose: Purpose
        /// Asked by `monitor goto`: answered with text and OK rather than a stop reply.
        var viaMonitor = false
        /// A search passes the stretch before its target: it must start strictly before it.
        var isSearch: Bool {
            if case .lastHitBefore = purpose { return true }
            return false
        }
    }
    enum Purpose {
        /// Stop there and tell gdb with this stop reply.
        case report(String)
        /// reverse-continue: the last hit of gdb's breakpoints, or the last write to a watched
        /// range, before the target.
        case lastHitBefore
        /// reverse-stepi: single steps from the target to `goal`; the answer is one before it.
        case stepBefore(ReplayPosition)
        /// reverse-stepi at a syscall return: the target is the `syscall` instruction's arrival
        /// after the return before. Should the program stand on it at that return (no arrival
        /// then), the answer is that return.
        case callBefore
        /// A watched range changed after the target (continue): single steps to the write.
        case firstChange
        /// reverse-continue: a watched range changed between the target and `goal`: single
        /// steps there find the last write, and the last breakpoint hit, before it.
        case lastChangeIn(goal: ReplayPosition)
        /// `--at` and `monitor goto` (GDBGoto.swift): the return of event E's call then the segments
        /// inside its interval, or the end of the run, stopped at and told with this reply.
        case afterEvent(Int, [ReplayPosition.Segment], String)
        case runEnd(String)
    }
    struct Navigation {
        var plan: Plan
        var target: ReplayPosition
        /// The segment of `target.path` under way once `returns` is reached, and steps left in it.
        var next = 0
        var stepsLeft = 0
        /// Where this replay's navigation began (the start, or a checkpoint).
        var origin = ReplayPosition(returns: 0)
        /// reverse-continue: the last hit found before the target; with watchpoints, the values
        /// at the last return and the start of the last interval in which they changed.
        var candidate: ReplayPosition?
        /// The stop reply there (a breakpoint's, a caught call's).
        var candidateReply: String?
        var watched: (position: ReplayPosition, values: [[UInt8]?])?
        var changeFrom: ReplayPosition?
        /// Past the target: single steps (GDBStepping.swift).
        var stepper: Stepper?
    }

    public init(connection: RemoteConnection, pid: Int32, openReplay: @escaping () throws -> ReplaySession) {
        self.connection = connection
        self.pid = pid
        self.openReplay = openReplay
    }

    /// Serve gdb until it detaches, kills the program or goes away. Replays as often as going
    /// backwards needs; a replay that fails is one line to gdb's console and an error reply.
    public func serve() throws {
        // Checkpoints that take over end up children of this process, which waits for them.
        _ = chost_become_subreaper()
        defer { checkpoints.endAll() }
        var plan = firstPlan ?? Plan(target: nil, purpose: .report(stepReply))
        while !quit {
            // The guest's memory sits at a fixed address: the last replay's goes first.
            session = nil
            let s = try openReplay()
            session = s
            position = ReplayPosition(returns: 0)
            arrivals = [:]
            ownBreakpoints = []
            restart = nil
            lastCheckpoint = 0
            s.machine.debugger = self
            s.replayer.onServed = { [unowned self] _, req, event in
                self.lastCall = req.number
                switch event.outcome {
                case .value, .setFSBase, .fork: self.lastReturnPlain = true
                default: self.lastReturnPlain = false
                }
            }
            if startEvent == nil {
                entry = s.machine.entryPoint
                if auxv.isEmpty { auxv = readAuxv(s.machine, stack: s.machine.initialStack) }
                for a in gdbBreakpoints { s.machine.insertBreakpoint(at: a) }
            }
            // A target in the first return interval: its first segment's breakpoint armed now.
            _ = startNavigation(plan, machine: s.machine)
            let outcome = s.run()
            s.machine.debugger = nil
            if let next = restart {
                plan = next
                continue
            }
            if quit { break }
            let final = ended(outcome)
            // The run is over: gdb may still read what is kept, go backwards, or leave.
            if let next = serveAfterEnd(final) { plan = next } else { break }
        }
        for f in openFiles.values { close(f.fd) }
    }

    var tid: String { String(pid, radix: 16) }

    /// The stop reply for how the run ended (W: exited, X: killed; X09 and a console line when
    /// the replay failed: diverged, or the trace is damaged).
    func ended(_ outcome: ReplaySession.Outcome) -> String {
        switch outcome {
        case .finished(let t, _):
            switch t {
            case .exited(let status): return "W" + RemoteConnection.hex2(UInt8(truncatingIfNeeded: status))
            case .killed(let sig, _, _): return "X" + RemoteConnection.hex2(UInt8(truncatingIfNeeded: sig))
            case .halted: return "X09"
            }
        case .stopped: return "X09"
        case .diverged(let why), .traceFailed(let why):
            console("revenant: \(why)\n")
            return "X09"
        }
    }

    /// A line on gdb's console (an `O` packet is only read while gdb waits for a stop; otherwise
    /// stderr, which gdb shows for a `target remote |` pipe).
    func console(_ text: String) {
        if gdbWaiting || monitorWaiting {
            connection.send("O" + RemoteConnection.hex(Array(text.utf8)))
        } else {
            _ = text.withCString { write(2, $0, strlen($0)) }
        }
    }

    // MARK: - Pauses

    public func paused(_ why: DebugPause, machine: GuestMachine) -> DebugResume {
        if quit || gdbGone() { return .abort }
        let pc = machine.programCounter() ?? 0
        switch why {
        case .returned, .stepped(returned: true):
            position = ReplayPosition(returns: position.returns + 1)
            arrivals = [:]
            if nextEvent != eventAtReturn { (eventReturn, eventAtReturn) = (position.returns, nextEvent) }
            if startEvent != nil { passReturn(machine) }
        case .stepped(returned: false):
            position.step()
            arrivals = [:]
        case .breakpoint(let a):
            arrivals[a, default: 0] += 1
        case .faulted, .exiting:
            break
        }
        // A checkpoint now and then at a return (not inside a single-step search).
        if why == .returned, navigation?.stepper == nil,
            machine.runNanoseconds &- lastCheckpoint >= GDBServer.checkpointInterval
        {
            lastCheckpoint = machine.runNanoseconds
            if let message = checkpoints.take(at: position, event: nextEvent, machine: machine) {
                return adopt(message, machine: machine)
            }
        }
        if beforeOrigin { return .proceed }
        keepAlive()
        if navigation?.stepper != nil { return stepping(why, pc: pc, machine: machine) }
        if navigation != nil { return navigate(why, pc: pc, machine: machine) }
        return live(why, pc: pc, machine: machine)
    }

    /// gdb is told of every stop: its breakpoints, the end of each step, the end of the run. A
    /// watched range that changed since the last look is narrowed to its write first.
    func live(_ why: DebugPause, pc: UInt64, machine: GuestMachine) -> DebugResume {
        let changed = watchChange(machine)
        // Ctrl-C in gdb: seen at the next syscall return (a stretch without syscalls runs on).
        if why == .returned, changed == nil, !stepping, connection.interruptRequested() {
            if !watchpoints.isEmpty { watchBase = (position, watchedValues(machine)) }
            return stop("T02thread:\(tid);")
        }
        switch why {
        case .returned:
            if changed != nil { return narrowWatch() }
            if !watchpoints.isEmpty { watchBase = (position, watchedValues(machine)) }
            if let reply = caughtReturn { return stop(reply) }
            // A breakpoint right after a syscall: the resume would step over it (Debugging.swift).
            return gdbBreakpoints.contains(pc) ? stop("T05thread:\(tid);swbreak:;") : .proceed
        case .stepped:
            return stop("T05thread:\(tid);" + (changed.map { "watch:\(String($0, radix: 16));" } ?? ""))
        case .breakpoint(let a):
            if stepping { return .step }
            guard gdbBreakpoints.contains(a) else { return .proceed }
            if changed != nil { return narrowWatch() }
            position.path.append(.arrive(a, count: arrivals[a] ?? 1))
            arrivals = [:]
            return stop("T05thread:\(tid);swbreak:;")
        case .faulted(let sig):
            if changed != nil { return narrowWatch() }
            // The run ends after this stop, unless gdb goes backwards.
            position.path.append(.end)
            let resume = stop("T" + RemoteConnection.hex2(UInt8(truncatingIfNeeded: sig)) + "thread:\(tid);")
            return resume == .abort ? .abort : .proceed
        case .exiting:
            if changed != nil { return narrowWatch() }
            position.path.append(.end)
            let resume = stop("T05thread:\(tid);replaylog:end;")
            return resume == .abort ? .abort : .proceed
        }
    }

    /// Go to `plan`'s target from here (a replay's start, or a resumed checkpoint).
    func startNavigation(_ plan: Plan, machine: GuestMachine) -> DebugResume {
        let target = plan.target ?? startPosition
        guard let (next, done) = position.remaining(to: target) else {
            return lost("this checkpoint is not on the way")
        }
        var nav = Navigation(plan: plan, target: target)
        nav.origin = position
        nav.next = next
        if case .lastHitBefore = plan.purpose {
            if !watchpoints.isEmpty { nav.watched = (position, watchedValues(machine)) }
            // A checkpoint at one of gdb's breakpoints is itself a hit (a search from the start
            // would have counted it).
            if position != ReplayPosition(returns: 0), position != target,
                let pc = machine.programCounter(), gdbBreakpoints.contains(pc)
            {
                nav.candidate = position
            }
            // So is one at the return of a caught call.
            if position != target, position.path.isEmpty, position.returns > 0, let reply = caughtReturn {
                (nav.candidate, nav.candidateReply) = (position, reply)
            }
        }
        navigation = nav
        if atTargetReturn && next == target.path.count { return arrived(machine) }
        return beginSegment(target, stepsDone: done)
    }

    /// The navigation's target is in the current return interval (its segments are followed).
    var atTargetReturn: Bool { position.returns == navigation?.target.returns }

    /// Arm our breakpoint for the segment that starts now; .step for a steps segment (`stepsDone`
    /// of it made already).
    func beginSegment(_ target: ReplayPosition, stepsDone: Int = 0) -> DebugResume {
        guard var nav = navigation, atTargetReturn else { return .proceed }
        defer { navigation = nav }
        guard nav.next < target.path.count else { return .proceed }
        switch target.path[nav.next] {
        case .arrive(let a, _):
            if !gdbBreakpoints.contains(a), session?.machine.insertBreakpoint(at: a) == true {
                ownBreakpoints.insert(a)
            }
            return .proceed
        case .steps(let n):
            nav.stepsLeft = n - stepsDone
            return .step
        case .end:
            return .proceed
        }
    }

    /// Going to a position: count, follow its segments, and act there.
    func navigate(_ why: DebugPause, pc: UInt64, machine: GuestMachine) -> DebugResume {
        if let resume = goingTo(why, machine: machine) { return resume }
        guard var nav = navigation else { return .proceed }
        let target = nav.target
        // reverse-continue: every hit of gdb's breakpoints before the target.
        func hit(_ p: ReplayPosition, reply: String? = nil) {
            if case .lastHitBefore = nav.plan.purpose { (nav.candidate, nav.candidateReply) = (p, reply) }
        }
        var segmentDone = false
        switch why {
        case .returned:
            if gdbBreakpoints.contains(pc), position.returns <= target.returns,
                position.returns < target.returns || !target.path.isEmpty
            {
                hit(position)
            }
            if let reply = caughtReturn, position.returns < target.returns { hit(position, reply: reply) }
            noteWatched(&nav, machine)
            if atTargetReturn {
                navigation = nav
                if target.path.isEmpty { return arrived(machine) }
                return beginSegment(target)
            }
            if position.returns > target.returns {
                if nav.plan.viaMonitor { return notReached("a syscall came first", machine) }
                if case .callBefore = nav.plan.purpose {
                    return goBack(Plan(target: ReplayPosition(returns: target.returns), purpose: .report(stepReply)))
                }
                return lost("passed return \(target.returns)")
            }
            navigation = nav
            return .proceed
        case .stepped(let returned):
            if returned { return lost("a step left the return interval") }
            if atTargetReturn, nav.next < target.path.count, case .steps = target.path[nav.next] {
                nav.stepsLeft -= 1
                if gdbBreakpoints.contains(pc), nav.stepsLeft > 0 || nav.next + 1 < target.path.count { hit(position) }
                if nav.stepsLeft > 0 {
                    navigation = nav
                    return .step
                }
                segmentDone = true
            } else {
                navigation = nav
                return .proceed
            }
        case .breakpoint(let a):
            let count = arrivals[a] ?? 1
            if atTargetReturn, nav.next < target.path.count, case .arrive(a, count) = target.path[nav.next] {
                position.path.append(.arrive(a, count: count))
                arrivals = [:]
                if gdbBreakpoints.contains(a), nav.next + 1 < target.path.count { hit(position) }
                if ownBreakpoints.remove(a) != nil { session?.machine.removeBreakpoint(at: a) }
                segmentDone = true
            } else {
                if gdbBreakpoints.contains(a) {
                    var p = position
                    p.path.append(.arrive(a, count: count))
                    hit(p)
                }
                navigation = nav
                return .proceed
            }
        case .faulted, .exiting:
            guard atTargetReturn, nav.next < target.path.count, target.path[nav.next] == .end else {
                navigation = nav
                if nav.plan.viaMonitor {
                    position.path.append(.end)
                    return notReached("the run ended first", machine)
                }
                return lost("the run ended first")
            }
            position.path.append(.end)
            segmentDone = true
        }
        if segmentDone {
            // Steps segments are appended as they go (paused); the others here.
            nav.next += 1
            navigation = nav
            if nav.next == target.path.count { return arrived(machine) }
            return beginSegment(target)
        }
        navigation = nav
        return .proceed
    }

    /// The navigation's target is reached.
    func arrived(_ machine: GuestMachine) -> DebugResume {
        guard var nav = navigation else { return .proceed }
        for a in ownBreakpoints { session?.machine.removeBreakpoint(at: a) }
        ownBreakpoints = []
        switch nav.plan.purpose {
        case .report(let reply), .afterEvent(_, _, let reply), .runEnd(let reply):
            return stopThere(reply)
        case .callBefore:
            return stopThere(stepReply)
        case .lastHitBefore:
            noteWatched(&nav, machine)
            return goBack(lastHitPlan(nav))
        case .stepBefore, .lastChangeIn, .firstChange:
            // Single steps from here, and then a replay back to a point among them: a checkpoint
            // here makes that one cheap.
            if let message = checkpoints.take(at: position, event: nextEvent, machine: machine) {
                return adopt(message, machine: machine)
            }
            var goal: ReplayPosition?
            if case .stepBefore(let g) = nav.plan.purpose { goal = g }
            if case .lastChangeIn(let g) = nav.plan.purpose { goal = g }
            nav.stepper = Stepper(from: nav.target, to: goal, values: watchedValues(machine))
        }
        navigation = nav
        return .step
    }

    /// The navigation ends with a stop gdb is told of.
    private func stopThere(_ reply: String) -> DebugResume {
        navigation = nil
        let resume = stop(reply)
        // A stop at the end of the run: whatever gdb says, the run ends.
        if position.path.last == .end, resume != .abort { return .proceed }
        return resume
    }

    /// A navigation that cannot reach its target (a bug, or a trace that replays otherwise than
    /// it did a moment ago): said to gdb, which is then at the start again.
    func lost(_ why: String) -> DebugResume {
        console("revenant gdb: cannot go back to \(navigation?.target.description ?? "?"): \(why)\n")
        restart = Plan(target: startPosition, purpose: .report(begin))
        return .abort
    }

    /// `monitor goto` to a point the program never reaches (hand-made parts inside an interval):
    /// said, and stopped where that became clear.
    func notReached(_ why: String, _ machine: GuestMachine) -> DebugResume {
        console("revenant gdb: the program never gets there (\(why)); it stopped here\n")
        return arrived(machine)
    }

    /// The plain stop reply: after a step, or at a position gone to.
    var stepReply: String { "T05thread:\(tid);" }

    /// The stop reply at the start of the recording (gdb: "No more reverse-execution history").
    var begin: String { "T05thread:\(tid);replaylog:begin;" }

    /// Tell gdb (when it waits) and serve its packets until it resumes the program.
    func stop(_ reply: String) -> DebugResume {
        lastStop = reply
        // A checkpoint at every stop: going back to one gdb saw is then a resume. (The copy
        // resumed goes on as the server; this one answers gdb meanwhile.)
        if let machine = session?.machine, position.path.last != .end,
            let message = checkpoints.take(at: position, event: nextEvent, machine: machine)
        {
            return adopt(message, machine: machine)
        }
        if monitorWaiting {
            _ = monitorReply(whereText)
            monitorWaiting = false
        } else if gdbWaiting {
            connection.send(reply)
            gdbWaiting = false
        }
        return servePackets()
    }

    /// The auxiliary vector on the initial stack (after argc, argv and envp), read before the
    /// program runs.
    func readAuxv(_ machine: GuestMachine, stack: UInt64) -> [UInt8] {
        let space = machine.space
        func word(_ a: UInt64) -> UInt64? { try? space.load(UInt64.self, at: a) }
        guard let argc = word(stack) else { return [] }
        // envp after argc, argv and argv's NULL; the auxv after envp's NULL.
        var p = stack &+ 8 &* (argc &+ 2)
        while let w = word(p), w != 0 { p &+= 8 }
        p &+= 8
        var out: [UInt8] = []
        while out.count < 64 * 16, let key = word(p), let pair = try? space.bytes(at: p, count: 16) {
            out += pair
            p &+= 16
            if key == 0 { break }
        }
        return out
    }
}

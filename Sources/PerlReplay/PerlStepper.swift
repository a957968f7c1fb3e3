import Personality
import Regen
import Replay

/// A statement the stepping replay stopped at: the guest is paused in the shim's nextstate hook,
/// after the statement's record was written and before the statement runs.
public struct PerlStop {
    /// The statement's number in the run (the index's `statements.seq`).
    public var seq: Int
    /// The event its record precedes (its machine position, as in `log perl`).
    public var event: Int
    public var file: String
    public var line: Int64
    public var package: String
    public var sub: String?
    public var location: String { "\(file):\(line)" }

    public init(seq: Int, event: Int, file: String, line: Int64, package: String, sub: String?) {
        self.seq = seq
        self.event = event
        self.file = file
        self.line = line
        self.package = package
        self.sub = sub
    }
}

/// What the records so far say: the names behind each context, how many statements and SQL
/// executions there were, the last statement, and the last one in the program's own code. A
/// value, so that a look at the guest's unflushed records can work on a copy.
struct StreamState {
    struct Context {
        var file: String
        var package: String
        var sub: String?
        var programCode: Bool
    }
    var strings: [UInt64: String] = [:]
    var files: [UInt64: String] = [:]
    var contexts: [UInt64: Context] = [:]
    /// Statements so far (the next one gets this number), and SQL statement executions.
    var statements = 0
    var sqlStatements = 0
    var last: (seq: Int, context: UInt64, line: Int64)?
    var lastProgram: (file: String, line: Int64)?
    /// Every prepared SQL statement's text and tables, by statement id (a monitor's SQL stops).
    var prepared: [UInt64: PreparedSQL] = [:]
    /// The last record applied started a SQL statement's execution: its id.
    var startedSQL: UInt64?

    /// Take one record into account; true when it is a statement.
    mutating func apply(_ record: ChannelRecord) -> Bool {
        startedSQL = nil
        switch record {
        case .string(let id, let value): strings[id] = value
        case .file(let id, let path, _): files[id] = path
        case .context(let id, let file, let package, let sub):
            // Names are defined before the contexts that use them (Docs/channel-format.md).
            let path = files[file] ?? "?"
            contexts[id] = Context(
                file: path, package: strings[package] ?? "main", sub: sub == 0 ? nil : strings[sub],
                programCode: ChannelDecoder.isProgramCode(path))
        case .sqlPrepare(let id, _, let sql, let reads, let writes):
            prepared[id] = PreparedSQL(sql: sql, reads: reads, writes: writes)
        case .sqlExec(let id, _):
            sqlStatements += 1
            startedSQL = id
        case .statement(let context, let line):
            last = (statements, context, line)
            statements += 1
            if let c = contexts[context], c.programCode { lastProgram = (c.file, line) }
            return true
        default: break
        }
        return false
    }

    /// A forked child's own records start: what came before was its parent's (the names stay).
    mutating func startOwnCount() {
        statements = 0
        sqlStatements = 0
        last = nil
        lastProgram = nil
    }

    /// The last statement, as a stop at `event`.
    func lastStop(event: Int) -> PerlStop? {
        guard let last else { return nil }
        let c = contexts[last.context]
        return PerlStop(
            seq: last.seq, event: event, file: c?.file ?? "?", line: last.line, package: c?.package ?? "main",
            sub: c?.sub)
    }
}

/// A SQL statement the stepping replay stopped at: paused in the SQLite shim right after the
/// record of its execution, before SQLite runs it.
public struct SQLStop {
    /// Its number in the run (`log sql`, `sql --at N`).
    public var seq: Int
    public var event: Int
    public var sql: String
    /// The tables SQLite's authorizer saw it read and write.
    public var reads: [String]
    public var writes: [String]
}

struct PreparedSQL {
    var sql: String
    var reads: [String]
    var writes: [String]
}

/// Steps a machine-level replay statement by statement. The VMM lowers the channel's `watch`
/// (revenant_channel.h) so that the Perl shim flushes right after writing a statement's record;
/// inside that flush the guest is paused exactly before the statement, and the VMM reads perl's
/// state from memory (PerlIntrospector) without running anything in the guest. Between the
/// statements of interest the replay runs free: `targets` (from the index) say where to step,
/// so breakpoints cost what their hits cost.
public final class PerlStepper {
    public let session: ReplaySession
    let channel: ChannelPort
    private var reader = ProgramReader([])
    private var consumed = 0
    private var state = StreamState()
    private var stepping = false
    private var ended = false
    /// Step every statement (`--when`, a statement-by-statement listing).
    public var stepAll = false
    /// The statements of interest (number and the event each precedes, by number): the replay
    /// steps only from the event before each of them until it is passed, and runs free between.
    public var targets: [(seq: Int, event: Int)] = [] {
        didSet { nextTarget = targets.firstIndex { $0.seq >= state.statements } ?? targets.count }
    }
    private var nextTarget = 0
    /// Called at each statement the replay stops at; return false to end the replay there.
    public var onStop: ((PerlStop, PerlStepper) -> Bool)?
    /// Called, while stepping, at each SQL statement's execution; false ends the replay there.
    public var onSQL: ((SQLStop, PerlStepper) -> Bool)?
    /// Called at every event, after the stepper's own bookkeeping.
    public var onEvent: ((Int) -> Void)?
    public private(set) var error: String?
    private var introspector: PerlIntrospector?

    public init(session: ReplaySession) {
        self.session = session
        channel = session.personality.channel
        channel.mode = .collect
        channel.onFlush = { [unowned self] in self.flushed() }
        session.replayer.onEvent = { [unowned self] index in
            // Following one child (`--pid`), its ancestors' statements are not its own.
            guard self.session.replayer.isTarget else { return }
            self.reached(event: Int(index))
            self.onEvent?(Int(index))
        }
        // The child's stream starts as its parent's up to the fork (ChannelPort.processForked):
        // what it defined is decoded, and the child's own statements count from 0.
        session.replayer.onBecameChild = { [unowned self] in
            self.decode()
            self.state.startOwnCount()
            self.nextTarget = 0
            self.stepping = false
            self.armed = 0
            self.introspector = nil
        }
    }

    /// The paused interpreter, read through the shim's introspection block (nil before the shim
    /// has booted, or for a shim too old to publish one).
    public func inspector() throws(PerlIntrospectionError) -> PerlIntrospector {
        if let introspector { return introspector }
        guard let address = channel.introspectAddress() else {
            throw PerlIntrospectionError(
                "this run's Perl shim publishes no introspection block (recorded by an older revenant?)")
        }
        let v = try PerlIntrospector(
            memory: channel.memory, layout: try PerlLayout(memory: channel.memory, at: address))
        introspector = v
        return v
    }

    public var steppable: Bool { (channel.versionsRegistered.min() ?? 0) >= 2 }

    /// At every event: step if every statement is wanted, or the next target's record comes
    /// before the next event.
    private func reached(event: Int) {
        setStepping(stepAll || (nextTarget < targets.count && targets[nextTarget].event <= event + 1))
    }

    /// (A program the process execs registers a buffer of its own, often at the same address:
    /// stepping is set on it again.)
    private func setStepping(_ want: Bool) {
        let program = channel.programStarts.count
        guard channel.address != nil, want != stepping || (want && armed != program) else { return }
        if channel.setWatch(want ? 0 : nil) {
            stepping = want
            armed = program
        }
    }
    private var armed = 0

    /// A flush: decode what it handed over; if it ends with a statement record and we are
    /// stepping, the guest is paused right before that statement.
    private func flushed() {
        guard let pausedBefore = decode(), session.replayer.isTarget, stepping, !ended else { return }
        if !pausedBefore, let id = state.startedSQL, let onSQL {
            // (Only a chunk that ends with the execution's record pauses before it.)
            let p = state.prepared[id]
            let stop = SQLStop(
                seq: state.sqlStatements - 1, event: session.replayerIndex, sql: p?.sql ?? "?", reads: p?.reads ?? [],
                writes: p?.writes ?? [])
            if !onSQL(stop, self) { endHere() }
            return
        }
        guard pausedBefore, let onStop, let stop = state.lastStop(event: session.replayerIndex) else {
            return
        }
        let goOn = onStop(stop, self)
        if nextTarget < targets.count, targets[nextTarget].seq == stop.seq { nextTarget += 1 }
        // Past the last target before the next event: run free again at once.
        if !stepAll, !(nextTarget < targets.count && targets[nextTarget].event <= session.replayerIndex) {
            setStepping(false)
        }
        if !goOn { endHere() }
    }

    /// The replay ends at the next event; the statements until then are not stops.
    private func endHere() {
        ended = true
        stepAll = false
        targets = []
        channel.setWatch(nil)
        session.replayer.stopRequested = true
    }

    /// Decode what the channel has handed over since the last time (an ancestor's records too,
    /// following one child: it inherits their names); whether it ends with a statement record.
    /// nil when there was nothing new, or it does not decode (the replay then stops).
    @discardableResult
    private func decode() -> Bool? {
        let bytes = channel.collected
        guard bytes.count > consumed else { return nil }
        var pausedBefore = false  // the chunk ends with a statement record
        let target = session.replayer.isTarget
        do {
            // Piece by piece: a program the process execed starts a piece of its own, with a new
            // numbering (ProgramIds) and another interpreter to read.
            while consumed < bytes.count {
                if consumed > 0, channel.programStarts.contains(consumed) {
                    reader.nextProgram()
                    introspector = nil
                }
                let end = channel.programStarts.first { $0 > consumed && $0 < bytes.count } ?? bytes.count
                reader = ProgramReader(Array(bytes[consumed..<end]), continuing: reader)
                while let (record, recordEnd) = try reader.next() {
                    pausedBefore = state.apply(record) && consumed + recordEnd == bytes.count
                    // Targets run past without a stop (the one paused before is handled below).
                    while target, nextTarget < targets.count,
                        targets[nextTarget].seq < state.statements - (pausedBefore ? 1 : 0)
                    {
                        nextTarget += 1
                    }
                }
                consumed = end
            }
        } catch {
            self.error = "the channel does not decode: \(error)"
            session.replayer.stopRequested = true
            return nil
        }
        return pausedBefore
    }

    /// Where the guest is right now, between flushes (a breakpoint, a watch): the last statement
    /// and SQL statement started, read from the records still in the guest's buffer without
    /// taking them (the next flush hands them over as usual).
    public func current() -> (statement: PerlStop?, caller: String?, sql: Int?) {
        var now = state
        if let tail = channel.unflushed() {
            var d = ProgramReader(tail, continuing: reader)
            if channel.programStarts.last.map({ $0 >= consumed && $0 > 0 }) == true { d.nextProgram() }
            while let (record, _) = try? d.next() { _ = now.apply(record) }
        }
        let sql = now.sqlStatements > 0 ? now.sqlStatements - 1 : nil
        guard let stop = now.lastStop(event: session.replayerIndex) else { return (nil, nil, sql) }
        let caller = now.lastProgram.map { "\($0.file):\($0.line)" }
        return (stop, caller == stop.location ? nil : caller, sql)
    }

    /// Evaluate at the current stop.
    public func evaluator(package: String) throws(PerlIntrospectionError) -> PerlEvaluator {
        PerlEvaluator(try inspector(), package: package)
    }
}

extension ReplaySession {
    var replayerIndex: Int { Int(replayer.index) }
}

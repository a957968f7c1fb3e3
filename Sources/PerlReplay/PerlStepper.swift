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
    private var decoder = ChannelDecoder([])
    private var consumed = 0
    private var strings: [UInt64: String] = [:]
    private var files: [UInt64: String] = [:]
    private var contexts: [UInt64: (file: UInt64, package: UInt64, sub: UInt64)] = [:]
    /// Statements decoded so far (the next one gets this number).
    public private(set) var statements = 0
    private var stepping = false
    private var ended = false
    /// Step every statement (`--when`, a statement-by-statement listing).
    public var stepAll = false
    /// The statements of interest (number and the event each precedes, by number): the replay
    /// steps only from the event before each of them until it is passed, and runs free between.
    public var targets: [(seq: Int, event: Int)] = [] { didSet { nextTarget = targets.firstIndex { $0.seq >= statements } ?? targets.count } }
    private var nextTarget = 0
    private var lastDecoded: (seq: Int, context: UInt64, line: Int64) = (0, 0, 0)
    /// Called at each statement the replay stops at; return false to end the replay there.
    public var onStop: ((PerlStop, PerlStepper) -> Bool)?
    /// Called at every event, after the stepper's own bookkeeping.
    public var onEvent: ((Int) -> Void)?
    /// SQL statement executions decoded so far (the next one gets this number).
    public private(set) var sqlStatements = 0
    /// The last statement in the program's own code (for "perl bank.pl:9, in DBI.pm:…").
    public private(set) var lastProgramStatement: (file: String, line: Int64)?
    /// Called for every statement decoded (stopped at or run past), in order.
    public var onStatement: ((Int, Int, String, Int64) -> Void)?
    public private(set) var error: String?
    private var introspector: PerlIntrospector?

    public init(session: ReplaySession) {
        self.session = session
        channel = session.personality.channel
        channel.mode = .collect
        channel.onFlush = { [unowned self] in self.flushed() }
        session.replayer.onEvent = { [unowned self] index in
            self.reached(event: Int(index))
            self.onEvent?(Int(index))
        }
    }

    /// The paused interpreter, read through the shim's introspection block (nil before the shim
    /// has booted, or for a shim too old to publish one).
    public func inspector() throws(PerlIntrospectionError) -> PerlIntrospector {
        if let introspector { return introspector }
        guard let address = channel.introspectAddress() else {
            throw PerlIntrospectionError("this run's Perl shim publishes no introspection block (recorded by an older revenant?)")
        }
        let v = try PerlIntrospector(memory: channel.memory, layout: try PerlLayout(memory: channel.memory, at: address))
        introspector = v
        return v
    }

    public var steppable: Bool { channel.registeredVersion >= 2 }

    /// At every event: step if every statement is wanted, or the next target's record comes
    /// before the next event.
    private func reached(event: Int) {
        setStepping(stepAll || (nextTarget < targets.count && targets[nextTarget].event <= event + 1))
    }

    private func setStepping(_ want: Bool) {
        if want != stepping, channel.address != nil, channel.setWatch(want ? 0 : nil) { stepping = want }
    }

    /// A flush: decode what it handed over; if it ends with a statement record and we are
    /// stepping, the guest is paused right before that statement.
    private func flushed() {
        let bytes = channel.collected
        guard bytes.count > consumed else { return }
        decoder = ChannelDecoder(Array(bytes[consumed...]), continuing: decoder)
        consumed = bytes.count
        var last: (seq: Int, context: UInt64, line: Int64)?
        do {
            while let (record, end) = try decoder.next() {
                last = nil
                switch record {
                case .string(let id, let value): strings[id] = value
                case .file(let id, let path, _): files[id] = path
                case .context(let id, let file, let package, let sub): contexts[id] = (file, package, sub)
                case .sqlExec: sqlStatements += 1
                case .statement(let context, let line):
                    let path = file(of: context)
                    if ChannelDecoder.isProgramCode(path) { lastProgramStatement = (path, line) }
                    onStatement?(statements, session.replayerIndex, path, line)
                    if end == decoder.length { last = (statements, context, line) }
                    lastDecoded = (statements, context, line)
                    statements += 1
                    while nextTarget < targets.count, targets[nextTarget].seq < statements - (last == nil ? 0 : 1) { nextTarget += 1 }
                default: break
                }
            }
        } catch {
            self.error = "the channel does not decode: \(error)"
            session.replayer.stopRequested = true
            return
        }
        guard stepping, !ended, let last, let onStop else { return }
        let c = contexts[last.context]
        let stop = PerlStop(seq: last.seq, event: session.replayerIndex, file: file(of: last.context), line: last.line,
                            package: c.flatMap { strings[$0.package] } ?? "main", sub: c.flatMap { $0.sub == 0 ? nil : strings[$0.sub] })
        let goOn = onStop(stop, self)
        if nextTarget < targets.count, targets[nextTarget].seq == stop.seq { nextTarget += 1 }
        // Past the last target before the next event: run free again at once.
        if !stepAll, !(nextTarget < targets.count && targets[nextTarget].event <= session.replayerIndex) { setStepping(false) }
        if !goOn {
            // The replay ends at the next event; the statements until then are not stops.
            ended = true
            stepAll = false
            targets = []
            channel.setWatch(nil)
            session.replayer.stopRequested = true
        }
    }

    private func file(of context: UInt64) -> String { contexts[context].flatMap { files[$0.file] } ?? "?" }

    /// Where the guest is right now, between flushes (a breakpoint, a watch): the last statement
    /// and SQL statement started, read from the records still in the guest's buffer without
    /// taking them (the next flush hands them over as usual).
    public func current() -> (statement: PerlStop?, caller: String?, sql: Int?) {
        var strings = strings, files = files, contexts = contexts
        var last: (seq: Int, context: UInt64, line: Int64)? = statements > 0 ? lastDecoded : nil
        var seq = statements, sql = sqlStatements, program = lastProgramStatement
        if let tail = channel.unflushed() {
            var d = ChannelDecoder(tail, continuing: decoder)
            while let (record, _) = try? d.next() {
                switch record {
                case .string(let id, let value): strings[id] = value
                case .file(let id, let path, _): files[id] = path
                case .context(let id, let file, let package, let sub): contexts[id] = (file, package, sub)
                case .sqlExec: sql += 1
                case .statement(let context, let line):
                    last = (seq, context, line)
                    seq += 1
                    if let f = contexts[context].flatMap({ files[$0.file] }), ChannelDecoder.isProgramCode(f) { program = (f, line) }
                default: break
                }
            }
        }
        guard let last else { return (nil, nil, sql > 0 ? sql - 1 : nil) }
        let c = contexts[last.context]
        let stop = PerlStop(seq: last.seq, event: session.replayerIndex, file: c.flatMap { files[$0.file] } ?? "?", line: last.line,
                            package: c.flatMap { strings[$0.package] } ?? "main", sub: c.flatMap { $0.sub == 0 ? nil : strings[$0.sub] })
        let caller = program.map { "\($0.file):\($0.line)" }
        return (stop, caller == stop.location ? nil : caller, sql > 0 ? sql - 1 : nil)
    }

    /// Evaluate at the current stop.
    public func evaluator(package: String) throws(PerlIntrospectionError) -> PerlEvaluator { PerlEvaluator(try inspector(), package: package) }
}

extension ReplaySession {
    var replayerIndex: Int { Int(replayer.index) }
}

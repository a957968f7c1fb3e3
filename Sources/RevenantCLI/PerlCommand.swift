import ArgumentParser
import Glibc
import PerlReplay
import Regen
import Replay
import SQLReplay
import Trace

struct PerlCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perl",
        abstract: "Replay a recorded Perl script statement by statement.",
        discussion: """
        The exact form: the machine-level replay runs in the VM and the VMM stops it at Perl
        statements, reading variables straight from the paused interpreter's memory (nothing runs
        in the guest, so the replay stays exact for every script, XS and C I/O included).
        Statements of interest come from the index (made by `regen` when missing); the replay runs
        free between them.

        Without --break or --when every statement is listed. --break stops at FILE:LINE (FILE may
        be the script's name or any tail of its path). --when prints every statement where EXPR
        becomes true (was false before); with --break it is a condition on the breakpoints.
        --print shows expressions at each stop. The VMM evaluates these itself, by reading perl's
        memory: variables ($x, @a, %h, $a[1], $h{k}, $r->{k}[0], $#a, @$r), literals,
        arithmetic, comparisons, =~ /re/, && || ! ?: and defined/length/scalar/exists/ref/abs/
        int/lc/uc. Any other --print (a method call, join, sprintf…) is evaluated by the real
        interpreter in a throw-away clone of the paused VM (~20 ms per stop); --when must stay
        within the VMM's subset (it is evaluated at every statement).

        --debug: an interactive session (step, next, continue, break, print, reverse-step, where,
        quit); reverse-step resumes a checkpoint (a paused, forked copy of the VMM taken at every
        prompt) or, without one early enough, replays again from the start. With --path fast,
        --debug is perl's own debugger (perl -d) on the fast form instead, on the terminal.

        --path: the fast form (the default where `regen` found every input went through the
        shim's hooked ops) runs the script again under perl in a fresh sandbox (scratch working
        directory, host read-only, output discarded) with the shim feeding every logged result back
        and checking every statement against the log; --when and --print are evaluated by perl
        itself there. Any divergence is reported on stderr and the replay steps in the VM
        instead (--path fast makes it an error). --path vm always steps in the VM.

        --timeout bounds one evaluation of --when or --print (default 10 s): past it the command ends
        with one line naming the statement, exit 125.

        Exit status: 0, 1 when nothing was hit, 124 when the replay diverged, 125 on failure.

        Examples:
          revenant perl run.rvt --break bank.pl:12 --print '$balance, @history'
          revenant perl run.rvt --when '$balance < 0' --first
          revenant perl run.rvt --debug
        """
    )

    @Argument(help: "The trace directory.") var trace: String
    @Option(name: .customLong("break"), help: ArgumentHelp("Stop at this line (any number of times).", valueName: "FILE:LINE")) var breaks: [String] = []
    @Option(help: ArgumentHelp("Print every statement where this Perl expression becomes true.", valueName: "EXPR")) var when: String?
    @Option(help: ArgumentHelp("Expressions to show at each stop, comma-separated.", valueName: "EXPRS")) var print: String?
    @Flag(help: "Stop at the first hit.") var first = false
    @Flag(help: "An interactive session (step, next, continue, break, print, reverse-step).") var debug = false
    @Option(help: ArgumentHelp("auto (the fast form where regen found it exact, else the VM), fast, or vm.", valueName: "auto|fast|vm"))
    var path: ReplayPath = .auto
    @OptionGroup var evaluation: EvaluationOptions

    func run() throws {
        var run = try PerlReplayRun(trace: trace)
        run.evaluation = evaluation
        run.breakpoints = try breaks.map(Breakpoint.init)
        if let when { run.when = (when, try parseExpression(when, option: "--when")) }
        if let print {
            guard !print.allSatisfy(\.isWhitespace) else { throw CLIError("--print: an empty expression") }
            // Beyond the VMM's subset, --print runs in a throw-away clone at each stop.
            if let list = try? PerlExpression.parseList(print) { run.prints = list } else { run.clonePrint = print }
        }
        run.first = first
        run.path = path
        if debug {
            // perl's own debugger on the fast form; else the VM's, with reverse-step.
            if path == .fast { Glibc.exit(try FastPerlReplay(trace: trace, index: run.index, header: run.header).debug()) }
            try PerlDebugger(run: run).start()
            return
        }
        let hits = try run.run { stop, position, printed in
            Swift.print("\(position): statement #\(stop.seq)" + (stop.sub.map { " in \($0)" } ?? ""))
            for line in printed { Swift.print("    " + line) }
        }
        if hits == 0 && (!breaks.isEmpty || when != nil) { Glibc.exit(1) }
    }
}

func parseExpression(_ text: String, option: String) throws -> PerlExpression {
    do { return try PerlExpression.parse(text) } catch { throw CLIError("\(option) \(text): \(error)") }
}

/// FILE:LINE.
struct Breakpoint {
    var file: String
    var line: Int64
    init(_ spec: String) throws {
        guard let colon = spec.lastIndex(of: ":"), let l = Int64(spec[spec.index(after: colon)...]), l > 0, colon != spec.startIndex else {
            throw CLIError("--break \(spec): expected FILE:LINE")
        }
        file = String(spec[..<colon])
        line = l
    }
    func matches(_ s: PerlStop) -> Bool { matches(file: s.file, line: s.line) }
    func matches(file f: String, line l: Int64) -> Bool { l == line && (f == file || f.hasSuffix("/" + file)) }
}

enum ReplayPath: String, ExpressibleByArgument { case auto, fast, vm }

/// One stepping replay of a trace at the Perl level, shared by `perl` and `when --perl`.
struct PerlReplayRun {
    let trace: String
    let index: TraceIndex
    let header: TraceHeader
    var breakpoints: [Breakpoint] = []
    var when: (text: String, expression: PerlExpression)?
    var path: ReplayPath = .auto
    var prints: [(text: String, expression: PerlExpression)] = []
    /// An expression the VMM cannot evaluate: the real interpreter evaluates it in a clone.
    var clonePrint: String?
    var first = false
    /// How long one evaluation of --when/--print may run (--timeout).
    var evaluation = EvaluationOptions()
    /// The recorded working directory (where relative script paths lived).
    let cwd: String

    init(trace: String) throws {
        self.trace = trace
        index = try requireIndex(trace, shim: "perl", what: "Perl")
        do { header = try TraceDirectory.open(trace).1 } catch { throw CLIError(error.description) }
        cwd = header.cwd.description
        sqlEvents = try index.sqlStatementEvents()
    }

    /// The event of every SQL statement, by number (read once: a stop must cost no query).
    let sqlEvents: [Int]

    /// The position of a stop at the three levels: the SQL statement is the last one started
    /// before the stop's event.
    func position(_ stop: PerlStop) -> Position {
        var lo = 0, hi = sqlEvents.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if sqlEvents[mid] <= stop.event { lo = mid + 1 } else { hi = mid }
        }
        return Position(event: stop.event, perl: stop.location, sql: lo > 0 ? lo - 1 : nil)
    }

    func printed(at stop: PerlStop, _ stepper: PerlStepper) -> [String] {
        if let clonePrint {
            switch CloneEvaluation.evaluate(clonePrint, in: stepper.session, evaluation: evaluation,
                                            at: "statement #\(stop.seq) (\(stop.location))") {
            case .success(let v): return ["\(clonePrint) = \(v)"]
            case .failure(let f): return ["<\(f.message)>"]
            }
        }
        guard !prints.isEmpty else { return [] }
        do {
            let e = try stepper.evaluator(package: stop.package)
            return prints.map { e.printable($0.expression).rendered(as: $0.text) }
        } catch { return ["<\(error)>"] }
    }

    /// Every statement on these lines (number and position), from the index, in order.
    func targets(_ points: [Breakpoint]) throws -> [(seq: Int, event: Int)] {
        try index.statements(onLines: Set(points.map(\.line))).filter { s in points.contains { $0.matches(file: s.file, line: s.line) } }
            .map { ($0.seq, $0.event) }
    }

    /// Replay once, calling `report` at every hit with what --print shows there; returns the
    /// number of hits. The fast form where it applies, else (or after its divergence) the VM.
    func run(report: @escaping (PerlStop, Position, [String]) -> Void) throws -> Int {
        if path != .vm, let hits = try runFast() {
            let found = try index.statements(seqs: hits.map(\.seq))
            for h in hits {
                guard let s = found[h.seq] else { throw CLIError("\(trace): statement #\(h.seq) is not in the index") }
                let stop = PerlStop(seq: h.seq, event: s.event, file: s.file, line: s.line, package: s.package, sub: s.sub)
                report(stop, position(stop), h.lines)
            }
            return hits.count
        }
        return try runInVM(report: report)
    }

    /// The fast form's hits, or nil when the VM path must answer (said on stderr).
    func runFast() throws -> [(seq: Int, lines: [String])]? {
        let request = FastPerlReplay.Request(when: when, prints: prints, other: clonePrint,
                                             breaks: breakpoints.isEmpty ? nil : try targets(breakpoints).map(\.seq), first: first)
        let why: String
        var fast = FastPerlReplay(trace: trace, index: index, header: header)
        fast.evaluation = evaluation
        switch try fast.run(request) {
        case .finished(let hits): return hits
        case .diverged(let d): why = d
        }
        guard path != .fast else { throw CLIError("--path fast: \(why)", code: 124) }
        FileHandleStderr.write("revenant: the fast replay does not apply (\(why)); stepping the replay in the VM\n")
        return nil
    }

    /// The exact form: step the machine-level replay in the VM.
    func runInVM(report: @escaping (PerlStop, Position, [String]) -> Void) throws -> Int {
        // A clone needs the vCPU stopped at each exit: no mailbox then.
        let session = try questionReplay(trace, mailbox: clonePrint == nil)
        let stepper = PerlStepper(session: session)
        var wanted = Set<Int>()
        if when != nil || breakpoints.isEmpty { stepper.stepAll = true }
        if !breakpoints.isEmpty {
            stepper.targets = try targets(breakpoints)
            wanted = Set(stepper.targets.map(\.seq))
        }
        var hits = 0, previous: Bool? = nil
        var failure: String?
        stepper.onStop = { stop, stepper in
            guard breakpoints.isEmpty || wanted.contains(stop.seq) else { return true }
            if let when = when?.expression {
                let value: Bool?
                do { value = try stepper.evaluator(package: stop.package).truthInScope(when) } catch {
                    failure = "cannot evaluate --when at \(stop.location): \(error)"
                    return false
                }
                // Where its variables are not visible the predicate is not evaluated.
                guard let now = value else { return true }
                defer { previous = now }
                // Without breakpoints a hit is where it becomes true; with them, a condition.
                guard now, !breakpoints.isEmpty || previous != true else { return true }
            }
            hits += 1
            report(stop, position(stop), printed(at: stop, stepper))
            return !first
        }
        let finished = Result { try replayToEnd(session) { "last Perl statement: \(stepper.current().statement?.location ?? "none yet")" } }
        if let failure { throw CLIError(failure) }
        if let e = stepper.error { throw CLIError("\(trace): \(e)") }
        _ = try finished.get()
        if !stepper.steppable {
            throw CLIError("\(trace) was recorded with a Perl shim that cannot be stepped (channel version 1): record it again")
        }
        return hits
    }
}

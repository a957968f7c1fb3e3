import Glibc
import PerlReplay
import Regen
import Replay
import SQLReplay
import Trace

package func parseExpression(_ text: String, option: String) throws -> PerlExpression {
    do { return try PerlExpression.parse(text) } catch { throw CLIError("\(option) \(text): \(error)") }
}

/// FILE:LINE.
package struct Breakpoint {
    package var file: String
    package var line: Int64
    package init(_ spec: String) throws {
        guard let colon = spec.lastIndex(of: ":"), let l = Int64(spec[spec.index(after: colon)...]), l > 0,
            colon != spec.startIndex
        else {
            throw CLIError("--break \(spec): expected FILE:LINE")
        }
        file = String(spec[..<colon])
        line = l
    }
    package func matches(_ s: PerlStop) -> Bool { matches(file: s.file, line: s.line) }
    package func matches(file f: String, line l: Int64) -> Bool { l == line && (f == file || f.hasSuffix("/" + file)) }
}

package enum ReplayPath: String { case auto, fast, vm }

/// One stepping replay of a trace at the Perl level, shared by `perl` and `when --perl`.
package struct PerlReplayRun {
    package let trace: String
    package let index: TraceIndex
    package let header: TraceHeader
    package var breakpoints: [Breakpoint] = []
    package var when: (text: String, expression: PerlExpression)?
    package var path: ReplayPath = .auto
    package var prints: [(text: String, expression: PerlExpression)] = []
    /// An expression the VMM cannot evaluate: the real interpreter evaluates it in a clone.
    package var clonePrint: String?
    package var first = false
    /// How long one evaluation of --when/--print may run (--timeout).
    package var evaluation = EvaluationLimit()
    /// The recorded working directory (where relative script paths lived).
    package let cwd: String

    /// The process replayed at the Perl level: nil for the first, else a child's pid (its
    /// ancestors are replayed up to the fork that made it; the VM form only).
    package let process: Int32?

    package init(trace: String, pid: Int32? = nil) throws {
        self.trace = trace
        index = try requireIndex(trace, shim: "perl", what: "Perl", pid: pid)
        do { header = try TraceDirectory.open(trace).1 } catch { throw CLIError(error.description) }
        process = pid == header.process?.pid ? nil : pid
        cwd = header.cwd.description
        sqlEvents = try index.sqlStatementEvents()
    }

    /// The event of every SQL statement, by number (read once: a stop must cost no query).
    package let sqlEvents: [Int]

    /// The position of a stop at the three levels: the SQL statement is the last one started
    /// before the stop's event.
    package func position(_ stop: PerlStop) -> Position {
        var lo = 0, hi = sqlEvents.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if sqlEvents[mid] <= stop.event { lo = mid + 1 } else { hi = mid }
        }
        return Position(event: stop.event, perl: stop.location, sql: lo > 0 ? lo - 1 : nil)
    }

    package func printed(at stop: PerlStop, _ stepper: PerlStepper) throws -> [String] {
        if let clonePrint {
            switch try CloneEvaluation.evaluate(
                clonePrint, in: stepper.session, evaluation: evaluation,
                at: "statement #\(stop.seq) (\(stop.location))")
            {
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
    package func targets(_ points: [Breakpoint]) throws -> [(seq: Int, event: Int)] {
        try index.statements(onLines: Set(points.map(\.line))).filter { s in
            points.contains { $0.matches(file: s.file, line: s.line) }
        }
        .map { ($0.seq, $0.event) }
    }

    /// Replay once, calling `report` at every hit with what --print shows there; returns the
    /// number of hits. The fast form where it applies, else (or after its divergence) the VM.
    package func run(report: @escaping (PerlStop, Position, [String]) -> Void) throws -> Int {
        if path != .vm, let hits = try runFast() {
            let found = try index.statements(seqs: hits.map(\.seq))
            for h in hits {
                guard let s = found[h.seq] else { throw CLIError("\(trace): statement #\(h.seq) is not in the index") }
                let stop = PerlStop(
                    seq: h.seq, event: s.event, file: s.file, line: s.line, package: s.package, sub: s.sub)
                report(stop, position(stop), h.lines)
            }
            return hits.count
        }
        return try runInVM(report: report)
    }

    /// The fast form's hits, or nil when the VM path must answer (said on stderr).
    package func runFast() throws -> [(seq: Int, lines: [String])]? {
        // The fast form runs the recorded command again: the first process.
        if let process {
            guard path != .fast else {
                throw CLIError("--path fast: the fast form replays the first process only, not process \(process)")
            }
            return nil
        }
        let request = FastPerlReplay.Request(
            when: when, prints: prints, other: clonePrint,
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
    package func runInVM(report: @escaping (PerlStop, Position, [String]) -> Void) throws -> Int {
        // A clone needs the vCPU stopped at each exit: no mailbox then.
        let session = try questionReplay(trace, mailbox: clonePrint == nil, process: process)
        let stepper = PerlStepper(session: session)
        var wanted = Set<Int>()
        if when != nil || breakpoints.isEmpty { stepper.stepAll = true }
        if !breakpoints.isEmpty {
            stepper.targets = try targets(breakpoints)
            wanted = Set(stepper.targets.map(\.seq))
        }
        var hits = 0, previous: Bool? = nil
        var failure: String?
        var thrown: (any Error)?
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
            let values: [String]
            do { values = try printed(at: stop, stepper) } catch {
                thrown = error
                return false
            }
            report(stop, position(stop), values)
            return !first
        }
        let finished = Result {
            try replayToEnd(session) { "last Perl statement: \(stepper.current().statement?.location ?? "none yet")" }
        }
        if let failure { throw CLIError(failure) }
        if let thrown { throw thrown }
        if let e = stepper.error { throw CLIError("\(trace): \(e)") }
        _ = try finished.get()
        if !stepper.steppable {
            throw CLIError(
                "\(trace) was recorded with a Perl shim that cannot be stepped (channel version 1): record it again")
        }
        return hits
    }
}

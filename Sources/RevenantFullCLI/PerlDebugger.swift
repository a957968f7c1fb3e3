import Foundation
import Glibc
import Machine
import PerlReplay
import Regen
import Replay
import RevenantKit

/// `revenant perl --debug`: an interactive session over the stepping replay. Forward commands
/// steer the running replay; reverse-step resumes the latest checkpoint before the target
/// (Checkpoints.swift), else replays again from the start (deterministic replay makes both exact).
final class PerlDebugger {
    var run: PerlReplayRun
    var breakpoints: [Breakpoint]
    private var sources: [String: [Substring]] = [:]
    private let checkpoints = Checkpoints()

    enum Mode { case step, next(depth: Int), proceed, target(Int) }

    init(run: PerlReplayRun) {
        self.run = run
        breakpoints = run.breakpoints
    }

    func start() throws {
        say("revenant perl --debug: \(run.trace), \(run.index.statementCount) statements. h for help.")
        var target: Int? = 0
        while let t = target {
            target = nil
            try session(from: t) { target = $0 }
        }
    }

    private func say(_ s: String) {
        Swift.print(s)
        fflush(nil)
    }

    /// One replay, stopping first at statement `seq`; `restart` asks for another from the start.
    private func session(from seq: Int, restart: (Int) -> Void) throws {
        let session = try questionReplay(run.trace, mailbox: false, process: run.process)
        let stepper = PerlStepper(session: session)
        var mode = Mode.target(seq)
        stepper.targets = [(seq, try run.index.statementEvent(seq: seq) ?? 0)]
        var quit = false, again: Int?
        stepper.onStop = { [self] stop, stepper in
            switch mode {
            case .target(let t): guard stop.seq >= t else { return true }
            case .step: break
            case .next(let d): guard ((try? stepper.inspector().depth()) ?? 0) <= d else { return true }
            case .proceed: guard breakpoints.contains(where: { $0.matches(stop) }) else { return true }
            }
            show(stop)
            // A paused copy of this moment, for reverse-steps; resumed, the copy carries on from
            // here towards the statement it was asked for.
            // (A copy resumed right here keeps a copy of itself too, for the next reverse-step.)
            while let target = checkpoints.take(seq: stop.seq, machine: session.machine) {
                guard target == stop.seq else {
                    mode = .target(target)
                    stepper.stepAll = false
                    stepper.targets = [(target, (try? run.index.statementEvent(seq: target)) ?? 0)]
                    return true
                }
                show(stop)
            }
            while true {
                Swift.print("(revenant) ", terminator: "")
                fflush(nil)
                guard let line = readCommandLine() else {
                    quit = true
                    return false
                }
                let words = line.split(separator: " ", maxSplits: 1).map(String.init)
                let arg = words.count > 1 ? words[1].trimmingCharacters(in: .whitespaces) : ""
                switch words.first ?? "s" {
                case "s", "step":
                    mode = .step
                    stepper.stepAll = true
                    stepper.targets = []
                    return true
                case "n", "next":
                    mode = .next(depth: (try? stepper.inspector().depth()) ?? 0)
                    stepper.stepAll = true
                    stepper.targets = []
                    return true
                case "c", "continue":
                    mode = .proceed
                    stepper.stepAll = false
                    stepper.targets = ((try? run.targets(breakpoints)) ?? []).filter { $0.seq > stop.seq }
                    return true
                case "b", "break":
                    do {
                        let b = try Breakpoint(arg)
                        breakpoints.append(b)
                        let n = try run.targets([b]).count
                        say(
                            "breakpoint \(breakpoints.count) at \(b.file):\(b.line)"
                                + (n == 0 ? " (no statement there ran)" : ""))
                    } catch let e as CLIError { say(e.message) } catch { say("\(error)") }
                case "p", "print":
                    if let list = try? PerlExpression.parseList(arg) {
                        do {
                            let e = try stepper.evaluator(package: stop.package)
                            for (text, x) in list { say(e.printable(x).rendered(as: text)) }
                        } catch { say("\(error)") }
                    } else {
                        // Beyond the VMM's subset: the real interpreter, in a throw-away clone.
                        // A clone that runs out of time is killed; the paused replay goes on.
                        switch Result(catching: {
                            try CloneEvaluation.evaluate(arg, in: session, evaluation: run.evaluation)
                        }) {
                        case .success(.success(let v)): say("\(arg) = \(v)")
                        case .success(.failure(let f)): say(f.message)
                        case .failure(let e as CLIError): say(e.message)
                        case .failure(let e): say("\(e)")
                        }
                    }
                case "rs", "reverse-step", "back":
                    guard stop.seq > 0 else {
                        say("this is the first statement")
                        continue
                    }
                    // The latest checkpoint before it, else a replay from the start.
                    _ = checkpoints.resume(to: stop.seq - 1)
                    again = stop.seq - 1
                    return false
                case "w", "where":
                    say("\(run.position(stop)): statement #\(stop.seq)" + (stop.sub.map { " in \($0)" } ?? ""))
                case "q", "quit":
                    quit = true
                    return false
                default:
                    say(
                        """
                        s|step             the next statement
                        n|next             the next statement in this sub or its callers
                        c|continue         run to the next breakpoint
                        b|break FILE:LINE  add a breakpoint
                        p|print EXPRS      show expressions ($x, @a, $h{k}, $r->[0]; anything else, e.g.
                                           $obj->name or join(',', @a), runs in a throw-away clone)
                        rs|reverse-step    back to the statement before (from a checkpoint)
                        w|where            the position at every level
                        q|quit
                        """)
                }
            }
        }
        let finished = Result { try replayToEnd(session) }
        checkpoints.dropAll()
        if let e = stepper.error { throw CLIError("\(run.trace): \(e)") }
        if try finished.get(), !quit { say("the program ended (\(session.replayer.index) events replayed)") }
        if !stepper.steppable {
            throw CLIError(
                "\(run.trace) was recorded with a Perl shim that cannot be stepped (channel version 1): record it again"
            )
        }
        if let again { restart(again) }
    }

    private func show(_ stop: PerlStop) {
        var text = "[#\(stop.seq)] \(stop.location)" + (stop.sub.map { " (\($0))" } ?? "") + "  event #\(stop.event)"
        if let line = source(stop.file, stop.line) { text += "\n    \(line)" }
        say(text)
    }

    /// The line's text, when the file is still on the host (a replay never needs it).
    private func source(_ file: String, _ line: Int64) -> String? {
        if sources[file] == nil {
            let path = file.hasPrefix("/") ? file : (run.cwd as NSString).appendingPathComponent(file)
            sources[file] =
                (try? String(contentsOfFile: path, encoding: .utf8)).map {
                    $0.split(separator: "\n", omittingEmptySubsequences: false)
                } ?? []
        }
        guard let lines = sources[file], line >= 1, line <= lines.count else { return nil }
        return lines[Int(line) - 1].trimmingCharacters(in: .whitespaces)
    }
}

import ArgumentParser
import RevenantCommands
import Glibc
import PerlReplay
import Regen
import Replay
import SQLReplay
import Trace
import RevenantKit

struct PerlCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perl",
        abstract: CommandAbstract.perl,
        discussion: """
            The exact form: the machine-level replay runs in the VM and the VMM stops it at Perl \
            statements, reading variables straight from the paused interpreter's memory (nothing runs \
            in the guest, so the replay stays exact for every script, XS and C I/O included). \
            Statements of interest come from the index (made by `regen` when missing); the replay runs \
            free between them.

            Without --break or --when every statement is listed. --break stops at FILE:LINE (FILE may \
            be the script's name or any tail of its path). --when prints every statement where EXPR \
            becomes true (was false before); with --break it is a condition on the breakpoints. \
            --print shows expressions at each stop. The VMM evaluates these itself, by reading perl's \
            memory: variables ($x, @a, %h, $a[1], $h{k}, $r->{k}[0], $#a, @$r), literals, \
            arithmetic, comparisons, =~ /re/, && || ! ?: and defined/length/scalar/exists/ref/abs/\
            int/lc/uc. Any other --print (a method call, join, sprintf…) is evaluated by the real \
            interpreter in a throw-away clone of the paused VM (~20 ms per stop); --when must stay \
            within the VMM's subset (it is evaluated at every statement).

            --debug: an interactive session (step, next, continue, break, print, reverse-step, where, \
            quit); reverse-step resumes a checkpoint (a paused, forked copy of the VMM taken at every \
            prompt) or, without one early enough, replays again from the start. With --path fast, \
            --debug is perl's own debugger (perl -d) on the fast form instead, on the terminal.

            --path: the fast form (the default where `regen` found every input went through the \
            shim's hooked ops) runs the script again under perl in a fresh sandbox (scratch working \
            directory, host read-only, output discarded) with the shim feeding every logged result back \
            and checking every statement against the log; --when and --print are evaluated by perl \
            itself there. Any divergence is reported on stderr and the replay steps in the VM \
            instead (--path fast makes it an error). --path vm always steps in the VM.

            A run with child processes: --pid N replays process N (a forked child, or a perl a child \
            execed) in the VM, its ancestors silently up to the fork that made it; its statements \
            are numbered as `log perl --pid N` lists them. Without --pid the first process is \
            stepped (a child's statements are not its own).

            --timeout bounds one evaluation of --when or --print (default 10 s): past it the command ends \
            with one line naming the statement, exit 125.

            Exit status: 0, 1 when nothing was hit, 124 when the replay diverged, 125 on failure.

            Examples:
              revenant perl run.rvt --break bank.pl:12 --print '$balance, @history'
              revenant perl run.rvt --when '$balance < 0' --first
              revenant perl run.rvt --debug
            """
    )

    @Argument(help: "The trace directory.") var trace: String
    @Option(
        name: .customLong("break"),
        help: ArgumentHelp("Stop at this line (any number of times).", valueName: "FILE:LINE")) var breaks: [String] =
            []
    @Option(help: ArgumentHelp("Print every statement where this Perl expression becomes true.", valueName: "EXPR"))
    var when: String?
    @Option(help: ArgumentHelp("Expressions to show at each stop, comma-separated.", valueName: "EXPRS")) var print:
        String?
    @Flag(help: "Stop at the first hit.") var first = false
    @Flag(help: "An interactive session (step, next, continue, break, print, reverse-step).") var debug = false
    @Option(
        help: ArgumentHelp(
            "auto (the fast form where regen found it exact, else the VM), fast, or vm.", valueName: "auto|fast|vm"))
    var path: ReplayPath = .auto
    @Option(help: ArgumentHelp("The process to replay (a pid `info` lists; the VM form).", valueName: "PID"))
    var pid: Int32?
    @OptionGroup var evaluation: EvaluationOptions

    func run() throws {
        var run = try PerlReplayRun(trace: trace, pid: pid)
        run.evaluation = evaluation.limit
        // `perl:FILE:LINE`, as positions are written elsewhere (Docs/positions.md), is FILE:LINE.
        run.breakpoints = try breaks.map { try Breakpoint($0.hasPrefix("perl:") ? String($0.dropFirst(5)) : $0) }
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
            if path == .fast {
                if let child = run.process {
                    throw CLIError("--path fast: perl's own debugger runs the first process only, not process \(child)")
                }
                Glibc.exit(try FastPerlReplay(trace: trace, index: run.index, header: run.header).debug())
            }
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

extension ReplayPath: ExpressibleByArgument {}

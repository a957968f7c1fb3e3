import ArgumentParser
import RevenantCommands
import DebugAdapter
import Glibc
import RevenantKit

struct DAPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dap",
        abstract: CommandAbstract.dap,
        discussion: """
            Speaks DAP on stdin and stdout, so VS Code, Neovim (nvim-dap) and other DAP clients debug a \
            recorded Perl script (Docs/dap.md): breakpoints on lines (with a condition in the VMM's \
            Perl subset and a hit count), on subs; next, step in, step out, continue; step back and \
            reverse continue (the replay runs again from the start to the statement wanted); the \
            stack, lexical and package variables (arrays, hashes and references expandable), and \
            evaluate (the VMM's subset, anything else in a throw-away clone of the paused VM).

            The trace is TRACE, or the launch request's "trace".

            Exit status: 0 when the client disconnected; 124 when the replay diverged; 125 on failure.
            """)

    @Argument(help: "The trace directory (else the launch request names it).") var trace: String?
    @OptionGroup var evaluation: EvaluationOptions

    func run() throws {
        if let trace { try requirePath(trace, "TRACE") }
        let adapter = DebugAdapter(trace: trace)
        adapter.evaluation = evaluation.limit
        Glibc.exit(try adapter.serve())
    }
}

import ArgumentParser
import RevenantCommands
import Glibc
import Monitor
import RevenantKit

struct MonitorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "monitor",
        abstract: CommandAbstract.monitor,
        discussion: """
            Starts COMMAND with the monitor protocol on its stdin and stdout: JSON, one message a \
            line (Docs/monitor-protocol.md; its JSON Schema is Docs/monitor-protocol.schema.json). \
            revenant says hello; the monitor subscribes — syscalls (the filters of `when --syscall`), \
            Perl statements (all, FILE:LINE, or where an expression becomes true), SQL statements \
            (all, a table, or after which a query becomes true), code (a symbol or an address), \
            memory (a watched range) — and says continue. The replay runs; at each match it pauses \
            and notifies the monitor with the position at every level, and the monitor may ask for \
            registers, memory, symbols, Perl values, a file as it was then, then continue or stop. \
            Nothing it asks changes the replay. The monitor's stderr is revenant's; a `print` \
            request writes a line to revenant's stdout.

            The replay runs with every call an exit (the registers are there at every notification).

            Exit status: the monitor's own after a whole session; 124 when the replay diverged; 125 \
            when the monitor could not be started, exited or closed its output before the end, \
            said nothing for --monitor-timeout seconds, sent a line that is not JSON, or was \
            killed.

            Examples:
              revenant monitor run.rvt -- python3 Docs/examples/files_opened.py files.sqlite
              revenant monitor run.rvt --transcript t.jsonl -- perl Docs/examples/count_calls.pl
            """)

    @Argument(help: "The trace directory.") var trace: String
    @Option(help: ArgumentHelp("Follow process PID (a pid `revenant info` lists).", valueName: "PID"))
    var pid: Int32?
    @Option(help: ArgumentHelp("How long the monitor may stay silent (seconds).", valueName: "S"))
    var monitorTimeout: Double = 30
    @Option(help: ArgumentHelp("Write every line both ways to this file.", valueName: "FILE"))
    var transcript: String?
    @OptionGroup var evaluation: EvaluationOptions
    @Argument(parsing: .postTerminator, help: "The monitor program and its arguments (after --).")
    var command: [String] = []

    func validate() throws {
        try requirePath(trace, "TRACE")
        guard !command.isEmpty else { throw ValidationError("give the monitor program after --") }
        guard monitorTimeout > 0, monitorTimeout.isFinite else {
            throw ValidationError("--monitor-timeout must be a positive number of seconds")
        }
    }

    func run() throws {
        let monitor = try ReplayMonitor(trace: trace, pid: pid)
        monitor.evaluation = evaluation.limit
        let server = try MonitorServer(
            monitor: monitor, command: command, timeout: monitorTimeout, transcript: transcript)
        Glibc.exit(try server.run())
    }
}

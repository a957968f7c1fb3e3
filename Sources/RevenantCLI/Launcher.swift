import ArgumentParser
import RevenantCommands

/// `revenant`, the launcher: `run`, `record` and `replay` here; every other command line goes
/// to `revenant-full` (Launcher.handles). Its root lists every command, the others through the
/// entries below, which only name them: their help and their work are in `revenant-full`.
@main
struct RevenantLauncher: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revenant",
        abstract: RootHelp.abstract,
        discussion: RootHelp.discussion,
        version: RootHelp.version,
        subcommands: [
            Run.self, Record.self, ReplayCommand.self, Info.self, Regen.self, Log.self, Perl.self, SQL.self,
            When.self, GDB.self, Monitor.self, DAP.self, Restore.self, Diff.self, Syscalls.self,
        ]
    )

    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if !Launcher.handles(arguments) { Launcher.execFull() }
        Run.runWithoutOptions(arguments)
        Record.recordWithoutOptions(arguments)
        ReplayCommand.replayWithoutOptions(arguments)
        runRoot(RevenantLauncher.self)
    }
}

// The commands `revenant-full` runs, as `revenant --help` lists them: a name and an abstract each.
struct Info: ParsableCommand { static let configuration = listed("info", CommandAbstract.info) }
struct Regen: ParsableCommand { static let configuration = listed("regen", CommandAbstract.regen) }
struct Log: ParsableCommand { static let configuration = listed("log", CommandAbstract.log) }
struct Perl: ParsableCommand { static let configuration = listed("perl", CommandAbstract.perl) }
struct SQL: ParsableCommand { static let configuration = listed("sql", CommandAbstract.sql) }
struct When: ParsableCommand { static let configuration = listed("when", CommandAbstract.when) }
struct GDB: ParsableCommand { static let configuration = listed("gdb", CommandAbstract.gdb) }
struct Monitor: ParsableCommand { static let configuration = listed("monitor", CommandAbstract.monitor) }
struct DAP: ParsableCommand { static let configuration = listed("dap", CommandAbstract.dap) }
struct Restore: ParsableCommand { static let configuration = listed("restore", CommandAbstract.restore) }
struct Diff: ParsableCommand { static let configuration = listed("diff", CommandAbstract.diff) }
struct Syscalls: ParsableCommand { static let configuration = listed("syscalls", CommandAbstract.syscalls) }

private func listed(_ name: String, _ abstract: String) -> CommandConfiguration {
    CommandConfiguration(commandName: name, abstract: abstract)
}

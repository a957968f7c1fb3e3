import ArgumentParser
import RevenantCommands

/// `revenant-full`: every command. The launcher (`revenant`) runs `run`, `record` and `replay`
/// itself and hands every other command line to this binary unchanged.
@main
struct Revenant: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revenant",
        abstract: RootHelp.abstract,
        discussion: RootHelp.discussion,
        version: RootHelp.version,
        subcommands: [
            Run.self, Record.self, ReplayCommand.self, Info.self, RegenCommand.self, Log.self, PerlCommand.self,
            SQLCommand.self, When.self, GDBCommand.self, MonitorCommand.self, DAPCommand.self, RestoreCommand.self,
            DiffCommand.self, Syscalls.self,
        ]
    )

    static func main() {
        // A damaged index met by a command that does not say so itself: one line all the same.
        runRoot(Revenant.self) { command, error in
            (command as? ReadsTrace).map { indexFailure($0.trace, error) } ?? error
        }
    }
}

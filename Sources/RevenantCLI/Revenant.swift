import ArgumentParser
import Replay
import Glibc
import RevenantKit

@main
struct Revenant: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revenant",
        abstract: "Record and replay Linux programs (perl, sqlite3) in a deterministic KVM virtual machine.",
        discussion: """
            Exit status of `run`: the guest's own (128+N when signal N killed it). Revenant's own failures \
            use 125 (usage, KVM unavailable), 126 (program not executable) and 127 (program not found).
            """,
        subcommands: [
            Run.self, Record.self, Replay.self, Info.self, RegenCommand.self, Log.self, PerlCommand.self,
            SQLCommand.self, When.self, GDBCommand.self, MonitorCommand.self, DAPCommand.self, RestoreCommand.self,
            DiffCommand.self, Syscalls.self,
        ]
    )

    /// ArgumentParser's own exit codes are replaced by Revenant's (Docs/architecture.md "Exit codes":
    /// usage errors are 125), and its reports (message, usage, help hint: 3–5 lines) by one line;
    /// --help stays whole.
    static func main() {
        var parsed: ParsableCommand?
        do {
            var command = try parseAsRoot(Passthrough.argumentsToParse())
            parsed = command
            try command.run()
        } catch {
            // A damaged index met by a command that does not say so itself: one line all the same.
            let error = (parsed as? ReadsTrace).map { indexFailure($0.trace, error) } ?? error
            if let e = error as? CLIError { fail(e.message, code: e.code) }
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Glibc.exit(0)
            }
            if code == .validationFailure { fail(usageLine(for: error), code: 125) }
            // Neither a usage error nor one of ours: still one line.
            fail(message(for: error), code: 125)
        }
    }

    /// "<what is wrong> (see revenant SUB --help)": ArgumentParser's message, first letter
    /// lowered as ours are; a negative number it took for an option gets a clear word.
    static func usageLine(for error: Error) -> String {
        let arguments = Array(CommandLine.arguments.dropFirst())
        let names = configuration.subcommands.map { $0._commandName }
        let sub = arguments.first.flatMap { names.contains($0) ? $0 : nil }
        var text = message(for: error)
        // "Missing value for '--memory <SIZE>'" after `--memory -1`: ArgumentParser took -1 for
        // an option.
        let missing = text.hasPrefix("Missing value for '") ? text.dropFirst(19).split(separator: "'").first : nil
        if let parts = missing?.split(separator: " "), let option = parts.first.map(String.init),
            let at = arguments.firstIndex(of: option), at + 1 < arguments.count,
            arguments[at + 1].hasPrefix("-"), Double(arguments[at + 1]) != nil
        {
            let what = parts.count > 1 ? String(parts[1].filter { $0 != "<" && $0 != ">" }) : "value"
            text = "\(option): \(arguments[at + 1]) is not a valid \(what)"
        }
        if let first = text.first, text.dropFirst().first?.isLowercase == true {
            text = first.lowercased() + text.dropFirst()
        }
        return text + " (see revenant \(sub.map { $0 + " " } ?? "")--help)"
    }
}

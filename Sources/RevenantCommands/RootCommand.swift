import ArgumentParser
import Glibc
import Sessions

/// What `revenant --help` says above the list of commands: both binaries' root commands read it
/// (Docs/architecture.md "Two binaries").
package enum RootHelp {
    package static let abstract =
        "Record and replay Linux programs (perl, sqlite3) in a deterministic KVM virtual machine."
    package static let discussion = """
        Exit status of `run`: the guest's own (128+N when signal N killed it). Revenant's own failures \
        use 125 (usage, KVM unavailable), 126 (program not executable) and 127 (program not found).
        """
    /// What `revenant --version` prints (the trace header records it too).
    package static let version = revenantVersion
}

/// Parses the command line as `Root` and runs the command. ArgumentParser's own exit codes are
/// replaced by Revenant's (Docs/architecture.md "Exit codes": usage errors are 125), and its
/// reports (message, usage, help hint: 3–5 lines) by one line; --help stays whole. `refine` may
/// turn an error of the parsed command into one that says more.
package func runRoot<Root: ParsableCommand>(
    _: Root.Type, refine: (ParsableCommand, Error) -> Error = { $1 }
) -> Never {
    var parsed: ParsableCommand?
    do {
        var command = try Root.parseAsRoot(Passthrough.argumentsToParse())
        parsed = command
        try command.run()
        exit(0)
    } catch {
        let error = parsed.map { refine($0, error) } ?? error
        if let e = error as? CLIError { fail(e.message, code: e.code) }
        let code = Root.exitCode(for: error)
        if code == .success {
            print(Root.fullMessage(for: error))
            exit(0)
        }
        if code == .validationFailure { fail(usageLine(Root.self, for: error), code: 125) }
        // Neither a usage error nor one of ours: still one line.
        fail(Root.message(for: error), code: 125)
    }
}

/// "<what is wrong> (see revenant SUB --help)": ArgumentParser's message, first letter
/// lowered as ours are; a negative number it took for an option gets a clear word.
func usageLine<Root: ParsableCommand>(_: Root.Type, for error: Error) -> String {
    let arguments = Array(CommandLine.arguments.dropFirst())
    let names = Root.configuration.subcommands.map { $0._commandName }
    let sub = arguments.first.flatMap { names.contains($0) ? $0 : nil }
    var text = Root.message(for: error)
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

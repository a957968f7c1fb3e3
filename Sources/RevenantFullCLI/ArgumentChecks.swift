import ArgumentParser
import Regen
import RevenantCommands
import SQLReplay
import RevenantKit

// Checks of path arguments ArgumentParser runs before a command (`validate()`), for commands
// declared elsewhere too: an empty path would reach the file system as "" and come back as
// "revenant: : No such file or directory".

/// A command whose TRACE argument names the trace it reads.
protocol ReadsTrace { var trace: String { get } }

extension ReplayCommand: ReadsTrace {}
extension PerlCommand: ReadsTrace {}
extension SQLCommand: ReadsTrace {}
extension When: ReadsTrace {}
extension Log: ReadsTrace {}
extension RegenCommand: ReadsTrace {}

extension PerlCommand {
    func validate() throws { try requirePath(trace, "TRACE") }
}

/// A file the command writes at `path`, never inside `trace` (see OutputFile); refusals are one
/// line, exit 125.
func outputFile(
    _ path: String, option: String, force: Bool, trace: String,
    companions: [String] = []
) throws -> OutputFile {
    do {
        return try OutputFile(path, option: option, force: force, protected: [trace], companions: companions)
    } catch {
        throw CLIError(error.description)
    }
}

/// Runs `body`; an index that cannot be read as one (damaged, or written for something else)
/// is one line saying what to do.
func readingIndex<T>(_ trace: String, _ body: () throws -> T) throws -> T {
    do { return try body() } catch { throw indexFailure(trace, error) }
}

func indexFailure(_ trace: String, _ error: Error) -> Error {
    guard let why = TraceIndex.unreadable(error) else { return error }
    return CLIError(
        "\(trace)/index.sqlite is not a valid index (\(why)); "
            + "delete it and run `revenant regen \(trace)`")
}

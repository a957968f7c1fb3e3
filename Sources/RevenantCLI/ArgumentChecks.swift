import ArgumentParser
import Regen
import SQLReplay
import RevenantKit

// Checks of path arguments ArgumentParser runs before a command (`validate()`), for commands
// declared elsewhere too: an empty path would reach the file system as "" and come back as
// "revenant: : No such file or directory".

/// A command whose TRACE argument names the trace it reads.
protocol ReadsTrace { var trace: String { get } }

extension Replay: ReadsTrace {}
extension PerlCommand: ReadsTrace {}
extension SQLCommand: ReadsTrace {}
extension When: ReadsTrace {}
extension Log: ReadsTrace {}
extension RegenCommand: ReadsTrace {}

/// A path argument must name something.
func requirePath(_ value: String, _ name: String) throws {
    if value.isEmpty { throw ValidationError("\(name): an empty path") }
}

extension Record {
    func validate() throws { try requirePath(output, "-o") }
}

extension Replay {
    func validate() throws {
        try requirePath(trace, "TRACE")
        if followTimeout != nil && !follow { throw ValidationError("--follow-timeout needs --follow") }
        if let t = followTimeout, !(0...86400).contains(t) {
            throw ValidationError("--follow-timeout: 0 to 86400 seconds")
        }
    }
}

extension PerlCommand {
    func validate() throws { try requirePath(trace, "TRACE") }
}

extension SandboxOptions {
    func validate() throws {
        for p in readWrite { try requirePath(p, "--rw") }
        for p in readOnly { try requirePath(p, "--ro") }
        guard (1...4096).contains(maxProcesses) else { throw ValidationError("--max-processes: 1 to 4096") }
    }
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

import ArgumentParser
import Regen
import Replay
import RevenantKit
import SQLReplay
import Trace

/// `--at POS` (Docs/positions.md): parsed in `validate` (a usage error, 125), resolved against
/// the process's index when it names a Perl or SQL statement (a position the run never reached
/// is a valid question without an answer, 1).
func parsePosition(_ text: String, option: String) throws -> RunPosition {
    do { return try RunPosition(parsing: text) } catch { throw ValidationError("\(option) \(error)") }
}

/// The process the position names and how many of its events lie before it (nil: the end).
func resolvePosition(_ position: RunPosition, trace: String) throws -> (pid: Int32?, eventsBefore: Int?) {
    var index: TraceIndex?
    if position.needsIndex {
        if case .perl = position.point {
            index = try requireIndexes(trace, shim: "perl", what: "Perl", pid: position.pid)[0].index
        } else {
            index = try requireIndexes(trace, shim: "sqlite", what: "SQLite", pid: position.pid)[0].index
        }
    }
    let before: Int?
    do { before = try readingIndex(trace) { try position.eventsBefore(index: index) } } catch let e
        as RunPosition.Invalid
    {
        throw CLIError(e.description, code: 1)
    }
    if let before, try before > eventCount(trace, pid: position.pid) {
        throw CLIError("\(position): past the end of the recording", code: 1)
    }
    return (position.pid, before)
}

/// How many syscall events process `pid`'s stream holds (nil: the first process).
func eventCount(_ trace: String, pid: Int32?) throws -> Int {
    do {
        let (dir, header) = try TraceDirectory.open(trace)
        let table = try ProcessTable(dir, firstPID: header.process?.pid ?? 0)
        let stream = try pid.map { try table.stream(of: $0, in: trace) } ?? 0
        return try Stamps(dir, stream: stream).values.count
    } catch {
        throw CLIError("\(error)")
    }
}

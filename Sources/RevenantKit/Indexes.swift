import Glibc
import Regen
import SQLReplay
import Replay
import Trace

/// The index of a trace recorded with `shim`, regenerated when missing or stale: the first
/// process's, or with `pid` that process's.
package func requireIndex(_ trace: String, shim: String, what: String, pid: Int32? = nil) throws -> TraceIndex {
    try requireIndexes(trace, shim: shim, what: what, pid: pid)[0].index
}

/// One process's index, and its pid.
package struct ProcessIndex {
    package var pid: Int32
    package var stream: Int
    package var index: TraceIndex
}

/// The indexes of a trace recorded with `shim` (regenerated when one is missing or stale): with
/// `pid`, that process's alone; else every process's, the first process's first, then the
/// children's in the order they started.
package func requireIndexes(_ trace: String, shim: String, what: String, pid: Int32?) throws -> [ProcessIndex] {
    let (opened, target) = try openIndexes(trace, shim: shim, what: what, pid: pid, all: pid == nil)
    return pid == nil ? opened : [target]
}

/// Process `pid`'s index (nil: the first's) and, with `all`, every process's (else that one
/// alone), regenerated at most once.
private func openIndexes(
    _ trace: String, shim: String, what: String, pid: Int32?, all: Bool
) throws -> (opened: [ProcessIndex], target: ProcessIndex) {
    let dir: TraceDirectory, header: TraceHeader
    do { (dir, header) = try TraceDirectory.open(trace) } catch { throw CLIError(error.description) }
    guard header.shims?.contains(shim) == true else {
        throw CLIError(
            "\(trace) was recorded without the \(what) shim (--shims none, or a revenant without it): "
                + "it has no \(what) log",
            code: 1)
    }
    let table: ProcessTable
    do { table = try ProcessTable(dir, firstPID: header.process?.pid ?? 0) } catch {
        throw CLIError("\(trace): \(error)")
    }
    var stream = 0
    if let pid {
        do { stream = try table.stream(of: pid, in: trace) } catch { throw CLIError(error.description) }
    }
    let wanted = all ? table.processes : table.processes.filter { $0.stream == stream }
    if wanted.contains(where: { TraceIndex.open(dir, stream: $0.stream) == nil }) {
        _ = try regenerate(trace, ignoreCPU: false)
    }
    let opened = try wanted.map { p in
        guard let index = TraceIndex.open(dir, stream: p.stream) else {
            throw CLIError("\(trace): cannot read \(dir.indexPath(stream: p.stream)) after regenerating it")
        }
        return ProcessIndex(pid: p.pid, stream: p.stream, index: index)
    }
    return (opened, opened.first { $0.stream == stream }!)
}

/// SQL time travel in process `pid`'s statements (nil: the first process's), with the other
/// processes' statements on the same database merged in by their stamps.
package func sqlTimeTravel(_ trace: String, _ dir: TraceDirectory, pid: Int32?) throws -> TimeTravel {
    let (all, target) = try openIndexes(trace, shim: "sqlite", what: "SQLite", pid: pid, all: true)
    let others = all.filter { $0.stream != target.stream }.map {
        TimeTravel.Process(stream: $0.stream, pid: $0.pid, index: $0.index)
    }
    return TimeTravel(directory: dir, index: target.index, stream: target.stream, others: others)
}

/// Regenerate with a progress line on a terminal; failures end the command (124 or 125).
package func regenerate(_ trace: String, ignoreCPU: Bool, channelOut: String? = nil) throws -> Regenerator.Summary {
    let tty = isatty(2) != 0
    do {
        let s = try Regenerator.regenerate(
            path: trace, ignoreCPU: ignoreCPU, channelOut: channelOut,
            progress: tty
                ? { index in
                    FileHandleStderr.write("\rregen: event \(index)…")
                } : nil, diagnostic: { _ in })
        if tty { FileHandleStderr.write("\r\u{1b}[K") }
        return s
    } catch {
        if tty { FileHandleStderr.write("\r\u{1b}[K") }
        throw CLIError(error.description, code: error.exitCode)
    }
}

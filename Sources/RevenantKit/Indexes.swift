import Glibc
import Regen
import Trace

/// The index of a trace recorded with `shim`, regenerated when missing or stale.
package func requireIndex(_ trace: String, shim: String, what: String) throws -> TraceIndex {
    let dir: TraceDirectory, header: TraceHeader
    do { (dir, header) = try TraceDirectory.open(trace) } catch { throw CLIError(error.description) }
    guard header.shims?.contains(shim) == true else {
        throw CLIError(
            "\(trace) was recorded without the \(what) shim (--shims none, or a revenant without it): "
                + "it has no \(what) log",
            code: 1)
    }
    if TraceIndex.open(dir) == nil { _ = try regenerate(trace, ignoreCPU: false) }
    guard let index = TraceIndex.open(dir) else {
        throw CLIError("\(trace): cannot read index.sqlite after regenerating it")
    }
    return index
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

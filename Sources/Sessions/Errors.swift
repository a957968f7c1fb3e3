import Glibc
import Replay

/// An error that ends the command with one line on stderr and its exit code (Docs/architecture.md "Exit codes").
package struct CLIError: Error {
    package var message: String
    package var code: Int32
    package init(_ message: String, code: Int32 = 125) {
        self.message = message
        self.code = code
    }
}

extension CLIError: CustomStringConvertible {
    package var description: String { message }
}

package enum FileHandleStderr {
    package static func write(_ s: String) {
        var bytes = Array(s.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress! + off, $0.count - off) }
            if n <= 0 { break }
            off += n
        }
    }
}

/// A replay that answers a question about the run (`when`, `perl`): nothing echoed, this CPU
/// required; `mailbox: false` when the VMM must hold a stopped vCPU at each exit (checkpoints,
/// clones). A trace that cannot be replayed is one line, exit 125.
package func questionReplay(_ trace: String, mailbox: Bool = true, process: Int32? = nil) throws -> ReplaySession {
    do {
        return try ReplaySession(
            path: trace, quiet: true, ignoreCPU: false, mailbox: mailbox, onlyProcess: process, diagnostic: { _ in })
    } catch {
        throw CLIError(error.description)
    }
}

/// Run it to its end (or to the stop a hook asked for): a divergence is exit 124, a broken
/// trace 125; `where` adds where the program was to the divergence report. True if it finished.
@discardableResult
package func replayToEnd(_ session: ReplaySession, where: () -> String? = { nil }) throws -> Bool {
    switch session.run() {
    case .diverged(let d): throw CLIError(d + (`where`().map { " (\($0))" } ?? ""), code: 124)
    case .traceFailed(let t): throw CLIError(t)
    case .finished: return true
    case .stopped: return false
    }
}

import ArgumentParser
import Replay
import Glibc

@main
struct Revenant: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revenant",
        abstract: "Record and replay Linux programs (perl, sqlite3) in a deterministic KVM virtual machine.",
        discussion: """
        Exit status of `run`: the guest's own (128+N when signal N killed it). Revenant's own failures
        use 125 (usage, KVM unavailable), 126 (program not executable) and 127 (program not found).
        """,
        subcommands: [Run.self, Record.self, Replay.self, Info.self, RegenCommand.self, Log.self, PerlCommand.self, SQLCommand.self, When.self, Syscalls.self]
    )

    /// ArgumentParser's own exit codes are replaced by DESIGN.md's: usage errors are 125.
    static func main() {
        do {
            var command = try parseAsRoot(Passthrough.argumentsToParse())
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Glibc.exit(0)
            }
            if let e = error as? CLIError {
                fail(e.message, code: e.code)
            }
            let msg = fullMessage(for: error)
            FileHandleStderr.write(msg.hasSuffix("\n") ? msg : msg + "\n")
            Glibc.exit(125)
        }
    }
}

/// An error that ends the command with one line on stderr and DESIGN.md's exit code.
struct CLIError: Error {
    var message: String
    var code: Int32
    init(_ message: String, code: Int32 = 125) {
        self.message = message
        self.code = code
    }
}

enum FileHandleStderr {
    static func write(_ s: String) {
        var bytes = Array(s.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress! + off, $0.count - off) }
            if n <= 0 { break }
            off += n
        }
    }
}

func fail(_ message: String, code: Int32) -> Never {
    FileHandleStderr.write("revenant: \(message)\n")
    exit(code)
}

/// A replay that answers a question about the run (`when`, `perl`): nothing echoed, this CPU
/// required; `mailbox: false` when the VMM must hold a stopped vCPU at each exit (checkpoints,
/// clones). A trace that cannot be replayed is one line, exit 125.
func questionReplay(_ trace: String, mailbox: Bool = true) throws -> ReplaySession {
    do { return try ReplaySession(path: trace, quiet: true, ignoreCPU: false, mailbox: mailbox, diagnostic: { _ in }) } catch {
        throw CLIError(error.description)
    }
}

/// Run it to its end (or to the stop a hook asked for): a divergence is exit 124, a broken
/// trace 125; `where` adds where the program was to the divergence report. True if it finished.
@discardableResult
func replayToEnd(_ session: ReplaySession, where: () -> String? = { nil }) throws -> Bool {
    switch session.run() {
    case .diverged(let d): throw CLIError(d + (`where`().map { " (\($0))" } ?? ""), code: 124)
    case .traceFailed(let t): throw CLIError(t)
    case .finished: return true
    case .stopped: return false
    }
}

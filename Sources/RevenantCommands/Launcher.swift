import Glibc

/// `revenant` is two binaries (Docs/architecture.md "Two binaries"). The launcher, `revenant`,
/// holds what runs, records and replays a program and nothing of the index (no GRDB, SQLite or
/// Foundation), so that it starts as fast as a small C tool; every other command line it hands,
/// unchanged, to `revenant-full` next to it, which holds every command.
package enum Launcher {
    /// The commands the launcher runs itself.
    package static let commands: Set<String> = ["run", "record", "replay"]
    /// The binary that runs every command, in the launcher's folder.
    package static let fullBinaryName = "revenant-full"

    /// Whether the launcher parses `arguments` (argv without argv[0]) itself: its own commands,
    /// the top-level help, which lists every command, and `--version`.
    package static func handles(_ arguments: [String]) -> Bool {
        guard let first = arguments.first else { return true }
        if commands.contains(first) { return true }
        switch first {
        case "-h", "--help", "--version": return arguments.count == 1
        case "help": return arguments.count == 1 || commands.contains(arguments[1])
        default: return false
        }
    }

    /// Replaces this process by the full binary with the same argv and environment; one line,
    /// exit 125, if it cannot.
    package static func execFull() -> Never {
        let path = fullBinaryPath()
        execv(path, CommandLine.unsafeArgv)
        let why = String(cString: strerror(errno))
        fail("cannot run \(path), which runs every command but run, record and replay: \(why)", code: 125)
    }

    /// `revenant-full` in the folder of this executable (symbolic links followed: a link to the
    /// launcher elsewhere still finds it).
    static func fullBinaryPath() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, Int(PATH_MAX))
        guard n > 0 else { return fullBinaryName }
        let exe = String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let folder = exe.lastIndex(of: "/").map { String(exe[..<$0]) } ?? "."
        return folder + "/" + fullBinaryName
    }
}

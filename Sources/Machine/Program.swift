import Glibc

/// Why a program cannot start, with the shell's exit codes (DESIGN.md "Command line").
public enum LaunchError: Error, CustomStringConvertible, Equatable {
    case notFound(String)
    case notExecutable(String, reason: String)

    public var exitCode: Int32 {
        switch self {
        case .notFound: return 127
        case .notExecutable: return 126
        }
    }

    public var description: String {
        switch self {
        case .notFound(let p): return "\(p): command not found"
        case .notExecutable(let p, let why): return "\(p): cannot execute: \(why)"
        }
    }
}

/// The program to run: its absolute host path and argv (after #! scripts are unwrapped).
public struct ProgramSpec: Equatable {
    public init(path: String, argv: [String]) {
        self.path = path
        self.argv = argv
    }
    public var path: String
    public var argv: [String]

    /// Find `name` as execvp would (PATH when it has no slash), check it can run, and follow `#!`.
    public static func locate(_ name: String, arguments: [String], pathVariable: String?, cwd: String) throws(LaunchError) -> ProgramSpec {
        var path = try find(name, pathVariable: pathVariable, cwd: cwd)
        var argv = [name] + arguments
        // What execve got: the name itself when it has a slash, else the file found on PATH.
        var executed = name.contains("/") ? name : path
        for _ in 0..<4 {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw .notExecutable(name, reason: String(cString: strerror(errno))) }
            var head = [UInt8](repeating: 0, count: 256)
            let n = head.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 256, 0) }
            close(fd)
            guard n >= 2, head[0] == UInt8(ascii: "#"), head[1] == UInt8(ascii: "!") else { return ProgramSpec(path: path, argv: argv) }
            let line = head[2..<max(2, n)].prefix { $0 != 10 }
            let words = String(decoding: line, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let interp = words.first else { throw .notExecutable(name, reason: "empty #! line") }
            let optional = words.count > 1 ? [words.dropFirst().joined(separator: " ")] : []
            argv = [interp] + optional + [executed] + argv.dropFirst()
            path = try find(interp, pathVariable: nil, cwd: cwd)
            executed = interp
        }
        throw .notExecutable(name, reason: "too many levels of #! interpreters")
    }

    static func find(_ name: String, pathVariable: String?, cwd: String) throws(LaunchError) -> String {
        guard !name.isEmpty else { throw .notFound(name) }
        if name.contains("/") {
            let abs = name.hasPrefix("/") ? name : cwd + "/" + name
            try checkRunnable(abs, shown: name)
            return abs
        }
        var denied: String?
        for dir in (pathVariable ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":", omittingEmptySubsequences: false) {
            let d = dir.isEmpty ? cwd : (dir.hasPrefix("/") ? String(dir) : cwd + "/" + dir)
            let candidate = d + "/" + name
            if access(candidate, F_OK) != 0 { continue }
            do throws(LaunchError) {
                try checkRunnable(candidate, shown: name)
                return candidate
            } catch { denied = candidate }
        }
        if let denied { throw .notExecutable(denied, reason: "Permission denied") }
        throw .notFound(name)
    }

    static func checkRunnable(_ path: String, shown: String) throws(LaunchError) {
        var st = stat()
        guard stat(path, &st) == 0 else {
            if errno == ENOENT || errno == ENOTDIR { throw .notFound(shown) }
            throw .notExecutable(shown, reason: String(cString: strerror(errno)))
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw .notExecutable(shown, reason: "Is a directory or not a regular file") }
        guard st.st_mode & 0o111 != 0 else { throw .notExecutable(shown, reason: "Permission denied") }
    }
}

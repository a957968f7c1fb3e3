import Glibc
import LinuxABI

/// Why a program cannot start, with the shell's exit codes (Docs/architecture.md "Exit codes").
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

/// The program to run: its absolute host path and argv (after #! scripts are unwrapped), as bytes.
public struct ProgramSpec: Equatable {
    public init(path: ByteString, argv: [ByteString], execfn: ByteString? = nil) {
        self.path = path
        self.argv = argv
        self.execfn = execfn
    }
    public var path: ByteString
    public var argv: [ByteString]
    /// AT_EXECFN: the name execve was given, as Linux keeps it (nil: `path`). A replay knows the
    /// file by that name only, so the stack that holds it must not depend on the folder.
    public var execfn: ByteString?

    /// Find `name` as execvp would (PATH when it has no slash), check it can run, and follow `#!`.
    public static func locate(
        _ name: ByteString, arguments: [ByteString], pathVariable: ByteString?,
        cwd: ByteString
    ) throws(LaunchError) -> ProgramSpec {
        let slash = UInt8(ascii: "/")
        var path = try find(name, pathVariable: pathVariable, cwd: cwd)
        var argv = [name] + arguments
        // What execve got: the name itself when it has a slash, else the file found on PATH.
        var executed = name.contains(slash) ? name : path
        for _ in 0..<4 {
            let fd = path.withCString { open($0, O_RDONLY | O_CLOEXEC) }
            guard fd >= 0 else { throw .notExecutable(name.description, reason: String(cString: strerror(errno))) }
            var head = [UInt8](repeating: 0, count: 256)
            let n = head.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 256, 0) }
            close(fd)
            guard n >= 2, head[0] == UInt8(ascii: "#"), head[1] == UInt8(ascii: "!") else {
                return ProgramSpec(path: path, argv: argv)
            }
            let line = head[2..<max(2, n)].prefix { $0 != 10 }
            let words = line.split(whereSeparator: { $0 == 32 || $0 == 9 }).map { ByteString(bytes: $0) }
            guard let interp = words.first else { throw .notExecutable(name.description, reason: "empty #! line") }
            let optional = words.count > 1 ? [Array(words.dropFirst()).joined(separator: " ")] : []
            argv = [interp] + optional + [executed] + argv.dropFirst()
            path = try find(interp, pathVariable: nil, cwd: cwd)
            executed = interp
        }
        throw .notExecutable(name.description, reason: "too many levels of #! interpreters")
    }

    static func find(
        _ name: ByteString, pathVariable: ByteString?,
        cwd: ByteString
    ) throws(LaunchError) -> ByteString {
        guard !name.isEmpty else { throw .notFound(name.description) }
        let slash = UInt8(ascii: "/")
        if name.contains(slash) {
            let abs = name.first == slash ? name : cwd + "/" + name
            try checkRunnable(abs, shown: name)
            return abs
        }
        var denied: ByteString?
        let dirs = (pathVariable ?? "/usr/local/bin:/usr/bin:/bin")
            .split(separator: UInt8(ascii: ":"), omittingEmpty: false)
        for dir in dirs {
            let d = dir.isEmpty ? cwd : (dir.first == slash ? dir : cwd + "/" + dir)
            let candidate = d + "/" + name
            if candidate.withCString({ access($0, F_OK) }) != 0 { continue }
            do throws(LaunchError) {
                try checkRunnable(candidate, shown: name)
                return candidate
            } catch { denied = candidate }
        }
        if let denied { throw .notExecutable(denied.description, reason: "Permission denied") }
        throw .notFound(name.description)
    }

    static func checkRunnable(_ path: ByteString, shown: ByteString) throws(LaunchError) {
        var st = stat()
        guard path.withCString({ stat($0, &st) }) == 0 else {
            if errno == ENOENT || errno == ENOTDIR { throw .notFound(shown.description) }
            throw .notExecutable(shown.description, reason: String(cString: strerror(errno)))
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw .notExecutable(shown.description, reason: "Is a directory or not a regular file")
        }
        guard st.st_mode & 0o111 != 0 else { throw .notExecutable(shown.description, reason: "Permission denied") }
    }
}

import LinuxABI

/// Which syscalls bring something from outside the program in — data, host state, or a result
/// that depends on the file system — and so must happen inside a hooked op's begin/end markers
/// for the fast Perl-level replay to reproduce them. Data, not code: Docs/regen.md lists it.
public enum InputSyscalls {
    public enum Kind: String, Sendable {
        /// Bytes read from a descriptor (argument 0). Reads of program code — a Perl source file
        /// the shim digested, or a file the program maps — are not input.
        case data
        /// Host state: clocks, randomness, the working directory, file metadata by path.
        case hostState = "host state"
        /// A result that depends on the file system (the fast replay runs in a scratch folder).
        case fileSystem = "file-system result"
    }

    public static let byName: [String: Kind] = {
        var t: [String: Kind] = [:]
        for n in ["read", "pread64", "readv", "preadv", "preadv2", "recvfrom", "recvmsg", "getdents64"] { t[n] = .data }
        for n in ["getrandom", "clock_gettime", "gettimeofday", "time", "getcwd", "readlink", "readlinkat",
                  "stat", "lstat", "newfstatat", "statx", "access", "faccessat", "faccessat2", "uname", "sysinfo",
                  "getrusage", "times", "statfs"] { t[n] = .hostState }
        for n in ["unlink", "unlinkat", "mkdir", "mkdirat", "rmdir", "rename", "renameat", "renameat2", "link", "linkat",
                  "symlink", "symlinkat", "chmod", "fchmodat", "chown", "fchownat", "utimensat", "truncate", "chdir"] {
            t[n] = .fileSystem
        }
        return t
    }()

    static let byNumber: [UInt64: Kind] = Dictionary(uniqueKeysWithValues: byName.compactMap { name, kind in
        SyscallNames.byName[name].map { (UInt64($0), kind) }
    })

    public static func kind(_ number: UInt64) -> Kind? { byNumber[number] }
}

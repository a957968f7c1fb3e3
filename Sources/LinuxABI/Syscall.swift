/// The registers of one `syscall` instruction, as the Linux x86-64 ABI defines them.
public struct SyscallRequest: Sendable {
    public var number: UInt64
    public var args: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)
    /// Where the guest made the call (for diagnostics).
    public var rip: UInt64

    public init(number: UInt64, args: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64), rip: UInt64 = 0) {
        self.number = number
        self.args = args
        self.rip = rip
    }

    @inline(__always) public subscript(_ i: Int) -> UInt64 {
        switch i {
        case 0: return args.0
        case 1: return args.1
        case 2: return args.2
        case 3: return args.3
        case 4: return args.4
        default: return args.5
        }
    }

    public var name: String { SyscallNames.byNumber[Int(number)] ?? "syscall_\(number)" }
}

/// What the VMM does after a syscall.
public enum SyscallOutcome: Equatable, Sendable {
    /// Return this value in rax (a negative errno for failure).
    case value(Int64)
    /// Set the FS base (arch_prctl) and return 0.
    case setFSBase(UInt64)
    /// The process exits with this status (exit_group).
    case exit(Int32)
    /// The process is killed by this signal (default action of a signal it sent itself, …).
    case killed(signal: Int32, reason: String)
}

/// How the guest was killed by a CPU exception, as Linux would report it.
public enum Signal {
    public static let sigill: Int32 = 4, sigtrap: Int32 = 5, sigabrt: Int32 = 6, sigbus: Int32 = 7,
                      sigfpe: Int32 = 8, sigkill: Int32 = 9, sigsegv: Int32 = 11, sigpipe: Int32 = 13
    public static func name(_ s: Int32) -> String {
        let names: [Int32: String] = [1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT",
                                      7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2",
                                      13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM", 17: "SIGCHLD", 24: "SIGXCPU", 25: "SIGXFSZ"]
        return names[s] ?? "signal \(s)"
    }
}

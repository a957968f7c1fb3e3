/// The registers of one `syscall` instruction, as the Linux x86-64 ABI defines them.
public struct SyscallRequest: Sendable {
    public var number: UInt64
    public var args: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)
    /// Where the guest made the call (for diagnostics).
    public var rip: UInt64
    /// The guest's stack pointer, where the VMM has it (calls that take the exit path); else 0.
    public var rsp: UInt64

    public init(
        number: UInt64, args: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64), rip: UInt64 = 0, rsp: UInt64 = 0
    ) {
        self.number = number
        self.args = args
        self.rip = rip
        self.rsp = rsp
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

    public var name: String { Int(exactly: number).flatMap { SyscallNames.byNumber[$0] } ?? "syscall_\(number)" }
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
    /// Return from the syscall into a signal handler (Linux's rt_sigframe on the user stack).
    case deliver(SignalDelivery)
    /// rt_sigreturn: restore the registers saved in the signal frame at this address.
    case signalReturn(frame: UInt64)
    /// execve: a new program is in memory; start it at `entry` with this stack, every other
    /// register cleared, the FS base and the FPU/SSE state reset (Linux's start_thread).
    case exec(entry: UInt64, stack: UInt64)
    /// fork (and clone without CLONE_VM): the VMM forks; the child returns 0, on `childStack` when
    /// it is not 0; the parent returns the child's pid.
    case fork(childStack: UInt64)
    /// End the run now, with no status of the program's: the kernel (a replay that diverged or
    /// met a bad trace, a recording that could not be written) says why itself.
    case halt
}

/// What the machine needs to enter a signal handler as Linux does. The personality has already
/// updated its signal mask; `savedMask` goes into the frame for rt_sigreturn to restore.
public struct SignalDelivery: Equatable, Sendable {
    public var signal: Int32
    public var handler: UInt64
    public var restorer: UInt64
    public var flags: UInt64
    public var savedMask: UInt64
    /// siginfo's si_code (SI_USER 0, SI_TKILL -6, SI_KERNEL 0x80) and sender.
    public var code: Int32
    public var senderPID: Int32
    public var senderUID: UInt32
    /// The interrupted syscall's result, seen by the program after the handler returns.
    public var result: Int64
    /// The sigaltstack as set (ss_sp, ss_flags, ss_size): the frame's uc_stack, and where the
    /// handler runs when it asked for it (SA_ONSTACK) and the stack is enabled.
    public var alternateStack: AlternateStack = .disabled
    /// Set when a CPU exception raised the signal (SIGSEGV, SIGFPE…): siginfo's si_addr and the
    /// sigcontext's trapno and err, as Linux fills them.
    public var fault: Fault?

    public struct AlternateStack: Equatable, Sendable {
        public var base: UInt64, flags: Int32, size: UInt64
        public init(base: UInt64, flags: Int32, size: UInt64) {
            self.base = base
            self.flags = flags
            self.size = size
        }
        public static let disabled = AlternateStack(base: 0, flags: 2 /* SS_DISABLE */, size: 0)
        public var enabled: Bool { flags & 2 == 0 && size > 0 }
    }

    public struct Fault: Equatable, Sendable {
        public var address: UInt64, trapNumber: UInt64, errorCode: UInt64
        public init(address: UInt64, trapNumber: UInt64, errorCode: UInt64) {
            self.address = address
            self.trapNumber = trapNumber
            self.errorCode = errorCode
        }
    }

    public static let onStack: UInt64 = 0x0800_0000  // SA_ONSTACK

    public init(
        signal: Int32, handler: UInt64, restorer: UInt64, flags: UInt64, savedMask: UInt64,
        code: Int32, senderPID: Int32, senderUID: UInt32, result: Int64
    ) {
        self.signal = signal
        self.handler = handler
        self.restorer = restorer
        self.flags = flags
        self.savedMask = savedMask
        self.code = code
        self.senderPID = senderPID
        self.senderUID = senderUID
        self.result = result
    }
}

/// How the guest was killed by a CPU exception, as Linux would report it.
public enum Signal {
    public static let sigill: Int32 = 4, sigtrap: Int32 = 5, sigabrt: Int32 = 6, sigbus: Int32 = 7,
        sigfpe: Int32 = 8, sigkill: Int32 = 9, sigsegv: Int32 = 11, sigpipe: Int32 = 13, sigchld: Int32 = 17
    public static func name(_ s: Int32) -> String {
        let names: [Int32: String] = [
            1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT",
            7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2",
            13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM", 17: "SIGCHLD", 24: "SIGXCPU", 25: "SIGXFSZ",
        ]
        return names[s] ?? "signal \(s)"
    }
}

/// How much of a syscall Revenant implements.
public enum SupportStatus: String, Sendable, CaseIterable {
    case supported
    /// Works for the common cases; the notes say what is missing.
    case partial
    /// Returns ENOSYS and prints one diagnostic line naming the call.
    case unsupported
}

/// Where a syscall acts.
public enum ReplayClass: String, Sendable {
    /// On the host: a file, a descriptor the host holds, a socket.
    case host
    /// On state the VMM owns (the memory map, the descriptor table, signal state).
    case vmm
    /// None: it returns a value the host makes up (time, randomness, ids).
    case nondeterministic
    /// Never reaches the host.
    case none
}

/// How a replay reproduces a syscall: the one rule the recorder, the replayer and the docs read.
public enum ReplayRule: String, Sendable {
    /// The logged result and the bytes the call left in guest memory are fed back; the call does
    /// not run (nothing on the host is touched).
    case fedBack = "fed back"
    /// The call runs again on the personality (state the VMM owns) and must come out as recorded;
    /// the recording logs no memory writes for it.
    case runAgain = "run again"
    /// A new program: a successful call is run again with the files the recording loaded, taken
    /// from the trace's copies (each checked against its digest); a failed one is fed back.
    case loaded = "loaded from the trace"
    /// A new process: the replay forks as the recording did, and the child replays its own
    /// stream (`events.N`); a fork the host refused is fed back.
    case forked = "forked as recorded"
}

/// What regen counts as input from outside the program, for the fast Perl-level replay (which
/// reproduces only input that passes through the shim's hooked ops): Docs/regen.md.
public enum InputKind: String, Sendable {
    /// Bytes read from a descriptor (argument 0). Reads of program code — a Perl source file the
    /// shim digested, or a file the program maps — are not input.
    case data
    /// Host state: clocks, randomness, the working directory, file metadata by path.
    case hostState = "host state"
    /// A result that depends on the file system (the fast replay runs in a scratch folder).
    case fileSystem = "file-system result"
    /// A child process: whatever it does reaches the program through it (its output, its status).
    case process = "child process"
}

/// The buffer whose bytes `when --syscall 'NAME data~RE'` looks at: argument 1, as many bytes as
/// the result says.
public enum DataArgument: Sendable {
    case buffer
}

/// One syscall, everything Revenant knows of it: the dispatch (a handler for every supported
/// row, a test checks), the recorder and the replayer, regen's verdict, `log syscalls`, `when`
/// and Docs/syscalls.md all read this row.
public struct SyscallSpec: Sendable {
    public let name: String
    public let number: Int
    /// How many argument registers it reads (x86-64 Linux). The others hold whatever the caller
    /// left there — ld.so's rdtsc timing, say, which differs between a recording and its replay —
    /// so the replayer compares only these. Variadic libc wrappers (fcntl, prctl, futex) pass
    /// garbage in arguments their command does not use: they count only those every command reads.
    public let arity: Int
    public let status: SupportStatus
    public let replayClass: ReplayClass
    public let replay: ReplayRule
    /// Arguments that are paths (logged with the call, for `log` and search).
    public let paths: [Int]
    /// Its result counts the bytes it wrote into its buffers: the log keeps only those.
    public let resultSized: Bool
    /// The argument holding a descriptor whose file it writes or moves: on Revenant's own stdout
    /// and stderr, replay does it again (Replay/ConsoleOutput.swift).
    public let output: Int?
    public let data: DataArgument?
    public let input: InputKind?
    public let notes: String

    init(
        _ name: String, _ arity: Int, _ status: SupportStatus, _ replayClass: ReplayClass,
        replay: ReplayRule = .fedBack, paths: [Int] = [], resultSized: Bool = false, output: Int? = nil,
        data: DataArgument? = nil, input: InputKind? = nil, _ notes: String = ""
    ) {
        self.name = name
        self.number = SyscallNames.byName[name] ?? -1
        self.arity = arity
        self.status = status
        self.replayClass = replayClass
        self.replay = replay
        self.paths = paths
        self.resultSized = resultSized
        self.output = output
        self.data = data
        self.input = input
        self.notes = notes
    }
}

/// The syscall personality as data: the Personality dispatches on it, `Docs/syscalls.md` is
/// generated from it (`revenant syscalls --markdown`), and a test keeps the two in step.
/// Calls not listed here are unsupported: ENOSYS plus one diagnostic line.
public enum SyscallTable {
    public static let entries: [SyscallSpec] = [
        // Descriptors (Personality/Descriptors.swift): the guest has its own fd table.
        .init("read", 3, .supported, .host, resultSized: true, data: .buffer, input: .data),
        .init("write", 3, .supported, .host, output: 0, data: .buffer),
        .init("pread64", 4, .supported, .host, resultSized: true, data: .buffer, input: .data),
        .init("pwrite64", 4, .supported, .host, output: 0, data: .buffer),
        .init("readv", 3, .supported, .host, resultSized: true, input: .data, "every iovec is checked"),
        .init("writev", 3, .supported, .host, output: 0, "every iovec is checked"),
        .init("close", 1, .supported, .vmm),
        .init("lseek", 3, .supported, .host, output: 0),
        .init("fsync", 1, .supported, .host),
        .init("fdatasync", 1, .supported, .host),
        .init("ftruncate", 2, .supported, .host, output: 0, "EROFS on a read-only mount"),
        .init("fstat", 2, .supported, .host),
        .init(
            "ioctl", 3, .partial, .host,
            "TCGETS, TIOCGWINSZ, TIOCGPGRP, FIONREAD, FIOCLEX, FIONCLEX; others ENOTTY with a diagnostic"),
        .init("fcntl", 2, .partial, .host, "F_GETFD/SETFD/GETFL/SETFL/DUPFD(_CLOEXEC)/GETLK/SETLK/SETLKW/OFD locks"),
        .init("dup", 1, .supported, .vmm),
        .init("dup2", 2, .supported, .vmm),
        .init("dup3", 3, .supported, .vmm),
        .init("pipe", 1, .supported, .host),
        .init("pipe2", 2, .supported, .host),
        .init("getdents64", 3, .supported, .host, resultSized: true, input: .data),
        .init("flock", 2, .supported, .host),
        .init("fadvise64", 4, .supported, .host),
        .init("fchmod", 2, .supported, .host, "EROFS on a read-only mount"),
        .init("fchown", 3, .supported, .host, "EROFS on a read-only mount"),
        .init("fstatfs", 2, .supported, .host),
        .init("poll", 3, .supported, .host),
        .init("ppoll", 5, .partial, .host, "no signal mask"),
        .init("select", 5, .partial, .host, "descriptors below 64 only"),
        .init("pselect6", 6, .partial, .host, "descriptors below 64 only, no signal mask"),
        .init("sendfile", 4, .supported, .host, output: 0),
        .init("copy_file_range", 6, .supported, .host, output: 2),
        .init("fallocate", 4, .supported, .host, output: 0),
        // Paths (Personality/Paths.swift): resolved inside the sandbox's mounts.
        .init("open", 3, .supported, .host, paths: [0], "paths resolve inside the sandbox (RESOLVE_IN_ROOT semantics)"),
        .init(
            "openat", 4, .supported, .host,
            paths: [1], "paths resolve inside the sandbox (RESOLVE_IN_ROOT semantics)"),
        .init("creat", 2, .supported, .host, paths: [0]),
        .init("stat", 2, .supported, .host, paths: [0], input: .hostState),
        .init("lstat", 2, .supported, .host, paths: [0], input: .hostState),
        .init("newfstatat", 4, .supported, .host, paths: [1], input: .hostState),
        .init("statx", 5, .supported, .host, paths: [1], input: .hostState),
        .init("access", 2, .supported, .host, paths: [0], input: .hostState),
        .init("faccessat", 3, .supported, .host, paths: [1], input: .hostState),
        .init("faccessat2", 4, .supported, .host, paths: [1], input: .hostState),
        .init(
            "readlink", 3, .supported, .host,
            paths: [0], resultSized: true, input: .hostState, "/proc/self/exe names the program, not the VMM"),
        .init("readlinkat", 4, .supported, .host, paths: [1], resultSized: true, input: .hostState),
        .init("unlink", 1, .supported, .host, paths: [0], input: .fileSystem),
        .init("unlinkat", 3, .supported, .host, paths: [1], input: .fileSystem),
        .init("mkdir", 2, .supported, .host, paths: [0], input: .fileSystem),
        .init("mkdirat", 3, .supported, .host, paths: [1], input: .fileSystem),
        .init("rmdir", 1, .supported, .host, paths: [0], input: .fileSystem),
        .init("rename", 2, .supported, .host, paths: [0, 1], input: .fileSystem, "EXDEV across mounts"),
        .init("renameat", 4, .supported, .host, paths: [1, 3], input: .fileSystem, "EXDEV across mounts"),
        .init("renameat2", 5, .supported, .host, paths: [1, 3], input: .fileSystem, "EXDEV across mounts"),
        .init("link", 2, .supported, .host, paths: [0, 1], input: .fileSystem),
        .init("linkat", 5, .supported, .host, paths: [1, 3], input: .fileSystem),
        .init("symlink", 2, .supported, .host, paths: [0, 1], input: .fileSystem),
        .init("symlinkat", 3, .supported, .host, paths: [0, 2], input: .fileSystem),
        .init("chmod", 2, .supported, .host, paths: [0], input: .fileSystem),
        .init("fchmodat", 3, .supported, .host, paths: [1], input: .fileSystem),
        .init("chown", 3, .supported, .host, paths: [0], input: .fileSystem),
        .init("lchown", 3, .supported, .host, paths: [0]),
        .init("fchownat", 5, .supported, .host, paths: [1], input: .fileSystem),
        .init("utimensat", 4, .supported, .host, paths: [1], input: .fileSystem),
        .init("truncate", 2, .supported, .host, paths: [0], input: .fileSystem),
        .init("statfs", 2, .supported, .host, paths: [0], input: .hostState),
        .init("getxattr", 4, .supported, .host, paths: [0]),
        .init("lgetxattr", 4, .supported, .host, paths: [0]),
        .init("fgetxattr", 4, .supported, .host),
        .init("listxattr", 3, .supported, .host, paths: [0]),
        .init("llistxattr", 3, .supported, .host, paths: [0]),
        .init("flistxattr", 3, .supported, .host),
        .init("setxattr", 5, .unsupported, .none, "extended attributes are read-only for now"),
        .init("getcwd", 2, .supported, .vmm, input: .hostState, "the guest's own working directory"),
        .init("chdir", 1, .supported, .vmm, paths: [0], input: .fileSystem),
        .init("fchdir", 1, .supported, .vmm),
        // Memory (Personality/Memory.swift): emulated inside the guest address space.
        .init("brk", 1, .supported, .vmm, replay: .runAgain),
        .init("mmap", 6, .supported, .vmm, replay: .runAgain, "file mappings are the file itself (zero-copy)"),
        .init("munmap", 2, .supported, .vmm, replay: .runAgain),
        .init(
            "mprotect", 3, .partial, .vmm,
            replay: .runAgain, "recorded, not enforced: the guest runs on 2 MiB pages"),
        .init("mremap", 4, .supported, .vmm, replay: .runAgain),
        .init(
            "madvise", 3, .partial, .vmm,
            replay: .runAgain, "MADV_DONTNEED zeroes anonymous memory; other advice ignored"),
        .init("msync", 3, .supported, .host),
        .init("mlock", 2, .partial, .none, replay: .runAgain, "no effect"),
        .init("munlock", 2, .partial, .none, replay: .runAgain, "no effect"),
        .init("mincore", 3, .unsupported, .none),
        // Process (Personality/Process.swift): one process, one thread.
        .init("exit", 1, .supported, .vmm, replay: .runAgain),
        .init("exit_group", 1, .supported, .vmm, replay: .runAgain),
        .init("getpid", 0, .supported, .nondeterministic),
        .init("getppid", 0, .supported, .nondeterministic),
        .init("gettid", 0, .supported, .nondeterministic),
        .init("getuid", 0, .supported, .nondeterministic),
        .init("geteuid", 0, .supported, .nondeterministic),
        .init("getgid", 0, .supported, .nondeterministic),
        .init("getegid", 0, .supported, .nondeterministic),
        .init("getgroups", 2, .supported, .nondeterministic),
        .init("getpgrp", 0, .supported, .nondeterministic),
        .init("getpgid", 1, .supported, .nondeterministic, "of the guest's own processes (others: ESRCH)"),
        .init("getsid", 1, .supported, .nondeterministic, "of the guest's own processes (others: ESRCH)"),
        .init("setpgid", 2, .supported, .host, "for itself and its children, into a group the guest made"),
        .init("setsid", 0, .supported, .host),
        .init("getresuid", 3, .supported, .nondeterministic),
        .init("getresgid", 3, .supported, .nondeterministic),
        .init("uname", 1, .supported, .nondeterministic, input: .hostState),
        .init("arch_prctl", 2, .partial, .vmm, replay: .runAgain, "ARCH_SET_FS/ARCH_GET_FS"),
        .init("set_tid_address", 1, .supported, .vmm),
        .init("set_robust_list", 2, .supported, .vmm, replay: .runAgain),
        .init("rseq", 4, .partial, .vmm, replay: .runAgain, "always ENOSYS, silently: glibc then does without"),
        .init("prlimit64", 4, .partial, .host, "reads host limits; new limits are accepted and ignored"),
        .init("getrlimit", 2, .supported, .host),
        .init("setrlimit", 2, .partial, .none, "accepted and ignored"),
        .init("umask", 1, .supported, .vmm),
        .init("sysinfo", 1, .supported, .nondeterministic, input: .hostState),
        .init("sched_getaffinity", 3, .supported, .vmm, "one CPU"),
        .init("sched_yield", 0, .supported, .none, replay: .runAgain),
        .init("getrusage", 2, .supported, .nondeterministic, input: .hostState),
        .init("times", 1, .supported, .nondeterministic, input: .hostState),
        .init("getpriority", 2, .supported, .host),
        .init("prctl", 2, .partial, .vmm, replay: .runAgain, "PR_SET_NAME/PR_GET_NAME, PR_SET_DUMPABLE; others EINVAL"),
        .init("futex", 4, .partial, .vmm, "single thread: WAKE returns 0, WAIT returns EAGAIN when the value differs"),
        .init(
            "kill", 2, .partial, .vmm,
            "to itself, its children, its parent and process groups the guest made; delivered at the receiver's "
                + "next syscall"),
        .init("tgkill", 3, .partial, .vmm, "to itself only"),
        .init("tkill", 2, .partial, .vmm, "to itself only"),
        .init("wait4", 4, .supported, .host, "the host's, on the children's VMMs (guest pids are theirs)"),
        .init("waitid", 5, .supported, .host, "as wait4"),
        .init(
            "fork", 0, .partial, .vmm, replay: .forked, input: .process,
            "the VMM forks: one VMM process per guest process"),
        .init(
            "vfork", 0, .partial, .vmm, replay: .forked, input: .process,
            "as fork (the child has its own copy of the memory)"),
        .init(
            "clone", 5, .partial, .vmm, replay: .forked, input: .process,
            "a process, as fork (CLONE_VM only with CLONE_VFORK); threads: ENOSYS"),
        .init("clone3", 2, .partial, .vmm, replay: .forked, input: .process, "as clone"),
        .init(
            "execve", 3, .supported, .vmm, replay: .loaded, paths: [0],
            "the program replaced in the same process: ELF (PIE or not), #! scripts"),
        .init(
            "execveat", 5, .supported, .vmm, replay: .loaded, paths: [1],
            "as execve; AT_EMPTY_PATH runs the file a descriptor holds"),
        // Signals (Personality/Signals.swift): delivered at syscall boundaries through a Linux rt_sigframe;
        // a signal sent to revenant (Ctrl-C, SIGTERM) reaches the guest the same way.
        .init("rt_sigaction", 4, .supported, .vmm, replay: .runAgain),
        .init("rt_sigprocmask", 4, .supported, .vmm, replay: .runAgain),
        .init("sigaltstack", 2, .supported, .vmm, replay: .runAgain),
        .init("rt_sigreturn", 0, .supported, .vmm, replay: .runAgain, "restores the frame the VMM built"),
        .init("rt_sigpending", 2, .supported, .vmm),
        .init("alarm", 1, .supported, .vmm, "delivered at the next syscall boundary; sleeps end early with EINTR"),
        .init("setitimer", 3, .partial, .vmm, "ITIMER_REAL only"),
        .init("getitimer", 2, .partial, .vmm, "ITIMER_REAL only"),
        .init("pause", 0, .partial, .vmm, "returns when an alarm fires"),
        // Time and randomness (Personality/Time.swift): read through the Nondeterminism interface.
        .init(
            "clock_gettime", 2, .supported, .nondeterministic,
            input: .hostState, "no vDSO: every clock read is a syscall"),
        .init("clock_getres", 2, .supported, .nondeterministic),
        .init("gettimeofday", 2, .supported, .nondeterministic, input: .hostState),
        .init("time", 1, .supported, .nondeterministic, input: .hostState),
        .init("nanosleep", 2, .supported, .host, "ends early with EINTR when a signal is due"),
        .init("clock_nanosleep", 4, .supported, .host, "relative sleeps end early with EINTR when a signal is due"),
        .init("getrandom", 3, .supported, .nondeterministic, resultSized: true, input: .hostState),
        // Network (Personality/Network.swift): none unless --net.
        .init("socket", 3, .partial, .host, "EACCES unless --net"),
        .init("socketpair", 4, .supported, .host),
        .init(
            "connect", 3, .partial, .host,
            "an AF_UNIX path resolves in the sandbox; without --net only to a socket the run bound (else EACCES)"),
        .init(
            "bind", 3, .partial, .host,
            "an AF_UNIX path resolves in the sandbox, created only in a writable mount (else EROFS); "
                + "abstract names and autobind need --net"),
        .init("listen", 2, .partial, .host, "with --net"),
        .init("accept", 3, .partial, .host, "with --net"),
        .init("accept4", 4, .partial, .host, "with --net"),
        .init("sendto", 6, .partial, .host, output: 0, data: .buffer, "an address is checked as connect's"),
        .init("recvfrom", 6, .partial, .host, data: .buffer, input: .data, "with --net"),
        .init("shutdown", 2, .partial, .host, "with --net"),
        .init("getsockname", 3, .partial, .host, "a socket the run bound is named by its guest path"),
        .init("getpeername", 3, .partial, .host, "with --net"),
        .init("setsockopt", 5, .partial, .host, "with --net"),
        .init("getsockopt", 5, .partial, .host, "with --net"),
        .init("sendmsg", 3, .unsupported, .none),
        .init("recvmsg", 3, .unsupported, .none, input: .data),
        // Never available.
        .init("ptrace", 4, .unsupported, .none),
        .init("mount", 5, .unsupported, .none),
        .init("io_uring_setup", 2, .unsupported, .none),
        .init("bpf", 3, .unsupported, .none),
        .init("userfaultfd", 1, .unsupported, .none),
        .init("memfd_create", 2, .unsupported, .none),
        .init("eventfd2", 2, .unsupported, .none),
        .init("epoll_create1", 1, .unsupported, .none),
        .init("inotify_init1", 1, .unsupported, .none),
        .init("timerfd_create", 2, .unsupported, .none),
        .init("signalfd4", 4, .unsupported, .none),

        // Listed so that replay knows how many arguments they read; never available.
    ]

    public static let byNumber: [Int: SyscallSpec] = Dictionary(
        entries.map { ($0.number, $0) },
        uniquingKeysWith: { a, _ in a })

    /// The row of syscall `number`, nil when it has none (any number of the 64-bit range).
    public static func row(_ number: UInt64) -> SyscallSpec? {
        Int(exactly: number).flatMap { byNumber[$0] }
    }

    /// The number of arguments syscall `number` reads (all six when it has no row).
    public static func arity(_ number: UInt64) -> Int { row(number)?.arity ?? 6 }

    /// Docs/syscalls.md, generated from the table.
    public static func markdown() -> String {
        var s = """
            # Syscalls

            Generated from `Sources/LinuxABI/SyscallTable.swift` by `revenant syscalls --markdown`; a test
            keeps this file current. Any x86-64 syscall not listed is **unsupported**: it returns `ENOSYS`
            and Revenant prints one line naming it.

            Acts on: `host` — passed through to the host; `vmm` — state the VMM owns; `nondeterministic`
            — a value the host makes up; `none` — never reaches the host. Replay: `fed back` — the
            logged result and the bytes it wrote are given back, the call does not run; `run again` —
            it runs again on the VMM's state and must come out as recorded (`ReplayRuleTests` checks
            every row against the replayer); `loaded from the trace` — a new program (`execve`) is
            loaded again from the trace's copies of the files the recording loaded; `forked as
            recorded` — a new process: the replay forks too, and the child replays its own stream.

            Child processes: a guest `fork` (or `vfork`, `clone`, `clone3` making a process) forks
            the VMM, one VMM process per guest process, under `run` and `record` and in `replay`.
            Threads are unsupported. `execve` replaces the program in the same process, as Linux
            does.

            | nr | name | status | acts on | replay | notes |
            |---:|---|---|---|---|---|

            """
        for e in entries.sorted(by: { $0.number < $1.number }) {
            s +=
                "| \(e.number) | `\(e.name)` | \(e.status.rawValue) | \(e.replayClass.rawValue) | \(e.replay.rawValue) "
                + "| \(e.notes) |\n"
        }
        let counts = SupportStatus.allCases.map { st in "\(entries.filter { $0.status == st }.count) \(st.rawValue)" }
        s += "\n\(entries.count) syscalls listed: \(counts.joined(separator: ", ")).\n"
        return s + differences
    }

    /// Where the machine Revenant gives a program is not Linux's, beyond the table.
    static let differences = """

        ## Signals from the CPU

        A fault in the program (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP from a CPU exception) runs
        its handler as Linux does: siginfo's `si_code` and `si_addr`, the sigcontext's `trapno`,
        `err` and `cr2`, the alternate stack when the handler asked for it (`SA_ONSTACK`), and the
        FPU/SSE/AVX state in the frame, which `rt_sigreturn` loads again (a handler may move the
        saved `rip`, or `siglongjmp` out). A fault signal that is blocked or ignored ends the
        program, as on Linux. Faults replay exactly: the same instruction faults again.

        ## Where Revenant differs from Linux

        - `mprotect` and the protections of `mmap` are recorded, not enforced: a write to a
          read-only or code page succeeds (Linux: SIGSEGV).
        - An access to an address inside the guest's memory range with nothing mapped there ends
          the program with SIGSEGV reported, without running its handler (outside the range —
          a NULL pointer, say — the handler runs). So does a write to memory the host cannot
          provide (SIGBUS: past the end of a mapped file).
        - `int 0x80`, the 32-bit system call gate, is not provided: the program is killed with
          SIGILL and a line naming it (on Linux it makes an i386 system call).
        - Signals are delivered at the program's next system call (a program that computes without
          one receives them when it makes one); a second Ctrl-C stops a program that makes none.
        - One process per VM (above), so signals come only from the program itself, its alarm,
          and from outside `revenant`.

        """
}

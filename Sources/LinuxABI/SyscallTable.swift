/// How much of a syscall Revenant implements.
public enum SupportStatus: String, Sendable, CaseIterable {
    case supported
    /// Works for the common cases; the notes say what is missing.
    case partial
    /// Returns ENOSYS and prints one diagnostic line naming the call.
    case unsupported
}

/// How a syscall's effect is reproduced in replay (used by the recorder, issue #4).
public enum ReplayClass: String, Sendable {
    /// Passed through to the host; replay feeds back the logged result and the bytes it wrote.
    case host
    /// State the VMM owns (memory, fds, signals); replay re-executes it.
    case vmm
    /// A value the host makes up (time, randomness, ids); logged, fed back in replay.
    case nondeterministic
    /// Never reaches the host.
    case none
}

public struct SyscallSpec: Sendable {
    public let name: String
    public let number: Int
    public let status: SupportStatus
    public let replay: ReplayClass
    public let notes: String

    init(_ name: String, _ status: SupportStatus, _ replay: ReplayClass, _ notes: String = "") {
        self.name = name
        self.number = SyscallNames.byName[name] ?? -1
        self.status = status
        self.replay = replay
        self.notes = notes
    }
}

/// The syscall personality as data: the Personality dispatches on it, `Docs/syscalls.md` is
/// generated from it (`revenant syscalls --markdown`), and a test keeps the two in step.
/// Calls not listed here are unsupported: ENOSYS plus one diagnostic line.
public enum SyscallTable {
    public static let entries: [SyscallSpec] = [
        // Descriptors (Personality/Descriptors.swift): the guest has its own fd table.
        .init("read", .supported, .host),
        .init("write", .supported, .host),
        .init("pread64", .supported, .host),
        .init("pwrite64", .supported, .host),
        .init("readv", .supported, .host, "every iovec is checked"),
        .init("writev", .supported, .host, "every iovec is checked"),
        .init("close", .supported, .vmm),
        .init("lseek", .supported, .host),
        .init("fsync", .supported, .host),
        .init("fdatasync", .supported, .host),
        .init("ftruncate", .supported, .host, "EROFS on a read-only mount"),
        .init("fstat", .supported, .host),
        .init("ioctl", .partial, .host, "TCGETS, TIOCGWINSZ, TIOCGPGRP, FIONREAD, FIOCLEX, FIONCLEX; others ENOTTY with a diagnostic"),
        .init("fcntl", .partial, .host, "F_GETFD/SETFD/GETFL/SETFL/DUPFD(_CLOEXEC)/GETLK/SETLK/SETLKW/OFD locks"),
        .init("dup", .supported, .vmm),
        .init("dup2", .supported, .vmm),
        .init("dup3", .supported, .vmm),
        .init("pipe", .supported, .host),
        .init("pipe2", .supported, .host),
        .init("getdents64", .supported, .host),
        .init("flock", .supported, .host),
        .init("fadvise64", .supported, .host),
        .init("fchmod", .supported, .host, "EROFS on a read-only mount"),
        .init("fchown", .supported, .host, "EROFS on a read-only mount"),
        .init("fstatfs", .supported, .host),
        .init("poll", .supported, .host),
        .init("ppoll", .partial, .host, "no signal mask"),
        .init("select", .partial, .host, "descriptors below 64 only"),
        .init("pselect6", .partial, .host, "descriptors below 64 only, no signal mask"),
        .init("sendfile", .supported, .host),
        .init("copy_file_range", .supported, .host),
        .init("fallocate", .supported, .host),
        // Paths (Personality/Paths.swift): resolved inside the sandbox's mounts.
        .init("open", .supported, .host, "paths resolve inside the sandbox (RESOLVE_IN_ROOT semantics)"),
        .init("openat", .supported, .host, "paths resolve inside the sandbox (RESOLVE_IN_ROOT semantics)"),
        .init("creat", .supported, .host),
        .init("stat", .supported, .host),
        .init("lstat", .supported, .host),
        .init("newfstatat", .supported, .host),
        .init("statx", .supported, .host),
        .init("access", .supported, .host),
        .init("faccessat", .supported, .host),
        .init("faccessat2", .supported, .host),
        .init("readlink", .supported, .host, "/proc/self/exe names the program, not the VMM"),
        .init("readlinkat", .supported, .host),
        .init("unlink", .supported, .host),
        .init("unlinkat", .supported, .host),
        .init("mkdir", .supported, .host),
        .init("mkdirat", .supported, .host),
        .init("rmdir", .supported, .host),
        .init("rename", .supported, .host, "EXDEV across mounts"),
        .init("renameat", .supported, .host, "EXDEV across mounts"),
        .init("renameat2", .supported, .host, "EXDEV across mounts"),
        .init("link", .supported, .host),
        .init("linkat", .supported, .host),
        .init("symlink", .supported, .host),
        .init("symlinkat", .supported, .host),
        .init("chmod", .supported, .host),
        .init("fchmodat", .supported, .host),
        .init("chown", .supported, .host),
        .init("lchown", .supported, .host),
        .init("fchownat", .supported, .host),
        .init("utimensat", .supported, .host),
        .init("truncate", .supported, .host),
        .init("statfs", .supported, .host),
        .init("getxattr", .supported, .host),
        .init("lgetxattr", .supported, .host),
        .init("fgetxattr", .supported, .host),
        .init("listxattr", .supported, .host),
        .init("llistxattr", .supported, .host),
        .init("flistxattr", .supported, .host),
        .init("setxattr", .unsupported, .none, "extended attributes are read-only for now"),
        .init("getcwd", .supported, .vmm, "the guest's own working directory"),
        .init("chdir", .supported, .vmm),
        .init("fchdir", .supported, .vmm),
        // Memory (Personality/Memory.swift): emulated inside the guest address space.
        .init("brk", .supported, .vmm),
        .init("mmap", .supported, .vmm, "file mappings are the file itself (zero-copy)"),
        .init("munmap", .supported, .vmm),
        .init("mprotect", .partial, .vmm, "recorded, not enforced: the guest runs on 2 MiB pages"),
        .init("mremap", .supported, .vmm),
        .init("madvise", .partial, .vmm, "MADV_DONTNEED zeroes anonymous memory; other advice ignored"),
        .init("msync", .supported, .host),
        .init("mlock", .partial, .none, "no effect"),
        .init("munlock", .partial, .none, "no effect"),
        .init("mincore", .unsupported, .none),
        // Process (Personality/Process.swift): one process, one thread.
        .init("exit", .supported, .vmm),
        .init("exit_group", .supported, .vmm),
        .init("getpid", .supported, .nondeterministic),
        .init("getppid", .supported, .nondeterministic),
        .init("gettid", .supported, .nondeterministic),
        .init("getuid", .supported, .nondeterministic),
        .init("geteuid", .supported, .nondeterministic),
        .init("getgid", .supported, .nondeterministic),
        .init("getegid", .supported, .nondeterministic),
        .init("getgroups", .supported, .nondeterministic),
        .init("getpgrp", .supported, .nondeterministic),
        .init("getpgid", .supported, .nondeterministic),
        .init("getsid", .supported, .nondeterministic),
        .init("getresuid", .supported, .nondeterministic),
        .init("getresgid", .supported, .nondeterministic),
        .init("uname", .supported, .nondeterministic),
        .init("arch_prctl", .partial, .vmm, "ARCH_SET_FS/ARCH_GET_FS"),
        .init("set_tid_address", .supported, .vmm),
        .init("set_robust_list", .supported, .vmm),
        .init("rseq", .partial, .vmm, "always ENOSYS, silently: glibc then does without"),
        .init("prlimit64", .partial, .host, "reads host limits; new limits are accepted and ignored"),
        .init("getrlimit", .supported, .host),
        .init("setrlimit", .partial, .none, "accepted and ignored"),
        .init("umask", .supported, .vmm),
        .init("sysinfo", .supported, .nondeterministic),
        .init("sched_getaffinity", .supported, .vmm, "one CPU"),
        .init("sched_yield", .supported, .none),
        .init("getrusage", .supported, .nondeterministic),
        .init("times", .supported, .nondeterministic),
        .init("getpriority", .supported, .host),
        .init("prctl", .partial, .vmm, "PR_SET_NAME/PR_GET_NAME, PR_SET_DUMPABLE; others EINVAL"),
        .init("futex", .partial, .vmm, "single thread: WAKE returns 0, WAIT returns EAGAIN when the value differs"),
        .init("kill", .partial, .vmm, "to itself only; delivered at the syscall's return"),
        .init("tgkill", .partial, .vmm, "to itself only"),
        .init("tkill", .partial, .vmm, "to itself only"),
        .init("wait4", .partial, .vmm, "there are no children: ECHILD"),
        .init("fork", .unsupported, .none, "one process per VM for now (multi-process guests are planned)"),
        .init("vfork", .unsupported, .none, "one process per VM for now"),
        .init("clone", .unsupported, .none, "one process per VM for now; threads too"),
        .init("clone3", .unsupported, .none, "one process per VM for now; threads too"),
        .init("execve", .unsupported, .none, "one program per VM for now"),
        .init("execveat", .unsupported, .none, "one program per VM for now"),
        // Signals (Personality/Signals.swift): delivered at syscall boundaries through a Linux rt_sigframe;
        // a signal sent to revenant (Ctrl-C, SIGTERM) reaches the guest the same way.
        .init("rt_sigaction", .supported, .vmm),
        .init("rt_sigprocmask", .supported, .vmm),
        .init("sigaltstack", .supported, .vmm),
        .init("rt_sigreturn", .supported, .vmm, "restores the frame the VMM built"),
        .init("rt_sigpending", .supported, .vmm),
        .init("alarm", .supported, .vmm, "delivered at the next syscall boundary; sleeps end early with EINTR"),
        .init("setitimer", .partial, .vmm, "ITIMER_REAL only"),
        .init("getitimer", .partial, .vmm, "ITIMER_REAL only"),
        .init("pause", .partial, .vmm, "returns when an alarm fires"),
        // Time and randomness (Personality/Time.swift): read through the Nondeterminism interface.
        .init("clock_gettime", .supported, .nondeterministic, "no vDSO: every clock read is a syscall"),
        .init("clock_getres", .supported, .nondeterministic),
        .init("gettimeofday", .supported, .nondeterministic),
        .init("time", .supported, .nondeterministic),
        .init("nanosleep", .supported, .host, "ends early with EINTR when a signal is due"),
        .init("clock_nanosleep", .supported, .host, "relative sleeps end early with EINTR when a signal is due"),
        .init("getrandom", .supported, .nondeterministic),
        // Network (Personality/Network.swift): none unless --net.
        .init("socket", .partial, .host, "EACCES unless --net"),
        .init("socketpair", .supported, .host),
        .init("connect", .partial, .host,
              "an AF_UNIX path resolves in the sandbox; without --net only to a socket the run bound (else EACCES)"),
        .init("bind", .partial, .host,
              "an AF_UNIX path resolves in the sandbox, created only in a writable mount (else EROFS); "
                + "abstract names and autobind need --net"),
        .init("listen", .partial, .host, "with --net"),
        .init("accept", .partial, .host, "with --net"),
        .init("accept4", .partial, .host, "with --net"),
        .init("sendto", .partial, .host, "an address is checked as connect's"),
        .init("recvfrom", .partial, .host, "with --net"),
        .init("shutdown", .partial, .host, "with --net"),
        .init("getsockname", .partial, .host, "a socket the run bound is named by its guest path"),
        .init("getpeername", .partial, .host, "with --net"),
        .init("setsockopt", .partial, .host, "with --net"),
        .init("getsockopt", .partial, .host, "with --net"),
        .init("sendmsg", .unsupported, .none),
        .init("recvmsg", .unsupported, .none),
        // Never available.
        .init("ptrace", .unsupported, .none),
        .init("mount", .unsupported, .none),
        .init("io_uring_setup", .unsupported, .none),
        .init("bpf", .unsupported, .none),
        .init("userfaultfd", .unsupported, .none),
        .init("memfd_create", .unsupported, .none),
        .init("eventfd2", .unsupported, .none),
        .init("epoll_create1", .unsupported, .none),
        .init("inotify_init1", .unsupported, .none),
        .init("timerfd_create", .unsupported, .none),
        .init("signalfd4", .unsupported, .none),
    ]

    public static let byNumber: [Int: SyscallSpec] = Dictionary(entries.map { ($0.number, $0) }, uniquingKeysWith: { a, _ in a })

    /// Docs/syscalls.md, generated from the table.
    public static func markdown() -> String {
        var s = """
        # Syscalls

        Generated from `Sources/LinuxABI/SyscallTable.swift` by `revenant syscalls --markdown`; a test
        keeps this file current. Any x86-64 syscall not listed is **unsupported**: it returns `ENOSYS`
        and Revenant prints one line naming it.

        Replay classes: `host` — passed through, the result and the bytes written are logged;
        `vmm` — state the VMM owns, re-executed in replay; `nondeterministic` — a value the host makes
        up, logged and fed back; `none` — never reaches the host.

        Child processes (`fork`, `vfork`, `clone`, `clone3`, `execve`) are unsupported for now: one
        process runs per VM; they fail with `ENOSYS` and a diagnostic.

        | nr | name | status | replay | notes |
        |---:|---|---|---|---|

        """
        for e in entries.sorted(by: { $0.number < $1.number }) {
            s += "| \(e.number) | `\(e.name)` | \(e.status.rawValue) | \(e.replay.rawValue) | \(e.notes) |\n"
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

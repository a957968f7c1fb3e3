/// How many argument registers each syscall reads (x86-64 Linux). The others hold whatever the
/// caller left there — for instance ld.so's rdtsc timing, which differs between a recording and
/// its replay — so the replayer compares only these. Variadic libc wrappers (fcntl, prctl, futex)
/// pass garbage in arguments their command does not use: they count only the arguments every
/// command reads. Calls not listed compare all six.
public enum SyscallArity {
    public static let byName: [String: Int] = [
        "read": 3, "write": 3, "pread64": 4, "pwrite64": 4, "readv": 3, "writev": 3, "close": 1, "lseek": 3,
        "fsync": 1, "fdatasync": 1, "ftruncate": 2, "fstat": 2, "ioctl": 3, "fcntl": 2, "dup": 1, "dup2": 2, "dup3": 3,
        "pipe": 1, "pipe2": 2, "getdents64": 3, "flock": 2, "fadvise64": 4, "fchmod": 2, "fchown": 3, "fstatfs": 2,
        "poll": 3, "ppoll": 5, "select": 5, "pselect6": 6, "sendfile": 4, "copy_file_range": 6, "fallocate": 4,
        "open": 3, "openat": 4, "creat": 2, "stat": 2, "lstat": 2, "newfstatat": 4, "statx": 5, "access": 2,
        "faccessat": 3, "faccessat2": 4, "readlink": 3, "readlinkat": 4, "unlink": 1, "unlinkat": 3, "mkdir": 2,
        "mkdirat": 3, "rmdir": 1, "rename": 2, "renameat": 4, "renameat2": 5, "link": 2, "linkat": 5, "symlink": 2,
        "symlinkat": 3, "chmod": 2, "fchmodat": 3, "chown": 3, "lchown": 3, "fchownat": 5, "utimensat": 4,
        "truncate": 2, "statfs": 2, "getxattr": 4, "lgetxattr": 4, "fgetxattr": 4, "listxattr": 3, "llistxattr": 3,
        "flistxattr": 3, "setxattr": 5, "getcwd": 2, "chdir": 1, "fchdir": 1, "brk": 1, "mmap": 6, "munmap": 2,
        "mprotect": 3, "mremap": 4, "madvise": 3, "msync": 3, "mlock": 2, "munlock": 2, "mincore": 3, "exit": 1,
        "exit_group": 1, "getpid": 0, "getppid": 0, "gettid": 0, "getuid": 0, "geteuid": 0, "getgid": 0, "getegid": 0,
        "getgroups": 2, "getpgrp": 0, "getpgid": 1, "getsid": 1, "getresuid": 3, "getresgid": 3, "uname": 1,
        "arch_prctl": 2, "set_tid_address": 1, "set_robust_list": 2, "rseq": 4, "prlimit64": 4, "getrlimit": 2,
        "setrlimit": 2, "umask": 1, "sysinfo": 1, "sched_getaffinity": 3, "sched_yield": 0, "getrusage": 2, "times": 1,
        "getpriority": 2, "prctl": 2, "futex": 4, "kill": 2, "tgkill": 3, "tkill": 2, "wait4": 4, "fork": 0, "vfork": 0,
        "clone": 5, "clone3": 2, "execve": 3, "execveat": 5, "rt_sigaction": 4, "rt_sigprocmask": 4, "sigaltstack": 2,
        "rt_sigreturn": 0, "rt_sigpending": 2, "alarm": 1, "setitimer": 3, "getitimer": 2, "pause": 0,
        "clock_gettime": 2, "clock_getres": 2, "gettimeofday": 2, "time": 1, "nanosleep": 2, "clock_nanosleep": 4,
        "getrandom": 3, "socket": 3, "socketpair": 4, "connect": 3, "bind": 3, "listen": 2, "accept": 3, "accept4": 4,
        "sendto": 6, "recvfrom": 6, "shutdown": 2, "getsockname": 3, "getpeername": 3, "setsockopt": 5, "getsockopt": 5,
        "sendmsg": 3, "recvmsg": 3, "ptrace": 4, "mount": 5, "io_uring_setup": 2, "bpf": 3, "userfaultfd": 1,
        "memfd_create": 2, "eventfd2": 2, "epoll_create1": 1, "inotify_init1": 1, "timerfd_create": 2, "signalfd4": 4,
    ]

    static let byNumber: [Int: Int] = Dictionary(uniqueKeysWithValues: byName.compactMap { name, n in
        SyscallNames.byName[name].map { ($0, n) }
    })

    /// The number of arguments syscall `number` reads (6 when unknown).
    public static func count(_ number: UInt64) -> Int { byNumber[Int(truncatingIfNeeded: number)] ?? 6 }
}

import CHost
import Glibc
import LinuxABI

/// Child processes under `revenant run`: one VMM process per guest process. A guest fork forks
/// the VMM (GuestMachine.forkProcess); the child VMM runs the child over a copy-on-write copy of
/// the guest's memory, with the descriptors inherited as Linux inherits them (the host's own,
/// through the host fork). Guest pids are the VMMs' host pids, so wait4, waitid and kill between
/// the guest's processes are the host's calls on them. Recorded, each process writes its own
/// stream (Replay/Recorder.swift), and a replay forks where the recording did.
extension LinuxPersonality {
    // clone's flags (linux/sched.h).
    static let cloneVM: UInt64 = 0x100
    static let cloneVfork: UInt64 = 0x4000
    static let cloneSetTLS: UInt64 = 0x80000
    static let cloneParentSetTID: UInt64 = 0x10_0000
    static let cloneChildClearTID: UInt64 = 0x20_0000
    static let cloneDetached: UInt64 = 0x40_0000
    static let cloneUntraced: UInt64 = 0x80_0000
    static let cloneChildSetTID: UInt64 = 0x100_0000
    /// The flags a process (not a thread) may be cloned with here: the exit signal (low byte),
    /// vfork (run as a fork: see `clone`), and the tid bookkeeping glibc asks for.
    static let cloneSupported: UInt64 =
        0xff | cloneVM | cloneVfork | cloneParentSetTID | cloneChildClearTID | cloneDetached | cloneUntraced
        | cloneChildSetTID

    static let forkHandlers: [(String, OutcomeHandler)] = [
        ("fork", { p, r in try p.fork(r, flags: UInt64(Signal.sigchld), stack: 0, parentTID: 0, childTID: 0) }),
        (
            "vfork",
            { p, r in
                try p.fork(r, flags: cloneVM | cloneVfork | UInt64(Signal.sigchld), stack: 0, parentTID: 0, childTID: 0)
            }
        ),
        ("clone", { p, r in try p.fork(r, flags: r[0], stack: r[1], parentTID: r[2], childTID: r[3]) }),
        (
            "clone3",
            { p, r in
                // struct clone_args: flags, pidfd, child_tid, parent_tid, exit_signal, stack,
                // stack_size, tls, … (the kernel takes any size from 64 bytes on).
                guard r[1] >= 64 else { throw SysError(EINVAL) }
                guard r[0] <= UInt64.max - 64 else { throw SysError(EFAULT) }
                let a = try (0..<8).map { try p.memory.load(UInt64.self, at: r[0] + UInt64(8 * $0)) }
                // The stack is its lowest address and its size; both or neither (as the kernel checks).
                guard a[4] <= 0xff, (a[5] == 0) == (a[6] == 0), a[6] <= UInt64.max - a[5] else {
                    throw SysError(EINVAL)
                }
                let stack = a[5] + a[6]
                return try p.fork(r, flags: (a[0] & ~0xff) | a[4], stack: stack, parentTID: a[3], childTID: a[2])
            }
        ),
    ]

    static let waitHandlers: [(String, Handler)] = [
        (
            "wait4",
            { p, r in
                // The status goes to a local when the guest wants none: only an end reaps a child
                // (WUNTRACED and WCONTINUED report a child that lives on).
                let local = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
                defer { local.deallocate() }
                local.pointee = 0
                let status = r[1] == 0 ? UnsafeMutableRawPointer(local) : try p.memory.pointer(r[1], 4, write: true)
                let usage = r[3] == 0 ? 0 : u(try p.memory.pointer(r[3], MemoryLayout<rusage>.size, write: true))
                let pid = try p.childToWaitFor(Int32(truncatingIfNeeded: r[0]), options: r[2])
                if pid == 0 { return 0 }
                let n = p.host(r.number, UInt64(pid), u(status), r[2], usage)
                let st = status.loadUnaligned(as: Int32.self)
                if n > 0, st & 0x7f != 0x7f, st != 0xffff { p.childEnded(Int32(n)) }
                return n
            }
        ),
        (
            "waitid",
            { p, r in
                // siginfo goes to a local when the guest wants none: its si_code says whether the
                // child ended (only an end reaps it).
                let local = UnsafeMutableRawPointer.allocate(byteCount: 128, alignment: 8)
                defer { local.deallocate() }
                memset(local, 0, 128)
                let info = r[2] == 0 ? local : try p.memory.pointer(r[2], 128, write: true)
                let usage = r[4] == 0 ? 0 : u(try p.memory.pointer(r[4], MemoryLayout<rusage>.size, write: true))
                // P_PID names one child, P_PGID a group (0: this process's), P_ALL any.
                let id = Int32(truncatingIfNeeded: r[1])
                let wanted: Int32
                switch r[0] {
                case 0: wanted = -1
                case 1 where id > 0: wanted = id
                case 2 where id >= 0: wanted = -id
                default: throw SysError(EINVAL)
                }
                let pid = try p.childToWaitFor(wanted, options: r[3] & UInt64(WNOHANG))
                if pid == 0 {
                    memset(info, 0, 128)
                    return 0
                }
                let n = p.host(r.number, 1 /* P_PID */, UInt64(pid), u(info), r[3], usage)
                // si_code (at byte 8): CLD_EXITED, CLD_KILLED or CLD_DUMPED.
                let code = info.loadUnaligned(fromByteOffset: 8, as: Int32.self)
                if n == 0, r[3] & UInt64(WNOWAIT) == 0, (1...3).contains(code) { p.childEnded(pid) }
                return n
            }
        ),
    ]

    /// The child a wait4/waitid is for: `pid` itself when it is one of this process's children,
    /// for "any child" (-1) or any in a group (0: this process's, -PGID) the next one that has
    /// changed state (0 with WNOHANG when none has). An
    /// orphaned descendant the first VMM adopted (the subreaper) is not the guest's child: it is
    /// reaped here and skipped, as init would reap it. ECHILD when the guest has no such child.
    func childToWaitFor(_ pid: Int32, options: UInt64) throws(SysError) -> Int32 {
        if pid > 0 {
            guard children.contains(pid) else { throw SysError(ECHILD) }
            return pid
        }
        guard pid != Int32.min else { throw SysError(ESRCH) }  // as Linux: -pid would not fit
        while true {
            guard !children.isEmpty else { throw SysError(ECHILD) }
            var info = siginfo_t()
            let flags = WEXITED | WNOWAIT | Int32(truncatingIfNeeded: options) & (WNOHANG | WUNTRACED | WCONTINUED)
            let (kind, id): (idtype_t, id_t) = pid == -1 ? (P_ALL, 0) : (P_PGID, id_t(pid == 0 ? getpgid(0) : -pid))
            guard waitid(kind, id, &info, flags) == 0 else { throw SysError(errno) }
            let which = info._sifields._sigchld.si_pid
            if which == 0 { return 0 }
            if children.contains(which) { return which }
            _ = waitpid(which, nil, 0)
        }
    }

    /// fork, vfork, clone and clone3 without CLONE_VM (or with it and CLONE_VFORK: posix_spawn's
    /// way, run as a fork whose parent waits until the child execs or ends, and then takes the
    /// memory the child wrote until then: see `VforkHandoff`).
    func fork(
        _ req: SyscallRequest, flags: UInt64, stack: UInt64, parentTID: UInt64, childTID: UInt64
    ) throws
        -> SyscallOutcome
    {
        guard flags & ~Self.cloneSupported == 0, flags & Self.cloneVM == 0 || flags & Self.cloneVfork != 0 else {
            return unsupported(req, detail: "threads and clones that share state with their parent are not supported")
        }
        if let forkRefusal { return unsupported(req, detail: forkRefusal) }
        // The whole tree's processes at once (--max-processes): a fork bomb ends with EAGAIN.
        guard chost_process_take() != 0 else { throw SysError(EAGAIN) }
        pendingFork = (flags, parentTID, childTID)
        // A replay's parent takes the child's writes from the log: it waits for nobody.
        if flags & Self.cloneVfork != 0 && !signalsFromLog { vfork = VforkHandoff() }
        // A replay's children are its own VMMs, not the guest's: their ends are in the log.
        if !watchingChildren && !signalsFromLog {
            watchingChildren = true
            chost_watch_children()
        }
        return .fork(childStack: stack)
    }

    /// The host forked the VMM: the child is a new process (its own pid, no children, no pending
    /// signals or alarm, as on Linux); the parent knows its child.
    public func forked(child: Bool, pid: Int32) -> Int64 {
        let (flags, parentTID, childTID) = pendingFork ?? (0, 0, 0)
        pendingFork = nil
        if child {
            parentID = processID
            processID = pid
            children = []
            endedChildren = []
            isForkedChild = true
            channel.processForked()
            // (A vfork child's own fork: the new process is not the one its parent waits for.)
            if let inherited = vforkParent { close(inherited.fd) }
            sharesParentMemory = flags & Self.cloneVfork != 0
            vforkParent = vfork?.childSide()
            vfork = nil
            pendingSignals = 0
            alarmDeadline = nil
            alarmInterval = 0
            if flags & Self.cloneChildSetTID != 0 { try? memory.store(UInt32(bitPattern: pid), at: childTID) }
            return 0
        }
        // vfork: the parent goes on once the child has execed or ended, with what it wrote.
        vforkWrites = vfork.map { $0.parentSide(childStarted: pid > 0, memory: memory) } ?? []
        vfork = nil
        guard pid > 0 else {
            chost_process_give()
            return Int64(pid)
        }
        children.insert(pid)
        if flags & Self.cloneParentSetTID != 0 { try? memory.store(UInt32(bitPattern: pid), at: parentTID) }
        return Int64(pid)
    }

    /// A vfork child execs or ends: its parent goes on, with the pages it wrote.
    func releaseVforkParent() {
        vforkParent?.send(VforkHandoff.writtenPages(memory))
        vforkParent = nil
        sharesParentMemory = false
    }

    /// A child's end noticed since the last call: SIGCHLD for the guest (delivered at this call's
    /// return, as other signals are).
    func noteChildEvents() {
        guard watchingChildren, chost_take_child_events() != 0 else { return }
        raise(Signal.sigchld, code: 1 /* CLD_EXITED */)
    }

    /// A child reaped: kill finds it gone (ESRCH, as on Linux), not out of reach.
    func childEnded(_ pid: Int32) {
        children.remove(pid)
        endedChildren.insert(pid)
    }

    /// kill to another of the guest's processes: its parent or one of its children.
    func isGuestProcess(_ pid: Int32) -> Bool {
        children.contains(pid) || (isForkedChild && pid == parentID)
    }
}

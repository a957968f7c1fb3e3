import Glibc
import GuestMemory
import LinuxABI

/// What the personality needs to know about the run.
public struct PersonalityConfig {
    public var mounts: [Mount]
    public var cwd: ByteString
    public var programPath: ByteString
    public var network: Bool
    /// Where diagnostics go (one line each): unsupported calls and the like.
    public var diagnostic: (String) -> Void
    /// The file-creation mask the program starts with (what it would inherit natively).
    public var umask: UInt32

    public init(
        mounts: [Mount], cwd: ByteString, programPath: ByteString, network: Bool, umask: UInt32 = 0o022,
        diagnostic: @escaping (String) -> Void
    ) {
        self.mounts = mounts
        self.cwd = cwd
        self.programPath = programPath
        self.network = network
        self.umask = umask
        self.diagnostic = diagnostic
    }
}

/// The Linux system-call ABI, implemented for one guest process over a `GuestMemory.AddressSpace`.
/// It never touches KVM: effects on the CPU (the FS base) come back as a `SyscallOutcome`.
/// One file per syscall family extends it; the set it serves is `LinuxABI.SyscallTable`.
public final class LinuxPersonality {
    public let memory: AddressSpace
    public let fds = FDTable()
    public let sandbox: Sandbox
    public let nondeterminism: Nondeterminism
    /// The shims' channel (not a Linux syscall: no event, no signal delivery at it).
    public let channel: ChannelPort
    let config: PersonalityConfig

    // Process state the VMM owns.
    public internal(set) var brkStart: UInt64 = 0
    public internal(set) var brkCurrent: UInt64 = 0
    /// mmap allocates top-down below this address (under the stack).
    public var mmapTop: UInt64 = 0
    var fsBase: UInt64 = 0
    /// The guest's umask: the VMM's own state, applied to what the guest creates (the VMM
    /// process's umask must not change with the guest's, nor the guest's with the VMM's).
    var fileCreationMask: UInt64
    var signalActions = [[UInt8]](repeating: [UInt8](repeating: 0, count: 32), count: 65)
    var signalMask: UInt64 = 0
    var altStack: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]  // SS_DISABLE
    var threadName: [UInt8] = Array("revenant-guest".utf8.prefix(15))
    var warnedUnsupported: Set<UInt64> = []
    /// AF_UNIX sockets this run bound: the host paths (reachable without --net) and, by the name
    /// the host knows them by, the name the guest gave (SocketAddress.swift).
    var boundSockets: Set<ByteString> = []
    var socketNames: [ByteString: [UInt8]] = [:]
    /// A signal the last call raised (SIGPIPE from a write to a broken pipe).
    var pendingSignal: Int32?
    /// Signals waiting for delivery (bit sig-1) and their si_code.
    var pendingSignals: UInt64 = 0
    var pendingCodes = [Int32](repeating: 0, count: 65)
    /// ITIMER_REAL / alarm: when it fires (monotonic ns) and its period.
    var alarmDeadline: UInt64?
    var alarmInterval: UInt64 = 0
    var clock: Nondeterminism { nondeterminism }

    public private(set) var syscallCount = 0

    /// The guest's pid and its parent's: the first process's come from `nondeterminism` (the
    /// recorded ones in a replay); a forked child's are its VMM's (Fork.swift).
    public internal(set) var processID: Int32
    public internal(set) var parentID: Int32
    /// Fork.swift: the children this process started (their pids), whether it is itself a forked
    /// child, why forks are refused where they are (nil: they are not), and the clone in progress.
    public internal(set) var children: Set<Int32> = []
    /// Children this process reaped (Fork.swift).
    var endedChildren: Set<Int32> = []
    public internal(set) var isForkedChild = false
    public var forkRefusal: String?
    var pendingFork: (flags: UInt64, parentTID: UInt64, childTID: UInt64)?
    /// A vfork between the call and the host's fork; in its child, the way back to the parent.
    var vfork: VforkHandoff?
    var vforkParent: VforkHandoff.ChildSide?
    /// A vfork child until it execs or ends: it runs in its parent's memory (in record and in
    /// replay alike, unlike `vforkParent`, which only a live run has).
    public internal(set) var sharesParentMemory = false
    /// What the last vfork child wrote into the memory it shared with its parent, in the parent
    /// once it goes on (the recorder logs it with the call; a replay writes it back from there).
    public internal(set) var vforkWrites: [(address: UInt64, bytes: [UInt8])] = []
    public internal(set) var watchingChildren = false
    /// The shims every program execve starts gets (Exec.swift; none unless recording with shims,
    /// or replaying such a recording).
    public var execShims = ExecShims()
    /// Process groups and sessions a guest process made (setpgid, setsid; a child inherits the
    /// set): only those may a kill or a setpgid reach, since each holds guest processes only.
    var guestGroups: Set<Int32> = []

    /// Record: called for every file mmap with the host descriptor and guest path (the recorder
    /// keeps a copy of the file). Replay: supplies the file behind a guest fd for mmap (its blob),
    /// since nothing is opened on the host then.
    public var onFileMapped: ((Int32, ByteString) -> Void)?
    /// Record: called (host path, guest path) before the run changes a path on a writable mount —
    /// opens a regular file for writing, removes, renames (from or over), truncates, links,
    /// chmods, chowns it or sets its times —, also when it does not exist yet, so the recorder can
    /// keep its pre-image: what the path held before the run first changed it, or nothing when the
    /// run created it (Docs/trace-format.md, `pre-image`).
    public var onAboutToChange: ((ByteString, ByteString) -> Void)?

    /// The same for a descriptor's file (fchmod, fchown, futimens), by the path it was opened with.
    func aboutToChange(_ e: FDTable.Entry) {
        guard let hook = onAboutToChange, let guest = e.path, let (host, _) = sandbox.hostPath(guest) else { return }
        hook(host, guest)
    }
    public var mappedFileProvider: ((UInt64) throws -> (host: Int32, path: String, writable: Bool))?
    /// execve: loads a program into the emptied address space, opening files through the given
    /// function (the session sets it: the loader belongs to the machine).
    /// The second function names each file for crash reports and symbols (the host file, or in a
    /// replay the trace's copy).
    public var imageLoader: ((ExecImageRequest, (ByteString) -> String, (ByteString) -> Int32) throws -> ExecImage)?
    var execFileNames: [ByteString: String] = [:]
    /// Record: each file execve opens, by the guest path it asked for, with its host descriptor.
    public var onExecFileOpened: ((ByteString, Int32) -> Void)?
    /// Replay: the files the recorded execve opened, in order, and its AT_RANDOM bytes.
    public var execFilesFromLog: [LoggedExecFile]?
    public var execRandomFromLog: [UInt8]?
    /// The AT_RANDOM bytes the last execve gave the new program (the recorder logs them).
    public internal(set) var lastExecRandom: [UInt8] = []
    /// Replay: signals come only from the log (no alarms, no signals from outside, no raising).
    public var signalsFromLog = false

    public init(memory: AddressSpace, config: PersonalityConfig, nondeterminism: Nondeterminism = HostNondeterminism())
    {
        self.memory = memory
        self.config = config
        self.sandbox = Sandbox(mounts: config.mounts, cwd: config.cwd, programPath: config.programPath)
        self.nondeterminism = nondeterminism
        processID = nondeterminism.pid
        parentID = nondeterminism.ppid
        self.channel = ChannelPort(memory: memory)
        self.fileCreationMask = UInt64(config.umask & 0o777)
        if let name = config.programPath.split(separator: UInt8(ascii: "/")).last {
            threadName = Array(name.bytes.prefix(15))
        }
        // A guest write to a pipe nobody reads must give EPIPE here (and SIGPIPE to the guest), not
        // kill the VMM.
        signal(SIGPIPE, SIG_IGN)
    }

    /// Start of the heap (right after the executable's bss).
    public func setBreak(_ start: UInt64) {
        brkStart = start
        brkCurrent = start
    }

    public func setInitialFSBase(_ v: UInt64) { fsBase = v }

    typealias Handler = @Sendable (LinuxPersonality, SyscallRequest) throws -> Int64
    typealias OutcomeHandler = @Sendable (LinuxPersonality, SyscallRequest) throws -> SyscallOutcome

    /// The dispatch table, indexed by syscall number, built from each family's handlers.
    static let table: [OutcomeHandler?] = {
        var t = [OutcomeHandler?](repeating: nil, count: 512)
        for (name, h) in allHandlers {
            guard let nr = SyscallNames.byName[name] else {
                fatalError("unknown syscall name \(name) in the handler list")
            }
            t[nr] = h
        }
        return t
    }()

    static var allHandlers: [(String, OutcomeHandler)] {
        let plain: [(String, Handler)] =
            descriptorHandlers + pathHandlers + memoryHandlers + processHandlers + waitHandlers
            + signalHandlers + timeHandlers + networkHandlers
        return plain.map { name, h in (name, { p, r in .value(try h(p, r)) }) } + outcomeHandlers + execHandlers
            + forkHandlers
    }

    /// Names of the syscalls this personality implements (a test compares them with the table).
    public static var implementedNames: Set<String> { Set(allHandlers.map(\.0)) }

    /// Serve one syscall.
    public func handle(_ req: SyscallRequest) -> SyscallOutcome {
        if req.number == ChannelPort.number { return .value(channel.handle(req[0], req[1])) }
        syscallCount += 1
        let nr = Int(truncatingIfNeeded: req.number)
        var out: SyscallOutcome
        do {
            if nr >= 0, nr < LinuxPersonality.table.count, let h = LinuxPersonality.table[nr] {
                out = try h(self, req)
            } else {
                out = unsupported(req)
            }
        } catch let e as SysError {
            out = .value(-Int64(e.code))
        } catch is GuestMemoryError {
            out = .value(-Int64(EFAULT))
        } catch {
            out = .value(-Int64(EIO))
        }
        if let sig = pendingSignal {
            pendingSignal = nil
            raise(sig, code: 0x80)
        }
        if !signalsFromLog {
            raiseHostSignals(nondeterminism.takeHostSignals())
            noteChildEvents()
        }
        // Signals are delivered as the syscall returns (not after exit or rt_sigreturn).
        if !signalsFromLog, case .value(let v) = out, pendingSignals != 0 || alarmDeadline != nil,
            let signalled = signalAtBoundary(result: v)
        {
            return signalled
        }
        return out
    }

    func unsupported(_ req: SyscallRequest, detail: String = "") -> SyscallOutcome {
        let notes = Int(exactly: req.number).flatMap { SyscallTable.byNumber[$0]?.notes } ?? ""
        let detail = detail.isEmpty ? notes : detail
        diagnose(
            "unsupported syscall \(req.name) (\(req.number))\(detail.isEmpty ? "" : ": " + detail); returning ENOSYS",
            key: req.number)
        return .value(-Int64(ENOSYS))
    }

    /// One diagnostic line; with a key, only the first time.
    func diagnose(_ line: String, key: UInt64? = nil) {
        if let key {
            guard !warnedUnsupported.contains(key) else { return }
            warnedUnsupported.insert(key)
        }
        config.diagnostic(line)
    }

    // MARK: - Helpers shared by the families

    func path(_ addr: UInt64) throws -> [UInt8] {
        guard let p = try memory.cString(at: addr, max: 4095) else { throw SysError(ENAMETOOLONG) }
        return p
    }

    /// The guest directory an *at call's dirfd names (AT_FDCWD: the working directory).
    func base(_ dirfd: UInt64) throws -> ByteString {
        if Int32(truncatingIfNeeded: dirfd) == AT_FDCWD { return sandbox.cwd }
        let e = try fds.entry(dirfd)
        guard let p = e.path else { throw SysError(ENOTDIR) }
        return p
    }

    func resolve(_ dirfd: UInt64, _ pathAddr: UInt64, follow: Bool = true) throws -> ResolvedPath {
        let p = try path(pathAddr)
        if p.first == UInt8(ascii: "/") { return try sandbox.resolve(p, followFinal: follow) }
        return try sandbox.resolve(p, base: try base(dirfd), followFinal: follow)
    }

    public func shutdown() { fds.closeAll() }

    /// 1 or 2 when guest fd `fd` is (a duplicate of) Revenant's stdout or stderr, else 0.
    public func consoleKind(_ fd: UInt64) -> UInt8 { (try? fds.entry(fd).console) ?? 0 }
}

import CHost
import Glibc
import GuestMemory
import LinuxABI
import Machine
import Personality
import Trace

/// A trace opened and loaded into a fresh VM, ready to replay: what `replay`, `regen` and the
/// higher-level replays share. Nothing on the host is opened but the trace.
public final class ReplaySession {
    public let directory: TraceDirectory
    public let header: TraceHeader
    public let machine: GuestMachine
    public let personality: LinuxPersonality
    public let replayer: Replayer
    /// Following children: called in a child process's VMM as its replay ends, before the VMM
    /// does; what it returns is how it ended (regen writes the child's index here).
    public var onChildEnd: ((Outcome) -> Outcome)?
    /// A backup of `run --replicas`: what runs the guest instead of the replayer alone.
    public var wrapKernel: ((GuestKernel) -> GuestKernel)?

    /// How a replay ended, for the caller to report.
    public enum Outcome {
        case finished(Termination, nanoseconds: UInt64)
        /// A hook asked the replay to stop early (Replayer.stopRequested).
        case stopped(atEvent: UInt64)
        /// Exit 124: the program did something else than recorded.
        case diverged(String)
        /// Exit 125: the trace itself is unreadable or cut short.
        case traceFailed(String)
    }

    /// Opens `path` and loads the recorded program; errors are one line for the user (exit 125).
    /// `mailbox: false` serves every syscall on the vCPU thread at an exit (what checkpoints need).
    /// `followChildren`: every recorded process is replayed, each in its own VMM (Replayer);
    /// `onlyProcess`: that one alone (the first process's pid, or a child's: its ancestors are
    /// replayed up to the fork that made it, in the same VMM, without their output).
    public init(
        path: String, quiet: Bool, ignoreCPU: Bool, mailbox: Bool = true, followChildren: Bool = false,
        onlyProcess: Int32? = nil, follow: Follow? = nil, diagnostic: @escaping (String) -> Void
    ) throws(ReplaySetupError) {
        let (dir, header): (TraceDirectory, TraceHeader)
        do { (dir, header) = try TraceDirectory.open(path, following: follow) } catch {
            throw ReplaySetupError(error.description)
        }
        guard let process = header.process, let files = header.files else {
            throw ReplaySetupError("\(path): the header lacks the process state (a trace from an older revenant?)")
        }
        if !ignoreCPU, let difference = ReplaySession.cpuDifference(header.cpuid) {
            throw ReplaySetupError(
                "\(path) was recorded on another CPU (\(difference)); "
                    + "replay would not be exact (--ignore-cpu to try anyway)"
            )
        }
        let machine: GuestMachine
        do {
            machine = try GuestMachine(
                memory: header.memory, mailbox: mailbox, rewriteSyscalls: header.syscallRewriter != nil)
        } catch {
            throw ReplaySetupError("\(error)")
        }
        if let recorded = header.syscallRewriter, recorded != machine.rewriterVersion {
            let why =
                machine.rewriterVersion.map { "this revenant's syscall rewriter is version \($0)" }
                ?? "rewritten syscalls need PVM, and this machine has \(machine.hypervisor)"
            throw ReplaySetupError("\(path) was recorded with syscall rewriter version \(recorded); \(why)")
        }
        let random = Hex.bytes(process.atRandom)
        let config = PersonalityConfig(
            mounts: header.mounts.map { Mount(guest: $0.guest, host: $0.host, writable: $0.writable) },
            cwd: header.cwd, programPath: header.program, network: header.network,
            diagnostic: diagnostic)
        let personality = LinuxPersonality(
            memory: machine.space, config: config,
            nondeterminism: ReplayNondeterminism(
                pid: process.pid,
                ppid: process.ppid,
                uid: process.uid, atRandom: random))
        let spec = ProgramSpec(path: header.program, argv: header.argv)
        let loaded: LoadedProgram
        // The files the loader maps come from their blobs, each checked against its digest.
        var blobFailure: TraceError?
        do {
            loaded = try Loader.load(
                program: spec, environment: header.env, atRandom: random, hwcap: process.hwcap,
                ids: (process.uid, process.euid, process.gid, process.egid), into: machine.space
            ) { path in
                guard let digest = header.blob(loadedFrom: path) else {
                    errno = ENOENT
                    return -1
                }
                do throws(TraceError) { return try dir.openBlob(digest) } catch {
                    blobFailure = error
                    errno = EIO
                    return -1
                }
            } mappedName: { path in
                header.blob(loadedFrom: path).flatMap { try? dir.blobFile($0) } ?? path.description
            }
        } catch {
            if let blobFailure { throw ReplaySetupError("\(path): \(blobFailure)") }
            throw ReplaySetupError("\(path): cannot load the recorded program: \(error)")
        }
        personality.setBreak(loaded.brkStart)
        personality.mmapTop = loaded.mmapTop
        if let libraries = header.shimLibraries {
            personality.execShims = ExecShims(perlLibrary: libraries.perl, sqliteLibrary: libraries.sqlite)
        }
        for f in files {
            if let blob = try? dir.blobFile(f.blob) { machine.displayNames[blob] = f.path.description }
        }
        let replayer: Replayer
        do {
            replayer = try Replayer(
                personality: personality, trace: dir, quiet: quiet,
                consoles: header.consoles ?? [])
        } catch {
            throw ReplaySetupError("\(error)")
        }
        replayer.describeRIP = { rip in machine.describe(rip: rip) }
        replayer.follow = follow
        if let onlyProcess, onlyProcess != process.pid {
            let table: ProcessTable
            do { table = try ProcessTable(dir, firstPID: process.pid) } catch {
                throw ReplaySetupError("\(path): \(error)")
            }
            let stream: Int
            do { stream = try table.stream(of: onlyProcess, in: path) } catch {
                throw ReplaySetupError(error.description)
            }
            guard let lineage = table.path(to: stream) else {
                throw ReplaySetupError("\(path): the ancestry of process \(onlyProcess) is broken")
            }
            replayer.path = lineage
        }
        if followChildren {
            replayer.followChildren = true
            // Every process at once at most: the first, and one per child stream (following a
            // recording, the streams to come are not there yet: as many as `run` allows).
            let streams = follow == nil ? dir.childStreams.count + 1 : ProcessTable.defaultLimit
            countsProcesses = chost_processes_init(UInt32(clamping: streams)) == 0
            if !quiet {
                do { replayer.order = try ProcessOrder() } catch { throw ReplaySetupError("\(error)") }
            }
        }
        replayer.onMappedBlob = { blob, recorded in machine.displayNames[blob] = recorded }
        ProgramImages.install(
            on: personality, machine: machine, ids: (process.uid, process.euid, process.gid, process.egid))
        do { try machine.start(loaded) } catch { throw ReplaySetupError("\(error)") }
        self.directory = dir
        self.header = header
        self.machine = machine
        self.personality = personality
        self.replayer = replayer
    }

    /// Replay to the end and check it ended as recorded; following children, every process.
    /// This session made the run's process counter (chost_processes_init): gone with it, so that a
    /// process that replays once (a library's user, a test) does not keep its limit for later.
    private var countsProcesses = false

    deinit { if countsProcesses { chost_processes_end() } }

    public func run() -> Outcome {
        // The replay's own VMMs (one per recorded process) end with the first one.
        if replayer.followChildren { _ = chost_become_subreaper() }
        let outcome = ownRun()
        // (Following one process, the first VMM itself goes on as the child: it ends as the CLI says.)
        if replayer.followChildren, personality.isForkedChild { endChild(outcome) }
        guard replayer.followChildren else { return outcome }
        if case .finished = outcome {} else { replayer.order?.breakOrder() }
        // Every child VMM ends as its replay did: 0 as recorded, 124 diverged, 125 otherwise.
        var worst: Int32 = 0
        var status: Int32 = 0
        while true {
            let pid = wait(&status)
            if pid < 0 {
                if errno == EINTR { continue }
                break
            }
            let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 125
            if code != 0, worst != 125 { worst = code == 124 ? 124 : 125 }
        }
        if replayer.abandoned || worst != 0 {
            switch outcome {
            case .diverged, .traceFailed: if !replayer.abandoned { return outcome }
            default: break
            }
            let why = "the replay of a child process failed (its report is above)"
            return worst == 125 ? .traceFailed(why) : .diverged(why)
        }
        return outcome
    }

    /// A child process's replay has ended: its VMM ends with it, reporting a failure itself (the
    /// first VMM sums up).
    private func endChild(_ outcome: Outcome) -> Never {
        let outcome = onChildEnd?(outcome) ?? outcome
        var code: Int32 = 0
        var report: String?
        switch outcome {
        case .finished, .stopped: break
        case .diverged(let r): (code, report) = (124, r)
        case .traceFailed(let r): (code, report) = (125, r)
        }
        if replayer.abandoned {
            code = 124
            report = nil
        }
        if code != 0 { replayer.order?.breakOrder() }
        chost_process_give()
        if let report {
            let line = "revenant: " + report.split(whereSeparator: \.isNewline).joined(separator: " ") + "\n"
            _ = line.withCString { Glibc.write(2, $0, strlen($0)) }
        }
        fflush(nil)
        _exit(code)
    }

    private func ownRun() -> Outcome {
        let t0 = chost_monotonic_ns()
        let termination: Termination
        do { termination = try machine.run(kernel: wrapKernel?(replayer) ?? replayer) } catch {
            return .traceFailed("\(error)")
        }
        let elapsed = chost_monotonic_ns() - t0
        if replayer.abandoned { return .diverged("stopped: another process's replay failed") }
        if replayer.stopped { return .stopped(atEvent: replayer.index) }
        if replayer.wentLive { return .finished(termination, nanoseconds: elapsed) }
        if let d = replayer.divergence { return .diverged(d) }
        // A child's stream is named by its own file.
        let stream = replayer.process == nil ? directory.path : replayer.streamPath
        if let e = replayer.traceError {
            if case .io = e { return .traceFailed("\(e)") }
            return .traceFailed("\(stream): \(e)")
        }
        if replayer.endedEarly {
            let at = replayer.truncatedAt.map { " (the events file ends inside a chunk at byte offset \($0))" } ?? ""
            return .traceFailed(
                "\(stream) ends after event \(replayer.index): "
                    + "its recording was cut short\(at); replay stopped there"
            )
        }
        if let end = replayer.readEnd(), end.status != termination.exitStatus {
            return .diverged(
                "replay diverged at the end: the program exited with \(termination.exitStatus), recorded \(end.status)")
        }
        return .finished(termination, nanoseconds: elapsed)
    }

    /// The first CPUID leaf where this host differs from the recording, named.
    public static func cpuDifference(_ recorded: [TraceHeader.CPUIDLeaf]) -> String? {
        let here = CPUSignature.captureHost().leaves
        for r in recorded {
            guard let h = here.first(where: { $0.leaf == r.leaf && $0.subleaf == r.subleaf }) else {
                return "leaf 0x\(String(r.leaf, radix: 16)) is missing here"
            }
            for (name, a, b) in [
                ("eax", r.eax, h.eax), ("ebx", r.ebx, h.ebx), ("ecx", r.ecx, h.ecx), ("edx", r.edx, h.edx),
            ] where a != b {
                let leaf = "0x\(String(r.leaf, radix: 16)).\(r.subleaf)"
                return "CPUID leaf \(leaf) \(name): recorded 0x\(String(a, radix: 16)), here 0x\(String(b, radix: 16))"
            }
        }
        return nil
    }
}

/// A trace that cannot be replayed here, in one line.
public struct ReplaySetupError: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}

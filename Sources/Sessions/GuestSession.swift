import CHost
import Glibc
import GuestMemory
import LinuxABI
import Machine
import Personality
import Replay
import Trace

extension LinuxPersonality: GuestKernel {
    public var mayRewriteSyscalls: Bool { !sharesParentMemory }
}

/// Everything one guest run needs, set up from the command line.
public final class GuestSession {
    package let options: SessionOptions
    package let machine: GuestMachine
    package let personality: LinuxPersonality
    package let privateTmp: String
    package let spec: ProgramSpec
    /// `record`: the trace being written and the recorder between the machine and the personality.
    package let recorder: Recorder?

    /// What `record` adds to a run.
    package struct RecordRequest {
        var path: String
        var force: Bool
        var shims: ShimSelection
        var keepChannel: Bool

        package init(path: String, force: Bool, shims: ShimSelection, keepChannel: Bool) {
            self.path = path
            self.force = force
            self.shims = shims
            self.keepChannel = keepChannel
        }
    }
    package let keepChannel: Bool
    /// `run --replicas`: what runs the guest instead of the recorder alone (the replica's kernel).
    package var wrapKernel: ((GuestKernel) -> GuestKernel)?
    /// `run --replicas`: the private /tmp outlives the primary (a backup that takes its place
    /// goes on with it); the supervisor removes it after the run.
    package var keepPrivateTmp = false

    /// What the fast Perl-level replay changes in a run: the recorded program, environment and
    /// working directory, the latter backed by a scratch folder; its own stdio; the channel kept.
    package struct Replica {
        var program: ProgramSpec
        var environment: [ByteString]
        var cwd: ByteString
        var scratch: String
        var readOnly: [String]
        var stdio: [Int32]
        /// perl's debugger starts a child (Term::Cap's `infocmp`): it runs, in the sandbox. The
        /// recorded program has none when the fast form is taken (regen's verdict).
        var runsChildren = false

        package init(
            program: ProgramSpec, environment: [ByteString], cwd: ByteString, scratch: String, readOnly: [String],
            stdio: [Int32], runsChildren: Bool = false
        ) {
            self.program = program
            self.environment = environment
            self.cwd = cwd
            self.scratch = scratch
            self.readOnly = readOnly
            self.stdio = stdio
            self.runsChildren = runsChildren
        }
    }

    /// A program (found as execvp would) with its arguments, ready to run in the deterministic VM
    /// with the sandbox `options` describe. Errors are one line for the user (`CLIError`: its
    /// message and the exit code the command line gives it).
    public convenience init(options: SessionOptions, program: ByteString, arguments: [ByteString]) throws {
        try self.init(options: options, program: program, arguments: arguments, record: nil, replica: nil)
    }

    package init(
        options: SessionOptions, program: ByteString, arguments: [ByteString], record: RecordRequest?,
        replica: Replica? = nil
    ) throws {
        self.options = options
        guard let memory = parseSize(options.memory) else {
            throw CLIError("--memory: cannot read size '\(options.memory)' (e.g. 512M, 4G)")
        }
        guard memory <= GuestLayout.maxMemory else {
            throw CLIError("--memory: at most \(GuestLayout.maxMemory >> 30)G")
        }
        var env = try replica?.environment ?? guestEnvironment(options)
        let cwd = replica?.cwd ?? currentDirectory()
        let pathVar = env.first { $0.hasPrefix("PATH=") }.map { $0.dropFirst(5) }
        var located: ProgramSpec
        if let replica {
            located = replica.program
        } else {
            do throws(LaunchError) {
                located = try ProgramSpec.locate(program, arguments: arguments, pathVariable: pathVar, cwd: cwd)
            } catch { throw CLIError(error.description, code: error.exitCode) }
        }
        var shimsLoaded: [String] = [], shimFolders: [String] = []
        var execShims = ExecShims()
        if let record {
            (located, env, shimsLoaded, shimFolders, execShims) = try record.shims.apply(
                to: located, environment: env)
        }
        spec = located
        keepChannel = record?.keepChannel ?? (replica != nil)
        // An existing -o is refused before anything runs.
        var trace: TraceDirectory?
        if let record {
            do { trace = try TraceDirectory.create(record.path, force: record.force) } catch {
                throw CLIError(error.description)
            }
        }
        var mounts = [Mount(guest: "/", host: "/", writable: false)]
        guard let tmp = makeScratchFolder("revenant-tmp") else {
            let e = errno
            if let trace { removeTree(trace.path) }
            throw CLIError("cannot create the private /tmp: \(String(cString: strerror(e)))")
        }
        privateTmp = tmp
        // Any failure from here on, before the program runs, leaves no private /tmp and no
        // half-written trace behind.
        func abandon() {
            removeTree(tmp)
            if let trace { removeTree(trace.path) }
        }
        mounts.append(Mount(guest: "/tmp", host: ByteString(privateTmp), writable: true))
        mounts.append(Mount(guest: cwd, host: replica.map { ByteString($0.scratch) } ?? cwd, writable: true))
        for (paths, writable) in [(options.readWrite, true), (options.readOnly + (replica?.readOnly ?? []), false)] {
            for p in paths {
                guard let real = realpath(p, nil) else {
                    abandon()
                    throw CLIError("--\(writable ? "rw" : "ro") \(p): \(String(cString: strerror(errno)))")
                }
                let path = ByteString(cString: UnsafePointer(real))
                free(real)
                mounts.removeAll { $0.guest == path }
                mounts.append(Mount(guest: path, host: path, writable: writable))
            }
        }
        // The shims' folders, read-only, wherever they are (under /tmp the private /tmp would hide them).
        for f in shimFolders.map({ ByteString($0) }) where !mounts.contains(where: { $0.guest == f }) {
            mounts.append(Mount(guest: f, host: f, writable: false))
        }
        // Mount points must exist in the file system they are mounted on (as with bind mounts): a
        // working directory under /tmp needs its parent directories inside the private /tmp.
        for m in mounts where m.guest.hasPrefix("/tmp/") {
            makeDirectories(ByteString(privateTmp) + m.guest.dropFirst(4))
        }

        do {
            // REVENANT_KVM_DEVICE names another device node (tests use it to make KVM unavailable).
            let device = environmentValue("REVENANT_KVM_DEVICE") ?? "/dev/kvm"
            machine = try GuestMachine(
                memory: memory, kvmPath: device, mailbox: options.mailbox,
                rewriteSyscalls: options.mailbox && options.rewriteSyscalls)
        } catch {
            abandon()
            throw CLIError((error as? MachineError)?.description ?? "\(error)")
        }
        // The guest's umask is the personality's (it starts as the one revenant inherited); the
        // VMM then creates files with exactly the modes the guest asks for, and its own files
        // with explicit modes.
        let inheritedUmask = Glibc.umask(0)
        let config = PersonalityConfig(
            mounts: mounts, cwd: cwd, programPath: spec.path, network: options.network,
            umask: UInt32(inheritedUmask),
            diagnostic: { FileHandleStderr.write("revenant: \($0)\n") })
        personality = LinuxPersonality(memory: machine.space, config: config)
        personality.execShims = execShims
        let loaded: LoadedProgram
        let atRandom = personality.nondeterminism.atRandom()
        let ids = (uid: getuid(), euid: geteuid(), gid: getgid(), egid: getegid())
        var files: [TraceHeader.LoadedFile] = []
        do {
            if let trace { recorder = try Recorder(personality: personality, trace: trace) } else { recorder = nil }
        } catch {
            abandon()
            throw CLIError(error.description)
        }
        do throws(LaunchError) {
            loaded = try Loader.load(
                program: spec, environment: env, atRandom: atRandom, hwcap: machine.hwcap,
                ids: ids, into: machine.space
            ) { [recorder] path in
                let fd = path.withCString { open($0, O_RDONLY | O_CLOEXEC) }
                if fd >= 0, let recorder, let blob = recorder.storeFile(fd: fd) {
                    files.append(.init(path: path, blob: blob))
                }
                return fd
            }
        } catch {
            abandon()
            throw CLIError(error.description, code: error.exitCode)
        }
        if let trace {
            var h = TraceHeader(
                program: spec.path, argv: spec.argv, env: env, cwd: cwd,
                mounts: mounts.map { .init(guest: $0.guest, host: $0.host, writable: $0.writable) },
                memory: machine.space.layout.size, network: options.network,
                trapStrategy: machine.strategy.rawValue, hypervisor: machine.hypervisor,
                cpuid: machine.cpuSignature.leaves.map {
                    .init(leaf: $0.leaf, subleaf: $0.subleaf, eax: $0.eax, ebx: $0.ebx, ecx: $0.ecx, edx: $0.edx)
                },
                revenantVersion: revenantVersion, recordedAt: isoNow())
            h.process = .init(
                atRandom: Hex.string(atRandom),
                pid: personality.nondeterminism.pid, ppid: personality.nondeterminism.ppid,
                uid: ids.uid, euid: ids.euid, gid: ids.gid, egid: ids.egid, hwcap: machine.hwcap)
            h.files = files
            h.shims = shimsLoaded
            h.shimLibraries = .init(perl: execShims.perlLibrary, sqlite: execShims.sqliteLibrary)
            if keepChannel { h.keptChannel = true }
            h.syscallRewriter = machine.rewriterVersion
            h.umask = UInt32(inheritedUmask)
            h.consoles = TraceHeader.Console.regularFiles([1, 2])
            do { try trace.writeHeader(h) } catch {
                abandon()
                throw CLIError("\(error)")
            }
        }
        personality.setBreak(loaded.brkStart)
        personality.mmapTop = loaded.mmapTop
        personality.fds.installStdio(replica?.stdio ?? [0, 1, 2])
        // The fast Perl-level replay feeds the recorded input to one process: a child would run for real.
        if let replica, !replica.runsChildren {
            personality.forkRefusal = "the fast Perl-level replay runs no child processes"
        }
        ProgramImages.install(on: personality, machine: machine, ids: ids)
        if keepChannel { personality.channel.mode = .collect }
        do { try machine.start(loaded) } catch {
            abandon()
            throw CLIError("\(error)")
        }
    }

    /// A forked child's VMM ends as its guest did, so that the parent's wait4 sees the guest's
    /// status: its exit code, or death by the same signal (without a core dump of the VMM).
    private func endAsTheGuest(_ termination: Termination) -> Never {
        if case .killed(let sig, let report, let fault) = termination {
            if fault { FileHandleStderr.write(report + "\n") }
            var none = rlimit(rlim_cur: 0, rlim_max: 0)
            _ = setrlimit(Int32(RLIMIT_CORE.rawValue), &none)
            signal(sig, SIG_DFL)
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, sig)
            sigprocmask(SIG_UNBLOCK, &set, nil)
            kill(getpid(), sig)
        }
        fflush(nil)
        _exit(termination.exitStatus & 0xff)
    }

    /// Run to the end; returns the exit status `revenant run` should have. A failure of the machine
    /// or of the recording (not the program's own end) throws, with exit code 125.
    public func run() throws -> Int32 {
        signal(SIGPIPE, SIG_IGN)
        // Ctrl-C, SIGTERM, SIGHUP reach the guest at its next syscall, as signals Linux would deliver.
        // So do the signals one guest process sends another (each is a VMM here).
        for sig in [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGWINCH, SIGURG, SIGCONT] {
            _ = chost_forward_signal(sig)
        }
        // A guest fork forks this process (one VMM per guest process): the first VMM reaps the
        // orphaned ones and ends after every descendant has ended.
        _ = chost_become_subreaper()
        // SIGCHLD stays pending until a syscall boundary takes it (Fork.swift): blocked here, in
        // the vCPU thread, before any thread that could receive it exists.
        _ = chost_watch_children()
        _ = chost_processes_init(UInt32(options.maxProcesses))
        let t0 = monotonicNanos()
        let termination: Termination
        let kernel: GuestKernel = recorder ?? personality
        do { termination = try machine.run(kernel: wrapKernel?(kernel) ?? kernel) } catch {
            personality.shutdown()
            if !personality.isForkedChild && !keepPrivateTmp { removeTree(privateTmp) }
            throw CLIError("\(error)")
        }
        let elapsed = monotonicNanos() - t0
        let syscallSites = machine.rewriterStats.map {
            SyscallSiteFigures(rewritten: $0.rewritten, fast: $0.fast, trapped: $0.trapped)
        }
        personality.shutdown()
        if personality.isForkedChild {
            // A child's stream ends as the first process's does; a failure is the first VMM's to
            // report (the child's guest ends as it would have).
            if let recorder {
                do {
                    if let failure = recorder.failure { throw failure }
                    try recorder.finish(
                        status: termination.exitStatus, nanoseconds: elapsed, syscallSites: syscallSites)
                } catch {
                    FileHandleStderr.write("revenant: recording process \(personality.processID) failed: \(error)\n")
                    recorder.order.failed = true
                }
            }
            chost_process_give()
            endAsTheGuest(termination)
        }
        if personality.watchingChildren {
            // The descendants still running (a child in the background) hold the run open.
            while wait(nil) > 0 || errno == EINTR {}
        }
        if !keepPrivateTmp { removeTree(privateTmp) }
        if recorder == nil && keepChannel { personality.channel.collectTail() }
        if let recorder {
            if let failure = recorder.failure { throw CLIError("recording failed: \(failure)") }
            if recorder.order.failed { throw CLIError("recording failed: a child process's stream (see above)") }
            if keepChannel {
                personality.channel.collectTail()
                do { try recorder.trace.writeLiveChannel(personality.channel.collected) } catch {
                    throw CLIError("recording failed: \(error)")
                }
            }
            do {
                try recorder.finish(
                    status: termination.exitStatus, nanoseconds: elapsed, syscallSites: syscallSites)
            } catch {
                throw CLIError("recording failed: \(error)")
            }
        }
        // A crash is always reported; a signal the program sent itself or got from outside is not
        // (Linux prints nothing either), except with --verbose.
        if case .killed(_, let report, let fault) = termination, fault || options.verbose {
            FileHandleStderr.write(report + "\n")
        }
        if options.verbose {
            let syscallPath = machine.useMailbox ? "mailbox" : "exits"
            let mailboxNote =
                machine.mailboxStats.map {
                    " (\($0.served) served by the spinner, \($0.fallbacks) starvation fallbacks)"
                } ?? ""
            FileHandleStderr.write(
                """
                revenant: hypervisor \(machine.hypervisor), trap strategy \(machine.strategy.rawValue), \
                syscalls via \(syscallPath)\(mailboxNote)
                revenant: VM start-up \(fmtMs(machine.startupNanoseconds)), guest run \(fmtMs(elapsed)) \
                (\(fmtMs(machine.runNanoseconds)) in KVM_RUN), \
                \(personality.syscallCount) syscalls, \(machine.exits) exits

                """)
            if let r = machine.rewriterStats, let f = syscallSites {
                let refused = r.refused.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }
                FileHandleStderr.write(
                    "revenant: syscall sites: \(r.rewritten) rewritten in \(fmtMs(r.nanoseconds)), \(f.shareText())"
                        + (refused.isEmpty ? "" : "; left trapping: " + refused.joined(separator: ", ")) + "\n")
            }
            let channel = personality.channel
            if channel.address != nil {
                // Recording, the Perl shim leaves its statement records out (ChannelPort.quiet).
                let how = channel.registeredQuiet ? "quiet (no statement records)" : "every record"
                FileHandleStderr.write(
                    "revenant: shim channel: \(how), \(channel.handedOver) bytes handed over in flushes\n")
            }
            if let stats = machine.vcpuStats() {
                let interesting = stats.values.filter { $0.value > 0 }.sorted { $0.key < $1.key }
                FileHandleStderr.write(
                    "revenant: KVM vCPU stats: " + interesting.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                        + "\n")
            }
        }
        return termination.exitStatus
    }
}

import ArgumentParser
import CHost
import Glibc
import GuestMemory
import LinuxABI
import Machine
import Personality
import Replay
import Trace

extension LinuxPersonality: GuestKernel {}

/// Options shared by `run` and (later) `record`: the sandbox and the machine.
struct SandboxOptions: ParsableArguments {
    @Option(name: .customLong("rw"), help: ArgumentHelp("Make PATH writable inside the guest (repeatable).", valueName: "PATH"))
    var readWrite: [String] = []
    @Option(name: .customLong("ro"), help: ArgumentHelp("Make PATH visible read-only, even under a writable mount (repeatable).", valueName: "PATH"))
    var readOnly: [String] = []
    @Flag(name: .customLong("net"), help: "Allow network access (sockets).")
    var network = false
    @Option(name: .customLong("env"), help: ArgumentHelp("Set K=V in the guest's environment (repeatable).", valueName: "K=V"))
    var environment: [String] = []
    @Flag(name: .customLong("clear-env"), help: "Start the guest with an empty environment (before --env).")
    var clearEnvironment = false
    @Option(name: .customLong("memory"), help: ArgumentHelp("Guest memory, e.g. 512M, 4G (default 4G).", valueName: "SIZE"))
    var memory: String = "4G"
    @Flag(name: .shortAndLong, help: "Say which hypervisor and trap strategy ran, and what the run cost.")
    var verbose = false
    @Option(name: .customLong("syscall-path"), help: ArgumentHelp("How syscalls reach the VMM under PVM: mailbox (a spinning VMM thread, the default) or exit (a VM exit each).", valueName: "mailbox|exit"))
    var syscallPath: SyscallPath = .mailbox

    enum SyscallPath: String, ExpressibleByArgument { case mailbox, exit }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a program in the deterministic VM, as if natively.",
        discussion: """
        The guest sees the host filesystem read-only, the working directory read-write, a private
        /tmp, no network and the caller's environment.

        Examples:
          revenant run -- perl script.pl arg1
          revenant run -- sqlite3 app.db < session.sql
          revenant run --rw /srv/data --env LANG=C -- perl import.pl
        """
    )

    @OptionGroup var options: SandboxOptions
    @Argument(parsing: .captureForPassthrough, help: ArgumentHelp("The program and its arguments (after --).", valueName: "PROGRAM"))
    var command: [String] = []

    func run() throws {
        let (program, arguments) = try programAndArguments(command, verb: "run", usage: "revenant run [options] -- PROGRAM [ARGS...]")
        let session = try GuestSession(options: options, program: program, arguments: arguments)
        let status = session.run()
        Glibc.exit(status)
    }
}

/// The command line of `run` and `record` split at its first `--`: ArgumentParser parses only what
/// comes before (its passthrough parsing takes time quadratic in the number of arguments: 10,000
/// took 2.6 s), and the rest is read here, as the bytes the caller passed.
enum Passthrough {
    /// Where the first `--` was in argv, and the raw arguments after it.
    nonisolated(unsafe) static var split: (dashes: Int, tail: [ByteString])?

    /// The arguments for ArgumentParser (argv without argv[0]).
    static func argumentsToParse() -> [String] {
        let all = Array(CommandLine.arguments.dropFirst())
        guard let verb = all.first, verb == "run" || verb == "record",
              let i = all.firstIndex(of: "--") else { return all }
        let argv = CommandLine.unsafeArgv
        split = (i + 1, (i + 2..<Int(CommandLine.argc)).map { ByteString(cString: argv[$0]!) })
        return Array(all[..<i])
    }

    /// The raw bytes of argv[range].
    static func raw(_ range: Range<Int>) -> [ByteString] {
        range.map { ByteString(cString: CommandLine.unsafeArgv[$0]!) }
    }
}

/// PROGRAM and ARGS from what follows the options (`--` optional); an option ArgumentParser did
/// not know lands here and is refused as a usage error rather than run as a program. They are the
/// bytes the caller passed: ArgumentParser's Strings would have U+FFFD for bytes that are not
/// UTF-8, and what it captured for passthrough is the tail of what it was given.
func programAndArguments(_ command: [String], verb: String, usage: String) throws -> (ByteString, [ByteString]) {
    var cmd: [ByteString]
    let explicit: Bool
    if let (dashes, tail) = Passthrough.split {
        // Words before the `--` (`run perl -- -x`): the program's, and so is the `--`.
        cmd = command.isEmpty ? tail : Passthrough.raw(dashes - command.count..<dashes) + ["--"] + tail
        explicit = command.isEmpty
    } else {
        cmd = Passthrough.raw(Int(CommandLine.argc) - command.count..<Int(CommandLine.argc))
        if cmd.first == "--" { cmd.removeFirst() }
        explicit = command.first == "--"
    }
    guard let program = cmd.first else { throw CLIError("\(verb): no program given (usage: \(usage))") }
    if program.first == UInt8(ascii: "-") && !explicit {
        throw CLIError("\(verb): unknown option '\(program)' (see revenant \(verb) --help)")
    }
    return (program, Array(cmd.dropFirst()))
}

/// Everything one guest run needs, set up from the command line.
final class GuestSession {
    let options: SandboxOptions
    let machine: GuestMachine
    let personality: LinuxPersonality
    let privateTmp: String
    let spec: ProgramSpec
    /// `record`: the trace being written and the recorder between the machine and the personality.
    let recorder: Recorder?

    /// What `record` adds to a run.
    struct RecordRequest {
        var path: String
        var force: Bool
        var shims: ShimSelection
        var keepChannel: Bool
    }
    let keepChannel: Bool

    /// What the fast Perl-level replay changes in a run: the recorded program, environment and
    /// working directory, the latter backed by a scratch folder; its own stdio; the channel kept.
    struct Replica {
        var program: ProgramSpec
        var environment: [ByteString]
        var cwd: ByteString
        var scratch: String
        var readOnly: [String]
        var stdio: [Int32]
    }

    init(options: SandboxOptions, program: ByteString, arguments: [ByteString], record: RecordRequest? = nil,
         replica: Replica? = nil) throws {
        self.options = options
        guard let memory = parseSize(options.memory) else { throw CLIError("--memory: cannot read size '\(options.memory)' (e.g. 512M, 4G)") }
        guard memory <= GuestLayout.maxMemory else { throw CLIError("--memory: at most \(GuestLayout.maxMemory >> 30)G") }
        var env = try replica?.environment ?? guestEnvironment(options)
        let cwd = replica?.cwd ?? currentDirectory()
        let pathVar = env.first { $0.hasPrefix("PATH=") }.map { $0.dropFirst(5) }
        var located: ProgramSpec
        if let replica { located = replica.program } else {
            do throws(LaunchError) {
                located = try ProgramSpec.locate(program, arguments: arguments, pathVariable: pathVar, cwd: cwd)
            } catch { fail(error.description, code: error.exitCode) }
        }
        var shimsLoaded: [String] = [], shimFolders: [String] = []
        if let record { (located, env, shimsLoaded, shimFolders) = try record.shims.apply(to: located, environment: env) }
        spec = located
        keepChannel = record?.keepChannel ?? (replica != nil)
        // An existing -o is refused before anything runs.
        var trace: TraceDirectory?
        if let record {
            do { trace = try TraceDirectory.create(record.path, force: record.force) } catch { throw CLIError(error.description) }
        }
        var mounts = [Mount(guest: "/", host: "/", writable: false)]
        var template = Array("/tmp/revenant-tmp-XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else {
            let e = errno
            if let trace { removeTree(trace.path) }
            throw CLIError("cannot create the private /tmp: \(String(cString: strerror(e)))")
        }
        let tmp = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
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
            machine = try GuestMachine(memory: memory, kvmPath: device, mailbox: options.syscallPath == .mailbox)
        } catch {
            abandon()
            throw CLIError((error as? MachineError)?.description ?? "\(error)")
        }
        // The guest's umask is the personality's (it starts as the one revenant inherited); the
        // VMM then creates files with exactly the modes the guest asks for, and its own files
        // with explicit modes.
        let inheritedUmask = Glibc.umask(0)
        let config = PersonalityConfig(mounts: mounts, cwd: cwd, programPath: spec.path, network: options.network,
                                       umask: UInt32(inheritedUmask),
                                       diagnostic: { FileHandleStderr.write("revenant: \($0)\n") })
        personality = LinuxPersonality(memory: machine.space, config: config)
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
            loaded = try Loader.load(program: spec, environment: env, atRandom: atRandom, hwcap: machine.hwcap,
                                     ids: ids, into: machine.space) { [recorder] path in
                let fd = path.withCString { open($0, O_RDONLY | O_CLOEXEC) }
                if fd >= 0, let recorder, let blob = recorder.storeFile(fd: fd) {
                    files.append(.init(path: path, blob: blob))
                }
                return fd
            }
        } catch {
            abandon()
            fail(error.description, code: error.exitCode)
        }
        if let trace {
            var h = TraceHeader(
                program: spec.path, argv: spec.argv, env: env, cwd: cwd,
                mounts: mounts.map { .init(guest: $0.guest, host: $0.host, writable: $0.writable) },
                memory: machine.space.layout.size, network: options.network,
                trapStrategy: machine.strategy.rawValue, hypervisor: machine.hypervisor,
                cpuid: machine.cpuSignature.leaves.map { .init(leaf: $0.leaf, subleaf: $0.subleaf, eax: $0.eax, ebx: $0.ebx, ecx: $0.ecx, edx: $0.edx) },
                revenantVersion: revenantVersion, recordedAt: isoNow())
            h.process = .init(atRandom: Hex.string(atRandom),
                              pid: personality.nondeterminism.pid, ppid: personality.nondeterminism.ppid,
                              uid: ids.uid, euid: ids.euid, gid: ids.gid, egid: ids.egid, hwcap: machine.hwcap)
            h.files = files
            h.shims = shimsLoaded
            if keepChannel { h.keptChannel = true }
            h.consoles = TraceHeader.Console.regularFiles([1, 2])
            do { try trace.writeHeader(h) } catch {
                abandon()
                throw CLIError("\(error)")
            }
        }
        personality.setBreak(loaded.brkStart)
        personality.mmapTop = loaded.mmapTop
        personality.fds.installStdio(replica?.stdio ?? [0, 1, 2])
        if keepChannel { personality.channel.mode = .collect }
        do { try machine.start(loaded) } catch {
            abandon()
            throw CLIError("\(error)")
        }
    }

    /// Run to the end; returns the exit status `revenant run` should have.
    func run() -> Int32 {
        signal(SIGPIPE, SIG_IGN)
        // Ctrl-C, SIGTERM, SIGHUP reach the guest at its next syscall, as signals Linux would deliver.
        for sig in [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2] { _ = chost_forward_signal(sig) }
        let t0 = monotonicNanos()
        let termination: Termination
        do { termination = try machine.run(kernel: recorder ?? personality) } catch {
            personality.shutdown()
            removeTree(privateTmp)
            fail("\(error)", code: 125)
        }
        let elapsed = monotonicNanos() - t0
        personality.shutdown()
        removeTree(privateTmp)
        if recorder == nil && keepChannel { personality.channel.collectTail() }
        if let recorder {
            if let failure = recorder.failure { fail("recording failed: \(failure)", code: 125) }
            if keepChannel {
                personality.channel.collectTail()
                do { try recorder.trace.writeLiveChannel(personality.channel.collected) } catch {
                    fail("recording failed: \(error)", code: 125)
                }
            }
            do { try recorder.finish(status: termination.exitStatus, nanoseconds: elapsed) } catch {
                fail("recording failed: \(error)", code: 125)
            }
        }
        // A crash is always reported; a signal the program sent itself or got from outside is not
        // (Linux prints nothing either), except with --verbose.
        if case .killed(_, let report, let fault) = termination, fault || options.verbose { FileHandleStderr.write(report + "\n") }
        if options.verbose {
            FileHandleStderr.write("""
            revenant: hypervisor \(machine.hypervisor), trap strategy \(machine.strategy.rawValue), \
            syscalls via \(machine.useMailbox ? "mailbox" : "exits")\(machine.mailboxStats.map { " (\($0.served) served by the spinner, \($0.fallbacks) starvation fallbacks)" } ?? "")
            revenant: VM start-up \(fmtMs(machine.startupNanoseconds)), guest run \(fmtMs(elapsed)) (\(fmtMs(machine.runNanoseconds)) in KVM_RUN), \
            \(personality.syscallCount) syscalls, \(machine.exits) exits

            """)
            if let stats = machine.vcpuStats() {
                let interesting = stats.values.filter { $0.value > 0 }.sorted { $0.key < $1.key }
                FileHandleStderr.write("revenant: KVM vCPU stats: " + interesting.map { "\($0.key)=\($0.value)" }.joined(separator: " ") + "\n")
            }
        }
        return termination.exitStatus
    }
}

let revenantVersion = "0.2.0"

func isoNow() -> String {
    var t = time(nil)
    var tmv = tm()
    gmtime_r(&t, &tmv)
    var buf = [CChar](repeating: 0, count: 32)
    strftime(&buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tmv)
    return buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}

func fmtMs(_ ns: UInt64) -> String {
    let ms = Double(ns) / 1e6
    return ms < 10 ? "\(Double(Int(ms * 1000)) / 1000) ms" : "\(Double(Int(ms * 10)) / 10) ms"
}

func monotonicNanos() -> UInt64 { chost_monotonic_ns() }

func parseSize(_ s: String) -> UInt64? {
    guard let last = s.last else { return nil }
    let mult: UInt64
    var digits = Substring(s)
    switch last {
    case "K", "k": mult = 1 << 10
    case "M", "m": mult = 1 << 20
    case "G", "g": mult = 1 << 30
    default: mult = 1
    }
    if mult != 1 { digits = digits.dropLast() }
    guard let v = UInt64(digits), v > 0 else { return nil }
    let (r, o) = v.multipliedReportingOverflow(by: mult)
    return o ? nil : r
}

/// The caller's environment as is, bytes and order kept, then --clear-env and --env.
func guestEnvironment(_ o: SandboxOptions) throws -> [ByteString] {
    var env: [ByteString] = []
    if !o.clearEnvironment {
        var p = environ
        while let s = p.pointee {
            env.append(ByteString(cString: s))
            p += 1
        }
    }
    for kv in o.environment {
        guard let eq = kv.firstIndex(of: "="), eq != kv.startIndex else { throw CLIError("--env \(kv): expected K=V") }
        let key = ByteString(String(kv[..<eq]) + "=")
        if let i = env.firstIndex(where: { $0.hasPrefix(key) }) {
            env[i] = ByteString(kv)
        } else {
            env.append(ByteString(kv))
        }
    }
    return env
}

func environmentValue(_ name: String) -> String? {
    guard let v = getenv(name) else { return nil }
    return String(cString: v)
}

func currentDirectory() -> ByteString {
    var buf = [CChar](repeating: 0, count: 4096)
    guard getcwd(&buf, buf.count) != nil else { return "/" }
    return buf.withUnsafeBufferPointer { ByteString(cString: $0.baseAddress!) }
}

/// mkdir -p.
func makeDirectories(_ path: ByteString) {
    var prefix: ByteString = ""
    for c in path.split(separator: UInt8(ascii: "/")) {
        prefix += "/" + c
        _ = prefix.withCString { mkdir($0, 0o755) }
    }
}

/// rm -rf, without following symlinks.
func removeTree(_ path: String) { _ = chost_remove_tree(path) }

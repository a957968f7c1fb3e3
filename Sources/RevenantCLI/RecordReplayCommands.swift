import ArgumentParser
import Glibc
import GuestMemory
import LinuxABI
import Machine
import Personality
import Replay
import Trace

struct Record: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a program like `run` and record everything nondeterministic it sees into a trace.",
        discussion: """
        The trace directory holds a header (program, argv, environment, mounts, CPU signature), the
        event stream (every syscall's result and the bytes it wrote) and copies of the files the
        program mapped, so that `revenant replay` reproduces the run exactly — anywhere, even after
        those files changed or were deleted. Ctrl-C and SIGTERM reach the program as with `run`,
        and the trace is complete either way.

        Examples:
          revenant record -o run.rvt -- perl script.pl
          revenant replay run.rvt
        """
    )

    @Option(name: .shortAndLong, help: ArgumentHelp("The trace directory to write.", valueName: "TRACE"))
    var output: String
    @Flag(help: "Replace an existing trace at TRACE.")
    var force = false
    @Option(help: ArgumentHelp("Shims to load: auto, none, or perl,sqlite (the shims come with later capabilities; today every value records without them).", valueName: "auto|none|perl,sqlite"))
    var shims: String = "auto"
    @OptionGroup var options: SandboxOptions
    @Argument(parsing: .captureForPassthrough, help: ArgumentHelp("The program and its arguments (after --).", valueName: "PROGRAM"))
    var command: [String] = []

    func run() throws {
        let (program, arguments) = try programAndArguments(command, verb: "record", usage: "revenant record -o TRACE [options] -- PROGRAM [ARGS...]")
        let valid = ["auto", "none", "perl", "sqlite", "perl,sqlite", "sqlite,perl"]
        guard valid.contains(shims) else { throw CLIError("--shims \(shims): expected auto, none, perl, sqlite or perl,sqlite") }
        let session = try GuestSession(options: options, program: program, arguments: arguments, record: (output, force))
        Glibc.exit(session.run())
    }
}

struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay a recorded run: the same stdout, stderr and exit status, without touching host files.",
        discussion: """
        At every syscall the replay checks the call against the recording; where they differ it
        stops with a divergence report and exit status 124. A trace whose recorder was killed
        replays up to its last complete chunk and says so (exit 125).
        """
    )

    @Argument(help: "The trace directory.")
    var trace: String
    @Flag(help: "Do not write the program's output.")
    var quiet = false
    @Flag(help: "Replay although this host's CPU signature differs from the recording's.")
    var ignoreCPU = false
    @Flag(name: .shortAndLong, help: "Say what the replay cost.")
    var verbose = false

    func run() throws {
        let (dir, header): (TraceDirectory, TraceHeader)
        do { (dir, header) = try TraceDirectory.open(trace) } catch { throw CLIError(error.description) }
        guard let process = header.process, let files = header.files else {
            throw CLIError("\(trace): the header lacks the process state (a trace from an older revenant?)")
        }
        if !ignoreCPU, let difference = cpuDifference(header.cpuid) {
            throw CLIError("\(trace) was recorded on another CPU (\(difference)); replay would not be exact (--ignore-cpu to try anyway)")
        }
        let machine: GuestMachine
        do { machine = try GuestMachine(memory: header.memory) } catch { throw CLIError("\(error)") }
        let random = Hex.bytes(process.atRandom)
        let config = PersonalityConfig(mounts: header.mounts.map { Mount(guest: $0.guest, host: $0.host, writable: $0.writable) },
                                       cwd: header.cwd, programPath: header.program, network: header.network,
                                       diagnostic: { FileHandleStderr.write("revenant: \($0)\n") })
        let personality = LinuxPersonality(memory: machine.space, config: config,
                                           nondeterminism: ReplayNondeterminism(pid: process.pid, ppid: process.ppid, atRandom: random))
        let spec = ProgramSpec(path: header.program, argv: header.argv)
        let loaded: LoadedProgram
        do {
            loaded = try Loader.load(program: spec, environment: header.env, atRandom: random, hwcap: process.hwcap,
                                     ids: (process.uid, process.euid, process.gid, process.egid), into: machine.space) { path in
                guard let digest = files[path] else { errno = ENOENT; return -1 }
                return open(dir.blobsPath + "/" + digest, O_RDONLY | O_CLOEXEC)
            } mappedName: { path in files[path].map { dir.blobsPath + "/" + $0 } ?? path }
        } catch { throw CLIError("\(trace): cannot load the recorded program: \(error.description)") }
        personality.setBreak(loaded.brkStart)
        personality.mmapTop = loaded.mmapTop
        for (path, digest) in files { machine.displayNames[dir.blobsPath + "/" + digest] = path }
        let replayer: Replayer
        do { replayer = try Replayer(personality: personality, trace: dir, quiet: quiet) } catch { throw CLIError(error.description) }
        replayer.describeRIP = { rip in machine.describe(rip: rip) }
        do { try machine.start(loaded) } catch { throw CLIError("\(error)") }
        let t0 = monotonicNanos()
        let termination: Termination
        do { termination = try machine.run(kernel: replayer) } catch { fail("\(error)", code: 125) }
        let elapsed = monotonicNanos() - t0
        if let d = replayer.divergence { fail(d, code: 124) }
        if let e = replayer.traceError { fail("\(trace): \(e)", code: 125) }
        if replayer.endedEarly {
            let at = replayer.truncatedAt.map { " (the events file ends inside a chunk at byte offset \($0))" } ?? ""
            fail("\(trace) ends after event \(replayer.index): its recording was cut short\(at); replay stopped there", code: 125)
        }
        if let end = replayer.readEnd(), end.status != termination.exitStatus {
            fail("replay diverged at the end: the program exited with \(termination.exitStatus), recorded \(end.status)", code: 124)
        }
        if case .killed(_, let report, let fault) = termination, fault || verbose, !quiet { FileHandleStderr.write(report + "\n") }
        if verbose {
            FileHandleStderr.write("revenant: replayed \(replayer.index) syscalls in \(fmtMs(elapsed)) (\(machine.exits) exits)\n")
        }
        Glibc.exit(termination.exitStatus)
    }
}

/// The first CPUID leaf where this host differs from the recording, named.
func cpuDifference(_ recorded: [TraceHeader.CPUIDLeaf]) -> String? {
    let here = CPUSignature.captureHost().leaves
    for r in recorded {
        guard let h = here.first(where: { $0.leaf == r.leaf && $0.subleaf == r.subleaf }) else {
            return "leaf 0x\(String(r.leaf, radix: 16)) is missing here"
        }
        for (name, a, b) in [("eax", r.eax, h.eax), ("ebx", r.ebx, h.ebx), ("ecx", r.ecx, h.ecx), ("edx", r.edx, h.edx)] where a != b {
            return "CPUID leaf 0x\(String(r.leaf, radix: 16)).\(r.subleaf) \(name): recorded 0x\(String(a, radix: 16)), here 0x\(String(b, radix: 16))"
        }
    }
    return nil
}

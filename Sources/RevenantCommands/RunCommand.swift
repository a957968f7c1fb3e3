import ArgumentParser
import CHost
import Glibc
import GuestMemory
import LinuxABI
import Machine
import Personality
import Replay
import Replicas
import Sessions
import Trace

/// Options shared by `run` and (later) `record`: the sandbox and the machine.
package struct SandboxOptions: ParsableArguments {
    /// ArgumentParser makes the value through init(): as visible as the type, for revenant-full.
    package init() {}
    @Option(
        name: .customLong("rw"),
        help: ArgumentHelp("Make PATH writable inside the guest (repeatable).", valueName: "PATH"))
    var readWrite: [String] = []
    @Option(
        name: .customLong("ro"),
        help: ArgumentHelp("Make PATH visible read-only, even under a writable mount (repeatable).", valueName: "PATH"))
    var readOnly: [String] = []
    @Flag(name: .customLong("net"), help: "Allow network access (sockets).")
    var network = false
    @Option(
        name: .customLong("env"),
        help: ArgumentHelp("Set K=V in the guest's environment (repeatable).", valueName: "K=V"))
    var environment: [String] = []
    @Flag(name: .customLong("clear-env"), help: "Start the guest with an empty environment (before --env).")
    var clearEnvironment = false
    @Option(
        name: .customLong("memory"), help: ArgumentHelp("Guest memory, e.g. 512M, 4G (default 4G).", valueName: "SIZE"))
    var memory: String = "4G"
    @Flag(name: .shortAndLong, help: "Say which hypervisor and trap strategy ran, and what the run cost.")
    var verbose = false
    @Option(
        name: .customLong("syscall-path"),
        help: ArgumentHelp(
            "How syscalls reach the VMM under PVM: fast (the program's syscall instructions rewritten "
                + "to post to a spinning VMM thread without a trap; the default), trap (each syscall traps "
                + "to the stub, which posts it) or exit (a VM exit each).",
            valueName: "fast|trap|exit"))
    var syscallPath: SyscallPath = .fast

    @Option(
        name: .customLong("max-processes"),
        help: ArgumentHelp(
            "How many processes the guest may have at once, the first included (default \(ProcessTable.defaultLimit)); "
                + "a fork past it fails with EAGAIN.",
            valueName: "N"))
    var maxProcesses = ProcessTable.defaultLimit

    enum SyscallPath: String, ExpressibleByArgument, CaseIterable {
        case fast, trap, exit
        /// `mailbox`, the name `trap` had before the fast path, still reads.
        init?(argument: String) { self.init(rawValue: argument == "mailbox" ? "trap" : argument) }
    }

    /// What the options say, for the session.
    package var session: SessionOptions {
        var o = SessionOptions()
        o.readWrite = readWrite
        o.readOnly = readOnly
        o.network = network
        o.environment = environment
        o.clearEnvironment = clearEnvironment
        o.memory = memory
        o.verbose = verbose
        o.mailbox = syscallPath != .exit
        o.rewriteSyscalls = syscallPath == .fast
        o.maxProcesses = maxProcesses
        return o
    }
}

package struct Run: ParsableCommand {
    /// ArgumentParser makes the value through init(): as visible as the type, for revenant-full.
    package init() {}
    package static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a program in the deterministic VM, as if natively.",
        discussion: """
            The guest sees the host filesystem read-only, the working directory read-write, a private \
            /tmp, no network and the caller's environment.

            Examples:
              revenant run -- perl script.pl arg1
              revenant run -- sqlite3 app.db < session.sql
              revenant run --rw /srv/data --env LANG=C -- perl import.pl
            """
    )

    @OptionGroup var options: SandboxOptions
    @OptionGroup(title: "Replicas") var replicaOptions: ReplicaOptions
    @Argument(
        parsing: .captureForPassthrough,
        help: ArgumentHelp("The program and its arguments (after --).", valueName: "PROGRAM"))
    var command: [String] = []

    package func run() throws {
        let (program, arguments) = try programAndArguments(
            command, verb: "run", usage: "revenant run [options] -- PROGRAM [ARGS...]", helpFor: Run.self)
        if let replicas = try replicaOptions.supervisor(verbose: options.verbose) {
            // The primary's log, in a scratch folder of its own, removed at the end.
            guard let scratch = makeScratchFolder("revenant-replicas") else {
                throw CLIError("cannot create a folder for the replicas' log: \(String(cString: strerror(errno)))")
            }
            let status = ReplicatedRun(
                options: replicas, session: options.session, program: program, arguments: arguments,
                trace: scratch + "/run.rvt", force: false, shims: try ShimSelection("none")
            ).run()
            removeTree(scratch)
            Glibc.exit(status)
        }
        try Run.run(options.session, program: program, arguments: arguments)
    }

    /// The program in the VM, then exit as it did.
    static func run(_ options: SessionOptions, program: ByteString, arguments: [ByteString]) throws -> Never {
        let session = try GuestSession(options: options, program: program, arguments: arguments)
        Glibc.exit(try session.run())
    }

    /// `run -- PROGRAM [ARGS...]`, no option before the `--`: nothing for ArgumentParser to parse,
    /// so it is not asked (its first parse, reflection over `Run`'s options, cost 1–2 ms, a tenth
    /// of `revenant run -- perl -e 1`). Every option's default is SessionOptions's
    /// (`LauncherTests` pins it). Returns when the command line is not of that form.
    package static func runWithoutOptions(_ arguments: [String]) {
        guard arguments.count >= 3, arguments[0] == "run", arguments[1] == "--" else { return }
        let argv = Passthrough.raw(3..<Int(CommandLine.argc))
        withoutArgumentParser { try run(SessionOptions(), program: argv[0], arguments: Array(argv.dropFirst())) }
    }
}

/// A command run without ArgumentParser (`run -- PROGRAM`, `record -o TRACE -- PROGRAM`, `replay
/// TRACE`): it ends the process; a failure is a CLIError, one line with its code, as runRoot ends it.
func withoutArgumentParser(_ body: () throws -> Never) -> Never {
    do { try body() } catch {
        let e = error as? CLIError ?? CLIError("\(error)")
        fail(e.message, code: e.code)
    }
}

/// The command line of `run` and `record` split at its first `--`: ArgumentParser parses only what
/// comes before (its passthrough parsing takes time quadratic in the number of arguments: 10,000
/// took 2.6 s), and the rest is read here, as the bytes the caller passed.
package enum Passthrough {
    /// Where the first `--` was in argv, and the raw arguments after it.
    nonisolated(unsafe) package static var split: (dashes: Int, tail: [ByteString])?

    /// The arguments for ArgumentParser (argv without argv[0]).
    package static func argumentsToParse() -> [String] {
        let all = Array(CommandLine.arguments.dropFirst())
        guard let verb = all.first, verb == "run" || verb == "record",
            let i = all.firstIndex(of: "--")
        else { return all }
        let argv = CommandLine.unsafeArgv
        split = (i + 1, (i + 2..<Int(CommandLine.argc)).map { ByteString(cString: argv[$0]!) })
        return Array(all[..<i])
    }

    /// The raw bytes of argv[range].
    package static func raw(_ range: Range<Int>) -> [ByteString] {
        range.map { ByteString(cString: CommandLine.unsafeArgv[$0]!) }
    }
}

/// PROGRAM and ARGS from what follows the options (`--` optional); an option ArgumentParser did
/// not know lands here and is refused as a usage error rather than run as a program. They are the
/// bytes the caller passed: ArgumentParser's Strings would have U+FFFD for bytes that are not
/// UTF-8, and what it captured for passthrough is the tail of what it was given.
package func programAndArguments(
    _ command: [String], verb: String, usage: String, helpFor: ParsableCommand.Type
) throws -> (ByteString, [ByteString]) {
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
    // `run --help`: ArgumentParser captured the flag for the program; it is the command's help.
    if !explicit && (program == "--help" || program == "-h") { throw CleanExit.helpRequest(helpFor) }
    if program.first == UInt8(ascii: "-") && !explicit {
        throw CLIError("\(verb): unknown option '\(program)' (see revenant \(verb) --help)")
    }
    return (program, Array(cmd.dropFirst()))
}

import ArgumentParser
import Glibc
import Replicas
import Sessions
import Trace

/// `run` and `record`'s fault tolerance by replicas (Docs/replicas.md).
package struct ReplicaOptions: ParsableArguments {
    /// ArgumentParser makes the value through init(): as visible as the type, for revenant-full.
    package init() {}
    @Option(
        help: ArgumentHelp(
            "Run N replicas of the program: a primary that runs and records, N - 1 backups that replay its "
                + "log live. Output leaves only once a majority made it; 2 detect a fault, 3 or more also "
                + "identify the faulty replica by vote and go on without it.",
            valueName: "N"))
    var replicas: Int?
    @Option(
        help: ArgumentHelp(
            "With --replicas: how many events the primary may run ahead of its slowest backup (default 10000).",
            valueName: "EVENTS"))
    var maxLag: UInt64?
    @Option(
        help: ArgumentHelp(
            "With --replicas: compare the replicas' state (memory and call) every EVENTS events "
                + "(default 10000; 0: outputs only); with two, a checkpoint to start again from is taken there.",
            valueName: "EVENTS"))
    var compareEvery: UInt64?
    @Option(
        help: ArgumentHelp(
            "With --replicas 2: at most one checkpoint per SECONDS of the backup's time, at a state "
                + "comparison (default 0.25; 0: at every comparison). Each costs a fork and its copy-on-write.",
            valueName: "SECONDS"))
    var checkpointInterval: Double?
    @Option(
        help: ArgumentHelp(
            "With --replicas: a backup behind the primary that makes no progress this long is faulty, and so "
                + "is a primary that makes none, in no call, while its backups wait for its log (default 10).",
            valueName: "SECONDS"))
    var stallTimeout: Double?
    @Option(
        help: ArgumentHelp(
            "With --replicas, for tests and demos: inject a fault (repeatable): 'flip replica=R event=E "
                + "reg=RAX bit=B', 'flip replica=R event=E addr=A bit=B', 'kill replica=R event=E', "
                + "'stall replica=R event=E', 'flip … addr=A bit=B in=checkpoint', 'flip replica=0 stdin=N bit=B' "
                + "(also socket=N, sender=N, file=N: byte N of what the primary gets from those; "
                + "replica 0 is the primary; "
                + "replacements, and with two the copies of a checkpoint, are numbered on from N as they are made).",
            valueName: "FAULT"))
    var inject: [String] = []
    @Flag(
        help: ArgumentHelp(
            "With --replicas: switch the kernel's same-page merging (KSM) on for the run, and back after; "
                + "the replicas' equal pages are kept once."))
    var ksm = false
    @Option(
        help: ArgumentHelp(
            "With --replicas: how many replicas serve syscalls at a time; the others wait for their turn "
                + "(default: one per two cores, when there are fewer than two cores per replica; 0: all at once).",
            valueName: "N"))
    var turns: Int?

    package func validate() throws {
        guard let n = replicas else {
            if maxLag != nil || compareEvery != nil || stallTimeout != nil || !inject.isEmpty || ksm || turns != nil
                || checkpointInterval != nil
            {
                throw ValidationError(
                    "--max-lag, --compare-every, --checkpoint-interval, --stall-timeout, --inject, --ksm and "
                        + "--turns need --replicas")
            }
            return
        }
        if let t = turns, !(0...CoreTurns.maxSlots).contains(t) {
            throw ValidationError("--turns \(t): 0 to \(CoreTurns.maxSlots) (0: all replicas at once)")
        }
        guard n >= 2, n <= ReplicaBoard.maxReplicas else {
            throw ValidationError(
                "--replicas \(n): 2 to \(ReplicaBoard.maxReplicas) (2 detect a fault, 3 or more also identify it)")
        }
        if let t = stallTimeout, !(t > 0 && t <= 86400) { throw ValidationError("--stall-timeout: 0 to 86400 s") }
        if let t = checkpointInterval, !(t >= 0 && t <= 86400) {
            throw ValidationError("--checkpoint-interval: 0 to 86400 s")
        }
        // Replacements (with three replicas or more) and the copies of checkpoints (with two,
        // unless --compare-every 0) are numbered on from n, as they are made.
        let last = n >= 3 || compareEvery != 0 ? ReplicaBoard.maxReplicas - 1 : n - 1
        for i in try injections() where i.inCheckpoint && (n != 2 || compareEvery == 0) {
            throw ValidationError(
                "--inject '\(i)': in=checkpoint: checkpoints are taken with two replicas that compare their state")
        }
        for i in try injections() where i.replica > last {
            let replacements = last >= n ? ", replacements \(n) to \(last)" : ""
            throw ValidationError(
                "--inject '\(i)': replica \(i.replica) does not exist (replicas 0 to \(n - 1)\(replacements))")
        }
    }

    func injections() throws -> [FaultInjection] {
        do throws(InjectionError) {
            return try inject.map { s throws(InjectionError) in try FaultInjection(parsing: s) }
        } catch { throw ValidationError(error.description) }
    }

    /// The supervisor's options (nil without --replicas).
    func supervisor(verbose: Bool) throws -> Supervisor.Options? {
        guard let replicas else { return nil }
        var o = Supervisor.Options(
            replicas: replicas,
            settings: .init(compareEvery: compareEvery ?? 10_000, maxLag: maxLag ?? 10_000),
            stallTimeout: stallTimeout ?? 10, injections: try injections())
        o.ksm = ksm
        o.verbose = verbose
        o.turnSlots = turns
        o.settings.checkpointInterval = UInt64((checkpointInterval ?? 0.25) * 1e9)
        return o
    }
}

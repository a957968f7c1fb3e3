import CHost
import Glibc
import LinuxABI
import Machine
import Replay
import Sessions
import Trace

/// `run --replicas N` and `record --replicas N`: the supervisor, a primary that runs the program
/// and records it into `trace`, and backups that replay that trace as it is written.
package struct ReplicatedRun {
    package var options: Supervisor.Options
    package var session: SessionOptions
    package var program: ByteString
    package var arguments: [ByteString]
    /// The trace the primary writes (`record -o`, or a scratch one `run` removes at the end).
    package var trace: String
    package var force: Bool
    package var shims: ShimSelection
    /// How long a backup waits for the log once the primary no longer holds it.
    package var followTimeout: Double = 10

    package init(
        options: Supervisor.Options, session: SessionOptions, program: ByteString, arguments: [ByteString],
        trace: String, force: Bool, shims: ShimSelection
    ) {
        self.options = options
        self.session = session
        self.program = program
        self.arguments = arguments
        self.trace = trace
        self.force = force
        self.shims = shims
    }

    /// Run to the end: the exit status (the program's, or 125 when the replicas could not agree).
    package func run() -> Int32 {
        let supervisor = Supervisor(options: options) { FileHandleStderr.write("revenant: \($0)\n") }
        let status = supervisor.run(primary: primary, backup: backup)
        // The guest's private /tmp, kept for whichever replica was the primary at the end.
        if let (_, header) = try? TraceDirectory.open(trace),
            let tmp = header.mounts.first(where: { $0.guest == "/tmp" })
        {
            removeTree(tmp.host.description)
        }
        // Beside the primary's trace (record keeps it): what `info` lists.
        do { try supervisor.record.write(to: TraceDirectory(path: trace)) } catch {
            FileHandleStderr.write("revenant: \(error)\n")
            return 125
        }
        return status
    }

    private func primary(_ replica: Supervisor.Replica) -> Never {
        let status: Int32
        do {
            let guest = try GuestSession(
                options: session, program: program, arguments: arguments,
                record: .init(path: trace, force: force, shims: shims, keepChannel: false))
            guest.personality.forkRefusal = "revenant --replicas runs single-process programs only (for now)"
            guest.keepPrivateTmp = true
            var kernel: ReplicaKernel?
            guest.wrapKernel = { inner in
                let k = ReplicaKernel(
                    role: .primary(inner as! Recorder), replica: 0, link: replica.link, board: replica.board,
                    settings: replica.settings, injections: replica.injections, control: replica.control)
                kernel = k
                return k
            }
            status = try guest.run()
            kernel?.finish(status: status)
        } catch let error as CLIError {
            FileHandleStderr.write("revenant: \(error.message)\n")
            exitNow(error.code)
        } catch {
            FileHandleStderr.write("revenant: \(error)\n")
            exitNow(125)
        }
        exitNow(status)
    }

    private func backup(_ replica: Supervisor.Replica) -> Never {
        var kernel: ReplicaKernel?
        var follow = Follow(timeout: followTimeout) { kernel?.aboutToWait() }
        follow.stopWaiting = { alive in kernel?.shouldStopWaiting(writerAlive: alive) ?? false }
        follow.stopBeforeReading = { kernel?.logWasCut ?? false }
        let session: ReplaySession
        do {
            session = try ReplaySession(
                path: trace, quiet: true, ignoreCPU: false, follow: follow,
                diagnostic: { FileHandleStderr.write("revenant: replica \(replica.index): \($0)\n") })
        } catch {
            FileHandleStderr.write("revenant: replica \(replica.index): \(error)\n")
            exitNow(125)
        }
        session.wrapKernel = { inner in
            let k = ReplicaKernel(
                role: .backup(inner as! Replayer), replica: replica.index, link: replica.link,
                board: replica.board, settings: replica.settings, injections: replica.injections,
                control: replica.control)
            kernel = k
            return k
        }
        switch session.run() {
        case .finished(let termination, let nanoseconds):
            if let recorder = kernel?.liveRecorder {
                // It took the primary's place: its run ends as the primary's does, the log
                // complete, the program's status its own.
                do { try recorder.finish(status: termination.exitStatus, nanoseconds: nanoseconds) } catch {
                    FileHandleStderr.write("revenant: replica \(replica.index): recording failed: \(error)\n")
                    exitNow(125)
                }
                if case .killed(_, let report, true) = termination { FileHandleStderr.write(report + "\n") }
                kernel?.finish(status: termination.exitStatus)
                exitNow(termination.exitStatus)
            }
            kernel?.finish(status: termination.exitStatus)
            exitNow(0)
        case .diverged(let report):
            kernel?.failed(report)
            exitNow(124)
        case .traceFailed(let why):
            FileHandleStderr.write("revenant: replica \(replica.index): \(why)\n")
            exitNow(125)
        case .stopped:
            exitNow(125)
        }
    }

    private func exitNow(_ code: Int32) -> Never {
        fflush(nil)
        _exit(code & 0xff)
    }
}

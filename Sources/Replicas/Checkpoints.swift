import CHost
import Glibc
import LinuxABI
import Machine
import Replay

/// Checkpoints, with two replicas (Docs/replicas.md "Checkpoints"): at each state comparison the
/// backup forks a copy of itself that stays as it is — its memory copy-on-write, its VM built
/// again — and computes the digest of its own state. The supervisor verifies it when both
/// replicas' state frames there agree and equal it. When the replicas later differ (neither can
/// be trusted), the supervisor stops both and asks the last verified checkpoint for two copies:
/// they replay the log from there, one takes the primary's place at its end, and the run goes
/// on. The checkpoint stays, for a second fault.
extension ReplicaKernel {
    /// After a call where the state was compared: a backup with checkpoints on forks one here
    /// (the fork's outcome), if the board has a free slot.
    func takeCheckpoint(_ outcome: SyscallOutcome) -> SyscallOutcome? {
        guard settings.checkpoints, case .backup = role, board.primary != replica, case .value(let v) = outcome else {
            return nil
        }
        // Each costs a fork and the copy-on-write of every page written after it (and under
        // shadow paging, a VM exit for each): at most one per interval of this backup's time.
        // (Whether one is taken changes nothing the replicas compute or send.)
        let now = chost_monotonic_ns()
        guard checkpointTakenAt == 0 || now &- checkpointTakenAt >= settings.checkpointInterval else { return nil }
        // Checkpoints the supervisor freed are this process's children: reaped here.
        while waitpid(-1, nil, WNOHANG) > 0 {}
        guard let slot = board.claimCheckpoint() else { return nil }
        checkpointTakenAt = now
        pendingCheckpoint = (v, slot)
        link.flush()
        return .fork(childStack: 0)
    }

    /// In the new process: this is the checkpoint. It sends no frames (its donor's so far are
    /// its own), computes its state's digest — after a fault injected into it, for tests — and
    /// publishes it, then parks in forkAgain.
    func becomeCheckpoint(_ taken: (value: Int64, slot: Int)) {
        let at = event - 1
        inheritedFrames += link.sent
        link.close()
        link = FrameLink(frames: -1, commits: nil)
        checkpoint = taken
        let memory = personality.memory
        for i in allInjections where i.inCheckpoint && i.replica == replica && i.event == at {
            if case .flipMemory(let address, let bit) = i.action, let byte = try? memory.load(UInt8.self, at: address) {
                try? memory.store(byte ^ UInt8(1 << bit), at: address)
            }
        }
        guard let req = current else { return }
        board.publishCheckpoint(
            taken.slot, pid: getpid(), event: at, frames: inheritedFrames, donor: replica,
            digest: GuestDigest.state(req, memory: memory), stdinRead: UInt64(ledger?.stdinOffset ?? 0),
            journalNeeded: journalNeeded() ?? 0)
    }

    /// A checkpoint waits to be asked for a copy (true: the machine forks one), and ends when it
    /// is freed or its supervisor is gone.
    public func forkAgain() -> Bool {
        guard let checkpoint, pendingFork == nil else { return false }
        while true {
            guard board.checkpointState(checkpoint.slot) == .taken, !board.supervisorIsGone else { _exit(0) }
            if let index = board.copyRequested(checkpoint.slot) {
                guard let pipes = receivePipes(index) else { _exit(125) }
                pendingFork = (checkpoint.value, index, pipes.frames, pipes.control)
                return true
            }
            board.awaitCheckpointWord(checkpoint.slot, timeout: 200_000_000)
            // Its copies that ended: reaped.
            while waitpid(-1, nil, WNOHANG) > 0 {}
        }
    }

    /// In a copy of a checkpoint: a backup again, which reads the log afresh from its event on
    /// (a new primary may have cut it and written on since the checkpoint read it).
    func startFromCheckpoint() {
        checkpoint = nil
        publishStdinRead()
        publishJournalNeeded()
        cutSeen = board.cutGeneration
        if case .backup(let replayer) = role { _ = replayer.forgetReadAhead() }
    }
}

extension SyscallOutcome {
    /// The kernel ended the run at this call.
    var halts: Bool {
        if case .halt = self { return true }
        return false
    }
}

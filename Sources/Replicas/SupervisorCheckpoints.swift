import CHost
import Glibc

/// Recovery with two replicas (Docs/replicas.md "Checkpoints"): two replicas that differ cannot
/// tell which one is right, so both are stopped and two copies of the last verified checkpoint
/// take their places. The first replays the log to its end (or to the first entry it cannot
/// replay) and takes the primary's place there, as a backup does with three replicas; the second
/// follows it. Their frames from the checkpoint on are voted on again.
extension Supervisor {
    /// A checkpoint on the board, as the supervisor knows it.
    struct KnownCheckpoint {
        var slot: Int
        var info: ReplicaBoard.CheckpointInfo
        var verified = false
    }

    /// New checkpoints are noted; each is verified once the replicas' state frame it was taken at
    /// is settled: equal to it, it is the one to recover from (the older ones go); different, it
    /// is a fault of its own and goes.
    func checkCheckpoints() {
        guard options.settings.checkpoints, !members.contains(where: { $0.fromCheckpoint != nil }) else { return }
        for slot in 0..<ReplicaBoard.checkpointSlots {
            guard let info = board.checkpoint(slot), checkpoints[slot]?.info.pid != info.pid else { continue }
            checkpoints[slot] = KnownCheckpoint(slot: slot, info: info)
            // One a stopped backup forked as it was being stopped is not the run's.
            if !members.indices.contains(info.donor) || !members[info.donor].inRun { freeCheckpoint(slot) }
        }
        for slot in checkpoints.keys.sorted() {
            guard let c = checkpoints[slot], !c.verified else { continue }
            let k = c.info.frames - 1
            guard k < settled else { continue }
            let agreed = members[primary].received
            if k >= 0, k < agreed.count, agreed[k].kind == .state, agreed[k].event == c.info.event,
                agreed[k].digest == c.info.digest
            {
                checkpoints[slot]?.verified = true
                // (The first checkpoint at an event decides: copies take theirs there again.)
                if checkpointOutcomes[c.info.event] == nil { checkpointOutcomes[c.info.event] = true }
                for (other, o) in checkpoints where other != slot && o.info.event <= c.info.event {
                    freeCheckpoint(other)
                }
            } else {
                if checkpointOutcomes[c.info.event] == nil { checkpointOutcomes[c.info.event] = false }
                let standing = checkpoints.values.filter(\.verified).map(\.info.event).max()
                let why = "its checkpoint at event \(c.info.event) differs from the state both replicas agreed on there"
                faults.append(.init(replica: c.info.donor, event: c.info.event, what: why))
                report(
                    "replica \(c.info.donor): fault: \(why); the checkpoint is discarded"
                        + (standing.map { " (the one at event \($0) stands)" } ?? ""))
                freeCheckpoint(slot)
            }
        }
    }

    func freeCheckpoint(_ slot: Int) {
        guard let c = checkpoints.removeValue(forKey: slot) else { return }
        board.freeCheckpoint(slot)
        kill(c.info.pid, SIGKILL)
    }

    /// Every checkpoint on the board ends (the run does).
    func freeCheckpoints() {
        guard options.settings.checkpoints else { return }
        for slot in 0..<ReplicaBoard.checkpointSlots {
            if let info = board.checkpoint(slot) { kill(info.pid, SIGKILL) }
            board.freeCheckpoint(slot)
        }
        checkpoints = [:]
    }

    /// Two replicas differ (`differing`, their frames): both are stopped and two copies of the last
    /// verified checkpoint take their places. One was lost (killed, ended early, stalled): that
    /// one was the faulty one, so the other goes on — a backup taking the place of a lost
    /// primary — and one copy takes the lost one's place. False when there is no checkpoint.
    func restore(differing: String? = nil) -> Bool {
        // What was settled just before the difference may verify a later checkpoint.
        checkCheckpoints()
        let survivor = differing == nil ? members.indices.first { members[$0].inRun && !members[$0].exited } : nil
        let copies = survivor == nil ? 2 : 1
        guard options.settings.checkpoints, members.count + copies <= board.slots,
            let c = checkpoints.values.filter(\.verified).max(by: { $0.info.event < $1.info.event }),
            let control = members[c.info.donor].control, kill(c.info.pid, 0) == 0
        else { return false }
        let old = primary
        // (Before the primary changes: how far it got since a fault injected into either.)
        let timing = members.indices.filter { members[$0].inRun }.lazy.map(injectionTiming).first { !$0.isEmpty } ?? ""
        var stopped: [Int] = []
        for r in members.indices where members[r].inRun && r != survivor {
            members[r].inRun = false
            board.discard(r)
            board.turns.forget(r)
            if !members[r].exited && members[r].pid > 0 { kill(members[r].pid, SIGKILL) }
            stopped.append(r)
        }
        for slot in checkpoints.keys where slot != c.slot { freeCheckpoint(slot) }
        let first = members.count
        for index in first..<(first + copies) {
            guard var m = newMember(index, sentOn: control) else { return false }
            m.fromCheckpoint = c.slot
            members.append(m)
        }
        // A new primary replays the log to its end and takes the old one's place there. A
        // surviving backup shares its socket with its checkpoints: it is sent its part once the
        // copy has read its own (adoptCopies), or the two would read each other's.
        let next = survivor ?? first
        if next != old && survivor != nil {
            handOverAfterCopies = next
        } else if next != old {
            guard handOver(to: next) else { return false }
            takingOverFrom = old
            promotedAt = c.info.event
        }
        // The copies' frames up to the checkpoint are its donor's; from there on all vote again.
        settled = c.info.frames
        agreedUpTo = settled - 1
        discardedAt[old] = discardedAt[old] ?? chost_monotonic_ns()
        let lost = faults.last?.replica ?? old
        let from = "from the checkpoint verified at event \(c.info.event)"
        if survivor == nil {
            let why =
                differing.map {
                    "replicas \(stopped.map(String.init).joined(separator: " and ")) differ (\($0)): with two "
                        + "replicas the faulty one is unknown"
                } ?? "replica \(lost) was lost, and no other replica was left to go on"
            report(
                why + ": replicas \(first) and \(first + 1) start again \(from); the first takes the primary's place "
                    + "at the end of the log\(timing)")
        } else if next != old {
            report(
                "replica \(lost) (the primary) was lost: replica \(next) takes its place at the end of the log, and "
                    + "replica \(first) starts \(from) to follow it\(timing)")
        } else {
            report("replica \(lost) was lost: replica \(first) starts \(from) to follow the primary\(timing)")
        }
        board.requestCopies(c.slot, first: first, count: copies)
        return true
    }

    /// A replica to be made by another process (a replacement by a backup, a copy by a
    /// checkpoint): its frame pipe and socket are made, their far ends sent on `control` tagged
    /// with its number; it joins the vote once made.
    func newMember(_ index: Int, sentOn control: Int32) -> Member? {
        var sockets: [Int32] = [-1, -1]
        guard let framePipe = closeOnExecPipe() else { return nil }
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &sockets) == 0 else {
            close(framePipe.read)
            close(framePipe.write)
            return nil
        }
        let sent =
            chost_send_fd(control, framePipe.write, UInt8(index)) == 0
            && chost_send_fd(control, sockets[1], UInt8(index)) == 0
        close(framePipe.write)
        close(sockets[1])
        guard sent else {
            close(framePipe.read)
            close(sockets[0])
            return nil
        }
        _ = fcntl(framePipe.read, F_SETFL, fcntl(framePipe.read, F_GETFL) | O_NONBLOCK)
        var m = Member(pid: 0, frames: framePipe.read, commits: nil, progressSince: chost_monotonic_ns())
        m.inRun = false
        m.control = sockets[0]
        m.adopted = true
        return m
    }

    /// Copies of a checkpoint that are made join the vote with their checkpoint's frames.
    func adoptCopies() {
        for r in members.indices {
            guard let slot = members[r].fromCheckpoint else { continue }
            guard let c = checkpoints[slot] else {
                members[r].fromCheckpoint = nil
                continue
            }
            guard let (pid, base, _) = board.joined(r) else {
                if kill(c.info.pid, 0) != 0 || members[r].exited {
                    members[r].fromCheckpoint = nil
                    cannotGoOn = "the checkpoint at event \(c.info.event) ended before it made replica \(r)"
                }
                continue
            }
            members[r].fromCheckpoint = nil
            members[r].pid = pid
            members[r].received = Array(members[c.info.donor].received.prefix(base)) + members[r].received
            members[r].inRun = true
            members[r].progressSince = chost_monotonic_ns()
            if r == primary { _ = chost_relay_signals_to(pid) }
            recoveries += 1
            record.recoveries.append(.init(replica: r, donor: c.info.donor, event: c.info.event))
            report(
                "replica \(r): recovered: a copy of the checkpoint verified at event \(c.info.event) (taken from "
                    + "replica \(c.info.donor)), joins the vote")
            if let next = handOverAfterCopies, !members.contains(where: { $0.fromCheckpoint != nil }) {
                handOverAfterCopies = nil
                let old = primary
                guard handOver(to: next) else {
                    cannotGoOn = "replica \(next) could not be sent what taking the primary's place needs"
                    return
                }
                takingOverFrom = old
                promotedAt = board.progress(next)
            }
            if let held = members[r].heldTookOver {
                members[r].heldTookOver = nil
                tookOver(r, held)
            }
            drain(r)
        }
    }

    /// A flip meant for a checkpoint that was never taken was not tested: the line saying so.
    func missedCheckpointInjection() -> String? {
        for i in options.injections where i.inCheckpoint {
            switch checkpointOutcomes[i.event] {
            case false?: continue
            case true?: report("--inject '\(i)': masked (the checkpoint at event \(i.event) verified)")
            case nil: return "--inject '\(i)': no checkpoint was verified or found faulty at event \(i.event)"
            }
        }
        return nil
    }
}

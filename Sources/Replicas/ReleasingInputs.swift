import CHost
import Glibc

extension Supervisor {
    /// What of a piped stdin's copy, and of the socket journal, no replica can need any more is
    /// let go: below what every backup and every checkpoint has read, as the log they replay
    /// says (a new primary comes from them). While one is still being made, nothing is.
    func releaseInputs() {
        pump?.noteHeld()
        if let fd = board.socketJournal {
            var st = stat()
            if fstat(fd, &st) == 0 { journalPeak = max(journalPeak, UInt64(st.st_blocks) * 512) }
        }
        guard !members.contains(where: { $0.donor != nil || $0.fromCheckpoint != nil }) else { return }
        var stdin = UInt64.max, journal = UInt64.max
        for r in members.indices where r != primary && members[r].inRun && !members[r].exited {
            stdin = min(stdin, board.stdinRead(r))
            journal = min(journal, board.journalNeeded(r))
        }
        for slot in 0..<ReplicaBoard.checkpointSlots {
            switch board.checkpointState(slot) {
            case .claimed: return
            case .taken:
                stdin = min(stdin, board.checkpointStdinRead(slot))
                journal = min(journal, board.checkpointJournalNeeded(slot))
            case .free: break
            }
        }
        // No backup left to say: nothing is let go.
        guard stdin != .max else { return }
        pump?.release(below: stdin)
        let limit = journal / (1 << 20) * (1 << 20)
        if let fd = board.socketJournal, limit > journalReleased,
            chost_punch_hole(fd, Int64(journalReleased), Int64(limit - journalReleased)) == 0
        {
            journalReleased = limit
        }
    }
}

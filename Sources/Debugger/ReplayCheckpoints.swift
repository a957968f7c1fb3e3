import CHost
import Glibc
import Machine

/// Paused copies of the replaying server, forked at positions it passed (Docs/gdb.md "Costs"):
/// going backwards resumes the latest one before the target instead of replaying from the start.
/// The resumed copy becomes the server (it holds gdb's connection too) and the one that handed
/// over ends; the first process waits for them all (a subreaper), so the shell sees one command.
/// A copy holds the guest's memory copy-on-write; at most `limit` are kept, thinned out with
/// age.
public final class ReplayCheckpoints {
    struct Entry {
        var position: ReplayPosition
        /// The replay's next event there (`monitor goto event:E` resumes one before E's call).
        var event: Int
        var pid: pid_t
        /// The pipe that resumes it: a message of words, or an empty one to end it.
        var fd: Int32
    }
    private(set) var entries: [Entry] = []
    let limit: Int

    init(limit: Int = 16) { self.limit = limit }

    /// Fork a paused copy at `position` (an exit of `machine`'s). The parent gets nil back at
    /// once. The copy waits; resumed, it has its own VM and returns the message it was sent (an
    /// abandoned copy exits quietly).
    func take(at position: ReplayPosition, event: Int, machine: GuestMachine) -> [UInt64]? {
        guard !entries.contains(where: { $0.position == position }) else { return nil }
        // The earlier copies stay the copy's to resume (their pipes are inherited).
        switch machine.forkPausedCopy() {
        case nil: return nil
        case .resumed(let message): return message
        case .taken(let pid, let fd):
            entries.append(Entry(position: position, event: event, pid: pid, fd: fd))
            if entries.count > limit { thin() }
            return nil
        }
    }

    /// The latest copy from which `target` can be reached (strictly before it for a search,
    /// which must pass something first).
    func latest(for target: ReplayPosition, strictly: Bool) -> Entry? {
        entries.last { e in
            guard e.position.leads(to: target) else { return false }
            return !strictly || e.position != target
        }
    }

    /// The latest copy from which event `e`'s return is still to come.
    func latest(beforeEvent e: Int) -> Entry? { entries.last { $0.event <= e } }

    /// Resume `e` with `message`; the copies after it are ended (the replay from there will pass
    /// those positions again and take new ones).
    func resume(_ e: Entry, message: [UInt64]) {
        guard let i = entries.firstIndex(where: { $0.pid == e.pid }) else { return }
        for later in entries[(i + 1)...] { end(later) }
        entries.removeSubrange(i...)
        fflush(nil)
        GuestMachine.sendWords(e.fd, message)
        close(e.fd)
    }

    /// In a resumed copy: of the copies it inherited, those its parent had not ended since.
    func keep(_ alive: Set<pid_t>) {
        for e in entries where !alive.contains(e.pid) { close(e.fd) }
        entries.removeAll { !alive.contains($0.pid) }
    }

    /// Close this process's ends of the copies' pipes without ending them (another holds them).
    func letGo() {
        for e in entries { close(e.fd) }
        entries = []
    }

    /// End every copy (gdb is done).
    func endAll() {
        for e in entries { end(e) }
        entries = []
    }

    private func end(_ e: Entry) {
        GuestMachine.sendWords(e.fd, [])
        close(e.fd)
    }

    /// One fewer: the copies thin out with age, so that the recent past is dense and the distant
    /// one sparse (gaps growing with the distance from the newest copy, in syscall returns). The
    /// one removed leaves the smallest merged gap for its age; the first and the newest stay.
    private func thin() {
        // In half returns: a stop inside an interval stands half a return past the interval's
        // start, so that a recent stop and the copy at its return are not a gap of nothing (the
        // first to go); reverse-stepi from the stop starts at that return.
        // The newest few are kept whole: going back stop by stop resumes them in turn.
        let at = entries.dropLast(ReplayCheckpoints.keptWhole).map {
            2 * $0.position.returns + ($0.position.path.isEmpty ? 0 : 1)
        }
        guard let i = ReplayCheckpoints.thinning(at) else { return }
        end(entries.remove(at: i))
    }

    /// The newest copies never thinned: the last three stops and the returns they follow.
    static let keptWhole = 5

    /// Which of copies at these returns (in order) to end; nil with two or fewer.
    public static func thinning(_ returns: [Int]) -> Int? {
        guard returns.count > 2, let newest = returns.last else { return nil }
        var best = 1
        var bestScore = Double.infinity
        for i in 1..<(returns.count - 1) {
            let gap = Double(returns[i + 1] - returns[i - 1])
            let age = Double(newest - returns[i]) + 1
            if gap / age < bestScore { (best, bestScore) = (i, gap / age) }
        }
        return best
    }
}

extension ReplayPosition {
    /// Whether a replay at `self` (a stop or a return) can go on to `target`: an earlier return,
    /// or the same return with `self`'s segments leading `target`'s (the last one a shorter
    /// run of steps at most).
    func leads(to target: ReplayPosition) -> Bool { remaining(to: target) != nil }

    /// The segment of `target.path` to go on with from `self`, and the steps of it already made.
    func remaining(to target: ReplayPosition) -> (next: Int, stepsDone: Int)? {
        if returns < target.returns { return (0, 0) }
        guard returns == target.returns, path.count <= target.path.count else { return nil }
        guard let last = path.last else { return (0, 0) }
        guard Array(path.dropLast()) == Array(target.path.prefix(path.count - 1)) else { return nil }
        let matching = target.path[path.count - 1]
        if last == matching { return (path.count, 0) }
        if case .steps(let n) = last, case .steps(let m) = matching, n < m { return (path.count - 1, n) }
        return nil
    }
}

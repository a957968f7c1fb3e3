import Glibc
import Machine

/// The debugger's checkpoints: paused copies of the replaying VMM, forked at stops (rr's
/// approach; GuestMachine.rebuildAfterFork gives a resumed copy its own VM). Reverse-step resumes
/// the latest one at or before the target statement instead of replaying from the start; this
/// process then only waits for it and ends with its status, so the shell sees one command.
package final class Checkpoints {
    package struct Entry {
        var seq: Int
        var pid: pid_t
        var fd: Int32
    }
    private(set) var entries: [Entry] = []
    /// How many paused copies to keep (each holds the guest's memory copy-on-write).
    package let limit = 32

    package init() {}

    /// Fork a paused copy at statement `seq`. The parent gets nil back at once. The copy waits;
    /// resumed, it returns the statement to run to (an abandoned copy exits quietly).
    package func take(seq: Int, machine: GuestMachine) -> Int? {
        // The parent's other copies are not the copy's to resume.
        let copy = machine.forkPausedCopy {
            for e in entries { close(e.fd) }
            entries = []
        }
        switch copy {
        case nil: return nil
        case .resumed(let message): return Int(message[0])
        case .taken(let pid, let fd):
            entries.append(Entry(seq: seq, pid: pid, fd: fd))
            if entries.count > limit { abandon(entries.removeFirst()) }
            return nil
        }
    }

    /// Resume the latest copy at or before `target` and end this process with its status;
    /// returns false (and does nothing) when there is none.
    package func resume(to target: Int) -> Bool {
        guard let i = entries.lastIndex(where: { $0.seq <= target }) else { return false }
        let chosen = entries.remove(at: i)
        dropAll()
        fflush(nil)
        GuestMachine.sendWords(chosen.fd, [UInt64(target)])
        close(chosen.fd)
        var status: Int32 = 0
        while waitpid(chosen.pid, &status, 0) < 0 && errno == EINTR {}
        exit(status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f))
    }

    /// Let every paused copy go (they exit when their pipe closes).
    package func dropAll() {
        for e in entries { abandon(e) }
        entries = []
    }

    private func abandon(_ e: Entry) {
        close(e.fd)
        var status: Int32 = 0
        while waitpid(e.pid, &status, 0) < 0 && errno == EINTR {}
    }
}

/// A line from standard input without stdio's buffer: a forked checkpoint shares the descriptor's
/// offset, so it must not hold lines its parent read ahead.
package func readCommandLine() -> String? {
    var bytes: [UInt8] = []
    var c: UInt8 = 0
    while true {
        let n = read(0, &c, 1)
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self) }
        if c == 10 { return String(decoding: bytes, as: UTF8.self) }
        bytes.append(c)
    }
}

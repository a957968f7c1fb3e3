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
        guard let state = try? machine.saveVCPU() else { return nil }
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return nil }
        fflush(nil)  // nothing buffered twice
        let pid = fork()
        if pid < 0 {
            close(fds[0])
            close(fds[1])
            return nil
        }
        if pid == 0 {
            close(fds[1])
            for e in entries { close(e.fd) }  // the parent's other copies are not ours to resume
            entries = []
            var target: Int64 = -1
            let n = withUnsafeMutableBytes(of: &target) { read(fds[0], $0.baseAddress, 8) }
            close(fds[0])
            guard n == 8, target >= 0 else { _exit(0) }
            do { try machine.rebuildAfterFork(state) } catch {
                FileHandleStderr.write("revenant: cannot resume a checkpoint: \(error)\n")
                _exit(125)
            }
            return Int(target)
        }
        close(fds[0])
        entries.append(Entry(seq: seq, pid: pid, fd: fds[1]))
        if entries.count > limit { abandon(entries.removeFirst()) }
        return nil
    }

    /// Resume the latest copy at or before `target` and end this process with its status;
    /// returns false (and does nothing) when there is none.
    package func resume(to target: Int) -> Bool {
        guard let i = entries.lastIndex(where: { $0.seq <= target }) else { return false }
        let chosen = entries.remove(at: i)
        dropAll()
        fflush(nil)
        var t = Int64(target)
        _ = withUnsafeBytes(of: &t) { write(chosen.fd, $0.baseAddress, 8) }
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

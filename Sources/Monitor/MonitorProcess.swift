import CHost
import Glibc
import LinuxABI
import RevenantKit

/// The monitor program: started with a pipe on its stdin and one on its stdout (its stderr is
/// ours), spoken to one line at a time. Every wait for it is bounded by `timeout`, and every way
/// it can go (exit, close, silence, garbage) is one line of CLIError (exit 125), never a hang.
final class MonitorProcess {
    let pid: pid_t
    let name: String
    let timeout: Double
    private var toChild: Int32
    private let fromChild: Int32
    private var buffer: [UInt8] = []
    private var reaped: Int32?

    init(command: [String], timeout: Double) throws {
        name = command[0]
        self.timeout = timeout
        let argv = command.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child: pid_t = 0, input: Int32 = -1, output: Int32 = -1
        let rc = chost_spawn_piped(argv, 0, &input, &output, &child)
        guard rc == 0 else {
            throw CLIError("cannot start the monitor \(command[0]): \(String(cString: strerror(rc)))")
        }
        pid = child
        toChild = input
        fromChild = output
        // A monitor gone while we write is found by the write's EPIPE, not a signal.
        signal(SIGPIPE, SIG_IGN)
    }

    deinit {
        if toChild >= 0 { close(toChild) }
        close(fromChild)
        if reaped == nil {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
    }

    /// One line to the monitor.
    func send(_ line: String) throws {
        let bytes = Array((line + "\n").utf8)
        guard bytes.withUnsafeBytes({ writeAll(toChild, $0) }) else { throw gone("while revenant wrote to it") }
    }

    /// The monitor's next line (without its newline), waiting at most `timeout` seconds.
    func receive() throws -> String {
        let deadline = monotonicNanos() + UInt64(min(timeout, 1e9) * 1e9)
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            if let nl = buffer.firstIndex(of: 0x0a) {
                let line = String(decoding: buffer[..<nl], as: UTF8.self)
                buffer.removeSubrange(...nl)
                return line
            }
            let now = monotonicNanos()
            guard now < deadline else {
                throw CLIError("the monitor \(name) said nothing for \(seconds(timeout)) s (--monitor-timeout)")
            }
            var p = pollfd(fd: fromChild, events: Int16(POLLIN), revents: 0)
            let waited = Glibc.poll(&p, 1, Int32(min((deadline - now) / 1_000_000 + 1, 1000)))
            if waited <= 0 { continue }
            let n = chunk.withUnsafeMutableBytes { read(fromChild, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw gone("before the session ended") }
            buffer += chunk[0..<n]
            guard buffer.count <= 64 << 20 else { throw CLIError("the monitor \(name) sent a line of over 64 MiB") }
        }
    }

    /// The session is over: the monitor's stdin ends, and it has `timeout` seconds to exit.
    /// Its exit status, or one line if it is killed or will not end.
    func finish() throws -> Int32 {
        close(toChild)
        toChild = -1
        let deadline = monotonicNanos() + UInt64(min(timeout, 1e9) * 1e9)
        while monotonicNanos() < deadline {
            if let status = reap() { return try exitCode(status) }
            usleep(2000)
        }
        throw CLIError("the monitor \(name) did not exit within \(seconds(timeout)) s of the session's end")
    }

    private func reap() -> Int32? {
        if let reaped { return reaped }
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        reaped = status
        return status
    }

    private func exitCode(_ status: Int32) throws -> Int32 {
        if status & 0x7f == 0 { return (status >> 8) & 0xff }
        throw CLIError("the monitor \(name) was killed by signal \(status & 0x7f)")
    }

    /// The monitor closed its end: how it ended, if it did (a moment is allowed for that).
    private func gone(_ when: String) -> CLIError {
        for _ in 0..<50 where reap() == nil { usleep(2000) }
        guard let status = reap() else { return CLIError("the monitor \(name) closed its output \(when)") }
        if status & 0x7f == 0 {
            return CLIError("the monitor \(name) exited with status \((status >> 8) & 0xff) \(when)")
        }
        return CLIError("the monitor \(name) was killed by signal \(status & 0x7f) \(when)")
    }

    private func seconds(_ s: Double) -> String { s == s.rounded() && s < 1e15 ? String(Int64(s)) : String(s) }
}

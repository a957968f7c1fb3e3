import Glibc
import Machine
import Personality
import Replay

/// Docs/architecture.md "Looking without touching", way 3: an expression beyond what the VMM evaluates
/// itself (a method call, `join`, `sprintf`…) is evaluated by the real interpreter in a
/// throw-away clone of the paused VM. The VMM forks; the child makes its own VM over the
/// copy-on-write memory (GuestMachine.rebuildAfterFork), answers the FLUSH the guest is paused in
/// with REVENANT_CHANNEL_EVAL_REQUEST and the code in the buffer, lets the shim evaluate it in the
/// statement's scope, reads the EVAL record and exits. The replay itself never runs that code.
package enum CloneEvaluation {
    /// The code the shim evaluates: EXPR in list context, each value rendered as `--print` does.
    package static func code(for expression: String) -> String {
        #"do { my @__revenant = ("# + expression + #"); "#
            + #"join(', ', map { !defined($_) ? 'undef' : ref($_) ? "$_" : "#
            + #"/^-?(?:0|[1-9][0-9]{0,14})\z/ ? $_ : "'" . s/(['\\])/\\$1/gr . "'" } @__revenant) }"#
    }

    /// The rendered value, or why there is none (one line).
    /// One evaluation runs at most `evaluation.seconds`: the clone is killed then, and this throws
    /// the error that ends the command (one line, exit 125).
    package static func evaluate(
        _ expression: String, in session: ReplaySession,
        evaluation: EvaluationLimit = EvaluationLimit(),
        at position: String = "this stop"
    ) throws -> Result<String, CLIError> {
        guard let state = try? session.machine.saveVCPU() else {
            return .failure(CLIError("\(expression): beyond what the VMM evaluates, and this replay cannot be cloned"))
        }
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return .failure(CLIError("pipe: \(String(cString: strerror(errno)))")) }
        fflush(nil)
        let pid = fork()
        if pid < 0 { return .failure(CLIError("fork: \(String(cString: strerror(errno)))")) }
        if pid == 0 {
            close(fds[0])
            runClone(code(for: expression), session: session, state: state, answer: fds[1])
        }
        close(fds[1])
        var reply: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        let deadline = monotonicNanos() + UInt64(min(evaluation.seconds, 1e9) * 1e9)
        var timedOut = false
        while true {
            let now = monotonicNanos()
            guard now < deadline else {
                timedOut = true
                break
            }
            var p = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
            let waited = poll(&p, 1, Int32(min((deadline - now) / 1_000_000 + 1, 1000)))
            if waited < 0 && errno == EINTR { continue }
            if waited == 0 { continue }
            let n = chunk.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, 4096) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            reply += chunk[0..<n]
        }
        close(fds[0])
        if timedOut { kill(pid, SIGKILL) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        if timedOut {
            throw evaluation.timedOut("the --print expression \(expression)", at: position)
        }
        guard let ok = reply.first else {
            return .failure(CLIError("\(expression): the clone ended without an answer"))
        }
        let text = String(decoding: reply.dropFirst(), as: UTF8.self)
        return ok == 1
            ? .success(text) : .failure(CLIError("\(expression): \(text.split(separator: "\n").first ?? "")"))
    }

    /// How the clone's program ended, in words (an exit ends the clone with the program's status).
    package static func describe(_ end: Termination) -> String {
        switch end {
        case .exited(let status): return "exit status \(status)"
        case .halted: return "the clone was stopped"
        case .killed(_, let report, _):
            let prefix = "revenant: guest "
            return report.hasPrefix(prefix) ? String(report.dropFirst(prefix.count)) : report
        }
    }

    /// The child: never returns.
    private static func runClone(
        _ code: String, session: ReplaySession, state: GuestMachine.VCPUState, answer fd: Int32
    ) -> Never {
        func reply(_ ok: Bool, _ text: String) -> Never {
            var bytes = [UInt8(ok ? 1 : 0)] + Array(text.utf8)
            var off = 0
            while off < bytes.count {
                let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + off, $0.count - off) }
                if n <= 0 { break }
                off += n
            }
            _exit(0)
        }
        do { try session.machine.rebuildAfterFork(state) } catch { reply(false, "cannot clone the VM: \(error)") }
        let channel = session.personality.channel
        session.replayer.cloneSandbox = true
        var start = channel.collected.count
        channel.onFlush = {
            // The shim evaluates with its hooks off: the EVAL record comes alone.
            let b = Array(channel.collected[start...])
            start = channel.collected.count
            guard b.count >= 3, b[0] == 0x0d else { return }
            var i = 2, len = 0, shift = 0
            while i < b.count {
                len |= Int(b[i] & 0x7f) << shift
                shift += 7
                i += 1
                if b[i - 1] & 0x80 == 0 { break }
            }
            reply(b[1] == 1, String(decoding: b[i..<min(b.count, i + len)], as: UTF8.self))
        }
        guard channel.putRequest(Array(code.utf8)) else {
            reply(false, "the expression does not fit in the channel's buffer")
        }
        do {
            let end = try session.machine.continueInClone(returning: ChannelPort.evalRequest, kernel: session.replayer)
            reply(false, "the evaluation ended the program (\(describe(end)))")
        } catch { reply(false, "the clone failed: \(error)") }
    }
}

import LinuxABI

/// `catch syscall` (QCatchSyscalls): a stop as each caught call returns, forwards and backwards.
/// The entry is no stop: a replayed call is served where the guest makes it, so the return is the
/// first point after it the machine pauses at (Docs/gdb.md).
extension GDBServer {
    /// `QCatchSyscalls:0`, `QCatchSyscalls:1` (every call) or `QCatchSyscalls:1;NR;NR...` (hex).
    func catchSyscalls(_ p: String) {
        let fields = p.dropFirst("QCatchSyscalls:".count).split(separator: ";")
        switch fields.first {
        case "0": caughtSyscalls = nil
        case "1":
            var numbers = Set<UInt64>()
            for f in fields.dropFirst() {
                guard let n = UInt64(f, radix: 16) else { return connection.send("E01") }
                numbers.insert(n)
            }
            caughtSyscalls = numbers
        default: return connection.send("E01")
        }
        connection.send("OK")
    }

    /// The stop reply for the call that just returned, when gdb catches it (the shims' channel
    /// is Revenant's, not a call of the program's: never caught).
    var caughtReturn: String? {
        guard let caught = caughtSyscalls, let n = lastCall, SyscallNames.byNumber[Int(n)] != nil,
            caught.isEmpty || caught.contains(n)
        else { return nil }
        return "T05syscall_return:\(String(n, radix: 16));thread:\(tid);"
    }

    /// For the hand-over to a resumed copy: off, or on with the numbers (none: every call).
    var caughtWords: [UInt64] {
        guard let caught = caughtSyscalls else { return [0] }
        return [1, UInt64(caught.count)] + caught.sorted()
    }
}

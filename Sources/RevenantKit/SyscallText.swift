import CHost
import Glibc
import LinuxABI
import Replay

/// A recorded syscall as `log syscalls` and `when --syscall` print it, strace-like: path
/// arguments as strings (from the event, not guest pointers), AT_FDCWD, small numbers in
/// decimal and others in hex; the result with its errno, the signal handler it ran, the exit.
package enum SyscallText {
    package static func call(_ s: SyscallEvent) -> String {
        "\(s.name)(\(arguments(s).joined(separator: ", "))) = \(result(s))"
    }

    package static func arguments(_ s: SyscallEvent) -> [String] {
        let count = SyscallTable.arity(s.number)
        return (0..<count).map { i in
            if let p = s.paths.first(where: { $0.index == i }) { return cQuote(p.bytes) }
            let v = s.args[i]
            if v == 0xffff_ff9c || Int64(bitPattern: v) == -100 { return "AT_FDCWD" }
            return v < 65536 ? String(v) : "0x" + String(v, radix: 16)
        }
    }

    package static func result(_ s: SyscallEvent) -> String {
        var r: String
        let v = s.result
        if v < 0 && v >= -4095 {
            r = "-1 \(errnoName(Int32(-v)) ?? "E\(-v)") (\(String(cString: strerror(Int32(-v)))))"
        } else {
            r = v > 65536 ? "0x" + String(UInt64(bitPattern: v), radix: 16) : String(v)
        }
        switch s.outcome {
        case .deliver(let d): r += " → \(Signal.name(d.signal)) handler"
        case .exit(let st): r = "exit \(st)"
        case .killed(let sig, _): r += " → killed by \(Signal.name(sig))"
        default: break
        }
        return r
    }
}

package func errnoName(_ e: Int32) -> String? { chost_errno_name(e).map { String(cString: $0) } }

package func cQuote(_ b: [UInt8]) -> String {
    var s = "\""
    for c in b.prefix(256) {
        switch c {
        case 0x22: s += "\\\""
        case 0x5c: s += "\\\\"
        case 0x0a: s += "\\n"
        case 0x20..<0x7f: s.unicodeScalars.append(Unicode.Scalar(c))
        default: s += "\\x" + (c < 16 ? "0" : "") + String(c, radix: 16)
        }
    }
    return s + (b.count > 256 ? "\"..." : "\"")
}

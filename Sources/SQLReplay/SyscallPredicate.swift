import CHost
import Foundation
import GuestMemory
import LinuxABI
import Replay

/// `when --syscall 'NAME[ KEY=GLOB|KEY~REGEX]...'`: a syscall filter evaluated in the VMM during a
/// replay, where guest memory can be read (what a write wrote, what a read brought in).
/// Keys: path (a path argument), fd (argument 0), result, errno, data (the bytes written or read).
public struct SyscallPredicate {
    public struct Condition {
        public var key: String, value: String, regex: NSRegularExpression?
    }
    public let name: String
    public let conditions: [Condition]

    public struct Invalid: Error, CustomStringConvertible { public let description: String }

    public init(_ text: String) throws {
        let words = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard let first = words.first, !first.contains("="), !first.contains("~") else {
            throw Invalid(description: "--syscall '\(text)': expected NAME then KEY=GLOB or KEY~REGEX conditions")
        }
        name = first
        conditions = try words.dropFirst().map { w in
            guard let i = w.firstIndex(where: { $0 == "=" || $0 == "~" }) else {
                throw Invalid(description: "--syscall: '\(w)' is not KEY=GLOB or KEY~REGEX")
            }
            let key = String(w[..<i]), value = String(w[w.index(after: i)...])
            guard ["path", "fd", "result", "errno", "data"].contains(key) else {
                throw Invalid(description: "--syscall: unknown key '\(key)' (path, fd, result, errno, data)")
            }
            var regex: NSRegularExpression?
            if w[i] == "~" {
                do { regex = try NSRegularExpression(pattern: value) } catch {
                    throw Invalid(description: "--syscall: '\(value)' is not a regular expression")
                }
            }
            return Condition(key: key, value: value, regex: regex)
        }
    }

    /// Whether the served call matches; `memory` reads the buffers of writes and reads.
    public func matches(_ req: SyscallRequest, _ e: SyscallEvent, memory: AddressSpace) -> Bool {
        guard fnmatch(name, e.name, 0) == 0 else { return false }
        for c in conditions {
            let subject: String
            switch c.key {
            case "path":
                guard let p = e.paths.first else { return false }
                subject = String(decoding: p.bytes, as: UTF8.self)
            case "fd": subject = String(Int64(bitPattern: req[0]))
            case "result": subject = String(e.result)
            case "errno":
                guard e.result < 0, e.result > -4096 else { return false }
                subject = chost_errno_name(Int32(-e.result)).map { String(cString: $0) } ?? String(-e.result)
            default:  // data: what write/pwrite64/send wrote, or read/pread64/recv brought in
                guard e.result > 0, ["write", "pwrite64", "read", "pread64", "sendto", "recvfrom"].contains(e.name),
                      let bytes = try? memory.bytes(at: req[1], count: Int(min(e.result, 1 << 20))) else { return false }
                subject = String(decoding: bytes, as: UTF8.self)
            }
            if let r = c.regex {
                if r.firstMatch(in: subject, range: NSRange(subject.startIndex..., in: subject)) == nil { return false }
            } else if fnmatch(c.value, subject, 0) != 0 {
                return false
            }
        }
        return true
    }
}

import CHost
import Foundation
import GuestMemory
import LinuxABI
import Replay

/// A syscall filter: `when --syscall 'NAME[ KEY=GLOB|KEY~REGEX]...'`, evaluated in the VMM during a
/// replay where guest memory can be read (what a write wrote, what a read brought in), and
/// `log syscalls --where KEY=GLOB|KEY~REGEX`, evaluated on the recorded events.
/// Keys: name, path (any path argument), fd (argument 0), result, errno, data (the bytes written
/// or read; a replay only).
public struct SyscallPredicate {
    public struct Invalid: Error, CustomStringConvertible { public let description: String }

    public struct Condition {
        public var key: String, value: String, regex: NSRegularExpression?

        /// `text` is KEY=GLOB or KEY~REGEX with KEY among `keys`; `option` names it in messages.
        public init(_ text: String, keys: [String], option: String) throws(Invalid) {
            guard let i = text.firstIndex(where: { $0 == "=" || $0 == "~" }) else {
                throw Invalid(description: "\(option) \(text): expected KEY=GLOB or KEY~REGEX")
            }
            key = String(text[..<i])
            value = String(text[text.index(after: i)...])
            guard keys.contains(key) else {
                throw Invalid(
                    description:
                        "\(option) \(text): unknown key '\(key)' (\(keys.joined(separator: ", ")))")
            }
            if text[i] == "~" {
                do { regex = try NSRegularExpression(pattern: value) } catch {
                    throw Invalid(description: "\(option) \(text): '\(value)' is not a regular expression")
                }
            }
            // A name no syscall has is a typo, not a question without an answer.
            if key == "name", !SyscallNames.byName.keys.contains(where: holds) {
                throw Invalid(
                    description: "\(option) \(text): no syscall is called that "
                        + "(revenant syscalls lists them)")
            }
        }

        public func holds(_ subject: String) -> Bool {
            guard let regex else { return fnmatch(value, subject, 0) == 0 }
            return regex.firstMatch(in: subject, range: NSRange(subject.startIndex..., in: subject)) != nil
        }
    }

    public let conditions: [Condition]

    /// `when --syscall 'NAME COND...'`: NAME is a glob on the syscall's name.
    public init(_ text: String) throws(Invalid) {
        let words = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard let first = words.first, !first.contains("="), !first.contains("~") else {
            throw Invalid(description: "--syscall '\(text)': expected NAME then KEY=GLOB or KEY~REGEX conditions")
        }
        var all: [Condition]
        do { all = [try Condition("name=" + first, keys: ["name"], option: "--syscall")] } catch {
            throw Invalid(
                description:
                    "--syscall \(first): no syscall is called that (revenant syscalls lists them)")
        }
        for w in words.dropFirst() {
            all.append(try Condition(w, keys: ["path", "fd", "result", "errno", "data"], option: "--syscall"))
        }
        conditions = all
    }

    /// `log syscalls --where EXPR...`: every one must hold (data needs a replay: not here).
    public init(filters: [String]) throws(Invalid) {
        var all: [Condition] = []
        for f in filters {
            all.append(try Condition(f, keys: ["name", "path", "fd", "result", "errno"], option: "--where"))
        }
        conditions = all
    }

    /// Whether the recorded call matches (conditions on data never do: see the other form).
    public func matches(_ e: SyscallEvent) -> Bool {
        conditions.allSatisfy { c in subjects(c.key, e, data: { nil }).contains(where: c.holds) }
    }

    /// Whether the served call matches; `memory` reads the buffers of writes and reads.
    public func matches(_ req: SyscallRequest, _ e: SyscallEvent, memory: AddressSpace) -> Bool {
        conditions.allSatisfy { c in
            subjects(
                c.key, e,
                data: {
                    // What write/pwrite64/send wrote, or read/pread64/recv brought in.
                    guard e.result > 0, SyscallTable.row(e.number)?.data == .buffer,
                        let bytes = try? memory.bytes(
                            at: req[1],
                            count: Int(min(e.result, 1 << 20)))
                    else { return nil }
                    return String(decoding: bytes, as: UTF8.self)
                }
            ).contains(where: c.holds)
        }
    }

    /// What `key` is for the call: none (never matches), one value, or each path argument.
    func subjects(_ key: String, _ e: SyscallEvent, data: () -> String?) -> [String] {
        switch key {
        case "name": return [e.name]
        case "path": return e.paths.map { String(decoding: $0.bytes, as: UTF8.self) }
        case "fd": return e.args.first.map { [String(Int64(bitPattern: $0))] } ?? []
        case "result": return [String(e.result)]
        case "errno":
            guard e.result < 0, e.result > -4096 else { return [] }
            return [chost_errno_name(Int32(-e.result)).map { String(cString: $0) } ?? String(-e.result)]
        default: return data().map { [$0] } ?? []
        }
    }
}

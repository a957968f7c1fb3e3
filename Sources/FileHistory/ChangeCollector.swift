import Glibc
import GuestMemory
import LinuxABI
import Replay

/// Turns one process's replayed calls into `FileChange`s: it follows the process's working
/// folder and descriptors (which path each names, which open file description it shares), and
/// reads the bytes each write wrote from guest memory, where the replayed program put them.
/// A child replayer starts as a copy of its parent's collector (the VMM is forked), so it knows
/// the descriptors it inherited.
final class ChangeCollector {
    private(set) var changes: [FileChange] = []
    /// Whether a guest path lies on a writable mount (the sandbox's rule: the longest mount).
    private let writable: (String) -> Bool
    private let memory: AddressSpace
    private var cwd: String
    /// Every descriptor whose guest path is known (files and folders: the *at calls' bases).
    private var paths: [UInt64: String] = [:]
    /// Descriptors on a writable mount: their open file description.
    private var descriptions: [UInt64: Int64] = [:]
    private var closeOnExec: Set<UInt64> = []
    private var stream = 0
    /// The process's umask (a child inherits its parent's): created files' and folders' modes.
    private var umask: UInt32

    init(cwd: String, umask: UInt32, writable: @escaping (String) -> Bool, memory: AddressSpace) {
        self.cwd = cwd
        self.umask = umask
        self.writable = writable
        self.memory = memory
    }

    /// The collector of a child process: its parent's descriptors, none of its changes.
    func becameChild(stream: Int) {
        changes = []
        self.stream = stream
    }

    static let at = UInt64(bitPattern: Int64(AT_FDCWD))
    /// A descriptor argument: an int in the kernel's prototypes, so the register's low 32 bits.
    static func fd(_ register: UInt64) -> UInt64 { UInt64(UInt32(truncatingIfNeeded: register)) }
    private static let nr: [String: UInt64] = SyscallNames.byName.mapValues { UInt64($0) }
    private static func number(_ name: String) -> UInt64 { nr[name] ?? .max }

    /// One served call (`index`: its event in the process's stream; `stamp`: its stamp or nil).
    func served(index: UInt64, stamp: UInt64?, _ req: SyscallRequest, _ e: SyscallEvent) {
        let result = e.result
        guard result >= 0 else { return }
        let n = req.number
        let stampValue = stamp.map { Int64($0) } ?? -1
        func add(_ k: FileChange.Kind) { changes.append(FileChange(stamp: stampValue, event: Int(index), kind: k)) }
        func path(_ arg: Int, base: UInt64 = Self.at) -> String? {
            let raw = e.paths.first { $0.index == arg }?.bytes ?? (try? memory.cString(at: req[arg])) ?? nil
            guard let raw else { return nil }
            return resolve(raw, base: base)
        }
        func data(_ count: Int64) -> [UInt8] { (try? memory.bytes(at: req[1], count: Int(count))) ?? [] }
        let d = { (fd: UInt64) in self.descriptions[Self.fd(fd)] }
        switch n {
        case Self.number("open"), Self.number("creat"), Self.number("openat"):
            let (p, flags, mode): (String?, UInt64, UInt64) =
                switch n {
                case Self.number("open"): (path(0), req[1], req[2])
                case Self.number("creat"): (path(0), UInt64(O_CREAT | O_WRONLY | O_TRUNC), req[1])
                default: (path(1, base: req[0]), req[2], req[3])
                }
            opened(UInt64(result), path: p, flags: Int32(truncatingIfNeeded: flags))
            if let p, writable(p) {
                let description = Int64(stream) << 40 | Int64(index)
                descriptions[UInt64(result)] = description
                add(
                    .open(
                        description: description, path: p, flags: Int32(truncatingIfNeeded: flags),
                        mode: created(mode)))
            }
        case Self.number("close"): forget(Self.fd(req[0]))
        case Self.number("dup"): copy(Self.fd(req[0]), to: UInt64(result), cloexec: false)
        case Self.number("dup2"), Self.number("dup3"):
            if Self.fd(req[0]) != Self.fd(req[1]) {
                copy(
                    Self.fd(req[0]), to: Self.fd(req[1]),
                    cloexec: n == Self.number("dup3") && req[2] & UInt64(O_CLOEXEC) != 0)
            }
        case Self.number("fcntl"):
            switch Int32(truncatingIfNeeded: req[1]) {
            case F_DUPFD, F_DUPFD_CLOEXEC:
                copy(Self.fd(req[0]), to: UInt64(result), cloexec: req[1] == UInt64(F_DUPFD_CLOEXEC))
            case F_SETFD:
                let fd = Self.fd(req[0])
                if req[2] & UInt64(FD_CLOEXEC) != 0 { closeOnExec.insert(fd) } else { closeOnExec.remove(fd) }
            default: break
            }
        case Self.number("execve"), Self.number("execveat"):
            for fd in closeOnExec { forget(fd) }
        case Self.number("umask"): umask = UInt32(req[0] & 0o777)
        case Self.number("chdir"): if let p = path(0) { cwd = p }
        case Self.number("fchdir"): if let p = paths[Self.fd(req[0])] { cwd = p }
        case Self.number("write"): if let x = d(req[0]), result > 0 { add(.write(description: x, data: data(result))) }
        case Self.number("pwrite64"):
            if let x = d(req[0]), result > 0 { add(.writeAt(description: x, offset: req[3], data: data(result))) }
        case Self.number("writev"):
            if let x = d(req[0]), result > 0 { add(.write(description: x, data: gathered(req[1], req[2], result))) }
        case Self.number("pwritev"), Self.number("pwritev2"):
            // pwritev2 with offset -1 writes at the description's offset, as writev does.
            if let x = d(req[0]), result > 0 {
                let bytes = gathered(req[1], req[2], result)
                add(
                    req[3] == .max
                        ? .write(description: x, data: bytes) : .writeAt(description: x, offset: req[3], data: bytes))
            }
        case Self.number("read"), Self.number("readv"):
            if let x = d(req[0]), result > 0 { add(.advance(description: x, count: UInt64(result))) }
        case Self.number("lseek"): if let x = d(req[0]) { add(.seek(description: x, offset: UInt64(result))) }
        case Self.number("ftruncate"):
            if let x = d(req[0]) { add(.truncateDescription(description: x, length: req[1])) }
        case Self.number("fallocate"):
            // Mode 0 may make the file longer; its contents stay.
            if let x = d(req[0]), req[1] == 0 { add(.lost(description: x, path: nil, why: "fallocate")) }
        case Self.number("truncate"): if let p = path(0) { add(.truncatePath(path: p, length: req[1])) }
        case Self.number("fchmod"):
            if let x = d(req[0]) { add(.chmodDescription(description: x, mode: UInt32(req[1] & 0o7777))) }
        case Self.number("chmod"): if let p = path(0) { add(.chmodPath(path: p, mode: UInt32(req[1] & 0o7777))) }
        case Self.number("fchmodat"):
            if let p = path(1, base: req[0]) { add(.chmodPath(path: p, mode: UInt32(req[2] & 0o7777))) }
        case Self.number("utimensat"):
            let times = timeChanges(req[2])
            if req[1] == 0 {
                if let x = d(req[0]) { add(.times(path: nil, description: x, times: times)) }
            } else if let p = path(1, base: req[0]) {
                add(.times(path: p, description: nil, times: times))
            }
        case Self.number("unlink"): if let p = path(0) { add(.unlink(path: p)) }
        case Self.number("rmdir"): if let p = path(0) { add(.removeFolder(path: p)) }
        case Self.number("unlinkat"):
            if let p = path(1, base: req[0]) {
                add(req[2] & UInt64(AT_REMOVEDIR) != 0 ? .removeFolder(path: p) : .unlink(path: p))
            }
        case Self.number("mkdir"): if let p = path(0) { add(.makeFolder(path: p, mode: created(req[1]))) }
        case Self.number("mkdirat"):
            if let p = path(1, base: req[0]) { add(.makeFolder(path: p, mode: created(req[2]))) }
        case Self.number("rename"): if let a = path(0), let b = path(1) { add(.rename(from: a, to: b, flags: 0)) }
        case Self.number("renameat"), Self.number("renameat2"):
            if let a = path(1, base: req[0]), let b = path(3, base: req[2]) {
                add(
                    .rename(
                        from: a, to: b, flags: n == Self.number("renameat2") ? UInt32(truncatingIfNeeded: req[4]) : 0))
            }
        case Self.number("link"): if let a = path(0), let b = path(1) { add(.link(from: a, to: b)) }
        case Self.number("linkat"):
            if let a = path(1, base: req[0]), let b = path(3, base: req[2]) { add(.link(from: a, to: b)) }
        case Self.number("symlink"):
            if let t = try? memory.cString(at: req[0]), let p = path(1) { add(.symlink(target: t, path: p)) }
        case Self.number("symlinkat"):
            if let t = try? memory.cString(at: req[0]), let p = path(2, base: req[1]) {
                add(.symlink(target: t, path: p))
            }
        case Self.number("mmap"):
            // A shared writable mapping of a file writes it with stores the trace does not see.
            let (prot, flags) = (Int32(truncatingIfNeeded: req[2]), Int32(truncatingIfNeeded: req[3]))
            if prot & PROT_WRITE != 0, flags & MAP_SHARED != 0, let x = d(req[4]) {
                add(.lost(description: x, path: nil, why: "a shared writable mmap"))
            }
        case Self.number("sendfile"), Self.number("copy_file_range"), Self.number("splice"):
            let out = n == Self.number("sendfile") ? req[0] : req[2]
            if let x = d(out), result > 0 {
                add(.lost(description: x, path: nil, why: SyscallNames.byNumber[Int(n)] ?? "a copy"))
            }
        case Self.number("pipe"), Self.number("pipe2"), Self.number("socketpair"):
            let at = n == Self.number("socketpair") ? req[3] : req[0]
            for i in 0..<2 { if let fd = try? memory.load(Int32.self, at: at &+ UInt64(4 * i)) { forget(UInt64(fd)) } }
        default:
            // Any other call that returns a descriptor (socket, eventfd, memfd...) reuses a number.
            if Self.newDescriptor.contains(n) { forget(UInt64(result)) }
        }
    }

    /// The mode a file or folder is created with: the one asked for, less the umask.
    private func created(_ mode: UInt64) -> UInt32 { UInt32(mode & 0o7777) & ~umask }

    private static let newDescriptor: Set<UInt64> = Set(
        [
            "socket", "accept", "accept4", "eventfd", "eventfd2", "epoll_create", "epoll_create1", "memfd_create",
            "timerfd_create", "signalfd", "signalfd4", "inotify_init", "inotify_init1", "pidfd_open", "userfaultfd",
        ].map(number))

    private func opened(_ fd: UInt64, path: String?, flags: Int32) {
        forget(fd)
        paths[fd] = path
        if flags & O_CLOEXEC != 0 { closeOnExec.insert(fd) }
    }

    private func forget(_ fd: UInt64) {
        paths[fd] = nil
        descriptions[fd] = nil
        closeOnExec.remove(fd)
    }

    private func copy(_ fd: UInt64, to new: UInt64, cloexec: Bool) {
        let (p, x) = (paths[fd], descriptions[fd])
        forget(new)
        paths[new] = p
        descriptions[new] = x
        if cloexec { closeOnExec.insert(new) }
    }

    /// The bytes an iovec array wrote: `total` of them, in order.
    private func gathered(_ iov: UInt64, _ count: UInt64, _ total: Int64) -> [UInt8] {
        var out: [UInt8] = []
        var left = Int(total)
        for i in 0..<min(count, 1024) where left > 0 {
            guard let base = try? memory.load(UInt64.self, at: iov &+ 16 * i),
                let length = try? memory.load(UInt64.self, at: iov &+ 16 * i &+ 8)
            else { break }
            let n = min(left, Int(clamping: length))
            out += (try? memory.bytes(at: base, count: n)) ?? []
            left -= n
        }
        return out
    }

    /// utimensat's two times (access, modification); a null pointer sets both to now.
    private func timeChanges(_ at: UInt64) -> [FileTimeChange] {
        guard at != 0 else { return [.now, .now] }
        return (0..<2).map { i -> FileTimeChange in
            guard let s = try? memory.load(Int64.self, at: at &+ 16 * UInt64(i)),
                let ns = try? memory.load(Int64.self, at: at &+ 16 * UInt64(i) &+ 8)
            else { return .omit }
            switch ns {
            case (1 << 30) - 1: return .now  // UTIME_NOW
            case (1 << 30) - 2: return .omit  // UTIME_OMIT
            default: return .set(seconds: s, nanoseconds: ns)
            }
        }
    }

    /// A guest path made absolute against `base` (AT_FDCWD: the working folder), lexically.
    func resolve(_ raw: [UInt8], base: UInt64) -> String? {
        let text = String(decoding: raw, as: UTF8.self)
        let start: String
        if text.hasPrefix("/") {
            start = ""
        } else if Int32(truncatingIfNeeded: base) == AT_FDCWD {
            start = cwd
        } else if let p = paths[Self.fd(base)] {
            start = p
        } else {
            return nil
        }
        return lexicallyNormalized(start + "/" + text)
    }

}

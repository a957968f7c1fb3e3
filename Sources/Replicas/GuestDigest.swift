import Glibc
import GuestMemory
import LinuxABI
import Machine
import Trace

/// The digests replicas compare (Docs/replicas.md "What is compared"): computed from the guest
/// as it is at a call, before the call is served, the same way in the primary and its backups.
enum GuestDigest {
    /// Calls that change a path's file (Docs/replicas.md "Output commit"), besides the write
    /// family: each is a frame, and the primary's waits for a majority.
    static let changesPaths: Set<String> = [
        "unlink", "unlinkat", "rename", "renameat", "renameat2", "mkdir", "mkdirat", "rmdir", "chmod", "fchmodat",
        "fchmod", "chown", "lchown", "fchown", "fchownat", "truncate", "symlink", "symlinkat", "link", "linkat",
        "mknod", "mknodat", "utimensat", "utimes", "utime", "futimesat", "creat",
    ]
    static let openFlags: [String: Int] = ["open": 1, "openat": 2]
    /// Socket calls the outside sees besides sending (`--net`): each is a frame, by its
    /// descriptor and the address it names (bytes, as `sockaddr`), and the primary's waits for a
    /// majority like a write.
    static let network: Set<String> = ["connect", "bind", "shutdown", "listen"]

    /// The frame a call makes: the write family (`sendto` included), the calls that change files
    /// (an open that creates or truncates too) and the socket calls in `network`; nil for the
    /// others.
    static func outputFrame(_ req: SyscallRequest, event: UInt64, memory: AddressSpace) -> ReplicaFrame? {
        let name = req.name
        if let fdIndex = SyscallTable.row(req.number)?.output {
            return ReplicaFrame(
                kind: .output, event: event, digest: output(req, memory: memory),
                what: "\(name) to fd \(Int32(truncatingIfNeeded: req[fdIndex]))")
        }
        if network.contains(name) {
            let hash = SHA256()
            hash.update(words([req.number, req[0]]))
            if name == "connect" || name == "bind" {
                hashAddress(hash, memory, req[1], req[2])
            } else {
                hash.update(words([req[1]]))
            }
            return ReplicaFrame(
                kind: .output, event: event, digest: hash.finish(),
                what: "\(name) of fd \(Int32(truncatingIfNeeded: req[0]))")
        }
        let creates = openFlags[name].map { req[$0] & UInt64(O_CREAT | O_TRUNC) != 0 } ?? false
        guard creates || changesPaths.contains(name) else { return nil }
        let hash = SHA256()
        hash.update(words([req.number] + (0..<SyscallTable.arity(req.number)).map { req[$0] }))
        var shown = ""
        for i in SyscallTable.row(req.number)?.paths ?? [] {
            let path = (try? memory.cString(at: req[i], max: 4095)) ?? nil
            hash.update((path ?? Array("unreadable".utf8)) + [0])
            if shown.isEmpty, let path { shown = String(decoding: path, as: UTF8.self) }
        }
        return ReplicaFrame(kind: .output, event: event, digest: hash.finish(), what: "\(name)(\"\(shown)\")")
    }

    /// A call of the write family: its number, its descriptor and what it writes (the bytes in
    /// guest memory it names, an offset where it has one); calls that write no buffer (lseek,
    /// ftruncate, sendfile) by their arguments.
    static func output(_ req: SyscallRequest, memory: AddressSpace) -> [UInt8] {
        let hash = SHA256()
        hash.update(words([req.number, req[0]]))
        switch req.name {
        case "write":
            hashGuest(hash, memory, req[1], req[2])
        case "pwrite64":
            hash.update(words([req[3]]))
            hashGuest(hash, memory, req[1], req[2])
        case "sendto":
            // The bytes, the flags and the address they go to (none on a connected socket).
            hashGuest(hash, memory, req[1], req[2])
            hash.update(words([req[3], req[5]]))
            if req[4] != 0 { hashAddress(hash, memory, req[4], req[5]) }
        case "writev", "pwritev", "pwritev2":
            if req.name != "writev" { hash.update(words([req[3]])) }
            for i in 0..<min(req[2], 1024) {
                guard let base = try? memory.load(UInt64.self, at: req[1] &+ 16 * i),
                    let length = try? memory.load(UInt64.self, at: req[1] &+ 16 * i &+ 8)
                else {
                    hash.update(Array("unreadable iovec".utf8))
                    break
                }
                hashGuest(hash, memory, base, length)
            }
        default:
            hash.update(words((0..<SyscallTable.arity(req.number)).map { req[$0] }))
        }
        return hash.finish()
    }

    /// Every `--compare-every` events: the call (number and the arguments it reads) and the
    /// contents of the guest's writable private anonymous memory (the heap, mmap'd arenas),
    /// mapping by mapping. Left out: the stack and the files' data segments, where ld.so keeps
    /// the time stamp counter it reads at start-up (PVM runs rdtsc natively: it differs between
    /// any two runs, Docs/replicas.md "What is compared").
    static func state(_ req: SyscallRequest, memory: AddressSpace) -> [UInt8] {
        let hash = SHA256()
        hash.update(words([req.number] + (0..<SyscallTable.arity(req.number)).map { req[$0] }))
        let stackLow = memory.layout.end - Loader.stackSize
        for m in memory.mappings where m.prot & PROT_WRITE != 0 && !m.shared && m.path == nil && m.start < stackLow {
            hash.update(words([m.start, m.end]))
            hashGuest(hash, memory, m.start, m.end - m.start)
        }
        return hash.finish()
    }

    /// A socket address the guest names: a `sockaddr` and its length, of which at most a page is read
    /// (Linux itself takes no more than 128 bytes).
    private static func hashAddress(_ hash: SHA256, _ memory: AddressSpace, _ address: UInt64, _ length: UInt64) {
        hashGuest(hash, memory, address, min(length, 4096))
    }

    /// Guest bytes [address, address + length), a megabyte at a time, through GuestMemory's
    /// checks; where they stop being readable, that is hashed too (Linux writes up to there).
    private static func hashGuest(_ hash: SHA256, _ memory: AddressSpace, _ address: UInt64, _ length: UInt64) {
        var at = address, left = length
        while left > 0 {
            let n = Int(min(left, 1 << 20))
            guard let p = try? memory.pointer(at, n) else {
                hash.update(Array("unreadable".utf8) + words([at]))
                return
            }
            hash.update(UnsafeRawBufferPointer(start: p, count: n))
            at &+= UInt64(n)
            left -= UInt64(n)
        }
    }

    static func words(_ values: [UInt64]) -> [UInt8] {
        values.flatMap { v in (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }
    }
}

import Glibc
import LinuxABI
import Personality
import Replay

/// What a backup knows of the guest's descriptors, working directory and umask, kept from the
/// log as it replays: a replay opens nothing on the host, so a backup that takes the primary's
/// place opens again what the guest has open, by path, at the offset its calls left
/// (Docs/replicas.md "Taking over"). Descriptors duplicated from one another share one
/// description (and its offset), as on Linux.
package struct DescriptorLedger {
    package enum Kind: Equatable {
        /// A file or folder, by its absolute guest path (made from the path the guest gave and
        /// its working directory or folder descriptor then), and the flags it was opened with.
        case file(path: ByteString, flags: Int32)
        /// Revenant's stdin, stdout or stderr (0, 1, 2), or a duplicate.
        case console(UInt8)
        /// A socket (`--net`), by the event that made it (socket, accept, accept4): the
        /// supervisor holds a copy of each (OutsideSockets).
        case socket(created: UInt64)
        /// What cannot be opened again (a pipe, a socket): what it is, for the one line.
        case other(String)
    }
    package struct Description: Equatable {
        package var kind: Kind
        package var offset: Int64 = 0
        /// A write with O_APPEND left the offset at the file's end, whatever it is then.
        package var atEnd = false
        /// A folder read with getdents64: the position its last entry gave (d_off).
        package var directoryCookie: Int64?
    }
    package struct Slot: Equatable {
        package var description: Int
        package var cloexec: Bool
    }

    package private(set) var slots: [Int: Slot] = [:]
    package private(set) var descriptions: [Int: Description] = [:]
    private var nextDescription = 0
    package private(set) var cwd: ByteString
    package private(set) var umask: UInt32

    /// `stdinOffset`: where Revenant's stdin stood when the program started (a regular file's
    /// offset; 0 for anything else, whose offset counts the bytes read).
    package init(cwd: ByteString, umask: UInt32 = 0o022, stdinOffset: Int64 = 0) {
        self.cwd = cwd
        self.umask = umask
        for k in 0..<3 { slots[k] = Slot(description: describe(.console(UInt8(k))), cloexec: false) }
        stdin = slots[0]!.description
        descriptions[stdin]?.offset = stdinOffset
    }
    private var stdin = 0

    /// Revenant's stdin as the guest left it: a regular file's offset, or how many bytes the
    /// guest read from a pipe or socket.
    package var stdinOffset: Int64 { descriptions[stdin]?.offset ?? 0 }
    /// Whether the guest's `fd` is Revenant's stdin (or a duplicate of it).
    package func isStdin(_ fd: Int) -> Bool { slots[fd]?.description == stdin }

    /// The descriptions no descriptor refers to any more are let go of, now and then: a program
    /// that opens and closes files all along keeps the ledger as small as what it holds open.
    /// (Stdin's stays: how much of it was read counts after its descriptors are closed.)
    private mutating func forgetClosed() {
        guard descriptions.count > 2 * slots.count + 64 else { return }
        let held = Set(slots.values.map(\.description)).union([stdin])
        descriptions = descriptions.filter { held.contains($0.key) }
    }

    /// The descriptions the guest's descriptors refer to, each once.
    package var openDescriptions: [Description] {
        Set(slots.values.map(\.description)).compactMap { descriptions[$0] }
    }

    private mutating func describe(_ kind: Kind) -> Int {
        nextDescription += 1
        descriptions[nextDescription] = Description(kind: kind)
        return nextDescription
    }

    private static func nr(_ name: String) -> UInt64 { UInt64(SyscallNames.byName[name]!) }
    private static let open = nr("open"), openat = nr("openat"), creat = nr("creat"), close = nr("close"),
        dup = nr("dup"), dup2 = nr("dup2"), dup3 = nr("dup3"), fcntl = nr("fcntl"), read = nr("read"),
        readv = nr("readv"), write = nr("write"), writev = nr("writev"), lseek = nr("lseek"),
        sendfile = nr("sendfile"), getdents64 = nr("getdents64"), pipe = nr("pipe"), pipe2 = nr("pipe2"),
        socketpair = nr("socketpair"), chdir = nr("chdir"), fchdir = nr("fchdir"), umaskCall = nr("umask"),
        execve = nr("execve"), socket = nr("socket"), accept = nr("accept"), accept4 = nr("accept4"),
        recvfrom = nr("recvfrom")
    /// Calls whose result is a new descriptor that cannot be opened again by path.
    private static let unreopenable: [UInt64: String] = Dictionary(
        uniqueKeysWithValues: [
            ("eventfd", "an eventfd"),
            ("eventfd2", "an eventfd"), ("epoll_create", "an epoll instance"),
            ("epoll_create1", "an epoll instance"), ("memfd_create", "a memfd"), ("inotify_init", "an inotify"),
            ("inotify_init1", "an inotify"), ("timerfd_create", "a timerfd"), ("signalfd", "a signalfd"),
            ("signalfd4", "a signalfd"), ("openat2", "a file opened with openat2"),
        ].compactMap { name, what in SyscallNames.byName[name].map { (UInt64($0), what) } })

    /// A call the replay served (its logged result and writes), the run's event `index`.
    package mutating func apply(_ event: SyscallEvent, at index: UInt64) {
        let n = event.number, a = event.args, result = event.result
        if n == Self.execve {
            if case .exec = event.outcome { slots = slots.filter { !$0.value.cloexec } }
            forgetClosed()
            return
        }
        guard result >= 0 else { return }
        let fd0 = Int(Int32(truncatingIfNeeded: a[0]))
        switch n {
        case Self.open, Self.openat, Self.creat:
            let pathIndex = n == Self.openat ? 1 : 0
            guard let raw = event.paths.first(where: { $0.index == pathIndex })?.bytes else { return }
            let flags =
                n == Self.creat ? O_CREAT | O_WRONLY | O_TRUNC : Int32(truncatingIfNeeded: a[n == Self.openat ? 2 : 1])
            let base = n == Self.openat && Int32(truncatingIfNeeded: a[0]) != AT_FDCWD ? folder(of: fd0) : cwd
            var d = Description(kind: .file(path: Self.join(base, raw), flags: flags))
            d.atEnd = flags & O_APPEND != 0
            install(Int(result), d, cloexec: flags & O_CLOEXEC != 0)
        case Self.close:
            slots[fd0] = nil
            forgetClosed()
        case Self.dup: share(fd0, Int(result), cloexec: false)
        case Self.dup2, Self.dup3:
            guard fd0 != Int(result) else { return }
            share(fd0, Int(result), cloexec: n == Self.dup3 && Int32(truncatingIfNeeded: a[2]) & O_CLOEXEC != 0)
        case Self.fcntl:
            switch Int32(truncatingIfNeeded: a[1]) {
            case F_DUPFD: share(fd0, Int(result), cloexec: false)
            case F_DUPFD_CLOEXEC: share(fd0, Int(result), cloexec: true)
            case F_SETFD: slots[fd0]?.cloexec = a[2] & UInt64(FD_CLOEXEC) != 0
            case F_SETFL:
                updateDescription(fd0) { d in
                    guard case .file(let path, let flags) = d.kind else { return }
                    let settable = O_APPEND | O_NONBLOCK
                    d.kind = .file(path: path, flags: flags & ~settable | Int32(truncatingIfNeeded: a[2]) & settable)
                }
            default: break
            }
        case Self.read, Self.readv: moveOffset(fd0, by: result)
        // A socket's offset counts what the journal serves (SocketReads.readsAStream): not a
        // peek, nor a read with MSG_TRUNC, MSG_OOB or MSG_ERRQUEUE.
        case Self.recvfrom where ReplicaKernel.readsAStream(n, a[3]): moveOffset(fd0, by: result)
        case Self.write, Self.writev:
            updateDescription(fd0) { d in
                if case .file(_, let flags) = d.kind, flags & O_APPEND != 0 {
                    d.atEnd = true
                } else {
                    d.offset += result
                }
            }
        case Self.lseek:
            updateDescription(fd0) { d in
                d.offset = result
                d.atEnd = false
            }
        case Self.sendfile:
            moveOffset(fd0, by: result)
            if a[2] == 0 { moveOffset(Int(Int32(truncatingIfNeeded: a[1])), by: result) }
        case Self.getdents64:
            guard result > 0, let cookie = Self.lastCookie(event.writes, buffer: a[1], length: Int(result)) else {
                return
            }
            updateDescription(fd0) { $0.directoryCookie = cookie }
        case Self.pipe, Self.pipe2, Self.socketpair:
            let at = n == Self.socketpair ? a[3] : a[0]
            for fd in Self.twoInts(event.writes, at: at) {
                install(
                    Int(fd), Description(kind: .other(n == Self.socketpair ? "a socket" : "a pipe")), cloexec: false)
            }
        case Self.chdir:
            if let raw = event.paths.first?.bytes { cwd = Self.join(cwd, raw) }
        case Self.fchdir: cwd = folder(of: fd0)
        case Self.umaskCall: umask = UInt32(a[0] & 0o777)
        case Self.socket, Self.accept, Self.accept4:
            // The flags: socket's type, accept4's fourth argument.
            let flags = n == Self.socket ? a[1] : n == Self.accept4 ? a[3] : 0
            install(
                Int(result), Description(kind: .socket(created: index)),
                cloexec: Int32(truncatingIfNeeded: flags) & Int32(SOCK_CLOEXEC.rawValue) != 0)
        default:
            if let what = Self.unreopenable[n] { install(Int(result), Description(kind: .other(what)), cloexec: false) }
        }
    }

    private mutating func install(_ fd: Int, _ d: Description, cloexec: Bool) {
        slots[fd] = Slot(description: describe(d.kind), cloexec: cloexec)
        descriptions[slots[fd]!.description] = d
    }

    private mutating func share(_ from: Int, _ to: Int, cloexec: Bool) {
        guard let s = slots[from] else { return }
        slots[to] = Slot(description: s.description, cloexec: cloexec)
    }

    private mutating func updateDescription(_ fd: Int, _ body: (inout Description) -> Void) {
        guard let id = slots[fd]?.description, var d = descriptions[id] else { return }
        body(&d)
        descriptions[id] = d
    }

    private mutating func moveOffset(_ fd: Int, by n: Int64) { updateDescription(fd) { $0.offset += n } }

    /// The guest path a folder descriptor was opened by (a relative *at path starts there).
    private func folder(of fd: Int) -> ByteString {
        guard let id = slots[fd]?.description, case .file(let path, _)? = descriptions[id]?.kind else { return cwd }
        return path
    }

    /// `raw` made absolute against `base`, lexically (the sandbox resolves it when it is opened).
    static func join(_ base: ByteString, _ raw: [UInt8]) -> ByteString {
        if raw.first == UInt8(ascii: "/") { return ByteString(raw) }
        var b = base.bytes
        if b.last != UInt8(ascii: "/") { b.append(UInt8(ascii: "/")) }
        return ByteString(b + raw)
    }

    /// The two descriptors pipe(2) or socketpair(2) wrote at `at`, from the logged writes.
    private static func twoInts(_ writes: [(address: UInt64, bytes: [UInt8])], at: UInt64) -> [Int32] {
        guard let w = writes.first(where: { $0.address <= at && at + 8 <= $0.address + UInt64($0.bytes.count) })
        else { return [] }
        let o = Int(at - w.address)
        return [0, 4].map { k in
            (0..<4).reduce(Int32(0)) { $0 | Int32(w.bytes[o + k + $1]) << (8 * Int32($1)) }
        }
    }

    /// The d_off of the last linux_dirent64 record getdents64 wrote at `buffer` (its `length`
    /// bytes, from the logged writes): where reading the folder goes on.
    static func lastCookie(_ writes: [(address: UInt64, bytes: [UInt8])], buffer: UInt64, length: Int) -> Int64? {
        guard let w = writes.first(where: { $0.address == buffer }), w.bytes.count >= length else { return nil }
        var at = 0
        var cookie: Int64?
        // d_ino (8), d_off (8), d_reclen (2), d_type (1), d_name.
        while at + 19 <= length {
            cookie = (0..<8).reduce(Int64(0)) { $0 | Int64(w.bytes[at + 8 + $1]) << (8 * Int64($1)) }
            let reclen = Int(w.bytes[at + 16]) | Int(w.bytes[at + 17]) << 8
            guard reclen > 0 else { break }
            at += reclen
        }
        return cookie
    }

    /// What stands in the way of opening the guest's descriptors again, as one line; nil if
    /// nothing does.
    package func obstacle() -> String? {
        for fd in slots.keys.sorted() {
            if let id = slots[fd]?.description, case .other(let what)? = descriptions[id]?.kind {
                return "its fd \(fd) is \(what), which cannot be opened again"
            }
        }
        return nil
    }
}

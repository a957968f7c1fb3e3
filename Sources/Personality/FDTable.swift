import Glibc
import LinuxABI

/// The guest's descriptor table. Guest numbers are allocated as Linux does (lowest free), so they
/// are the same in every run whatever the VMM itself has open; each maps to a host descriptor.
public final class FDTable {
    public struct Entry {
        public var host: Int32
        /// The guest path it was opened with (for *at calls, fchdir, reports); nil for pipes, stdio.
        public var path: ByteString?
        public var cloexec: Bool
        /// Opened on a writable mount (fchmod, ftruncate… need it).
        public var writableMount: Bool
        /// 1 or 2 when this is (a duplicate of) the stdout or stderr Revenant was given: replay
        /// writes what the guest wrote there to its own stdout/stderr.
        public var console: UInt8 = 0
        /// What is read from it comes from outside the run and is seen by this process alone: a
        /// socket (`--net`), or Revenant's stdin when it is a terminal. (A primary of
        /// `--replicas` logs such a read before its guest goes on.)
        public var fromOutside = false

        public init(
            host: Int32, path: ByteString?, cloexec: Bool, writableMount: Bool, console: UInt8 = 0,
            fromOutside: Bool = false
        ) {
            self.host = host
            self.path = path
            self.cloexec = cloexec
            self.writableMount = writableMount
            self.console = console
            self.fromOutside = fromOutside
        }
    }

    public static let limit = 1024
    private(set) var entries: [Entry?] = []

    public init() {}

    /// Give the guest copies of the VMM's own stdin/stdout/stderr as fds 0–2, so a guest closing
    /// its fd 2 does not close the VMM's.
    public func installStdio(_ hostFDs: [Int32]) {
        for (i, fd) in hostFDs.enumerated() {
            let copy = fcntl(fd, F_DUPFD_CLOEXEC, 1000)
            if copy >= 0 {
                set(
                    i,
                    Entry(
                        host: copy, path: nil, cloexec: false, writableMount: true, console: UInt8(i),
                        fromOutside: i == 0 && isatty(fd) == 1))
            }
        }
    }

    /// The table index of a guest fd argument: the kernel reads fds as 32-bit ints.
    static func index(_ fd: UInt64) -> Int { Int(Int32(truncatingIfNeeded: fd)) }

    public func entry(_ fd: UInt64) throws(SysError) -> Entry {
        let i = FDTable.index(fd)
        guard i >= 0, i < entries.count, let e = entries[i] else { throw SysError(EBADF) }
        return e
    }

    public func host(_ fd: UInt64) throws(SysError) -> Int32 { try entry(fd).host }

    /// Install at the lowest free number ≥ `from`.
    public func install(_ e: Entry, from: Int = 0) throws(SysError) -> Int {
        var i = max(from, 0)
        while i < entries.count, entries[i] != nil { i += 1 }
        guard i < FDTable.limit else { throw SysError(EMFILE) }
        set(i, e)
        return i
    }

    /// Install at exactly `fd`, closing what was there (dup2 semantics).
    public func set(_ fd: Int, _ e: Entry) {
        while entries.count <= fd { entries.append(nil) }
        if let old = entries[fd] { close(old.host) }
        entries[fd] = e
    }

    public func remove(_ fd: UInt64) throws(SysError) -> Entry {
        let e = try entry(fd)
        entries[FDTable.index(fd)] = nil
        return e
    }

    public func update(_ fd: UInt64, _ body: (inout Entry) -> Void) throws(SysError) {
        var e = try entry(fd)
        body(&e)
        entries[FDTable.index(fd)] = e
    }

    /// execve closes the descriptors marked close-on-exec.
    public func closeOnExec() {
        for (i, e) in entries.enumerated() where e?.cloexec == true {
            close(e!.host)
            entries[i] = nil
        }
    }

    /// The host descriptors the guest's descriptors stand for.
    public var hostDescriptors: [Int32] { entries.compactMap { $0?.host } }

    public func closeAll() {
        for case let e? in entries { close(e.host) }
        entries.removeAll()
    }
}

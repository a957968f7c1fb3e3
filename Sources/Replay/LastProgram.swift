import Glibc
import Trace

/// The last program a recorded process ran (`revenant gdb` debugs it): loaded by the process's
/// last successful execve, or, without one, the program it had from the start (the recorded
/// one, or its parent's at the fork).
public struct LastProgram: Equatable, Sendable {
    /// The execve that loaded it, numbered as the process's syscall events are (nil: none).
    public var execEvent: Int?
    /// Its path as the execve opened it (nil without an execve): the first ELF file the call
    /// opened, after any scripts whose interpreters led to it.
    public var path: String?

    /// Reads process stream `stream` (0: the first process) to its end.
    public init(_ dir: TraceDirectory, stream: Int) throws(TraceError) {
        var reader: EventReader
        if stream == 0 {
            reader = try EventReader(path: dir.eventsPath)
        } else {
            (_, reader) = try ProcessTable.open(stream: stream, in: dir)
        }
        var calls = 0
        var pending: ExecEvent?
        while let e = try reader.next() {
            if e.kind == EventKind.exec.rawValue {
                do { pending = try ExecEvent.decode(e.payload) } catch {
                    throw .corruptEvent(index: UInt64(calls), why: error.why)
                }
            } else if e.kind == EventKind.syscall.rawValue {
                if let exec = pending {
                    execEvent = calls
                    path = exec.files.first { Self.isELF((try? dir.blobFile($0.digest)) ?? "") }?.path.description
                }
                pending = nil
                calls += 1
            }
        }
    }

    static func isELF(_ file: String) -> Bool {
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var magic = [UInt8](repeating: 0, count: 4)
        return magic.withUnsafeMutableBytes { read(fd, $0.baseAddress, 4) } == 4 && magic == [0x7f, 0x45, 0x4c, 0x46]
    }
}

import Glibc
import Trace

/// The payload of a `mapped file` event (Docs/trace-format.md "Event kinds"): what is behind the
/// next event, an mmap of a file. A regular file's blob (its 32-byte SHA-256), or from events
/// version 7 nothing at all: /dev/zero, whose private mapping is zeros (anonymous memory, as on
/// Linux), so there is no contents to keep and replay maps the device again.
public enum MappedFileEvent: Equatable {
    case blob(digest: String)
    case zeroDevice

    /// The first events version whose mapped-file events may be empty (/dev/zero).
    public static let zeroDeviceVersion: UInt32 = 7

    public func encoded() -> [UInt8] {
        switch self {
        case .blob(let digest): Hex.bytes(digest)
        case .zeroDevice: []
        }
    }

    /// nil when the payload does not read in a stream of `version`: 32 bytes, or none from 7.
    public static func decode(_ payload: [UInt8], version: UInt32) -> MappedFileEvent? {
        if payload.count == 32 { return .blob(digest: Hex.string(payload)) }
        if payload.isEmpty && version >= zeroDeviceVersion { return .zeroDevice }
        return nil
    }

    /// Whether the file `st` describes is the zero device (character device 1:5 on Linux, whatever
    /// its name in the guest's view): the one device whose mapping replay can make again.
    public static func isZeroDevice(_ st: stat) -> Bool {
        st.st_mode & S_IFMT == S_IFCHR && st.st_rdev == zeroDeviceNumber
    }

    /// makedev(1, 5), the memory devices' major and /dev/zero's minor (the kernel's
    /// Documentation/admin-guide/devices.txt).
    static let zeroDeviceNumber: UInt64 = 1 << 8 | 5
    /// Where replay opens it on the host.
    static let zeroDevicePath = "/dev/zero"
}

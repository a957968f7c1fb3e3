/// One change a replayed call made to the writable tree, as the guest named it: paths are guest
/// paths made absolute (cwd and directory descriptors applied, `.` and `..` taken lexically), and
/// writes through a descriptor name its open file description, so that offsets shared by `dup`
/// and `fork` move together when every process's changes are applied in the run's order.
public struct FileChange: Codable, Equatable, Sendable {
    public enum Kind: Codable, Equatable, Sendable {
        /// A successful open of a path on a writable mount (any access mode: reads move offsets);
        /// `mode`: what a file it creates gets (the umask applied), as for `makeFolder`.
        case open(description: Int64, path: String, flags: Int32, mode: UInt32)
        /// `write`/`writev`: at the description's offset (its end with O_APPEND), which moves.
        case write(description: Int64, data: [UInt8])
        /// `pwrite64`/`pwritev`: at an offset; the description's does not move.
        case writeAt(description: Int64, offset: UInt64, data: [UInt8])
        /// `read`/`readv`: the description's offset moves by the bytes read.
        case advance(description: Int64, count: UInt64)
        /// `lseek`: the new offset (its result).
        case seek(description: Int64, offset: UInt64)
        case truncateDescription(description: Int64, length: UInt64)
        case truncatePath(path: String, length: UInt64)
        case chmodDescription(description: Int64, mode: UInt32)
        case chmodPath(path: String, mode: UInt32)
        /// utimensat: nil times mean "now" (the recording's moment, which the trace does not hold).
        case times(path: String?, description: Int64?, times: [FileTimeChange])
        case unlink(path: String)
        case removeFolder(path: String)
        case makeFolder(path: String, mode: UInt32)
        /// renameat2's flags: RENAME_NOREPLACE (1), RENAME_EXCHANGE (2).
        case rename(from: String, to: String, flags: UInt32)
        case link(from: String, to: String)
        case symlink(target: [UInt8], path: String)
        /// A change the trace cannot reproduce (a shared writable mapping, sendfile into the
        /// file...): its contents are unknown from here on, and restore names it.
        case lost(description: Int64?, path: String?, why: String)
    }

    /// The call's stamp (its place among every process's calls; -1 before the run's first fork).
    public var stamp: Int64
    /// The call's event in its process's stream.
    public var event: Int
    public var kind: Kind

    public init(stamp: Int64, event: Int, kind: Kind) {
        self.stamp = stamp
        self.event = event
        self.kind = kind
    }
}

/// A time utimensat set: a value, UTIME_NOW (unknown here) or UTIME_OMIT (unchanged).
public enum FileTimeChange: Codable, Equatable, Sendable {
    case set(seconds: Int64, nanoseconds: Int64)
    case now
    case omit
}

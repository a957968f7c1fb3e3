/// Everything a reader can find wrong with a trace, each with the one line the CLI prints.
public enum TraceError: Error, Equatable, CustomStringConvertible {
    case notATrace(path: String, why: String)
    case unsupportedVersion(file: String, found: UInt32, supported: UInt32)
    case corruptHeader(why: String)
    case corruptChunk(offset: UInt64, why: String)
    case exists(path: String)
    case io(path: String, errno: Int32)
    case missingBlob(String)
    case corruptBlob(String, why: String)
    case notRegular(path: String)
    case corruptEvent(index: UInt64, why: String)

    public var description: String {
        switch self {
        case .notATrace(let p, let why): return "\(p) is not a Revenant trace: \(why)"
        case .unsupportedVersion(let f, let found, let supported):
            return "\(f) has trace format version \(found); this revenant reads version \(supported)"
        case .corruptHeader(let why): return "corrupt trace header: \(why)"
        case .corruptChunk(let off, let why): return "corrupt event chunk at byte offset \(off): \(why)"
        case .exists(let p): return "\(p) already exists (use --force to replace it)"
        case .io(let p, let e): return "\(p): \(String(cString: strerror(e)))"
        case .missingBlob(let h): return "blob \(h) is missing from the trace"
        case .corruptBlob(let h, let why): return "corrupt blob \(h): \(why)"
        case .notRegular(let p): return "\(p) is not a regular file"
        case .corruptEvent(let i, let why): return "corrupt event \(i): \(why)"
        }
    }
}

import Glibc

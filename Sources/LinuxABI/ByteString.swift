/// A string as Linux has it: bytes, any but NUL, in no particular encoding. Paths, arguments and
/// environment entries stay ByteStrings from the guest's memory (or the command line) to the host's
/// calls and into the trace, so that a byte that is not UTF-8 arrives unchanged; a Swift `String`
/// would replace it with U+FFFD. `description` is for people: UTF-8, with other bytes as `\xNN`.
public struct ByteString: Hashable, Comparable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public var bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public init<S: Sequence>(bytes: S) where S.Element == UInt8 { self.bytes = Array(bytes) }
    public init(_ string: String) { bytes = Array(string.utf8) }
    public init(stringLiteral value: String) { bytes = Array(value.utf8) }
    /// The bytes of a C string.
    public init(cString: UnsafePointer<CChar>) {
        var p = cString
        var out: [UInt8] = []
        while p.pointee != 0 {
            out.append(UInt8(bitPattern: p.pointee))
            p += 1
        }
        bytes = out
    }

    public var isEmpty: Bool { bytes.isEmpty }
    public var count: Int { bytes.count }
    public var first: UInt8? { bytes.first }
    public var last: UInt8? { bytes.last }

    /// The bytes as UTF-8 when they are, else nil.
    public var utf8String: String? {
        var it = bytes.makeIterator()
        var decoder = UTF8()
        var out = String.UnicodeScalarView()
        while true {
            switch decoder.decode(&it) {
            case .scalarValue(let s): out.append(s)
            case .emptyInput: return String(out)
            case .error: return nil
            }
        }
    }

    /// For messages and listings: UTF-8 as is, any other byte as `\xNN`.
    public var description: String {
        if let s = utf8String { return s }
        var out = ""
        var index = 0
        while index < bytes.count {
            var decoder = UTF8()
            var rest = bytes[index...].makeIterator()
            if case .scalarValue(let s) = decoder.decode(&rest) {
                out.unicodeScalars.append(s)
                index += UTF8.width(s)
            } else {
                out += "\\x" + (bytes[index] < 16 ? "0" : "") + String(bytes[index], radix: 16)
                index += 1
            }
        }
        return out
    }

    public static func < (a: ByteString, b: ByteString) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }
    public static func + (a: ByteString, b: ByteString) -> ByteString { ByteString(a.bytes + b.bytes) }
    public static func += (a: inout ByteString, b: ByteString) { a.bytes += b.bytes }

    public func hasPrefix(_ p: ByteString) -> Bool { bytes.starts(with: p.bytes) }
    public func hasSuffix(_ p: ByteString) -> Bool {
        bytes.count >= p.count && bytes.suffix(p.count).elementsEqual(p.bytes)
    }
    public func contains(_ byte: UInt8) -> Bool { bytes.contains(byte) }

    /// The parts between `separator` bytes.
    public func split(separator: UInt8, omittingEmpty: Bool = true) -> [ByteString] {
        bytes.split(separator: separator, omittingEmptySubsequences: omittingEmpty).map { ByteString(bytes: $0) }
    }

    public func dropFirst(_ n: Int) -> ByteString { ByteString(bytes: bytes.dropFirst(n)) }

    /// A NUL-terminated copy for a C call.
    /// The bytes NUL-terminated, in a temporary buffer (on the stack when small: a path passed to
    /// the host costs no heap allocation).
    public func withCString<R>(_ body: (UnsafePointer<CChar>) throws -> R) rethrows -> R {
        try withUnsafeTemporaryAllocation(of: CChar.self, capacity: bytes.count + 1) { buffer in
            let base = buffer.baseAddress!
            bytes.withUnsafeBytes { source in
                if let from = source.baseAddress {
                    UnsafeMutableRawPointer(base).copyMemory(from: from, byteCount: source.count)
                }
            }
            base[bytes.count] = 0
            return try body(base)
        }
    }
}

extension Array where Element == ByteString {
    public func joined(separator: ByteString) -> ByteString {
        var out: [UInt8] = []
        for (i, s) in enumerated() {
            if i > 0 { out += separator.bytes }
            out += s.bytes
        }
        return ByteString(out)
    }
}

/// In JSON (the trace header): a string when the bytes are UTF-8, else `{"hex": "…"}`
/// (Docs/trace-format.md).
extension ByteString: Codable {
    enum Key: String, CodingKey { case hex }

    public init(from decoder: Decoder) throws {
        if let s = try? decoder.singleValueContainer().decode(String.self) {
            self.init(s)
            return
        }
        let c = try decoder.container(keyedBy: Key.self)
        let hex = try c.decode(String.self, forKey: .hex)
        guard let bytes = ByteString.bytes(hex: hex) else {
            throw DecodingError.dataCorruptedError(
                forKey: .hex, in: c,
                debugDescription: "not an even number of hex digits")
        }
        self.init(bytes)
    }

    public func encode(to encoder: Encoder) throws {
        if let s = utf8String {
            var c = encoder.singleValueContainer()
            try c.encode(s)
        } else {
            var c = encoder.container(keyedBy: Key.self)
            try c.encode(bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(), forKey: .hex)
        }
    }

    static func bytes(hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        var i = 0
        while i < digits.count {
            guard let v = UInt8(String(decoding: digits[i..<i + 2], as: UTF8.self), radix: 16) else { return nil }
            out.append(v)
            i += 2
        }
        return out
    }
}

/// `path` with `.` and `..` taken out, without looking at the file system (`..` stops at `/`, as
/// in the guest's view): a name from a trace put under a folder of ours stays under it.
public func lexicallyNormalized(_ path: String) -> String {
    var parts: [Substring] = []
    for c in path.split(separator: "/") where c != "." {
        if c == ".." { _ = parts.popLast() } else { parts.append(c) }
    }
    return "/" + parts.joined(separator: "/")
}

import CGuestStub

/// CRC-32 (IEEE 802.3, the polynomial of zlib and PNG): guards each chunk of the event stream.
public enum CRC32 {
    static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    public static func checksum<C: Collection>(_ bytes: C, initial: UInt32 = 0) -> UInt32 where C.Element == UInt8 {
        var c = ~initial
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xff)] ^ (c >> 8) }
        return ~c
    }
}

/// SHA-256: the names of blobs in the content-addressed store, and every digest the trace keeps.
/// The shims' own implementation (GuestAgents/channel/sha256.c: the CPU's SHA extensions where it
/// has them), so that guest and VMM digest with the same code: recording hashes every file the
/// program maps (~7.5 MB for perl, ~5 ms), where a portable Swift implementation took ~55 ms.
public final class SHA256 {
    private var state = revenant_sha256()

    public init() { revenant_sha256_init(&state) }

    public func update<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        let done: Void? = bytes.withContiguousStorageIfAvailable { b in
            revenant_sha256_update(&state, b.baseAddress, b.count)
        }
        if done == nil { Array(bytes).withUnsafeBytes { revenant_sha256_update(&state, $0.baseAddress, $0.count) } }
    }

    public func finish() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        revenant_sha256_final(&state, &out)
        return out
    }

    public static func digest<C: Collection>(_ bytes: C) -> [UInt8] where C.Element == UInt8 {
        let s = SHA256()
        s.update(bytes)
        return s.finish()
    }

    public static func hex<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        Hex.string(digest(bytes))
    }
}

/// Lowercase hex, as blob names and header fields use it.
public enum Hex {
    public static func string<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        // One buffer, not a string per byte (a monitor asks for up to 1 MiB of memory).
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes of a hex string (pairs of digits; anything else reads as garbage, not a trap).
    public static func bytes(_ s: String) -> [UInt8] {
        func v(_ c: UInt8) -> UInt8 { c >= 97 ? c &- 87 : (c >= 65 ? c &- 55 : c &- 48) }
        var out: [UInt8] = []
        var it = s.utf8.makeIterator()
        while let a = it.next(), let b = it.next() { out.append(v(a) << 4 | v(b) & 0xf) }
        return out
    }
}

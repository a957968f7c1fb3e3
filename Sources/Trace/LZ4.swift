import CLZ4

/// liblz4's block format: each chunk of events is one block.
public enum LZ4 {
    public static func compress(_ input: [UInt8]) -> [UInt8] {
        guard !input.isEmpty else { return [] }
        let bound = Int(LZ4_compressBound(Int32(input.count)))
        var out = [UInt8](repeating: 0, count: bound)
        let n = input.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                LZ4_compress_default(
                    src.baseAddress!.assumingMemoryBound(to: CChar.self),
                    dst.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(input.count), Int32(bound))
            }
        }
        out.removeLast(bound - Int(max(n, 0)))
        return out
    }

    /// Decompress to exactly `size` bytes; nil when the block is corrupt or of another size.
    public static func decompress(_ input: ArraySlice<UInt8>, size: Int) -> [UInt8]? {
        if size == 0 { return input.isEmpty ? [] : nil }
        guard !input.isEmpty, size > 0 else { return nil }
        var out = [UInt8](repeating: 0, count: size)
        let n = input.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                LZ4_decompress_safe(
                    src.baseAddress!.assumingMemoryBound(to: CChar.self),
                    dst.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(input.count), Int32(size))
            }
        }
        return n == Int32(size) ? out : nil
    }
}

import Glibc

/// KVM's binary statistics (KVM_GET_STATS_FD): named counters such as `exits` and `pf_fixed`.
public struct KVMStats {
    public private(set) var values: [String: UInt64] = [:]

    /// Read every counter from a stats descriptor (see Documentation/virt/kvm/api.rst, 4.133).
    public init?(fd: Int32) {
        // flags, name_size, num_desc, id_offset, desc_offset, data_offset
        var header = [UInt32](repeating: 0, count: 6)
        guard header.withUnsafeMutableBytes({ pread(fd, $0.baseAddress, 24, 0) }) == 24 else { return nil }
        let nameSize = Int(header[1]), count = Int(header[2]), descOffset = Int(header[4]), dataOffset = Int(header[5])
        let descSize = 16 + nameSize
        var descs = [UInt8](repeating: 0, count: descSize * count)
        guard descs.withUnsafeMutableBytes({ pread(fd, $0.baseAddress, $0.count, off_t(descOffset)) }) == descs.count
        else { return nil }
        var maxEnd = 0
        var parsed: [(String, Int, Int)] = []
        for i in 0..<count {
            let d = i * descSize
            let size = Int(descs.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: d + 6, as: UInt16.self) })
            let offset = Int(descs.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: d + 8, as: UInt32.self) })
            let name = String(decoding: descs[(d + 16)..<(d + 16 + nameSize)].prefix { $0 != 0 }, as: UTF8.self)
            parsed.append((name, offset, size))
            maxEnd = max(maxEnd, offset + 8 * size)
        }
        var data = [UInt64](repeating: 0, count: maxEnd / 8 + 1)
        guard data.withUnsafeMutableBytes({ pread(fd, $0.baseAddress, maxEnd, off_t(dataOffset)) }) == maxEnd else {
            return nil
        }
        for (name, offset, size) in parsed where size == 1 { values[name] = data[offset / 8] }
    }

    public subscript(_ name: String) -> UInt64 { values[name] ?? 0 }
}

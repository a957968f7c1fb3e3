import CKVM

/// The CPUID leaves glibc reads. Under PVM CPUID runs natively in the guest, so this is what the
/// program sees; a replay on a host with another signature must be refused (#4).
public struct CPUSignature: Equatable, Sendable, Codable {
    public struct Leaf: Equatable, Sendable, Codable {
        public var leaf: UInt32, subleaf: UInt32, eax: UInt32, ebx: UInt32, ecx: UInt32, edx: UInt32
    }
    public var leaves: [Leaf]

    public static let readLeaves: [(UInt32, UInt32)] = [
        (0, 0), (1, 0), (7, 0), (7, 1), (0xd, 0), (0xd, 1), (0x14, 0), (0x19, 0),
        (0x8000_0000, 0), (0x8000_0001, 0), (0x8000_0007, 0), (0x8000_0008, 0),
    ]

    public static func captureHost() -> CPUSignature {
        CPUSignature(
            leaves: readLeaves.map { l, s in
                var out: [UInt32] = [0, 0, 0, 0]
                ckvm_host_cpuid(l, s, &out)
                // Leaf 1 EBX bits 31..24 are the APIC id of whichever core ran this: not a property of the CPU.
                let ebx = l == 1 ? out[1] & 0x00ff_ffff : out[1]
                return Leaf(leaf: l, subleaf: s, eax: out[0], ebx: ebx, ecx: out[2], edx: out[3])
            })
    }

    public var vendor: String {
        guard let l0 = leaves.first(where: { $0.leaf == 0 }) else { return "?" }
        let bytes = [l0.ebx, l0.edx, l0.ecx].flatMap { v in (0..<4).map { UInt8((v >> (8 * $0)) & 0xff) } }
        return String(decoding: bytes, as: UTF8.self)
    }

    public var brand: String {
        let words: [UInt32] = ([0x8000_0002, 0x8000_0003, 0x8000_0004] as [UInt32]).flatMap { l -> [UInt32] in
            var out: [UInt32] = [0, 0, 0, 0]
            ckvm_host_cpuid(l, 0, &out)
            return out
        }
        let bytes = words.flatMap { v in (0..<4).map { UInt8((v >> (8 * $0)) & 0xff) } }
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self).trimmingCharacters(in: " ")
    }

    /// CPUID.1:EDX, the AT_HWCAP value Linux gives x86-64 programs.
    public var hwcap: UInt64 { UInt64(leaves.first { $0.leaf == 1 }?.edx ?? 0) }

    public var features: [String] {
        let l1 = leaves.first { $0.leaf == 1 }, l7 = leaves.first { $0.leaf == 7 && $0.subleaf == 0 }
        var f: [String] = []
        if let l1 {
            if l1.ecx & (1 << 28) != 0 { f.append("avx") }
            if l1.ecx & (1 << 30) != 0 { f.append("rdrand") }
        }
        if let l7 {
            if l7.ebx & (1 << 5) != 0 { f.append("avx2") }
            if l7.ebx & (1 << 16) != 0 { f.append("avx512f") }
            if l7.ebx & (1 << 18) != 0 { f.append("rdseed") }
        }
        return f
    }
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}

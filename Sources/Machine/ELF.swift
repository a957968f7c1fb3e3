import Glibc
import LinuxABI

/// The parts of an ELF64 x86-64 file the loader and the symbolizer need.
public struct ELFFile {
    public struct Segment {
        public var type: UInt32, flags: UInt32, offset: UInt64, vaddr: UInt64, filesz: UInt64, memsz: UInt64,
            align: UInt64
    }
    public var type: UInt16
    public var entry: UInt64
    public var phoff: UInt64
    public var phnum: Int
    public var segments: [Segment]
    public var interpreter: ByteString?

    public static let ptLoad: UInt32 = 1, ptInterp: UInt32 = 3, ptPhdr: UInt32 = 6
    public static let etExec: UInt16 = 2, etDyn: UInt16 = 3

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case notELF, unsupported(String), truncated
        public var description: String {
            switch self {
            case .notELF: return "not an ELF file"
            case .unsupported(let why): return why
            case .truncated: return "truncated ELF file"
            }
        }
    }

    /// `bytes` holds the start of the file; `readAt` fetches what lies beyond (PT_INTERP may sit far in).
    public init(bytes: [UInt8], readAt: ((UInt64, Int) -> [UInt8]?)? = nil) throws(ParseError) {
        guard bytes.count >= 64, bytes[0] == 0x7f, bytes[1] == 0x45, bytes[2] == 0x4c, bytes[3] == 0x46 else {
            throw .notELF
        }
        guard bytes[4] == 2, bytes[5] == 1 else { throw .unsupported("not a 64-bit little-endian ELF file") }
        func u16(_ o: Int) -> UInt16 { UInt16(bytes[o]) | UInt16(bytes[o + 1]) << 8 }
        func u32(_ o: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[o + $1]) << (8 * $1) } }
        func u64(_ o: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[o + $1]) << (8 * $1) } }
        guard u16(18) == 62 else { throw .unsupported("not an x86-64 ELF file (e_machine \(u16(18)))") }
        type = u16(16)
        guard type == ELFFile.etExec || type == ELFFile.etDyn else {
            throw .unsupported("ELF type \(type) is not executable")
        }
        entry = u64(24)
        phoff = u64(32)
        let phentsize = Int(u16(54))
        phnum = Int(u16(56))
        guard phentsize == 56, phoff < UInt64(bytes.count), Int(phoff) + phnum * 56 <= bytes.count else {
            throw .truncated
        }
        let ph = Int(phoff)
        segments = (0..<phnum).map { i in
            let o = ph + i * 56
            return Segment(
                type: u32(o), flags: u32(o + 4), offset: u64(o + 8), vaddr: u64(o + 16),
                filesz: u64(o + 32), memsz: u64(o + 40), align: u64(o + 48))
        }
        interpreter = nil
        let segs = segments
        if let interp = segs.first(where: { $0.type == ELFFile.ptInterp }) {
            guard interp.filesz > 0, interp.filesz < 4096 else { throw .truncated }
            let raw: [UInt8]
            // (No overflow: the offset is the file's, any 64-bit number.)
            if interp.offset <= UInt64(bytes.count), interp.filesz <= UInt64(bytes.count) - interp.offset {
                raw = Array(bytes[Int(interp.offset)..<Int(interp.offset + interp.filesz)])
            } else if let r = readAt?(interp.offset, Int(interp.filesz)), r.count == Int(interp.filesz) {
                raw = r
            } else {
                throw .truncated
            }
            interpreter = ByteString(bytes: raw.prefix { $0 != 0 })
        }
    }

    /// Reads the header and program headers of the file at `fd`.
    public static func read(fd: Int32) throws(ParseError) -> ELFFile {
        let want = 4096
        var head = [UInt8](repeating: 0, count: want)
        let n = head.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, 0) }
        guard n >= 4 else { throw .notELF }
        head.removeLast(want - n)
        return try ELFFile(bytes: head) { offset, count in
            var b = [UInt8](repeating: 0, count: count)
            let got = b.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
            return got == count ? b : nil
        }
    }

    public var loads: [Segment] { segments.filter { $0.type == ELFFile.ptLoad } }
    /// Lowest and highest (page-rounded) virtual address of the loadable segments.
    public var span: (low: UInt64, high: UInt64) {
        let low = loads.map(\.vaddr).min() ?? 0
        let high = loads.map { $0.vaddr + $0.memsz }.max() ?? 0
        return (low & ~0xfff, (high + 0xfff) & ~0xfff)
    }
}

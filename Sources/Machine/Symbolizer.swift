import Glibc

/// Names the function around an address in an ELF file (its .symtab, else .dynsym), for crash
/// reports; and finds a function's file offsets by name, for breakpoints.
public enum Symbolizer {
    /// The file offsets of the functions with these names in an ELF file (.symtab and .dynsym),
    /// in one pass over the file however many names are asked for.
    public static func fileOffsets(of names: Set<String>, inFile path: String) -> [String: [UInt64]] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [:] }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size > 64, st.st_size < 512 << 20 else { return [:] }
        guard let map = mmap(nil, Int(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED else { return [:] }
        defer { munmap(map, Int(st.st_size)) }
        let b = UnsafeRawBufferPointer(start: map, count: Int(st.st_size))
        func u16(_ o: Int) -> UInt16 { b.loadUnaligned(fromByteOffset: o, as: UInt16.self) }
        func u32(_ o: Int) -> UInt32 { b.loadUnaligned(fromByteOffset: o, as: UInt32.self) }
        func u64(_ o: Int) -> UInt64 { b.loadUnaligned(fromByteOffset: o, as: UInt64.self) }
        guard b[0] == 0x7f, b[1] == 0x45, b[4] == 2 else { return [:] }
        let phoff = Int(u64(32)), phnum = Int(u16(56))
        let shoff = Int(u64(40)), shentsize = Int(u16(58)), shnum = Int(u16(60))
        guard shentsize == 64, shoff > 0, shoff + shnum * 64 <= b.count else { return [:] }
        var out: [String: Set<UInt64>] = [:]
        for i in 0..<shnum {
            let sh = shoff + i * 64
            guard u32(sh + 4) == 2 || u32(sh + 4) == 11 else { continue }
            let symOff = Int(u64(sh + 24)), symSize = Int(u64(sh + 32)), link = Int(u32(sh + 40))
            guard link < shnum else { continue }
            let strOff = Int(u64(shoff + link * 64 + 24)), strSize = Int(u64(shoff + link * 64 + 32))
            guard symOff + symSize <= b.count, strOff + strSize <= b.count else { continue }
            for s in stride(from: symOff, to: symOff + symSize, by: 24) {
                let value = u64(s + 8), nameOff = strOff + Int(u32(s))
                guard b[s + 4] & 0xf == 2, value != 0, u16(s + 6) != 0, nameOff < strOff + strSize else { continue }
                let name = String(cString: b.baseAddress!.advanced(by: nameOff).assumingMemoryBound(to: CChar.self))
                guard names.contains(name) else { continue }
                // Virtual address → file offset through the PT_LOAD that holds it.
                for p in 0..<phnum {
                    let o = phoff + p * 56
                    guard o + 56 <= b.count, u32(o) == 1 else { continue }
                    let off = u64(o + 8), va = u64(o + 16), filesz = u64(o + 32)
                    if value >= va && value < va + filesz { out[name, default: []].insert(value - va + off) }
                }
            }
        }
        return out.mapValues { $0.sorted() }
    }

    /// `fileOffset` is the address's offset in the file; returns "name+0xoff" or nil.
    public static func symbol(inFile path: String, fileOffset: UInt64) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size > 64, st.st_size < 512 << 20 else { return nil }
        guard let map = mmap(nil, Int(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED else { return nil }
        defer { munmap(map, Int(st.st_size)) }
        let b = UnsafeRawBufferPointer(start: map, count: Int(st.st_size))
        func u16(_ o: Int) -> UInt16 { b.loadUnaligned(fromByteOffset: o, as: UInt16.self) }
        func u32(_ o: Int) -> UInt32 { b.loadUnaligned(fromByteOffset: o, as: UInt32.self) }
        func u64(_ o: Int) -> UInt64 { b.loadUnaligned(fromByteOffset: o, as: UInt64.self) }
        guard b[0] == 0x7f, b[1] == 0x45, b[4] == 2 else { return nil }
        // File offset → virtual address through the PT_LOAD that holds it.
        let phoff = Int(u64(32)), phnum = Int(u16(56))
        var vaddr: UInt64?
        for i in 0..<phnum {
            let o = phoff + i * 56
            guard o + 56 <= b.count, u32(o) == 1 else { continue }
            let off = u64(o + 8), va = u64(o + 16), filesz = u64(o + 32)
            if fileOffset >= off && fileOffset < off + filesz { vaddr = fileOffset - off + va }
        }
        guard let addr = vaddr else { return nil }
        let shoff = Int(u64(40)), shentsize = Int(u16(58)), shnum = Int(u16(60))
        guard shentsize == 64, shoff > 0, shoff + shnum * 64 <= b.count else { return nil }
        var best: (name: String, value: UInt64)?
        for wanted in [UInt32(2) /* SHT_SYMTAB */, 11 /* SHT_DYNSYM */] where best == nil {
            for i in 0..<shnum {
                let sh = shoff + i * 64
                guard u32(sh + 4) == wanted else { continue }
                let symOff = Int(u64(sh + 24)), symSize = Int(u64(sh + 32)), link = Int(u32(sh + 40))
                guard link < shnum else { continue }
                let strOff = Int(u64(shoff + link * 64 + 24)), strSize = Int(u64(shoff + link * 64 + 32))
                guard symOff + symSize <= b.count, strOff + strSize <= b.count else { continue }
                for s in stride(from: symOff, to: symOff + symSize, by: 24) {
                    let info = b[s + 4], value = u64(s + 8), size = u64(s + 16)
                    guard info & 0xf == 2 /* STT_FUNC */, value != 0, value <= addr else { continue }
                    guard size == 0 || addr < value + size || best == nil else { continue }
                    if size != 0 && addr >= value + size { continue }
                    if best == nil || value > best!.value {
                        let nameOff = strOff + Int(u32(s))
                        guard nameOff < strOff + strSize else { continue }
                        let name = String(cString: b.baseAddress!.advanced(by: nameOff).assumingMemoryBound(to: CChar.self))
                        best = (name, value)
                    }
                }
            }
        }
        guard let best else { return nil }
        return "\(best.name)+0x\(String(addr - best.value, radix: 16))"
    }
}

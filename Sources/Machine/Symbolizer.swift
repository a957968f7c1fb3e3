import Glibc

/// Names the function around an address in an ELF file (its .symtab, else .dynsym), for crash
/// reports; and finds a function's file offsets by name, for breakpoints.
public enum Symbolizer {
    /// `fileOffset` is the address's offset in the file; returns "name+0xoff" or nil.
    public static func symbol(inFile path: String, fileOffset: UInt64) -> String? {
        withELF(path) { elf -> String? in
            // File offset → virtual address through the PT_LOAD that holds it.
            var vaddr: UInt64?
            elf.forEachLoad { off, va, filesz in
                if fileOffset >= off && fileOffset < off + filesz { vaddr = fileOffset - off + va }
            }
            guard let addr = vaddr else { return nil }
            var best: (name: String, value: UInt64)?
            for table in [UInt32(2) /* SHT_SYMTAB */, 11 /* SHT_DYNSYM */] where best == nil {
                elf.forEachFunction(in: table) { nameOff, value, size in
                    guard value <= addr, size == 0 || addr < value + size || best == nil else { return }
                    if size != 0 && addr >= value + size { return }
                    if best == nil || value > best!.value { best = (elf.string(at: nameOff), value) }
                }
            }
            return best.map { "\($0.name)+0x\(String(addr - $0.value, radix: 16))" }
        } ?? nil
    }

    /// The file offsets of the functions with these names in an ELF file (.symtab and .dynsym),
    /// in one pass over the file however many names are asked for.
    public static func fileOffsets(of names: Set<String>, inFile path: String) -> [String: [UInt64]] {
        withELF(path) { elf -> [String: [UInt64]] in
            var out: [String: Set<UInt64>] = [:]
            for table in [UInt32(2), 11] {
                elf.forEachFunction(in: table) { nameOff, value, _ in
                    let name = elf.string(at: nameOff)
                    guard names.contains(name) else { return }
                    // Virtual address → file offset through the PT_LOAD that holds it.
                    elf.forEachLoad { off, va, filesz in
                        if value >= va && value < va + filesz { out[name, default: []].insert(value - va + off) }
                    }
                }
            }
            return out.mapValues { $0.sorted() }
        } ?? [:]
    }

    /// An ELF64 file mapped for reading, and the few walks the two questions need.
    struct ELF {
        let b: UnsafeRawBufferPointer
        func u16(_ o: Int) -> UInt16 { b.loadUnaligned(fromByteOffset: o, as: UInt16.self) }
        func u32(_ o: Int) -> UInt32 { b.loadUnaligned(fromByteOffset: o, as: UInt32.self) }
        func u64(_ o: Int) -> UInt64 { b.loadUnaligned(fromByteOffset: o, as: UInt64.self) }

        /// (file offset, virtual address, file size) of every PT_LOAD.
        func forEachLoad(_ body: (UInt64, UInt64, UInt64) -> Void) {
            let phoff = Int(u64(32)), phnum = Int(u16(56))
            for i in 0..<phnum {
                let o = phoff + i * 56
                guard o + 56 <= b.count, u32(o) == 1 else { continue }
                body(u64(o + 8), u64(o + 16), u64(o + 32))
            }
        }

        /// (name's offset in the file, value, size) of every defined function in the symbol
        /// tables of type `table` (SHT_SYMTAB 2, SHT_DYNSYM 11); names are checked to lie in
        /// their string table.
        func forEachFunction(in table: UInt32, _ body: (Int, UInt64, UInt64) -> Void) {
            let shoff = Int(u64(40)), shentsize = Int(u16(58)), shnum = Int(u16(60))
            guard shentsize == 64, shoff > 0, shoff + shnum * 64 <= b.count else { return }
            for i in 0..<shnum {
                let sh = shoff + i * 64
                guard u32(sh + 4) == table else { continue }
                let symOff = Int(u64(sh + 24)), symSize = Int(u64(sh + 32)), link = Int(u32(sh + 40))
                guard link < shnum else { continue }
                let strOff = Int(u64(shoff + link * 64 + 24)), strSize = Int(u64(shoff + link * 64 + 32))
                guard symOff + symSize <= b.count, strOff + strSize <= b.count else { continue }
                for s in stride(from: symOff, to: symOff + symSize, by: 24) {
                    let value = u64(s + 8), nameOff = strOff + Int(u32(s))
                    guard b[s + 4] & 0xf == 2 /* STT_FUNC */, value != 0, u16(s + 6) != 0 /* defined */,
                        nameOff < strOff + strSize
                    else { continue }
                    body(nameOff, value, u64(s + 16))
                }
            }
        }

        func string(at offset: Int) -> String {
            String(cString: b.baseAddress!.advanced(by: offset).assumingMemoryBound(to: CChar.self))
        }
    }

    /// `body` over the ELF64 file at `path`, mapped read-only; nil when it is not one.
    static func withELF<T>(_ path: String, _ body: (ELF) -> T) -> T? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size > 64, st.st_size < 512 << 20 else { return nil }
        guard let map = mmap(nil, Int(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED else { return nil }
        defer { munmap(map, Int(st.st_size)) }
        let b = UnsafeRawBufferPointer(start: map, count: Int(st.st_size))
        guard b[0] == 0x7f, b[1] == 0x45, b[4] == 2 else { return nil }
        return body(ELF(b: b))
    }
}

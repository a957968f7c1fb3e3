import GuestMemory

/// Function bounds from a mapped ELF file's `.eh_frame_hdr` (PT_GNU_EH_FRAME): its sorted table of
/// FDEs, each the start and length of one function (or of a function's cold part). Read from
/// guest memory, as the program mapped it, so that record and replay read the same bytes. Only
/// the encodings GNU ld writes are read (table datarel sdata4, FDE pcrel sdata4); anything else
/// gives no bounds, and the site keeps trapping.
enum ELFFunctions {
    static let ptGNUEHFrame: UInt32 = 0x6474_e550

    /// The function containing `address`, inside the executable file mapping `mapping`, and the
    /// functions next to it that start or end within `margin` bytes of the address (a short jump
    /// of theirs could land there).
    static func functions(
        around address: UInt64, margin: UInt64, mapping: Mapping, space: AddressSpace
    ) -> (containing: Range<UInt64>, neighbours: [Range<UInt64>])? {
        guard let hdr = ehFrameHeader(mapping: mapping, space: space),
            let head = try? space.bytes(at: hdr, count: 12), head[0] == 1, head[2] == 0x03, head[3] == 0x3b,
            let count = try? space.load(UInt32.self, at: hdr &+ 8)
        else { return nil }
        /// Entry i of the table: its function's bounds, read from the FDE it points to.
        func function(_ i: UInt32) -> Range<UInt64>? {
            guard i < count, let loc = try? space.load(Int32.self, at: hdr &+ (12 + 8 * UInt64(i))),
                let rel = try? space.load(Int32.self, at: hdr &+ (16 + 8 * UInt64(i)))
            else { return nil }
            let start = hdr &+ UInt64(bitPattern: Int64(loc)), fde = hdr &+ UInt64(bitPattern: Int64(rel))
            guard let length = try? space.load(UInt32.self, at: fde), length != 0xffff_ffff,
                let ciePointer = try? space.load(UInt32.self, at: fde &+ 4),
                let begin = try? space.load(Int32.self, at: fde &+ 8),
                let range = try? space.load(UInt32.self, at: fde &+ 12),
                fde &+ 8 &+ UInt64(bitPattern: Int64(begin)) == start,
                !isSignalFrame(cie: fde &+ 4 &- UInt64(ciePointer), space: space)
            else { return nil }
            // (Wrapping and checked arithmetic throughout: these numbers are the program's.)
            let (end, overflow) = start.addingReportingOverflow(UInt64(range))
            return overflow ? nil : start..<end
        }
        // The last entry starting at or below the address.
        var lo: UInt32 = 0, hi = count
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            guard let loc = try? space.load(Int32.self, at: hdr &+ (12 + 8 * UInt64(mid))) else { return nil }
            if hdr &+ UInt64(bitPattern: Int64(loc)) <= address { lo = mid + 1 } else { hi = mid }
        }
        guard lo > 0, let containing = function(lo - 1), containing.contains(address) else { return nil }
        let window = (address - min(address, margin))..<(address + margin)
        let neighbours = [lo >= 2 ? function(lo - 2) : nil, function(lo)].compactMap { $0 }.filter {
            $0.overlaps(window) && $0 != containing
        }
        return (containing, neighbours)
    }

    /// A CIE whose augmentation has `S`: its FDEs describe signal trampolines (`__restore_rt`), and
    /// start one byte before their code, for unwinders that look up return address − 1. Decoding
    /// from there would misread the instructions, so such functions have no bounds here.
    static func isSignalFrame(cie: UInt64, space: AddressSpace) -> Bool {
        // length, CIE id (0), version, then the NUL-terminated augmentation string.
        guard let id = try? space.load(UInt32.self, at: cie &+ 4), id == 0,
            let augmentation = try? space.cString(at: cie &+ 9, max: 16)
        else { return true }
        return augmentation.contains(UInt8(ascii: "S"))
    }

    /// Where the mapped file's `.eh_frame_hdr` is: its ELF header is mapped at file offset 0 just
    /// below (ld.so and the loader map every segment of a file before its code runs).
    static func ehFrameHeader(mapping: Mapping, space: AddressSpace) -> UInt64? {
        guard mapping.start >= space.layout.programStart, mapping.offset <= mapping.start - space.layout.programStart
        else { return nil }
        let header = mapping.start - mapping.offset
        guard let first = space.mapping(containing: header), first.path == mapping.path, first.offset == 0,
            first.start == header, let bytes = try? space.bytes(at: header, count: Int(min(4096, first.end - header))),
            // (PT_INTERP's string, which libc.so.6 has too, may lie past the first page.)
            let elf = try? ELFFile(
                bytes: bytes,
                readAt: { offset, count in
                    let (at, overflow) = header.addingReportingOverflow(offset)
                    return overflow ? nil : try? space.bytes(at: at, count: count)
                })
        else { return nil }
        // The executable segment mapped here fixes the load bias; the header must agree with it.
        let page: UInt64 = 0xfff
        guard
            let text = elf.segments.first(where: {
                $0.type == ELFFile.ptLoad && $0.flags & 1 != 0 && $0.offset & ~page == mapping.offset
            }),
            let load0 = elf.segments.first(where: { $0.type == ELFFile.ptLoad && $0.offset == 0 }),
            mapping.start >= text.vaddr & ~page
        else { return nil }
        let bias = mapping.start - (text.vaddr & ~page)
        guard bias &+ load0.vaddr == header, let eh = elf.segments.first(where: { $0.type == ptGNUEHFrame }) else {
            return nil
        }
        return bias &+ eh.vaddr
    }
}

/// Builds the guest's page tables once, before it runs: all guest RAM identity-offset mapped
/// (virtual = base + physical) with 2 MiB pages, user-accessible and writable, and the system area
/// with 4 KiB pages so that only the stub, its MMIO window and nothing else is user-accessible.
/// Static tables keep PVM's shadow MMU from having to follow VMM-side page-table edits; mmap and
/// friends then only change the host backing (see Docs/machine.md "Guest address space").
public enum PageTables {
    static let present: UInt64 = 1, writable: UInt64 = 2, user: UInt64 = 4, huge: UInt64 = 0x80

    public static func build(_ space: AddressSpace) {
        let layout = space.layout
        let sys = space.systemArea
        func entry(_ offset: UInt64) -> UnsafeMutablePointer<UInt64> {
            (sys + Int(offset)).assumingMemoryBound(to: UInt64.self)
        }
        let base = GuestLayout.base
        // PML4 → one PDPT. base is 512 GiB-aligned-below so the whole space is in PML4[base>>39].
        entry(GuestLayout.pml4 + 8 * ((base >> 39) & 511)).pointee = GuestLayout.pdpt | present | writable | user
        let gib: UInt64 = 1 << 30
        let gibs = (layout.size + gib - 1) / gib
        for g in 0..<gibs {
            let pd = GuestLayout.pageDirectories + g * 0x1000
            entry(GuestLayout.pdpt + 8 * (((base >> 30) + g) & 511)).pointee = pd | present | writable | user
            for i in 0..<UInt64(512) {
                let phys = g * gib + i * GuestLayout.hugePage
                guard phys < layout.size else { break }
                if phys == 0 {
                    entry(pd).pointee = GuestLayout.systemPageTable | present | writable | user
                } else {
                    entry(pd + 8 * i).pointee = phys | present | writable | user | huge
                }
            }
        }
        // The system 2 MiB, page by page: supervisor-only except the stub and its MMIO window.
        for i in 0..<UInt64(512) {
            let off = i * GuestLayout.page
            var flags = present | writable
            if off >= GuestLayout.stubCode && off < GuestLayout.stubCode + GuestLayout.stubCodeSize { flags |= user }
            if off == GuestLayout.mailbox { flags |= user }
            var target = off
            if off == GuestLayout.mmioWindow {
                target = GuestLayout.mmioBase
                flags |= user
            }
            entry(GuestLayout.systemPageTable + 8 * i).pointee = target | flags
        }
    }
}

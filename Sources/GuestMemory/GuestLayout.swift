/// Where things live in the guest. A guest virtual address equals the host address that backs it
/// (one reservation at `base`), and guest physical = virtual − base. The first 2 MiB hold what the
/// VMM owns (page tables, GDT, IDT, TSS, the stub, its stacks); the program gets the rest.
public struct GuestLayout: Sendable, Equatable {
    /// 64 GiB: far from where the host process keeps its binary (0x55…) and its mappings (0x7f…).
    public static let base: UInt64 = 0x10_0000_0000
    public static let systemSize: UInt64 = 2 << 20
    /// Guest-physical addresses with no memory slot: a store there is a KVM_EXIT_MMIO. They sit
    /// above all RAM (RAM is capped below 64 GiB).
    public static let mmioBase: UInt64 = 0x10_0000_0000
    public static let maxMemory: UInt64 = 60 << 30
    public static let page: UInt64 = 4096
    public static let hugePage: UInt64 = 2 << 20
    /// Anonymous mappings up to this size are populated on the host when mapped: a first touch of
    /// a page the host lacks costs a PVM shadow fault plus a host fault (~50 µs here, ~0.5 µs
    /// natively), so heap growth is paid up front. Larger ones are left lazy (sparse use). Private
    /// file mappings up to this size are read into memory when mapped; larger ones map the file.
    public static let populateLimit: UInt64 = 64 << 20

    /// Total guest memory (GPA 0 ..< size); a multiple of 2 MiB.
    public let size: UInt64

    public init(memory: UInt64) {
        // Capped first: the size may come from a trace's header, any 64-bit number.
        let capped = min(memory, GuestLayout.maxMemory)
        let rounded = (capped + GuestLayout.hugePage - 1) & ~(GuestLayout.hugePage - 1)
        size = min(max(rounded, 64 << 20), GuestLayout.maxMemory)
    }

    public var start: UInt64 { GuestLayout.base }
    public var end: UInt64 { GuestLayout.base + size }
    /// First address the program may use.
    public var programStart: UInt64 { GuestLayout.base + GuestLayout.systemSize }

    public func physical(_ virt: UInt64) -> UInt64 { virt - GuestLayout.base }
    public func virtual(physical gpa: UInt64) -> UInt64 { gpa + GuestLayout.base }

    // System area offsets (bytes from `base`, = guest-physical addresses).
    public static let pml4: UInt64 = 0x0000
    public static let pdpt: UInt64 = 0x1000
    public static let pageDirectories: UInt64 = 0x2000  // one per GiB, up to 60
    public static let systemPageTable: UInt64 = 0x40000  // 4 KiB pages for the first 2 MiB
    public static let gdt: UInt64 = 0x41000
    public static let idt: UInt64 = 0x42000
    public static let tss: UInt64 = 0x43000
    public static let stubCode: UInt64 = 0x44000  // user-executable: PVM runs the LSTAR stub at CPL3
    public static let stubCodeSize: UInt64 = 0x2000
    public static let mmioWindow: UInt64 = 0x46000  // virtual page mapped to `mmioBase`
    public static let mailbox: UInt64 = 0x47000  // shared by the stub (CPL3 under PVM) and the spinner
    public static let exceptionStackBottom: UInt64 = 0x48000
    public static let exceptionStackTop: UInt64 = 0x50000
}

import CGuestStub
import CKVM
import GuestMemory
import KVM
import Glibc

/// The CPU state a Linux x86-64 program expects at its first instruction: 64-bit mode at CPL3
/// with Linux's selectors, `syscall` enabled and aimed at the stub, exceptions through an IDT
/// that also ends in the stub. The values and why: Docs/machine.md "CPU state" (measured under PVM).
enum LongMode {
    static let kernelCS: UInt16 = 0x10, kernelDS: UInt16 = 0x18, user32CS: UInt16 = 0x23
    static let userDS: UInt16 = 0x2b, userCS: UInt16 = 0x33, tss: UInt16 = 0x40

    /// Write GDT, IDT, TSS and the stub into the system area.
    static func writeSystemTables(_ space: AddressSpace) {
        let sys = space.systemArea
        let base = GuestLayout.base
        func put(_ v: UInt64, _ off: UInt64) { (sys + Int(off)).storeBytes(of: v, as: UInt64.self) }

        // GDT: null, -, kernel code, kernel data, user32 code, user data, user code, -, TSS (16 bytes).
        let gdt = GuestLayout.gdt
        put(0x00AF_9A00_0000_FFFF, gdt + 0x10)
        put(0x00CF_9200_0000_FFFF, gdt + 0x18)
        put(0x00CF_FA00_0000_FFFF, gdt + 0x20)
        put(0x00CF_F200_0000_FFFF, gdt + 0x28)
        put(0x00AF_FA00_0000_FFFF, gdt + 0x30)
        let tssAddr = base + GuestLayout.tss
        let tssLimit: UInt64 = 103
        put(
            tssLimit | (tssAddr & 0xFFFF) << 16 | ((tssAddr >> 16) & 0xFF) << 32 | UInt64(0x89) << 40
                | ((tssAddr >> 24) & 0xFF) << 56, gdt + 0x40)
        put(tssAddr >> 32, gdt + 0x48)

        // TSS: RSP0 and IST1 on the exception stack; no I/O bitmap.
        let stackTop = base + GuestLayout.exceptionStackTop
        (sys + Int(GuestLayout.tss + 4)).storeBytes(of: stackTop, as: UInt64.self)
        (sys + Int(GuestLayout.tss + 36)).storeBytes(of: stackTop, as: UInt64.self)
        (sys + Int(GuestLayout.tss + 102)).storeBytes(of: UInt16(104), as: UInt16.self)

        // The stub. Its rip-relative stores reach the MMIO window and the mailbox at fixed distances.
        var length: UInt = 0
        let stub = revenant_stub_bytes(&length)!
        precondition(UInt64(length) <= GuestLayout.stubCodeSize, "stub larger than its pages")
        (sys + Int(GuestLayout.stubCode)).copyMemory(from: stub, byteCount: Int(length))

        // IDT: vectors 0–31 to the stub's entries, interrupt gates on IST1; int3/into callable from CPL3.
        for v in 0..<32 {
            let handler = base + GuestLayout.stubCode + UInt64(revenant_stub_vector_offset(UInt32(v)))
            let dpl: UInt64 = (v == 3 || v == 4) ? 3 : 0
            let low =
                (handler & 0xFFFF) | UInt64(kernelCS) << 16 | UInt64(1) << 32 | (0x8E | dpl << 5) << 40
                | ((handler >> 16) & 0xFFFF) << 48
            put(low, GuestLayout.idt + UInt64(16 * v))
            put(handler >> 32, GuestLayout.idt + UInt64(16 * v) + 8)
        }
    }

    static func segment(_ selector: UInt16, code: Bool, dpl: UInt8) -> kvm_segment {
        var s = kvm_segment()
        s.base = 0
        s.limit = 0xFFFF_FFFF
        s.selector = selector
        s.type = code ? 11 : 3
        s.present = 1
        s.dpl = dpl
        s.db = code ? 0 : 1
        s.s = 1
        s.l = code ? 1 : 0
        s.g = 1
        return s
    }

    static func configure(
        _ vcpu: VCPU, entry: UInt64, stack: UInt64, cpuid: [kvm_cpuid_entry2], lstar: UInt64
    ) throws(KVMError) {
        try vcpu.setCPUID(cpuid)
        var sregs = try vcpu.getSregs()
        let base = GuestLayout.base
        sregs.cr0 = 0x8005_0033  // PE MP ET NE WP PG
        sregs.cr3 = GuestLayout.pml4  // guest-physical
        sregs.cr4 = 0x20 | 0x200 | 0x400 | 0x10000 | 0x40000  // PAE OSFXSR OSXMMEXCPT FSGSBASE OSXSAVE
        sregs.efer = 0x1 | 0x100 | 0x400 | 0x800  // SCE LME LMA NXE
        sregs.cs = segment(userCS, code: true, dpl: 3)
        let data = segment(userDS, code: false, dpl: 3)
        sregs.ss = data
        sregs.ds = data
        sregs.es = data
        sregs.fs = data
        sregs.gs = data
        var tr = kvm_segment()
        tr.base = base + GuestLayout.tss
        tr.limit = 103
        tr.selector = tss
        tr.type = 11
        tr.present = 1
        sregs.tr = tr
        var ldt = kvm_segment()
        ldt.unusable = 1
        ldt.type = 2
        sregs.ldt = ldt
        sregs.gdt.base = base + GuestLayout.gdt
        sregs.gdt.limit = 0x4F
        sregs.idt.base = base + GuestLayout.idt
        sregs.idt.limit = 256 * 16 - 1
        try vcpu.setSregs(sregs)

        try vcpu.setMSRs([
            (0xC000_0081, UInt64(0x23) << 48 | UInt64(kernelCS) << 32),  // STAR: sysret → CS 0x33, SS 0x2b
            (0xC000_0082, lstar),  // LSTAR
            (0xC000_0083, lstar),  // CSTAR
            (
                0xC000_0084,
                getenv("REVENANT_SFMASK").map { UInt64(String(cString: $0), radix: 16) ?? 0x47700 } ?? 0x47700
            ),
            (0xC000_0102, 0),  // KERNEL_GS_BASE
        ])

        var fpu = kvm_fpu()
        fpu.fcw = 0x37f
        fpu.mxcsr = 0x1f80
        try vcpu.setFPU(fpu)

        // XCR0: x87|SSE, plus AVX when the CPU has it (glibc picks its string functions from this).
        let xsave = cpuid.first { $0.function == 0xd && $0.index == 0 }.map { UInt64($0.eax) } ?? 3
        try vcpu.setXCR0(xsave & 0x7)

        var regs = kvm_regs()
        regs.rip = entry
        regs.rsp = stack
        regs.rflags = 0x2
        try vcpu.setRegs(regs)
    }
}

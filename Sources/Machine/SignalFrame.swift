import CKVM
import GuestMemory
import LinuxABI

/// Linux's x86-64 rt_sigframe, built and unwound by the VMM: the return address (sa_restorer),
/// a ucontext (flags, link, stack, sigcontext, mask) and a siginfo, and below the red zone the
/// FPU/SSE/AVX state in the kernel's XSAVE layout (fpstate, 64-byte aligned; its software bytes
/// and trailing magic as Linux writes them), which rt_sigreturn loads again. A handler entered at
/// a fault may use any vector register: the program it interrupted gets them back.
enum SignalFrame {
    static let ucontextOffset: UInt64 = 8
    static let mcontextOffset: UInt64 = 8 + 40
    static let maskOffset: UInt64 = 8 + 296
    static let siginfoOffset: UInt64 = 8 + 304
    static let size: UInt64 = 8 + 304 + 128
    /// In the sigcontext: err, trapno, cr2 and the fpstate pointer (bytes).
    static let errOffset: UInt64 = mcontextOffset + 152
    static let trapnoOffset: UInt64 = mcontextOffset + 160
    static let cr2Offset: UInt64 = mcontextOffset + 176
    static let fpstateOffset: UInt64 = mcontextOffset + 184
    /// UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS, as Linux sets them.
    static let ucFlags: UInt64 = 0x7
    static let magic1: UInt32 = 0x4650_5853, magic2: UInt32 = 0x4650_5845

    /// sigcontext field order (offsets / 8 from the start of the mcontext).
    static func gprs(_ r: kvm_regs) -> [UInt64] {
        [
            r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15, r.rdi, r.rsi, r.rbp, r.rbx, r.rdx, r.rax, r.rcx,
            r.rsp, r.rip, r.rflags,
        ]
    }

    /// What XSAVE holds for the guest: which components (XCR0) and how many bytes they take.
    struct XState {
        var features: UInt64
        var size: Int { features & 4 != 0 ? 832 : 576 }  // legacy 512 + header 64 (+ AVX 256)
    }

    /// Enter the handler: `regs` hold the state to resume after it (the syscall already returned,
    /// or the faulting instruction); `xsave` is the vCPU's XSAVE area (KVM_GET_XSAVE).
    static func deliver(
        _ d: SignalDelivery, regs: inout kvm_regs, xsave: [UInt8], xstate: XState,
        space: AddressSpace
    ) throws {
        // On the alternate stack when the handler asked for it and the program is not on it yet.
        var top = regs.rsp &- 128  // below the red zone
        let alt = d.alternateStack
        if d.flags & SignalDelivery.onStack != 0, alt.enabled,
            !(regs.rsp > alt.base && regs.rsp <= alt.base &+ alt.size)
        {
            top = alt.base &+ alt.size
        }
        // The FPU state first, 64-byte aligned; then the frame, 16-byte aligned, then -8 as if
        // `call` had pushed the return address.
        let fpSize = UInt64(xstate.size) + 4
        let fpstate = (top &- fpSize) & ~63
        let frame = ((fpstate &- size) & ~15) &- 8  // a wild rsp fails the writes below
        var fp = Array(xsave.prefix(xstate.size))
        func put32(_ v: UInt32, _ off: Int, in b: inout [UInt8]) {
            withUnsafeBytes(of: v) { b.replaceSubrange(off..<off + 4, with: $0) }
        }
        func put64(_ v: UInt64, _ off: Int, in b: inout [UInt8]) {
            withUnsafeBytes(of: v) { b.replaceSubrange(off..<off + 8, with: $0) }
        }
        // The software-reserved bytes of the legacy area (struct _fpx_sw_bytes).
        fp.replaceSubrange(464..<512, with: [UInt8](repeating: 0, count: 48))
        put32(magic1, 464, in: &fp)
        put32(UInt32(fpSize), 468, in: &fp)
        put64(xstate.features, 472, in: &fp)
        put32(UInt32(xstate.size), 480, in: &fp)
        // Every component in use: the bytes do not depend on the processor's init tracking.
        put64(xstate.features, 512, in: &fp)
        fp += withUnsafeBytes(of: magic2) { Array($0) }
        try space.write(fp, at: fpstate)

        var bytes = [UInt8](repeating: 0, count: Int(size))
        func put(_ v: UInt64, _ off: UInt64) { put64(v, Int(off), in: &bytes) }
        put(d.restorer, 0)
        put(ucFlags, ucontextOffset)
        put(alt.base, ucontextOffset + 16)
        put32(UInt32(bitPattern: alt.flags), Int(ucontextOffset + 24), in: &bytes)
        put(alt.size, ucontextOffset + 32)
        for (i, v) in gprs(regs).enumerated() { put(v, mcontextOffset + UInt64(8 * i)) }
        put(0x2b_0000_0000_0033, mcontextOffset + 144)  // cs 0x33, gs 0, fs 0, ss 0x2b
        put(fpstate, fpstateOffset)
        put(d.savedMask, maskOffset)
        put32(UInt32(bitPattern: d.signal), Int(siginfoOffset), in: &bytes)
        put32(UInt32(bitPattern: d.code), Int(siginfoOffset + 8), in: &bytes)
        if let f = d.fault {
            put(f.errorCode, errOffset)
            put(f.trapNumber, trapnoOffset)
            put(f.address, cr2Offset)
            put(f.address, siginfoOffset + 16)  // si_addr
        } else {
            put32(UInt32(bitPattern: d.senderPID), Int(siginfoOffset + 16), in: &bytes)
            put32(d.senderUID, Int(siginfoOffset + 20), in: &bytes)
        }
        try space.write(bytes, at: frame)
        regs.rsp = frame
        regs.rip = d.handler
        regs.rdi = UInt64(d.signal)
        regs.rsi = frame + siginfoOffset
        regs.rdx = frame + ucontextOffset
        regs.rax = 0
        regs.rflags &= ~UInt64(0x100 | 0x400)  // TF, DF
    }

    /// rt_sigreturn: restore what `deliver` saved. Returns the XSAVE area to load (from the
    /// frame's fpstate, over `current`), or nil when the frame has none.
    static func restore(
        frame: UInt64, regs: inout kvm_regs, current xsave: [UInt8], xstate: XState,
        space: AddressSpace
    ) throws -> [UInt8]? {
        let raw = try space.bytes(at: frame + mcontextOffset, count: 18 * 8)
        let v = raw.withUnsafeBytes { b in (0..<18).map { b.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self) } }
        regs.r8 = v[0]
        regs.r9 = v[1]
        regs.r10 = v[2]
        regs.r11 = v[3]
        regs.r12 = v[4]
        regs.r13 = v[5]
        regs.r14 = v[6]
        regs.r15 = v[7]
        regs.rdi = v[8]
        regs.rsi = v[9]
        regs.rbp = v[10]
        regs.rbx = v[11]
        regs.rdx = v[12]
        regs.rax = v[13]
        regs.rcx = v[14]
        regs.rsp = v[15]
        regs.rip = v[16]
        // Only the flags a program may change (Linux's FIX_EFLAGS), with IF and the reserved bit.
        regs.rflags = (v[17] & 0x50DD5) | 0x202
        let fpstate = try space.load(UInt64.self, at: frame + fpstateOffset)
        guard fpstate != 0 else { return nil }
        var area = xsave
        let saved = try space.bytes(at: fpstate, count: xstate.size)
        area.replaceSubrange(0..<xstate.size, with: saved)
        // What XRSTOR would refuse is made valid as Linux does: the software bytes cleared, only
        // enabled components, the standard (not compacted) form, MXCSR's reserved bits clear.
        area.replaceSubrange(464..<512, with: [UInt8](repeating: 0, count: 48))
        let used = area.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 512, as: UInt64.self) } & xstate.features
        withUnsafeBytes(of: used) { area.replaceSubrange(512..<520, with: $0) }
        area.replaceSubrange(520..<576, with: [UInt8](repeating: 0, count: 56))
        let supported = xsave.withUnsafeBytes {
            $0.loadUnaligned(fromByteOffset: 28, as: UInt32.self)
        }  // MXCSR_MASK
        let mxcsr =
            area.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 24, as: UInt32.self) }
            & (supported == 0 ? 0xffbf : supported)
        withUnsafeBytes(of: mxcsr) { area.replaceSubrange(24..<28, with: $0) }
        return area
    }
}

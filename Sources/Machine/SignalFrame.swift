import CKVM
import GuestMemory
import LinuxABI

/// Linux's x86-64 rt_sigframe, built and unwound by the VMM: the return address (sa_restorer),
/// a ucontext (flags, link, stack, sigcontext, mask) and a siginfo. No FPU state is saved
/// (fpstate = NULL): signals are only delivered at syscall boundaries, inside libc's syscall
/// wrappers, where the vector registers are caller-saved anyway.
enum SignalFrame {
    static let ucontextOffset: UInt64 = 8
    static let mcontextOffset: UInt64 = 8 + 40
    static let maskOffset: UInt64 = 8 + 296
    static let siginfoOffset: UInt64 = 8 + 304
    static let size: UInt64 = 8 + 304 + 128

    /// sigcontext field order (offsets / 8 from the start of the mcontext).
    static func gprs(_ r: kvm_regs) -> [UInt64] {
        [r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15, r.rdi, r.rsi, r.rbp, r.rbx, r.rdx, r.rax, r.rcx, r.rsp, r.rip, r.rflags]
    }

    /// Enter the handler: `regs` hold the state to resume after it (the syscall already returned).
    static func deliver(_ d: SignalDelivery, regs: inout kvm_regs, space: AddressSpace) throws {
        // Below the red zone, 16-byte aligned, then -8 as if `call` had pushed the return address.
        let frame = ((regs.rsp &- 128 &- size) & ~15) &- 8  // a wild rsp fails the write below
        var bytes = [UInt8](repeating: 0, count: Int(size))
        func put(_ v: UInt64, _ off: UInt64) { withUnsafeBytes(of: v) { bytes.replaceSubrange(Int(off)..<Int(off) + 8, with: $0) } }
        func put32(_ v: UInt32, _ off: UInt64) { withUnsafeBytes(of: v) { bytes.replaceSubrange(Int(off)..<Int(off) + 4, with: $0) } }
        put(d.restorer, 0)
        put(2, ucontextOffset + 24)  // uc_stack.ss_flags = SS_DISABLE
        for (i, v) in gprs(regs).enumerated() { put(v, mcontextOffset + UInt64(8 * i)) }
        put(0x2b_0000_0000_0033, mcontextOffset + 144)  // cs 0x33, gs 0, fs 0, ss 0x2b
        put(d.savedMask, maskOffset)
        put32(UInt32(bitPattern: d.signal), siginfoOffset)
        put32(UInt32(bitPattern: d.code), siginfoOffset + 8)
        put32(UInt32(bitPattern: d.senderPID), siginfoOffset + 16)
        put32(d.senderUID, siginfoOffset + 20)
        try space.write(bytes, at: frame)
        regs.rsp = frame
        regs.rip = d.handler
        regs.rdi = UInt64(d.signal)
        regs.rsi = frame + siginfoOffset
        regs.rdx = frame + ucontextOffset
        regs.rax = 0
        regs.rflags &= ~UInt64(0x100 | 0x400)  // TF, DF
    }

    /// rt_sigreturn: restore what `deliver` saved.
    static func restore(frame: UInt64, regs: inout kvm_regs, space: AddressSpace) throws {
        let raw = try space.bytes(at: frame + mcontextOffset, count: 18 * 8)
        let v = raw.withUnsafeBytes { b in (0..<18).map { b.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self) } }
        regs.r8 = v[0]; regs.r9 = v[1]; regs.r10 = v[2]; regs.r11 = v[3]
        regs.r12 = v[4]; regs.r13 = v[5]; regs.r14 = v[6]; regs.r15 = v[7]
        regs.rdi = v[8]; regs.rsi = v[9]; regs.rbp = v[10]; regs.rbx = v[11]
        regs.rdx = v[12]; regs.rax = v[13]; regs.rcx = v[14]; regs.rsp = v[15]
        regs.rip = v[16]
        // Only the flags a program may change (Linux's FIX_EFLAGS), with IF and the reserved bit.
        regs.rflags = (v[17] & 0x50DD5) | 0x202
    }
}

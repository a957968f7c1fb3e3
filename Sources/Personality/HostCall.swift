import CHost

@inline(__always)
func chostSyscall(_ nr: Int, _ a0: UInt64, _ a1: UInt64, _ a2: UInt64, _ a3: UInt64, _ a4: UInt64, _ a5: UInt64) -> Int64 {
    chost_syscall6(nr, a0, a1, a2, a3, a4, a5)
}

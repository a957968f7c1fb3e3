/// A failed syscall: the guest sees -code in rax.
public struct SysError: Error, Equatable {
    public let code: Int32
    public init(_ code: Int32) { self.code = code }
}

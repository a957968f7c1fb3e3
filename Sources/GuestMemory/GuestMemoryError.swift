/// A guest pointer that does not name guest memory the operation may touch (the guest sees EFAULT).
public struct GuestMemoryError: Error, Equatable, CustomStringConvertible {
    public let address: UInt64
    public let length: UInt64
    public var description: String { "bad guest address 0x\(String(address, radix: 16)) (+\(length))" }
}

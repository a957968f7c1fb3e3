import SystemPackage

/// Everything that can go wrong talking to /dev/kvm, typed so the CLI can map it to exit 125.
public enum KVMError: Error, CustomStringConvertible, Equatable {
    case unavailable(path: String, errno: Errno)
    case apiVersion(Int32)
    case ioctl(name: String, errno: Errno)
    case missingCapability(String)

    public var description: String {
        switch self {
        case .unavailable(let path, let e):
            return "cannot open \(path): \(e.description) (is the kvm module loaded and are you allowed to use it?)"
        case .apiVersion(let v): return "unexpected KVM API version \(v) (want 12)"
        case .ioctl(let name, let e): return "\(name) failed: \(e.description)"
        case .missingCapability(let c): return "KVM lacks the \(c) capability"
        }
    }
}

@inline(__always)
func check(_ r: Int32, _ name: String) throws(KVMError) -> Int32 {
    if r < 0 { throw .ioctl(name: name, errno: Errno(rawValue: -r)) }
    return r
}

import CGuestStub
import GuestMemory

/// The Perl shim's introspection block (GuestAgents/include/revenant_perl_introspect.h): the
/// recorded interpreter's address and this perl build's struct layout, as "name=value" lines the
/// shim took with offsetof/sizeof. Read once from guest memory when a stepping replay first stops.
public struct PerlLayout {
    /// From GuestAgents/include/revenant_perl_introspect.h, which the shim includes too.
    public static let magic = UInt32(REVENANT_PERL_INTROSPECT_MAGIC)
    public static let version = UInt32(REVENANT_PERL_INTROSPECT_VERSION)
    /// Where the fast replay's `evaluating` word lies in the block.
    public static let evaluatingOffset = UInt64(MemoryLayout<revenant_perl_introspect>.offset(of: \.evaluating)!)
    public let interpreter: UInt64
    let values: [String: UInt64]

    public init(memory: AddressSpace, at address: UInt64) throws(PerlIntrospectionError) {
        do {
            guard try memory.load(UInt32.self, at: address) == Self.magic,
                try memory.load(UInt32.self, at: address + 4) == Self.version
            else {
                throw PerlIntrospectionError("the Perl shim's introspection block has another version")
            }
            func field(_ f: PartialKeyPath<revenant_perl_introspect>) throws -> UInt64 {
                try memory.load(
                    UInt64.self, at: address + UInt64(MemoryLayout<revenant_perl_introspect>.offset(of: f)!))
            }
            interpreter = try field(\.interp)
            let text = try memory.bytes(at: try field(\.layout), count: Int(min(try field(\.layout_len), 65536)))
            var v: [String: UInt64] = [:]
            for line in String(decoding: text, as: UTF8.self).split(separator: "\n") {
                let kv = line.split(separator: "=", maxSplits: 1)
                if kv.count == 2, let n = UInt64(kv[1]) { v[String(kv[0])] = n }
            }
            values = v
        } catch let e as PerlIntrospectionError { throw e } catch {
            throw PerlIntrospectionError("cannot read the Perl shim's introspection block: \(error)")
        }
    }

    /// A layout value the shim must have published (a missing one is a shim/revenant mismatch).
    func callAsFunction(_ name: String) throws(PerlIntrospectionError) -> UInt64 {
        guard let v = values[name] else { throw PerlIntrospectionError("the Perl shim did not publish \(name)") }
        return v
    }
}

/// Reading the paused interpreter failed: one line for the user.
public struct PerlIntrospectionError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

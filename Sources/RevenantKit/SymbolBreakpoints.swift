import Glibc
import GuestMemory
import Machine

/// Breakpoints (int3) at every function of the given names in every executable mapping of the
/// program and its libraries, armed as the mappings appear (libraries are mapped during the run):
/// `when --symbol` and a monitor's `symbol` subscriptions.
package final class SymbolBreakpoints {
    let machine: GuestMachine
    /// The function at each armed address.
    package private(set) var names: [UInt64: String] = [:]
    /// The armed addresses in the shims' own libraries (a replay maps their blobs: the recorded
    /// path names them). The shim's wrapper stands before the library's function the program
    /// called.
    package private(set) var inShims = Set<UInt64>()
    private var symbols: Set<String> = []
    private var scanned = Set<String>(), mappingCount = -1

    package init(machine: GuestMachine) { self.machine = machine }

    /// Arm these names too, in the mappings there are now and in those to come (and arm what
    /// new mappings hold).
    package func add(_ names: Set<String>) {
        if !names.isSubset(of: symbols) {
            symbols.formUnion(names)
            scanned = []
            mappingCount = -1
        }
        arm()
    }

    /// Disarm one name's breakpoints.
    package func remove(_ name: String) {
        symbols.remove(name)
        for (address, n) in names where n == name {
            machine.removeBreakpoint(at: address)
            names[address] = nil
            inShims.remove(address)
        }
    }

    /// Arm what mappings made since the last call hold (nothing to do when none was made).
    package func arm() {
        let space = machine.space
        guard !symbols.isEmpty, space.mappings.count != mappingCount else { return }
        mappingCount = space.mappings.count
        for m in space.mappings where m.prot & PROT_EXEC != 0 {
            guard let path = m.path, scanned.insert("\(m.start) \(path)").inserted else { continue }
            let shim = ShimSelection.isShimLibrary(machine.displayNames[path] ?? path)
            for (address, sym) in Self.functions(symbols, in: m) {
                guard names[address] == nil, machine.insertBreakpoint(at: address) else { continue }
                names[address] = sym
                if shim { inShims.insert(address) }
            }
        }
    }

    /// Where functions of these names lie in one mapping (none unless it is executable code of a
    /// file).
    package static func functions(_ names: Set<String>, in m: Mapping) -> [(address: UInt64, name: String)] {
        guard m.prot & PROT_EXEC != 0, let path = m.path else { return [] }
        return Symbolizer.fileOffsets(of: names, inFile: path).flatMap { sym, offsets in
            offsets.filter { $0 >= m.offset && $0 < m.offset + (m.end - m.start) }.map {
                (m.start + $0 - m.offset, sym)
            }
        }
    }
}

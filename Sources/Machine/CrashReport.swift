import GuestMemory
import LinuxABI

/// What a crash or a divergence report says about an address: the mapped file and the symbol
/// (Symbolizer.swift reads them), with the recorded names of files mapped from blobs.
extension GuestMachine {
    /// An address as "0x… (file: symbol+0x…)" when it lies in a mapped file.
    public func describe(rip pc: UInt64) -> String {
        // Inside a syscall trampoline: the program's own instruction it stands for.
        let rip = rewriter?.originalAddress(pc) ?? pc
        var s = "0x\(String(rip, radix: 16))"
        if let m = space.mapping(containing: rip), let path = m.path {
            let fileOffset = rip - m.start + m.offset
            var file = displayNames[path] ?? path
            file = file.split(separator: "/").last.map(String.init) ?? file
            if file.count == 64, file.allSatisfy(\.isHexDigit) { file = "blob " + file.prefix(12) }
            let symbol = Symbolizer.symbol(inFile: path, fileOffset: fileOffset).map { ": " + $0 }
            s += " (\(file)" + (symbol ?? "+0x\(String(fileOffset, radix: 16))") + ")"
        }
        return s
    }

    /// "revenant: guest killed by SIGSEGV: page fault (…) at address 0x…, rip 0x…
    /// (libc.so.6: strlen+0x11)"
    public func crashReport(signal: Int32, what: String, rip: UInt64, address: UInt64?) -> String {
        var s = "revenant: guest killed by \(Signal.name(signal)): \(what)"
        if let address { s += " at address 0x\(String(address, radix: 16))" }
        return s + ", rip " + describe(rip: rip)
    }
}

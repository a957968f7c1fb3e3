import CKVM
import Machine

/// The registers gdb is given, in the order of the target description below (gdb's own amd64
/// Linux features: core, sse, linux, segments): the `g` packet is their values in this order,
/// little-endian, and `p N` is register N of it.
enum AMD64Registers {
    /// (name, size in bytes), in register-number order.
    static let layout: [(String, Int)] = {
        var l: [(String, Int)] = [
            "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
            "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip",
        ].map { ($0, 8) }
        l += ["eflags", "cs", "ss", "ds", "es", "fs", "gs"].map { ($0, 4) }
        l += (0..<8).map { ("st\($0)", 10) }
        l += ["fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop"].map { ($0, 4) }
        l += (0..<16).map { ("xmm\($0)", 16) }
        l += [("mxcsr", 4), ("orig_rax", 8), ("fs_base", 8), ("gs_base", 8)]
        return l
    }()

    /// The values of every register, concatenated (the `g` reply's bytes).
    static func bytes(_ p: ProgramRegisters) -> [UInt8] {
        let r = p.regs
        var out: [UInt8] = []
        func le(_ v: UInt64, _ n: Int) {
            for i in 0..<n { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
        }
        for v in [
            r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.rsp,
            r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15, r.rip,
        ] { le(v, 8) }
        le(r.rflags, 4)
        let s = p.sregs
        for seg in [s.cs, s.ss, s.ds, s.es, s.fs, s.gs] { le(UInt64(seg.selector), 4) }
        // The XSAVE area starts with the FXSAVE layout: FCW, FSW, abridged FTW, FOP, FIP, FDP,
        // MXCSR, then ST0-7 at 32 (16 bytes each) and XMM0-15 at 160.
        let x = p.xsave.count >= 416 ? p.xsave : [UInt8](repeating: 0, count: 416)
        func word(_ off: Int, _ n: Int) -> UInt64 { (0..<n).reduce(0) { $0 | UInt64(x[off + $1]) << (8 * UInt64($1)) } }
        for i in 0..<8 { out += x[(32 + 16 * i)..<(32 + 16 * i + 10)] }
        let abridged = x[4]
        // The full tag word from the abridged one: valid (00) or empty (11) per register.
        var tag: UInt64 = 0
        for i in 0..<8 where abridged & (1 << i) == 0 { tag |= 3 << (2 * UInt64(i)) }
        for v in [word(0, 2), word(2, 2), tag, 0, word(8, 4), 0, word(16, 4), word(6, 2)] { le(v, 4) }
        out += x[160..<(160 + 256)]
        le(word(24, 4), 4)
        le(UInt64(bitPattern: -1), 8)  // orig_rax: not inside a syscall
        le(s.fs.base, 8)
        le(s.gs.base, 8)
        return out
    }

    /// Register `n`'s bytes; nil past the last.
    static func register(_ n: Int, of p: ProgramRegisters) -> [UInt8]? {
        guard n >= 0, n < layout.count else { return nil }
        let offset = layout[..<n].reduce(0) { $0 + $1.1 }
        return Array(bytes(p)[offset..<(offset + layout[n].1)])
    }

    /// gdb's target description for these registers (qXfer:features:read:target.xml).
    static let targetXML: String = {
        var regs = ""
        var n = 0
        for (name, size) in layout {
            let type: String
            switch name {
            case "rip": type = "code_ptr"
            case "rsp", "rbp": type = "data_ptr"
            case "eflags": type = "i386_eflags"
            case _ where name.hasPrefix("st"): type = "i387_ext"
            case _ where name.hasPrefix("xmm"): type = "vec128"
            case "mxcsr": type = "i386_mxcsr"
            case "fs_base", "gs_base", "orig_rax": type = "int"
            default: type = size == 8 ? "int64" : "int32"
            }
            let group = name.hasPrefix("xmm") || name == "mxcsr" ? " group=\"vector\"" : ""
            regs += "<reg name=\"\(name)\" bitsize=\"\(size * 8)\" type=\"\(type)\" regnum=\"\(n)\"\(group)/>\n"
            n += 1
        }
        // Split into gdb's features by the first register of each.
        func feature(_ name: String, from: String, to: String?) -> String {
            let lines = regs.split(separator: "\n", omittingEmptySubsequences: true)
            let start = lines.firstIndex { $0.contains("name=\"\(from)\"") }!
            let end = to.map { t in lines.firstIndex { $0.contains("name=\"\(t)\"") }! } ?? lines.count
            let types =
                name == "core"
                ? """
                <flags id="i386_eflags" size="4">
                <field name="CF" start="0" end="0"/><field name="" start="1" end="1"/>
                <field name="PF" start="2" end="2"/><field name="AF" start="4" end="4"/>
                <field name="ZF" start="6" end="6"/><field name="SF" start="7" end="7"/>
                <field name="TF" start="8" end="8"/><field name="IF" start="9" end="9"/>
                <field name="DF" start="10" end="10"/><field name="OF" start="11" end="11"/>
                </flags>

                """
                : name == "sse"
                    ? """
                    <vector id="v8bf16" type="bfloat16" count="8"/><vector id="v4f" type="ieee_single" count="4"/>
                    <vector id="v2d" type="ieee_double" count="2"/><vector id="v16i8" type="int8" count="16"/>
                    <vector id="v8i16" type="int16" count="8"/><vector id="v4i32" type="int32" count="4"/>
                    <vector id="v2i64" type="int64" count="2"/>
                    <union id="vec128"><field name="v8_bfloat16" type="v8bf16"/><field name="v4_float" type="v4f"/>
                    <field name="v2_double" type="v2d"/><field name="v16_int8" type="v16i8"/>
                    <field name="v8_int16" type="v8i16"/><field name="v4_int32" type="v4i32"/>
                    <field name="v2_int64" type="v2i64"/><field name="uint128" type="uint128"/></union>
                    <flags id="i386_mxcsr" size="4">
                    <field name="IE" start="0" end="0"/><field name="DE" start="1" end="1"/>
                    <field name="ZE" start="2" end="2"/><field name="OE" start="3" end="3"/>
                    <field name="UE" start="4" end="4"/><field name="PE" start="5" end="5"/>
                    <field name="DAZ" start="6" end="6"/><field name="IM" start="7" end="7"/>
                    <field name="DM" start="8" end="8"/><field name="ZM" start="9" end="9"/>
                    <field name="OM" start="10" end="10"/><field name="UM" start="11" end="11"/>
                    <field name="PM" start="12" end="12"/><field name="FZ" start="15" end="15"/>
                    </flags>

                    """ : ""
            return "<feature name=\"org.gnu.gdb.i386.\(name)\">\n\(types)"
                + lines[start..<end].joined(separator: "\n") + "\n</feature>\n"
        }
        return """
            <?xml version="1.0"?>
            <!DOCTYPE target SYSTEM "gdb-target.dtd">
            <target version="1.0">
            <architecture>i386:x86-64</architecture>
            <osabi>GNU/Linux</osabi>

            """
                + feature("core", from: "rax", to: "xmm0") + feature("sse", from: "xmm0", to: "orig_rax")
                + feature("linux", from: "orig_rax", to: "fs_base") + feature("segments", from: "fs_base", to: nil)
                + "</target>\n"
    }()
}

import GuestMemory

/// Reads a paused perl straight from guest memory (introspection: Docs/architecture.md "Looking without
/// touching", way 2): the statement about to run, lexicals through the current sub's pad names,
/// package variables through the stashes, and SVs with perl's own layout (PerlLayout). Nothing is
/// written, nothing runs in the guest: the replay goes on exactly as recorded.
///
/// Valid at a statement stop (the shim's nextstate hook, where PL_op is the statement's COP).
public final class PerlIntrospector {
    let memory: AddressSpace
    let interp: UInt64
    // Offsets and constants, from the shim (perl's headers, via offsetof).
    let iOp, iCurpad, iCurstackinfo, iDefstash, iMainCV: UInt64
    let copSeq, siCxstack, siCxix, siPrev, cxSize, cxType, cxSubCV, cxEvalCV: UInt64
    let cxTypemask, cxtSub, cxtFormat, cxtEval: UInt64
    let svAny, svFlags, svU, xpvCur, xpvivIV, xpvnvNV, xpvavFill, xpvhvMax, xpvcvPadlist, xpvcvDepth, xpvcvOutside,
        xpvcvOutsideSeq: UInt64
    let padlistArr, pnlFill, pnlAlloc, pnPV, pnOurstash, pnLow, pnHigh, pnLen, pnFlags, pnOuter: UInt64
    let heNext, heHek, heVal, hekLen, hekKey, gpSV, gpAV, gpHV: UInt64
    let fIOK, fNOK, fPOK, fROK, pIOK, pNOK, pPOK, fIsUV, fObject, tMask: UInt64
    let tPVGV, tPVAV, tPVHV, tPVCV, tPVIO, tPVLV, tRegexp, xpvmgStash, auxOffset, auxName, auxNameCount: UInt64
    let copLine, copFile, cxOldcop: UInt64
    /// PL_curcop (published by shims since the monitor protocol; nil before).
    let iCurcop: UInt64?
    /// The guest is paused before a statement (the shim's nextstate hook: PL_op is its COP); else
    /// anywhere (a syscall, a breakpoint), where the running statement is PL_curcop.
    public var atStatement = true
    /// Sub names (a debugger's stack): published by shims since the DAP server; nil before.
    let names: (cvGV: UInt64, cvStash: UInt64, cvFlags: UInt64, cvNamed: UInt64, gvName: UInt64, gvStash: UInt64)?

    public init(memory: AddressSpace, layout L: PerlLayout) throws(PerlIntrospectionError) {
        self.memory = memory
        interp = L.interpreter
        iOp = try L("interp.op")
        iCurpad = try L("interp.curpad")
        iCurstackinfo = try L("interp.curstackinfo")
        iDefstash = try L("interp.defstash")
        iMainCV = try L("interp.main_cv")
        copSeq = try L("cop.seq")
        siCxstack = try L("si.cxstack")
        siCxix = try L("si.cxix")
        siPrev = try L("si.prev")
        cxSize = try L("cx.size")
        cxType = try L("cx.type")
        cxSubCV = try L("cx.sub_cv")
        cxEvalCV = try L("cx.eval_cv")
        cxTypemask = try L("cx.typemask")
        cxtSub = try L("cxt.sub")
        cxtFormat = try L("cxt.format")
        cxtEval = try L("cxt.eval")
        svAny = try L("sv.any")
        svFlags = try L("sv.flags")
        svU = try L("sv.u")
        xpvCur = try L("xpv.cur")
        xpvivIV = try L("xpviv.iv")
        xpvnvNV = try L("xpvnv.nv")
        xpvavFill = try L("xpvav.fill")
        xpvhvMax = try L("xpvhv.max")
        xpvcvPadlist = try L("xpvcv.padlist")
        xpvcvDepth = try L("xpvcv.depth")
        xpvcvOutside = try L("xpvcv.outside")
        xpvcvOutsideSeq = try L("xpvcv.outside_seq")
        padlistArr = try L("padlist.arr")
        pnlFill = try L("padnamelist.fill")
        pnlAlloc = try L("padnamelist.alloc")
        pnPV = try L("padname.pv")
        pnOurstash = try L("padname.ourstash")
        pnLow = try L("padname.low")
        pnHigh = try L("padname.high")
        pnLen = try L("padname.len")
        pnFlags = try L("padname.flags")
        pnOuter = try L("padname.f_outer")
        heNext = try L("he.next")
        heHek = try L("he.hek")
        heVal = try L("he.val")
        hekLen = try L("hek.len")
        hekKey = try L("hek.key")
        gpSV = try L("gp.sv")
        gpAV = try L("gp.av")
        gpHV = try L("gp.hv")
        fIOK = try L("svf.iok")
        fNOK = try L("svf.nok")
        fPOK = try L("svf.pok")
        fROK = try L("svf.rok")
        pIOK = try L("svp.iok")
        pNOK = try L("svp.nok")
        pPOK = try L("svp.pok")
        fIsUV = try L("svf.isuv")
        fObject = try L("svf.object")
        tMask = try L("svt.mask")
        tPVGV = try L("svt.pvgv")
        tPVAV = try L("svt.pvav")
        tPVHV = try L("svt.pvhv")
        tPVCV = try L("svt.pvcv")
        tPVIO = try L("svt.pvio")
        tPVLV = try L("svt.pvlv")
        tRegexp = try L("svt.regexp")
        xpvmgStash = try L("xpvmg.stash")
        auxOffset = try L("xpvhv_with_aux.aux")
        auxName = try L("xpvhv_aux.name")
        auxNameCount = try L("xpvhv_aux.name_count")
        copLine = try L("cop.line")
        copFile = try L("cop.file")
        cxOldcop = try L("cx.oldcop")
        iCurcop = try? L("interp.curcop")
        names = try? (
            L("xpvcv.gv"), L("xpvcv.stash"), L("xpvcv.flags"), L("cvf.named"), L("xpvgv.namehek"), L("xpvgv.stash")
        )
    }

    // MARK: guest reads (bounds-checked by GuestMemory; a bad pointer is an error, never a trap)

    func u64(_ a: UInt64) throws(PerlIntrospectionError) -> UInt64 {
        do { return try memory.load(UInt64.self, at: a) } catch {
            throw PerlIntrospectionError("unreadable guest address 0x\(String(a, radix: 16))")
        }
    }
    func u32(_ a: UInt64) throws(PerlIntrospectionError) -> UInt32 {
        do { return try memory.load(UInt32.self, at: a) } catch {
            throw PerlIntrospectionError("unreadable guest address 0x\(String(a, radix: 16))")
        }
    }
    func u8(_ a: UInt64) throws(PerlIntrospectionError) -> UInt8 {
        do { return try memory.load(UInt8.self, at: a) } catch {
            throw PerlIntrospectionError("unreadable guest address 0x\(String(a, radix: 16))")
        }
    }
    func bytes(_ a: UInt64, _ n: Int) throws(PerlIntrospectionError) -> [UInt8] {
        do { return try memory.bytes(at: a, count: n) } catch {
            throw PerlIntrospectionError("unreadable guest range 0x\(String(a, radix: 16)) +\(n)")
        }
    }

    func flags(_ sv: UInt64) throws(PerlIntrospectionError) -> UInt64 { UInt64(try u32(sv + svFlags)) }
    func type(_ sv: UInt64) throws(PerlIntrospectionError) -> UInt64 { try flags(sv) & tMask }

    // MARK: where the interpreter is

    /// A scope to look names up in: a sub (or string eval, or the main program), the pad its
    /// lexicals live in, and the sequence number that says which of its lexicals are in scope.
    struct Frame {
        var cv: UInt64
        var pad: UInt64
        var seq: UInt32
    }

    /// The code whose statement is about to run: the innermost sub, format or string eval on the
    /// context stacks (an eval block has no pad of its own), else the main program.
    func currentFrame() throws(PerlIntrospectionError) -> Frame {
        let cop: UInt64
        if atStatement {
            cop = try u64(interp + iOp)
        } else if let iCurcop {
            cop = try u64(interp + iCurcop)
        } else {
            throw PerlIntrospectionError(
                "this run's Perl shim publishes no PL_curcop: its values are read at perl notifications only")
        }
        let seq = try u32(cop + copSeq)
        let pad = try u64(interp + iCurpad)
        var cv: UInt64 = 0
        try forEachContext { (cx: UInt64, type: UInt64) throws(PerlIntrospectionError) -> Bool in
            cv =
                type == cxtSub || type == cxtFormat
                ? try u64(cx + cxSubCV) : type == cxtEval ? try u64(cx + cxEvalCV) : 0
            return cv == 0
        }
        return Frame(cv: cv != 0 ? cv : try u64(interp + iMainCV), pad: pad, seq: seq)
    }

    /// Every context frame, innermost first, across the stack infos (sort blocks, signal handlers
    /// and tie methods push their own); `body` gets the frame's address and type, and returns
    /// false to stop.
    func forEachContext(_ body: (UInt64, UInt64) throws(PerlIntrospectionError) -> Bool) throws(PerlIntrospectionError)
    {
        var si = try u64(interp + iCurstackinfo)
        var guardCount = 0
        while si != 0, guardCount < 64 {
            guardCount += 1
            let stack = try u64(si + siCxstack)
            var ix = Int64(Int32(bitPattern: try u32(si + siCxix)))
            while ix >= 0 {
                let cx = stack + UInt64(ix) * cxSize
                guard try body(cx, UInt64(try u8(cx + cxType)) & cxTypemask) else { return }
                ix -= 1
            }
            si = try u64(si + siPrev)
        }
    }

    /// The pad (SV* array) of `cv` at its current depth.
    func padArray(of cv: UInt64) throws(PerlIntrospectionError) -> UInt64 {
        let any = try u64(cv + svAny)
        let padlist = try u64(any + xpvcvPadlist)
        guard padlist != 0 else { return 0 }
        let depth = max(UInt64(try u32(any + xpvcvDepth)), 1)
        let pad = try u64(try u64(padlist + padlistArr) + 8 * depth)
        return pad == 0 ? 0 : try u64(pad + svU)
    }

    /// A lexical (`$x`, `@y`, `%h`, with its sigil) visible at the stop: its SV/AV/HV address.
    /// Perl's own rule (pad_findmy): the current code's pad names in scope at this statement,
    /// then the enclosing code's (CvOUTSIDE) as they were where this code was defined. `our`
    /// names are package variables: nil, and the caller looks in the stash.
    public func lexical(_ name: String) throws(PerlIntrospectionError) -> UInt64? {
        let want = Array(name.utf8)
        var found: UInt64?
        try forEachVisibleName {
            (pn: UInt64, slot: () throws(PerlIntrospectionError) -> UInt64?) throws(PerlIntrospectionError) -> Bool in
            guard Int(try u8(pn + pnLen)) == want.count, try bytes(try u64(pn + pnPV), want.count) == want else {
                return true
            }
            found = try u64(pn + pnOurstash) != 0 ? nil : try slot()
            return false
        }
        return found
    }

    /// Every lexical variable visible at the stop, innermost first (a name hidden by an inner
    /// one of the same name is left out; `our` names too: they are package variables).
    public func lexicals() throws(PerlIntrospectionError) -> [(name: String, sv: UInt64)] {
        var seen = Set<String>(), out: [(String, UInt64)] = []
        try forEachVisibleName {
            (pn: UInt64, slot: () throws(PerlIntrospectionError) -> UInt64?) throws(PerlIntrospectionError) -> Bool in
            let len = Int(try u8(pn + pnLen))
            guard len > 1 else { return true }
            let name = String(decoding: try bytes(try u64(pn + pnPV), len), as: UTF8.self)
            guard "$@%".contains(name.first!), seen.insert(name).inserted, try u64(pn + pnOurstash) == 0,
                let sv = try slot()
            else { return true }
            out.append((name, sv))
            return true
        }
        return out
    }

    /// The pad names visible at the stop, innermost scope first (pad_findmy's order), each with
    /// a way to its variable's slot; `body` returns false to stop.
    private func forEachVisibleName(
        _ body: (UInt64, () throws(PerlIntrospectionError) -> UInt64?) throws(PerlIntrospectionError) -> Bool
    ) throws(PerlIntrospectionError) {
        var frame = try currentFrame()
        for _ in 0..<64 {
            let any = try u64(frame.cv + svAny)
            let padlist = try u64(any + xpvcvPadlist)
            let names = padlist == 0 ? 0 : try u64(try u64(padlist + padlistArr))
            if names != 0 {
                let fill = Int64(bitPattern: try u64(names + pnlFill)), alloc = try u64(names + pnlAlloc)
                var i = min(fill, 1 << 20)
                while i >= 1 {
                    let pn = try u64(alloc + 8 * UInt64(i))
                    if pn != 0 {
                        let low = try u32(pn + pnLow), high = try u32(pn + pnHigh)
                        // A captured outer lexical (a closure's copy) or one in scope here.
                        if UInt64(try u8(pn + pnFlags)) & pnOuter != 0
                            || (low != UInt32.max && low < frame.seq && frame.seq <= high)
                        {
                            let (f, index) = (frame, UInt64(i))
                            let slot = { () throws(PerlIntrospectionError) -> UInt64? in
                                let pad = f.pad != 0 ? f.pad : try self.padArray(of: f.cv)
                                guard pad != 0 else { return nil }
                                let sv = try self.u64(pad + 8 * index)
                                return sv == 0 ? nil : sv
                            }
                            guard try body(pn, slot) else { return }
                        }
                    }
                    i -= 1
                }
            }
            let outside = try u64(any + xpvcvOutside)
            guard outside != 0 else { return }
            frame = Frame(cv: outside, pad: 0, seq: try u32(any + xpvcvOutsideSeq))
        }
    }

    /// Names perl always puts in main:: (perlvar), whatever the current package.
    public static let mainOnly: Set<String> = [
        "ENV", "INC", "ARGV", "ARGVOUT", "SIG", "STDIN", "STDOUT", "STDERR", "_",
    ]

    /// A package variable (`$Foo::x`, or `$x` in `package`): its SV/AV/HV address.
    public func global(_ name: String, package: String) throws(PerlIntrospectionError) -> UInt64? {
        guard let sigil = name.first else { return nil }
        var parts = name.dropFirst().components(separatedBy: "::")
        if parts.first == "" { parts[0] = "main" }
        let leaf = parts.removeLast()
        if parts.isEmpty {
            let special = leaf.first.map { !($0.isLetter || $0 == "_") } ?? true
            parts =
                special || Self.mainOnly.contains(leaf)
                ? [] : package.components(separatedBy: "::").filter { $0 != "main" }
        }
        while parts.first == "main" { parts.removeFirst() }
        var stash = try u64(interp + iDefstash)
        for p in parts {
            guard let gv = try hashFetch(stash, p + "::"), try type(gv) == tPVGV else { return nil }
            stash = try u64(try u64(gv + svU) + gpHV)
            guard stash != 0 else { return nil }
        }
        guard let gv = try hashFetch(stash, leaf), try type(gv) == tPVGV else { return nil }
        let gp = try u64(gv + svU)
        guard gp != 0 else { return nil }
        let sv = try u64(gp + (sigil == "@" ? gpAV : sigil == "%" ? gpHV : gpSV))
        return sv == 0 ? nil : sv
    }

    /// The package's variables that hold something (`$x` defined, `@a`, `%h`), by name; perl's
    /// special variables and nested packages are left out.
    public func packageVariables(_ package: String) throws(PerlIntrospectionError) -> [(name: String, sv: UInt64)] {
        var stash = try u64(interp + iDefstash)
        for p in package.components(separatedBy: "::") where p != "main" && !p.isEmpty {
            guard let gv = try hashFetch(stash, p + "::"), try type(gv) == tPVGV else { return [] }
            stash = try u64(try u64(gv + svU) + gpHV)
            guard stash != 0 else { return [] }
        }
        var out: [(String, UInt64)] = []
        for (key, gv) in try hashEntries(stash, limit: 10_000).sorted(by: { $0.key < $1.key }) {
            guard let first = key.first, first.isLetter || first == "_", !key.hasSuffix("::"),
                !Self.mainOnly.contains(key), key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }),
                try type(gv) == tPVGV
            else { continue }
            let gp = try u64(gv + svU)
            guard gp != 0 else { continue }
            let sv = try u64(gp + gpSV), av = try u64(gp + gpAV), hv = try u64(gp + gpHV)
            if sv != 0, !(try scalar(sv)).isUndef { out.append(("$" + key, sv)) }
            if av != 0 { out.append(("@" + key, av)) }
            if hv != 0 { out.append(("%" + key, hv)) }
        }
        return out
    }

    /// `name` as perl would resolve it at the stop: a lexical in scope, else the package variable.
    public func variable(_ name: String, package: String) throws(PerlIntrospectionError) -> UInt64? {
        if !name.dropFirst().contains(":"), let sv = try lexical(name) { return sv }
        return try global(name, package: package)
    }

    // MARK: values

    public func hashEntries(
        _ hv: UInt64, limit: Int = 1 << 20
    ) throws(PerlIntrospectionError) -> [(key: String, sv: UInt64)] {
        guard try type(hv) == tPVHV else { return [] }
        let buckets = try u64(hv + svU)
        guard buckets != 0 else { return [] }
        let top = min(try u64(try u64(hv + svAny) + xpvhvMax), 1 << 24)
        var out: [(String, UInt64)] = []
        for b in 0...top {
            var he = try u64(buckets + 8 * b)
            var chain = 0
            while he != 0, chain < 1 << 16, out.count < limit {
                let hek = try u64(he + heHek)
                let len = Int(Int32(bitPattern: try u32(hek + hekLen)))
                out.append(
                    (
                        String(decoding: try bytes(hek + hekKey, max(0, min(len, 1 << 20))), as: UTF8.self),
                        try u64(he + heVal)
                    ))
                he = try u64(he + heNext)
                chain += 1
            }
        }
        return out
    }

    func hashFetch(_ hv: UInt64, _ key: String) throws(PerlIntrospectionError) -> UInt64? {
        try hashEntries(hv).first { $0.key == key }.map(\.sv)
    }

    /// The element SVs of an AV (0 for a hole).
    public func arrayElements(_ av: UInt64, limit: Int = 1 << 24) throws(PerlIntrospectionError) -> [UInt64] {
        guard try type(av) == tPVAV else { return [] }
        let fill = Int64(bitPattern: try u64(try u64(av + svAny) + xpvavFill))
        guard fill >= 0 else { return [] }
        let base = try u64(av + svU)
        var out: [UInt64] = []
        for i in 0...min(fill, Int64(limit) - 1) { out.append(try u64(base + 8 * UInt64(i))) }
        return out
    }

    public func arrayCount(_ av: UInt64) throws(PerlIntrospectionError) -> Int64 {
        guard try type(av) == tPVAV else { return 0 }
        return Int64(bitPattern: try u64(try u64(av + svAny) + xpvavFill)) + 1
    }

    public func isArray(_ sv: UInt64) throws(PerlIntrospectionError) -> Bool { try type(sv) == tPVAV }
    public func isHash(_ sv: UInt64) throws(PerlIntrospectionError) -> Bool { try type(sv) == tPVHV }

    /// A scalar's value with perl's flags: IV/UV, NV, PV, or a reference.
    public func scalar(_ sv: UInt64) throws(PerlIntrospectionError) -> PerlScalar {
        guard sv != 0 else { return .undef }
        let f = try flags(sv), t = f & tMask
        if t == tPVAV || t == tPVHV || t == tPVCV || t == tPVIO {
            return PerlScalar(reference: .init(kind: kind(t, f), address: sv, blessed: nil))
        }
        var s = PerlScalar()
        if f & fROK != 0 {
            let target = try u64(sv + svU)
            let tf = try flags(target)
            s.reference = .init(
                kind: kind(tf & tMask, tf), address: target, blessed: tf & fObject != 0 ? try className(target) : nil)
            return s
        }
        let any = try u64(sv + svAny)
        if f & (fIOK | pIOK) != 0 {
            let v = try u64(any + xpvivIV)
            if f & fIsUV != 0 { s.uint = v } else { s.int = Int64(bitPattern: v) }
        }
        if f & (fNOK | pNOK) != 0 { s.double = Double(bitPattern: try u64(any + xpvnvNV)) }
        if f & (fPOK | pPOK) != 0 {
            let pv = try u64(sv + svU), cur = try u64(any + xpvCur)
            s.bytes = try bytes(pv, Int(min(cur, 1 << 20)))
        }
        return s
    }

    func kind(_ t: UInt64, _ f: UInt64) -> String {
        switch t {
        case tPVAV: return "ARRAY"
        case tPVHV: return "HASH"
        case tPVCV: return "CODE"
        case tPVGV: return "GLOB"
        case tPVIO: return "IO"
        case tPVLV: return "LVALUE"
        case tRegexp: return "Regexp"
        default: return f & fROK != 0 ? "REF" : "SCALAR"
        }
    }

    /// The package an object was blessed into (HvNAME of its stash).
    func className(_ sv: UInt64) throws(PerlIntrospectionError) -> String? {
        try stashName(try u64(try u64(sv + svAny) + xpvmgStash))
    }

    /// A value for printing, references followed to `depth` levels, aggregates cut at `limit`.
    public func value(_ sv: UInt64, depth: Int = 3, limit: Int = 100) -> PerlValue {
        do {
            guard sv != 0 else { return .scalar(.undef) }
            let t = try type(sv)
            if t == tPVAV {
                let all = try arrayCount(sv)
                let items = try arrayElements(sv, limit: limit).map { value($0, depth: depth - 1, limit: limit) }
                return .array(items, truncated: all > Int64(items.count))
            }
            if t == tPVHV {
                let entries = try hashEntries(sv, limit: limit + 1)
                return .hash(
                    entries.prefix(limit).map { ($0.key, value($0.sv, depth: depth - 1, limit: limit)) },
                    truncated: entries.count > limit)
            }
            let s = try scalar(sv)
            if let r = s.reference {
                guard depth > 0, r.kind != "CODE", r.kind != "GLOB", r.kind != "IO" else { return .reference(r, nil) }
                return .reference(r, value(r.address, depth: depth - 1, limit: limit))
            }
            return .scalar(s)
        } catch { return .unavailable(error.description) }
    }
}

extension PerlIntrospector {
    /// How many subs deep the interpreter is (for the debugger's `next`).
    public func depth() throws(PerlIntrospectionError) -> Int {
        var n = 0
        try forEachContext { (_: UInt64, type: UInt64) throws(PerlIntrospectionError) -> Bool in
            if type == cxtSub || type == cxtFormat { n += 1 }
            return true
        }
        return n
    }
}

extension PerlIntrospector {
    /// A sub's name as `caller` gives it (`Pkg::name`, `Pkg::__ANON__`), nil without one (the
    /// main program, or a shim that publishes no names).
    public func subName(_ cv: UInt64) throws(PerlIntrospectionError) -> String? {
        guard let n = names, cv != 0 else { return nil }
        let any = try u64(cv + svAny)
        let named = UInt64(try u32(any + n.cvFlags)) & n.cvNamed != 0
        let hek: UInt64, stash: UInt64
        if named {
            hek = try u64(any + n.cvGV)
            stash = try u64(any + n.cvStash)
        } else {
            let gv = try u64(any + n.cvGV)
            guard gv != 0 else { return nil }
            let gvAny = try u64(gv + svAny)
            hek = try u64(gvAny + n.gvName)
            stash = try u64(gvAny + n.gvStash)
        }
        guard hek != 0 else { return nil }
        let name = try hekString(hek)
        return (try stashName(stash)).map { "\($0)::\(name)" } ?? name
    }

    /// A stash's name (HvNAME).
    func stashName(_ stash: UInt64) throws(PerlIntrospectionError) -> String? {
        guard stash != 0 else { return nil }
        let aux = try u64(stash + svAny) + auxOffset
        var hek = try u64(aux + auxName)
        if Int32(bitPattern: try u32(aux + auxNameCount)) != 0, hek != 0 { hek = try u64(hek) }
        return hek == 0 ? nil : try hekString(hek)
    }

    func hekString(_ hek: UInt64) throws(PerlIntrospectionError) -> String {
        let len = Int(Int32(bitPattern: try u32(hek + hekLen)))
        return String(decoding: try bytes(hek + hekKey, max(0, min(len, 4096))), as: UTF8.self)
    }

    /// The sub calls the interpreter is in, innermost first: each sub's name and the file and
    /// line it was called from (a debugger's stack, above the current statement).
    public func calls() throws(PerlIntrospectionError) -> [(sub: String?, file: String, line: Int64)] {
        var out: [(String?, String, Int64)] = []
        try forEachContext { (cx: UInt64, type: UInt64) throws(PerlIntrospectionError) -> Bool in
            guard type == cxtSub || type == cxtFormat else { return true }
            let cop = try u64(cx + cxOldcop)
            let file = cop == 0 ? "?" : try cString(try u64(cop + copFile))
            let line = cop == 0 ? 0 : Int64(try u32(cop + copLine))
            out.append((try subName(try u64(cx + cxSubCV)), file, line))
            return out.count < 1000
        }
        return out
    }

    func cString(_ address: UInt64) throws(PerlIntrospectionError) -> String {
        guard address != 0 else { return "?" }
        var out: [UInt8] = []
        while out.count < 4096 {
            let b = try u8(address + UInt64(out.count))
            if b == 0 { break }
            out.append(b)
        }
        return String(decoding: out, as: UTF8.self)
    }
}

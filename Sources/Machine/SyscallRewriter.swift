import CGuestStub
import CHost
import CSyscallSites
import Glibc
import GuestMemory

/// The trapless syscall path (Docs/machine.md "Trapless syscalls"): a program's `syscall`
/// instruction becomes a `jmp` to a trampoline next to its library, which runs the instructions
/// the jump displaced, sets rcx to the return address and jumps to the stub's fast entry, in user
/// mode. The stub posts the call to the mailbox as the trapping path does, without the
/// hypervisor's `syscall` trap (5–35 µs here).
///
/// Sites are rewritten lazily, the first time each one traps: the VMM sees a call whose return
/// address follows a `syscall` it has not looked at yet. That decodes only the functions a run
/// uses (`perl -e 1` traps at ~40 sites; libc has ~530) and is as deterministic as the call
/// itself: replay meets the same first call at the same event and rewrites the same way, and the
/// trace header says whether rewriting was on. A rewritten site's first call still traps.
///
/// A site is rewritten only when it is safe (`revenant_site_plan`, Capstone): its function (from
/// `.eh_frame`) decodes up to it, has no indirect jump, and the 3–15 bytes of plain instructions
/// before it can run elsewhere; no direct branch of the function, of its neighbours or of the code
/// it jumps out to (its cold part) lands inside the patch. Anything else keeps trapping, counted by
/// reason.
///
/// Used by one thread at a time: whichever serves the current call (only one is in flight).
final class SyscallRewriter {
    /// Bumped when a change would rewrite differently: a trace records it, and a replay refuses
    /// another version (the memory map and code would differ).
    static let version = 1
    /// Each region of trampolines: 64 KiB, an 8-byte slot with the stub's fast entry, then
    /// 48-byte trampolines.
    static let regionSize: UInt64 = 64 << 10
    static let trampolineSize: UInt64 = 48
    static let reach: UInt64 = 1 << 31

    struct Region {
        var start: UInt64
        var used: UInt64
    }
    struct Site {
        var patchStart: UInt64
        var trampoline: UInt64
        /// Bytes of instructions moved from before the `syscall`, and their length relocated.
        var displaced: UInt64
        var relocated: UInt64
        /// The bytes the patch replaced, the `syscall` included (what a debugger is shown).
        var original: [UInt8]
    }

    let space: AddressSpace
    private var regions: [Region] = []
    /// Rewritten sites by their return address (the end of the `syscall`).
    private(set) var sites: [UInt64: Site] = [:]
    /// Sites looked at and left trapping, by address of the `syscall`.
    private var refused: Set<UInt64> = []

    /// What the run's calls did, for `-v` and `info`.
    struct Stats: Equatable {
        var fastCalls = 0
        var trappedCalls = 0
        var rewritten = 0
        var refusedByReason: [String: Int] = [:]
        /// Time spent deciding and patching (the first call at each site).
        var nanoseconds: UInt64 = 0
    }
    private(set) var stats = Stats()

    init(space: AddressSpace) { self.space = space }

    /// The program was replaced (execve): its mappings, and so every site and region, are gone.
    func reset() {
        regions = []
        sites = [:]
        refused = []
    }

    /// A call arrived with return address `rip`. Counts it, and rewrites the `syscall` before it
    /// when it trapped there for the first time. `breakpoints` are the VMM's int3s (their original
    /// bytes are what the program's code holds); `allowed` is false while the process shares its
    /// parent's memory (a vfork child: its parent would get the patch but not the trampoline).
    func sawCall(returnAddress rip: UInt64, breakpoints: inout [UInt64: UInt8], allowed: Bool) {
        if sites[rip] != nil {
            stats.fastCalls += 1
            return
        }
        stats.trappedCalls += 1
        guard allowed, rip >= 2 else { return }
        let site = rip - 2
        guard !refused.contains(site), let pair = try? space.bytes(at: site, count: 2), pair == [0x0f, 0x05],
            breakpoints[site] == nil, breakpoints[site + 1] == nil
        else { return }
        let t0 = chost_monotonic_ns()
        defer { stats.nanoseconds += chost_monotonic_ns() - t0 }
        if let reason = rewrite(site: site, breakpoints: &breakpoints) {
            refused.insert(site)
            stats.refusedByReason[reason, default: 0] += 1
        }
    }

    /// Rewrite the `syscall` at `site`; nil when done, else why not.
    private func rewrite(site: UInt64, breakpoints: inout [UInt64: UInt8]) -> String? {
        guard let mapping = space.mapping(containing: site), mapping.prot & PROT_EXEC != 0, mapping.path != nil,
            !mapping.shared, !mapping.hostReadOnly
        else { return "not in a private file mapping" }
        guard
            let (function, neighbours) = ELFFunctions.functions(
                around: site, margin: 128, mapping: mapping, space: space)
        else { return "no .eh_frame entry" }
        /// The code of `range` as the program has it (our breakpoints' int3s taken out). At most
        /// 1 MiB: the bounds come from the program's own `.eh_frame`, which may claim anything.
        func code(_ range: Range<UInt64>) -> [UInt8]? {
            guard range.lowerBound >= mapping.start, range.upperBound <= mapping.end, range.count <= 1 << 20,
                var bytes = try? space.bytes(at: range.lowerBound, count: range.count)
            else { return nil }
            for (address, original) in breakpoints where range.contains(address) {
                bytes[Int(address - range.lowerBound)] = original
            }
            return bytes
        }
        guard let body = code(function) else { return "function outside its mapping" }
        var displaced: UInt32 = 0
        var outward = [UInt64](repeating: 0, count: 16)
        var outwardCount = outward.count
        let verdict = body.withUnsafeBufferPointer {
            revenant_site_plan(
                $0.baseAddress, $0.count, function.lowerBound, site, &displaced, &outward, &outwardCount)
        }
        switch UInt32(bitPattern: verdict) {
        case REVENANT_SITE_OK.rawValue: break
        case REVENANT_SITE_INDIRECT_JUMP.rawValue: return "indirect jump in the function"
        case REVENANT_SITE_UNMOVABLE.rawValue: return "instructions before it cannot move"
        case REVENANT_SITE_BRANCH_TARGET.rawValue: return "a branch lands inside"
        case REVENANT_SITE_NO_DECODER.rawValue: return "no decoder"
        default: return "does not decode"
        }
        let patchStart = site - UInt64(displaced)
        // The other code that could jump inside: the neighbours (short jumps) and wherever the
        // function jumps out to (its cold part jumps back in).
        var others = neighbours
        for target in outward.prefix(outwardCount) where !others.contains(where: { $0.contains(target) }) {
            // Another site of the function, rewritten already: its trampoline only jumps back.
            if inRegion(target) { continue }
            guard
                let part = ELFFunctions.functions(around: target, margin: 0, mapping: mapping, space: space)?
                    .containing
            else { return "it jumps to code without an .eh_frame entry" }
            others.append(part)
        }
        for n in others where n != function {
            guard let bytes = code(n),
                bytes.withUnsafeBufferPointer({
                    revenant_site_branches_into($0.baseAddress, $0.count, n.lowerBound, patchStart, site)
                }) == 0
            else { return "a branch lands inside" }
        }
        let original = Array(body[Int(patchStart - function.lowerBound)..<Int(site + 2 - function.lowerBound)])
        guard let trampoline = allocateTrampoline(near: patchStart, mapping: mapping) else {
            return "no room for a trampoline within reach"
        }
        guard
            let relocated = writeTrampoline(
                at: trampoline, displaced: Array(original.dropLast(2)), from: patchStart, returnAddress: site + 2)
        else {
            releaseTrampoline(trampoline)
            return "instructions before it cannot move"
        }
        var patch: [UInt8] = [0xe9] + le32(Int64(trampoline) - Int64(patchStart + 5))
        patch += [UInt8](repeating: 0xcc, count: original.count - patch.count)
        // A breakpoint inside the patch keeps its int3; the byte it gives back is the patched one.
        for (i, byte) in patch.enumerated() where breakpoints[patchStart + UInt64(i)] != nil {
            breakpoints[patchStart + UInt64(i)] = byte
            patch[i] = 0xcc
        }
        // Not through `write`: the recorder would log the patch as the call's output.
        guard let p = try? space.pointer(patchStart, patch.count) else { return "patch not writable" }
        patch.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        sites[site + 2] = Site(
            patchStart: patchStart, trampoline: trampoline, displaced: UInt64(displaced), relocated: UInt64(relocated),
            original: original)
        stats.rewritten += 1
        return nil
    }

    private func le32(_ v: Int64) -> [UInt8] {
        withUnsafeBytes(of: Int32(truncatingIfNeeded: v).littleEndian) { Array($0) }
    }

    /// A 48-byte trampoline within ±2 GiB of `address`: in a region already made, else in a new
    /// one placed just below the mapping (top-down, as the mmap area grows), else anywhere in reach.
    private func allocateTrampoline(near address: UInt64, mapping: Mapping) -> UInt64? {
        func inReach(_ a: UInt64) -> Bool {
            let d = a > address ? a - address : address - a
            return d + SyscallRewriter.regionSize < SyscallRewriter.reach
        }
        if let i = regions.firstIndex(where: {
            inReach($0.start) && $0.used + SyscallRewriter.trampolineSize <= SyscallRewriter.regionSize
        }) {
            let t = regions[i].start + regions[i].used
            regions[i].used += SyscallRewriter.trampolineSize
            return t
        }
        let size = SyscallRewriter.regionSize, margin = SyscallRewriter.reach - 2 * size
        let page = GuestLayout.page
        let low = max(space.layout.programStart, address > margin ? (address - margin + page - 1) & ~(page - 1) : 0)
        let top = min(Loader.mmapTop(space.layout), address + margin) & ~(page - 1)
        guard
            let start = space.findFree(length: size, low: low, high: min(mapping.start, top))
                ?? space.findFree(length: size, low: mapping.end, high: top),
            inReach(start),
            space.map(start: start, length: size, prot: PROT_READ | PROT_EXEC, backing: .anonymous) == 0,
            let slot = try? space.pointer(start, 8)
        else { return nil }
        let entry = GuestLayout.base + GuestLayout.stubCode + UInt64(revenant_stub_syscall_fast_offset())
        slot.storeBytes(of: entry.littleEndian, as: UInt64.self)
        regions.append(Region(start: start, used: 16 + SyscallRewriter.trampolineSize))
        return start + 16
    }

    /// The last trampoline handed out goes back (its site could not use it).
    private func releaseTrampoline(_ t: UInt64) {
        if let i = regions.lastIndex(where: { $0.start + $0.used == t + SyscallRewriter.trampolineSize }) {
            regions[i].used -= SyscallRewriter.trampolineSize
        }
    }

    /// The displaced instructions (relocated), `lea returnAddress(%rip), %rcx`, `jmp *slot(%rip)`.
    /// Returns the relocated instructions' length, or nil when they cannot be relocated.
    private func writeTrampoline(at t: UInt64, displaced: [UInt8], from: UInt64, returnAddress: UInt64) -> Int? {
        guard let region = regions.last(where: { $0.start <= t && t < $0.start + SyscallRewriter.regionSize }),
            let p = try? space.pointer(t, Int(SyscallRewriter.trampolineSize))
        else { return nil }
        var code = [UInt8](repeating: 0, count: 32)
        let n = displaced.withUnsafeBufferPointer {
            revenant_site_relocate($0.baseAddress, UInt32($0.count), from, t, &code, code.count)
        }
        guard n > 0 else { return nil }
        code.removeLast(code.count - n)
        let leaEnd = t + UInt64(n) + 7
        code += [0x48, 0x8d, 0x0d] + le32(Int64(returnAddress) - Int64(leaEnd))
        code += [0xff, 0x25] + le32(Int64(region.start) - Int64(leaEnd + 6))
        code += [UInt8](repeating: 0xcc, count: Int(SyscallRewriter.trampolineSize) - code.count)
        code.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        return n
    }

    private func inRegion(_ address: UInt64) -> Bool {
        regions.contains { $0.start <= address && address < $0.start + SyscallRewriter.regionSize }
    }

    /// Where a program counter inside a trampoline came from: the displaced instruction's own
    /// address, or the site's `syscall` for the trampoline's tail. Anything else is itself.
    func originalAddress(_ pc: UInt64) -> UInt64 {
        guard inRegion(pc) else { return pc }
        for (end, s) in sites where s.trampoline <= pc && pc < s.trampoline + SyscallRewriter.trampolineSize {
            let offset = pc - s.trampoline
            guard offset < s.relocated else { return end - 2 }
            // Relocation may have grown a jump: then the first displaced instruction stands for all.
            return s.relocated == s.displaced ? s.patchStart + offset : s.patchStart
        }
        return pc
    }

    /// Where the rewritten site whose call returns to `end` starts (its jump to the trampoline).
    func siteStart(endingAt end: UInt64) -> UInt64? { sites[end]?.patchStart }

    /// `bytes`, read at `address`, with every rewritten site in them as the program had it.
    func restoreOriginals(_ bytes: inout [UInt8], at address: UInt64) {
        guard !sites.isEmpty, !bytes.isEmpty else { return }
        let end = address &+ UInt64(bytes.count)
        for s in sites.values where s.patchStart < end && s.patchStart + UInt64(s.original.count) > address {
            for (i, b) in s.original.enumerated() {
                let at = s.patchStart + UInt64(i)
                if at >= address && at < end { bytes[Int(at - address)] = b }
            }
        }
    }
}

import Glibc
import GuestMemory
import LinuxABI

/// Where the loaded program starts and how its memory is laid out.
public struct LoadedProgram {
    public var entry: UInt64
    public var stackPointer: UInt64
    public var brkStart: UInt64
    public var mmapTop: UInt64
    public var exeBase: UInt64
    public var interpreterBase: UInt64?
}

/// Loads an ELF executable and its PT_INTERP into the guest as Linux's binfmt_elf does (file
/// pages mapped zero-copy, bss zeroed), and builds the initial stack: argc, argv, envp, auxv with
/// AT_PHDR/AT_ENTRY/AT_BASE/AT_RANDOM… and no vDSO (every clock read is then a syscall).
public enum Loader {
    public static let stackSize: UInt64 = 8 << 20

    /// The top of the mmap area: below the stack, one huge page of gap.
    public static func mmapTop(_ layout: GuestLayout) -> UInt64 { layout.end - stackSize - GuestLayout.hugePage }

    public static func load(
        program: ProgramSpec, environment: [ByteString], atRandom: [UInt8], hwcap: UInt64,
        ids: (uid: UInt32, euid: UInt32, gid: UInt32, egid: UInt32),
        into space: AddressSpace,
        openFile: (ByteString) -> Int32 = { p in
            p.withCString { open($0, O_RDONLY | O_CLOEXEC) }
        },
        mappedName: (ByteString) -> String = { $0.description }
    )
        throws(LaunchError) -> LoadedProgram
    {
        let shownProgram = program.path.description
        let layout = space.layout
        let stackTop = layout.end
        let stackLow = stackTop - stackSize
        let mmapTop = Loader.mmapTop(layout)
        guard
            space.map(start: stackLow, length: stackSize, prot: PROT_READ | PROT_WRITE, backing: .sparseAnonymous) == 0
        else {
            throw .notExecutable(shownProgram, reason: "cannot map the stack")
        }
        space.prefault(stackTop - (256 << 10), 256 << 10)

        let (exe, exeBase) = try mapELF(
            program.path, shown: program.argv.first?.description ?? shownProgram,
            into: space, fixedBase: layout.programStart, top: mmapTop,
            openFile: openFile, mappedName: mappedName)
        let brkStart = (exeBase + exe.span.high + 0xfff) & ~0xfff
        var entry = exeBase + exe.entry
        var interpBase: UInt64?
        if let interp = exe.interpreter {
            let (ld, base) = try mapELF(
                interp, shown: interp.description, into: space, fixedBase: nil,
                top: mmapTop, openFile: openFile, mappedName: mappedName)
            entry = base + ld.entry
            interpBase = base
        }

        // AT_PHDR: the program headers as mapped (PT_PHDR, else inside the first PT_LOAD).
        let phdr: UInt64
        if let p = exe.segments.first(where: { $0.type == ELFFile.ptPhdr }) {
            phdr = exeBase + p.vaddr
        } else if let first = exe.loads.first {
            phdr = exeBase + first.vaddr - first.offset + exe.phoff
        } else {
            phdr = exeBase + exe.phoff
        }

        // The strings at the top of the stack, as Linux lays them out (argv, envp, execfn).
        var sp = stackTop - 16
        func pushBytes(_ b: [UInt8]) throws(LaunchError) -> UInt64 {
            sp -= UInt64(b.count)
            do { try space.write(b, at: sp) } catch {
                throw .notExecutable(shownProgram, reason: "arguments do not fit on the stack")
            }
            return sp
        }
        let execfn = try pushBytes((program.execfn ?? program.path).bytes + [0])
        // Pushed last to first (the first string ends up lowest); collected in that order, then
        // turned around once: inserting at the front made start-up quadratic in their number.
        var envPtrs: [UInt64] = []
        for e in environment.reversed() { envPtrs.append(try pushBytes(e.bytes + [0])) }
        envPtrs.reverse()
        var argPtrs: [UInt64] = []
        for a in program.argv.reversed() { argPtrs.append(try pushBytes(a.bytes + [0])) }
        argPtrs.reverse()
        let platform = try pushBytes(Array("x86_64".utf8) + [0])
        sp &= ~15
        let random = try pushBytes(atRandom)
        sp &= ~15

        let auxv: [(UInt64, UInt64)] = [
            (16, hwcap), (6, 4096), (17, 100), (3, phdr), (4, 56), (5, UInt64(exe.phnum)),
            (7, interpBase ?? 0), (8, 0), (9, exeBase + exe.entry),
            (11, UInt64(ids.uid)), (12, UInt64(ids.euid)), (13, UInt64(ids.gid)), (14, UInt64(ids.egid)),
            (23, 0), (25, random), (26, 2 /* HWCAP2_FSGSBASE */), (31, execfn), (15, platform), (0, 0),
        ]
        var words: [UInt64] = [UInt64(program.argv.count)] + argPtrs + [0] + envPtrs + [0]
        for (k, v) in auxv { words += [k, v] }
        if words.count % 2 == 1 { sp -= 8 }
        sp -= UInt64(words.count * 8)
        for (i, w) in words.enumerated() {
            do { try space.store(w, at: sp + UInt64(8 * i)) } catch {
                throw .notExecutable(shownProgram, reason: "arguments do not fit on the stack")
            }
        }
        return LoadedProgram(
            entry: entry, stackPointer: sp, brkStart: brkStart, mmapTop: mmapTop,
            exeBase: exeBase, interpreterBase: interpBase)
    }

    /// Map one ELF file; PIE and ld.so go at `fixedBase` or the highest free range below `top`.
    /// `openFile` opens the file to map: the host file in `run` and `record`, its blob in `replay`;
    /// `mappedName` is the file crash reports and divergence reports read symbols from.
    static func mapELF(
        _ path: ByteString, shown: String, into space: AddressSpace, fixedBase: UInt64?, top: UInt64,
        openFile: (ByteString) -> Int32,
        mappedName: (ByteString) -> String
    ) throws(LaunchError) -> (ELFFile, UInt64) {
        let fd = openFile(path)
        guard fd >= 0 else {
            if errno == ENOENT { throw .notFound(path.description) }
            throw .notExecutable(shown, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        let elf: ELFFile
        do { elf = try ELFFile.read(fd: fd) } catch {
            throw .notExecutable(
                shown, reason: error == .notELF ? "Exec format error (not an ELF executable)" : error.description)
        }
        guard elf.type == ELFFile.etDyn else {
            throw .notExecutable(shown, reason: "non-PIE (ET_EXEC) executables are not supported yet; build with -pie")
        }
        let span = elf.span
        let size = span.high - span.low
        let base: UInt64
        if let fixedBase {
            base = fixedBase - span.low
        } else {
            guard let start = space.findFree(length: size, low: space.layout.programStart, high: top) else {
                throw .notExecutable(shown, reason: "no room for the interpreter")
            }
            base = start - span.low
        }
        // The segments as pieces of one image (`AddressSpace.mapImage`): the file's pages of
        // each, then its bss past them.
        var pieces: [AddressSpace.ImagePiece] = []
        for seg in elf.loads {
            let segStart = base + seg.vaddr
            let pageStart = segStart & ~0xfff
            let fileEnd = segStart + seg.filesz
            let memEnd = (segStart + seg.memsz + 0xfff) & ~0xfff
            let prot = Int32(
                ((seg.flags & 4) != 0 ? PROT_READ : 0) | ((seg.flags & 2) != 0 ? PROT_WRITE : 0)
                    | ((seg.flags & 1) != 0 ? PROT_EXEC : 0))
            var mappedEnd = pageStart
            if seg.filesz > 0 {
                mappedEnd = (fileEnd + 0xfff) & ~0xfff
                // The tail of the last file page belongs to the bss.
                pieces.append(
                    .init(
                        start: pageStart, end: mappedEnd, prot: prot, fileOffset: seg.offset - (segStart - pageStart),
                        zeroFrom: seg.memsz > seg.filesz ? fileEnd : nil))
            }
            if memEnd > mappedEnd { pieces.append(.init(start: mappedEnd, end: memEnd, prot: prot, fileOffset: nil)) }
        }
        let err = space.mapImage(pieces, fd: fd, path: mappedName(path))
        guard err == 0 else {
            throw .notExecutable(shown, reason: "cannot map segment: \(String(cString: strerror(err)))")
        }
        return (elf, base)
    }
}

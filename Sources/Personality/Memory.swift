import Glibc
import GuestMemory
import LinuxABI

/// brk and the mmap family, emulated inside the guest address space (`AddressSpace`): the VMM
/// picks addresses, file mappings are the host file mapped at the same address (zero-copy).
extension LinuxPersonality {
    static let page = GuestLayout.page
    @inline(__always) static func pageUp(_ v: UInt64) -> UInt64 { (v &+ page &- 1) & ~(page - 1) }

    static let memoryHandlers: [(String, Handler)] = [
        ("brk", { p, r in p.brk(r[0]) }),
        ("mmap", { p, r in try p.mmap(addr: r[0], length: r[1], prot: r[2], flags: r[3], fd: r[4], offset: r[5]) }),
        (
            "munmap",
            { p, r in
                guard r[0] % page == 0, r[1] > 0, r[0] >= p.memory.layout.programStart else { throw SysError(EINVAL) }
                let end = min(pageUp(r[0] &+ r[1]), p.memory.layout.end)
                guard end > r[0] else { throw SysError(EINVAL) }
                p.memory.unmap(r[0], end)
                return 0
            }
        ),
        (
            "mprotect",
            { p, r in
                guard r[0] % page == 0 else { throw SysError(EINVAL) }
                let end = pageUp(r[0] &+ r[1])
                guard r[0] >= p.memory.layout.programStart, end <= p.memory.layout.end, end >= r[0] else {
                    throw SysError(ENOMEM)
                }
                p.memory.protect(r[0], end, prot: Int32(truncatingIfNeeded: r[2]))
                return 0
            }
        ),
        (
            "mremap",
            { p, r in
                try p.mremap(
                    old: r[0], oldLength: r[1], newLength: r[2], flags: Int32(truncatingIfNeeded: r[3]), newAddr: r[4])
            }
        ),
        (
            "madvise",
            { p, r in
                guard r[0] % page == 0 else { throw SysError(EINVAL) }
                let advice = Int32(truncatingIfNeeded: r[2])
                let len = pageUp(r[1])
                guard len > 0 else { return 0 }
                let base = try p.memory.pointer(r[0], Int(clamping: len), write: true)
                switch advice {
                case MADV_DONTNEED, 8 /* MADV_FREE */:
                    // Same semantics as Linux because the host mapping mirrors the guest's.
                    return Glibc.madvise(base, Int(len), MADV_DONTNEED) == 0 ? 0 : -Int64(errno)
                default: return 0
                }
            }
        ),
        (
            "msync",
            { p, r in
                let base = try p.memory.pointer(r[0], Int(clamping: pageUp(r[1])))
                return Glibc.msync(base, Int(pageUp(r[1])), Int32(truncatingIfNeeded: r[2])) == 0 ? 0 : -Int64(errno)
            }
        ),
        ("mlock", { _, _ in 0 }),
        ("munlock", { _, _ in 0 }),
    ]

    func brk(_ want: UInt64) -> Int64 {
        guard want >= brkStart, want <= mmapTop else { return Int64(brkCurrent) }
        let oldTop = LinuxPersonality.pageUp(brkCurrent), newTop = LinuxPersonality.pageUp(want)
        if newTop > oldTop {
            guard newTop <= mmapTop, memory.isFree(oldTop, newTop),
                memory.map(start: oldTop, length: newTop - oldTop, prot: PROT_READ | PROT_WRITE, backing: .anonymous)
                    == 0
            else { return Int64(brkCurrent) }
        } else if newTop < oldTop {
            memory.unmap(newTop, oldTop)
        }
        brkCurrent = want
        return Int64(want)
    }

    func mmap(
        addr: UInt64, length: UInt64, prot: UInt64, flags rawFlags: UInt64, fd: UInt64, offset: UInt64
    ) throws -> Int64 {
        let flags = Int32(truncatingIfNeeded: rawFlags)
        guard length > 0, offset % LinuxPersonality.page == 0 else { throw SysError(EINVAL) }
        let len = LinuxPersonality.pageUp(length)
        guard len >= length, len <= memory.layout.size else { throw SysError(ENOMEM) }
        let mapType = flags & 0xf
        guard mapType == MAP_PRIVATE || mapType == MAP_SHARED || mapType == 3 /* MAP_SHARED_VALIDATE */ else {
            throw SysError(EINVAL)
        }
        let fixed = flags & MAP_FIXED != 0
        let noReplace = flags & MAP_FIXED_NOREPLACE != 0
        let low = memory.layout.programStart
        var start: UInt64
        if fixed || noReplace {
            guard addr % LinuxPersonality.page == 0 else { throw SysError(EINVAL) }
            guard addr >= low, addr <= memory.layout.end, len <= memory.layout.end - addr else {
                throw SysError(ENOMEM)
            }
            if noReplace && !memory.isFree(addr, addr + len) { throw SysError(EEXIST) }
            start = addr
        } else if addr != 0, addr % LinuxPersonality.page == 0, addr >= low, addr < mmapTop, len <= mmapTop - addr,
            memory.isFree(addr, addr + len)
        {
            start = addr
        } else {
            guard
                let s = memory.findFree(
                    length: len, low: LinuxPersonality.pageUp(brkCurrent) + (64 << 20), high: mmapTop)
                    ?? memory.findFree(length: len, low: LinuxPersonality.pageUp(brkCurrent), high: mmapTop)
            else { throw SysError(ENOMEM) }
            start = s
        }
        let protection = Int32(truncatingIfNeeded: prot)
        let backing: AddressSpace.Backing
        if flags & MAP_ANONYMOUS != 0 {
            backing = .anonymous
        } else if let provider = mappedFileProvider {
            // Replay maps the recorded copy privately: nobody else shares it, and its writes must
            // not reach the trace.
            let f = try provider(fd)
            backing = .file(
                fd: f.host, path: f.path, offset: offset, shared: false, writable: f.writable, copyLater: true)
        } else {
            let e = try fds.entry(fd)
            let accmode = Glibc.fcntl(e.host, F_GETFL) & O_ACCMODE
            let shared = mapType != MAP_PRIVATE
            if shared && protection & PROT_WRITE != 0 && accmode != O_RDWR { throw SysError(EACCES) }
            if accmode == O_WRONLY { throw SysError(EACCES) }
            onFileMapped?(e.host, e.path ?? "")
            // The mapping's name is for symbols and reports (AddressSpace opens it to read them).
            // A private mapping of a file on a writable mount is a copy made now
            // (AddressSpace.Backing.file), so if it changes under it (the guest's own writes) it is
            // read as recorded; one on a read-only mount can wait for the copy (`copyLater`).
            backing = .file(
                fd: e.host, path: e.path?.description ?? "", offset: offset, shared: shared,
                writable: accmode == O_RDWR, copyLater: !e.writableMount)
        }
        let err = memory.map(start: start, length: len, prot: protection, backing: backing)
        guard err == 0 else { throw SysError(err) }
        return Int64(start)
    }

    func mremap(old: UInt64, oldLength: UInt64, newLength: UInt64, flags: Int32, newAddr: UInt64) throws -> Int64 {
        guard old % LinuxPersonality.page == 0, newLength > 0, oldLength <= memory.layout.size,
            newLength <= memory.layout.size
        else {
            throw SysError(EINVAL)
        }
        let oldLen = LinuxPersonality.pageUp(oldLength), newLen = LinuxPersonality.pageUp(newLength)
        // Both lengths are at most the guest's size and old is inside it: no sum below overflows.
        guard oldLen > 0, old >= memory.layout.programStart, old <= memory.layout.end,
            oldLen <= memory.layout.end - old,
            memory.mapping(containing: old) != nil
        else { throw SysError(EFAULT) }
        let mayMove = flags & 1 != 0
        if flags & 2 != 0 {
            guard mayMove, newAddr % LinuxPersonality.page == 0, newAddr >= memory.layout.programStart,
                newAddr <= memory.layout.end,
                newLen <= memory.layout.end - newAddr
            else { throw SysError(EINVAL) }
            memory.unmap(newAddr, newAddr + newLen)
            let e = memory.move(from: old, oldLength: min(oldLen, newLen), to: newAddr, newLength: newLen)
            guard e == 0 else { throw SysError(e) }
            if oldLen > newLen { memory.unmap(old + newLen, old + oldLen) }
            return Int64(newAddr)
        }
        if newLen <= oldLen {
            memory.unmap(old + newLen, old + oldLen)
            return Int64(old)
        }
        if newLen <= memory.layout.end - old, old + newLen <= mmapTop, memory.isFree(old + oldLen, old + newLen),
            memory.extend(old, from: old + oldLen, to: old + newLen) == 0
        {
            return Int64(old)
        }
        guard mayMove else { throw SysError(ENOMEM) }
        guard let target = memory.findFree(length: newLen, low: LinuxPersonality.pageUp(brkCurrent), high: mmapTop)
        else {
            throw SysError(ENOMEM)
        }
        let e = memory.move(from: old, oldLength: oldLen, to: target, newLength: newLen)
        guard e == 0 else { throw SysError(e) }
        return Int64(target)
    }
}

import CHost
import Glibc

/// Who provides guest-physical memory for a range (the Machine registers KVM memory slots).
public protocol PhysicalBacking: AnyObject {
    /// Make guest-physical [range) usable by the vCPU. Throws when it cannot (out of slots).
    func back(physical range: Range<UInt64>) throws
}

/// One mapping of the guest's address space, as /proc/PID/maps would list it.
public struct Mapping: Equatable, Sendable {
    public var start: UInt64
    public var end: UInt64
    public var prot: Int32
    public var shared: Bool
    /// The file behind it (guest path) and the file offset of `start`; nil for anonymous memory.
    public var path: String?
    public var offset: UInt64
    /// The host mapping cannot be written (a shared mapping of a read-only file): the VMM must not write there.
    public var hostReadOnly: Bool
    /// The host memory under it maps the file (a shared mapping, or a private one larger than
    /// `AddressSpace.readLimit`), rather than holding a copy in the reservation's memory.
    public var hostFile = false
}

/// The guest address space: one host reservation where guest virtual = host address, the list of
/// the guest's mappings, and the one place where guest pointers are checked before use.
public final class AddressSpace: @unchecked Sendable {
    public let layout: GuestLayout
    /// Host pointer to the start of the reservation (= the system area).
    public let systemArea: UnsafeMutableRawPointer
    public weak var backing: PhysicalBacking?
    public private(set) var mappings: [Mapping] = []
    private var hostReadOnlyCount = 0
    /// The pages of copied private file mappings that lie wholly past their file's end, kept
    /// inaccessible on the host: the guest's access faults there (SIGBUS, as on Linux, where the
    /// copy would read zeros). Cleared wherever the host memory is replaced or written again.
    private var pastFileEnd: [Range<UInt64>] = []
    /// Such pages not made inaccessible yet, with their mapping: that waits for the guest's next
    /// call that is not a MAP_FIXED mmap inside the mapping (`releaseDeferred`), since ld.so maps
    /// its bss over a library's span first, and protecting the pages at once split the huge page
    /// they share with the library's last pages (`perl -e 1` ~1 ms slower).
    private var pendingPastFileEnd: [(mapping: Range<UInt64>, pages: Range<UInt64>)] = []
    /// Private file mappings up to this size are read into memory when mapped (`readPrivate`);
    /// larger ones map the file (`DeferredCopyTests` lowers it to reach that path with small files).
    public var readLimit = GuestLayout.populateLimit
    /// While non-nil, every range handed out for writing is noted here: the recorder logs what a
    /// syscall wrote into guest memory by reading these ranges after the call.
    public var writeRanges: [(address: UInt64, length: Int)]?
    /// Private file mappings still to copy (`Backing.file`'s `copyLater`), and whether the guest
    /// may be done mapping over them (`releaseDeferred`). The lock is held while the host's
    /// mappings change and while a part of them is copied, which may be on another thread
    /// (`copyDeferredStep`). A pthread mutex: a forked copy of the VMM takes it again (Swift's
    /// Mutex keeps the thread id it had before the fork, and traps there).
    private var deferredCopies: [(range: Range<UInt64>, released: Bool)] = []
    private let deferredLock: UnsafeMutablePointer<pthread_mutex_t> = {
        let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(m, nil)
        return m
    }()

    /// 1 while `deferredCopies` holds anything, read without the lock: every syscall asks
    /// (`releaseDeferred`), and so does the spinner between calls (`copyDeferredStep`), and after
    /// the program's start there is nothing to copy.
    private let deferredPending: UnsafeMutablePointer<UInt32> = {
        let w = UnsafeMutablePointer<UInt32>.allocate(capacity: 1)
        w.initialize(to: 0)
        return w
    }()

    private func withDeferred<R>(_ body: (inout [(range: Range<UInt64>, released: Bool)]) -> R) -> R {
        pthread_mutex_lock(deferredLock)
        defer {
            chost_store_u32(deferredPending, deferredCopies.isEmpty && pendingPastFileEnd.isEmpty ? 0 : 1)
            pthread_mutex_unlock(deferredLock)
        }
        return body(&deferredCopies)
    }

    public enum SetupError: Error, CustomStringConvertible {
        case reserve(address: UInt64, size: UInt64, errno: Int32)
        public var description: String {
            switch self {
            case .reserve(let a, let s, let e):
                let reason = String(cString: strerror(e))
                return "cannot reserve guest memory at 0x\(String(a, radix: 16)) (\(s >> 20) MiB): \(reason)"
            }
        }
    }

    public init(layout: GuestLayout) throws {
        self.layout = layout
        // MAP_NORESERVE: untouched guest memory costs nothing. MAP_PRIVATE: see notes (shared anonymous
        // RAM made PVM loop on faults, and checkpoints by fork need copy-on-write).
        let p = mmap(
            UnsafeMutableRawPointer(bitPattern: UInt(layout.start)), Int(layout.size),
            PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0)
        guard let p, p != MAP_FAILED, UInt64(UInt(bitPattern: p)) == layout.start else {
            throw SetupError.reserve(address: layout.start, size: layout.size, errno: errno)
        }
        systemArea = p
        // Not the system area: the guest maps it with 4 KiB pages, so a host huge page under it
        // saves no shadow fault, and its first write zeroed 2 MiB for a few pages of tables
        // (160-230 µs against 20 here, and 5-9 ms at times: Docs/machine.md "Start-up").
        adviseHugePages(layout.programStart, layout.size - GuestLayout.systemSize)
    }

    /// Back [start, start+length) with transparent huge pages where it can: a host huge page under
    /// a guest 2 MiB page lets KVM map more with each shadow fault (`perl -e 1`: 167 → ~130 shadow
    /// faults; a CPU-bound script's heap 1,111 → 837), and one host fault fills 2 MiB. Without
    /// them (`never`) this fails, and the pages stay small. Docs/machine.md "Start-up".
    func adviseHugePages(_ start: UInt64, _ length: UInt64) {
        _ = madvise(UnsafeMutableRawPointer(bitPattern: UInt(start)), Int(length), 14 /* MADV_HUGEPAGE */)
    }

    deinit {
        munmap(systemArea, Int(layout.size))
        if pagemapFD.fd >= 0 { close(pagemapFD.fd) }
        pthread_mutex_destroy(deferredLock)
        deferredLock.deallocate()
        deferredPending.deallocate()
    }

    // MARK: - Checked access (every guest pointer goes through here)

    /// The host pointer for guest [addr, addr+len), or an error when any byte lies outside the
    /// program's part of the space (the system area included) or, for writes, in a host-read-only mapping.
    @inline(__always)
    public func pointer(
        _ addr: UInt64, _ len: Int, write: Bool = false
    ) throws(GuestMemoryError) -> UnsafeMutableRawPointer {
        guard len > 0 else {
            if len == 0 { return UnsafeMutableRawPointer(bitPattern: UInt(max(addr, 1)))! }
            throw GuestMemoryError(address: addr, length: 0)
        }
        let n = UInt64(len)
        guard addr >= layout.programStart, addr < layout.end, n <= layout.end - addr else {
            throw GuestMemoryError(address: addr, length: n)
        }
        if write {
            if hostReadOnlyCount > 0 {
                for m in mappings where m.hostReadOnly && m.start < addr + n && addr < m.end {
                    throw GuestMemoryError(address: addr, length: n)
                }
            }
            writeRanges?.append((addr, len))
        }
        return UnsafeMutableRawPointer(bitPattern: UInt(addr))!
    }

    public func load<T: BitwiseCopyable>(_: T.Type, at addr: UInt64) throws(GuestMemoryError) -> T {
        try pointer(addr, MemoryLayout<T>.size).loadUnaligned(as: T.self)
    }

    public func store<T: BitwiseCopyable>(_ value: T, at addr: UInt64) throws(GuestMemoryError) {
        try pointer(addr, MemoryLayout<T>.size, write: true).storeBytes(of: value, as: T.self)
    }

    public func bytes(at addr: UInt64, count: Int) throws(GuestMemoryError) -> [UInt8] {
        let p = try pointer(addr, count)
        return Array(UnsafeRawBufferPointer(start: p, count: count))
    }

    public func write(_ bytes: [UInt8], at addr: UInt64) throws(GuestMemoryError) {
        let p = try pointer(addr, bytes.count, write: true)
        bytes.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }

    /// A NUL-terminated string of at most `max` bytes (without the NUL); nil when it is longer.
    public func cString(at addr: UInt64, max: Int = 4096) throws(GuestMemoryError) -> [UInt8]? {
        guard addr >= layout.programStart, addr < layout.end else { throw GuestMemoryError(address: addr, length: 1) }
        let limit = Int(min(UInt64(max + 1), layout.end - addr))
        let p = UnsafeRawPointer(bitPattern: UInt(addr))!.assumingMemoryBound(to: UInt8.self)
        guard let nul = memchr(p, 0, limit) else {
            if limit <= max { throw GuestMemoryError(address: addr, length: UInt64(limit)) }
            return nil
        }
        let n = UnsafeRawPointer(nul) - UnsafeRawPointer(p)
        return Array(UnsafeBufferPointer(start: p, count: n))
    }

    /// The iovec array at `addr`, each buffer checked (nested guest pointers).
    public func iovecs(at addr: UInt64, count: Int, write: Bool) throws(GuestMemoryError) -> [iovec] {
        guard count >= 0, count <= 1024 else { throw GuestMemoryError(address: addr, length: UInt64(max(count, 0))) }
        var out: [iovec] = []
        out.reserveCapacity(count)
        for i in 0..<count {
            let base = try load(UInt64.self, at: addr + UInt64(16 * i))
            let len = try load(UInt64.self, at: addr + UInt64(16 * i) + 8)
            guard len <= UInt64(Int.max) else { throw GuestMemoryError(address: base, length: len) }
            out.append(iovec(iov_base: try pointer(base, Int(len), write: write), iov_len: Int(len)))
        }
        return out
    }

    // MARK: - Mappings (the VMM owns mmap and friends)

    public func mapping(containing addr: UInt64) -> Mapping? {
        var lo = 0, hi = mappings.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if mappings[mid].end <= addr { lo = mid + 1 } else { hi = mid }
        }
        return lo < mappings.count && mappings[lo].start <= addr ? mappings[lo] : nil
    }

    /// Highest free range of `length` bytes inside [low, high), page-aligned, or nil.
    public func findFree(length: UInt64, low: UInt64, high: UInt64) -> UInt64? {
        var top = high
        for m in mappings.reversed() {
            if m.start >= top { continue }
            if m.end <= top, top - m.end >= length, top - length >= low { return top - length }
            top = min(top, m.start)
            if top < low + length { return nil }
        }
        return top >= low + length ? top - length : nil
    }

    public func isFree(_ start: UInt64, _ end: UInt64) -> Bool {
        !mappings.contains { $0.start < end && start < $0.end }
    }

    public enum Backing {
        case anonymous
        /// Anonymous memory not populated whatever its size: the stack, 8 MiB of which a program
        /// touches the top few pages (the loader prefaults those). Populating it all took 2 ms of
        /// `perl -e 1`'s start.
        case sparseAnonymous
        /// A host descriptor to map, the guest path for reports, and the file offset. A private
        /// mapping's pages are copied when it is made (populated): a file that changes while
        /// mapped (the guest's own writes to one on a writable mount) is read as it was when
        /// mapped, as the recording's copy of it holds it. With `copyLater` (a file nobody in
        /// the guest can write: a read-only mount, a recorded copy) they are copied later
        /// (`releaseDeferred`, `copyDeferredStep`), where still mapped and not touched by then.
        case file(fd: Int32, path: String, offset: UInt64, shared: Bool, writable: Bool, copyLater: Bool = false)
    }

    /// Map [start, start+length) replacing whatever was there (MAP_FIXED semantics). Returns errno on failure.
    public func map(start: UInt64, length: UInt64, prot: Int32, backing kind: Backing) -> Int32 {
        withDeferred { list in mapLocked(start: start, length: length, prot: prot, backing: kind, &list) }
    }

    private func mapLocked(
        start: UInt64, length: UInt64, prot: Int32, backing kind: Backing,
        _ deferredCopies: inout [(range: Range<UInt64>, released: Bool)]
    ) -> Int32 {
        guard start >= layout.programStart, start < layout.end, start % GuestLayout.page == 0, length > 0,
            length <= layout.end - start
        else { return ENOMEM }
        do { try backing?.back(physical: layout.physical(start)..<layout.physical(start + length)) } catch {
            return ENOMEM
        }
        let addr = UnsafeMutableRawPointer(bitPattern: UInt(start))
        var deferLater = false
        var m = Mapping(
            start: start, end: start + length, prot: prot, shared: false, path: nil, offset: 0, hostReadOnly: false)
        switch kind {
        case .anonymous, .sparseAnonymous:
            // Small mappings (heap steps, bss, thread-local blocks) are populated at once: a page the
            // host already has costs PVM a cheaper shadow fault when the guest first touches it.
            var populate = length <= GuestLayout.populateLimit
            if case .sparseAnonymous = kind { populate = false }
            // Where nothing is mapped, the host memory is the reservation's zeros, or what was
            // unmapped, reset to zeros (or what the program stored there unmapped, which Linux
            // would have faulted): kept, since mapping it again would split the huge page it may
            // be part of (a heap that grows 132 KiB a step would never get one).
            if !isFree(start, start + length) {
                let e = resetHost(start, length)
                guard e == 0 else { return e }
            }
            if populate { prefault(start, length) }
        case .file(let fd, let path, let offset, false, _, _) where length <= readLimit && AddressSpace.isRegular(fd):
            // Read into the reservation's memory: a copy as the program mapped it, in huge pages
            // where the space allows, so that the guest's 2 MiB pages each cost KVM one shadow fault
            // (`perl -e 1`: 116 4 KiB shadow faults in its libraries → none; Docs/machine.md "Start-up").
            let e = readPrivate(fd: fd, start: start, length: length, offset: offset)
            guard e == 0 else { return e }
            m.path = path
            m.offset = offset
        case .file(let fd, let path, let offset, let shared, let writable, let copyLater):
            // Larger private mappings, and shared ones, map the file. Populated: for a private
            // mapping, writable on the host, that copies every page now (a host write fault each,
            // ~3.8 MB for perl's library), and KVM then prefetches the
            // neighbours of a shadow fault (it takes only host pages mapped writable): PVM's shadow
            // faults for `perl -e 1` 554 → 169. A trade that depends on the host's cost of a shadow
            // fault. Interleaved, on the AMD EPYC host: 20.3–21.5 against 23.6–24.5 ms with it; on
            // an Intel Xeon host (not interleaved) copying cost 1.2–1.5 ms more than the faults it
            // saved. Docs/machine.md "Start-up". With `copyLater`, populated later and mostly on
            // the spinner's time (`releaseDeferred`).
            // Private file mappings are always writable on the host (copy-on-write): the guest's page
            // tables do not follow mprotect, so a host-read-only page would fault inside KVM_RUN.
            let hostProt = (shared && !writable) ? PROT_READ : PROT_READ | PROT_WRITE
            let later = copyLater && !shared
            guard
                mmap(
                    addr, Int(length), hostProt,
                    (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_FIXED | (later ? 0 : MAP_POPULATE), fd,
                    off_t(offset)) != MAP_FAILED
            else {
                let e = errno
                resetHost(start, length)
                return e
            }
            m.shared = shared
            m.path = path
            m.offset = offset
            m.hostReadOnly = hostProt == PROT_READ
            m.hostFile = true
            if later { deferLater = true }
        }
        removeRecords(start, start + length, &deferredCopies)
        insert(m)
        if deferLater { deferredCopies.append((start..<start + length, false)) }
        return 0
    }

    /// A private file mapping as a copy: the file's bytes from `offset` read into [start,
    /// start+length), zeros after the file's end in its last page, and the pages wholly past the
    /// end kept inaccessible (`pastFileEnd`). 0, or an errno.
    private func readPrivate(fd: Int32, start: UInt64, length: UInt64, offset: UInt64) -> Int32 {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return errno }
        let size = UInt64(max(st.st_size, 0))
        let inFile = offset < size ? min(length, size - offset) : 0
        let end = start + length
        if mappings.contains(where: { $0.hostFile && $0.start < end && start < $0.end }) {
            // Host memory that maps a file must not be written through: replaced first.
            let e = resetHost(start, length)
            guard e == 0 else { return e }
        } else {
            // Anonymous memory already, kept (replacing it would split the huge page it may be part
            // of: ld.so maps a library's span, then each segment over it); what the file does not
            // cover is zeroed below, unless nothing was mapped there (the reservation's zeros).
            clearPastFileEnd(start..<end)
        }
        let wasFree = isFree(start, end)
        var done: UInt64 = 0
        while done < inFile {
            let n = pread(
                fd, UnsafeMutableRawPointer(bitPattern: UInt(start + done)), Int(inFile - done),
                off_t(Int64(bitPattern: offset &+ done)))
            if n < 0 && errno == EINTR { continue }
            if n < 0 {
                let e = errno
                resetHost(start, length)
                return e
            }
            if n == 0 { break }  // the file shrank meanwhile: the rest reads as past its end
            done += UInt64(n)
        }
        if !wasFree && done < length {
            memset(UnsafeMutableRawPointer(bitPattern: UInt(start + done))!, 0, Int(length - done))
        }
        let dataPages = (done + GuestLayout.page - 1) & ~(GuestLayout.page - 1)
        if dataPages < length { pendingPastFileEnd.append((start..<end, start + dataPages..<end)) }
        return 0
    }

    /// Whether `fd` is a regular file: a device's private mapping (`/dev/zero`'s is anonymous
    /// memory) has no size to read up to, and maps the device.
    public static func isRegular(_ fd: Int32) -> Bool {
        var st = stat()
        return fstat(fd, &st) == 0 && st.st_mode & S_IFMT == S_IFREG
    }

    /// Make the host memory of `range` accessible again where `pastFileEnd` kept it from the guest,
    /// and forget what was to be kept from it there.
    private func clearPastFileEnd(_ range: Range<UInt64>) {
        if pendingPastFileEnd.contains(where: { $0.pages.overlaps(range) }) {
            pendingPastFileEnd = pendingPastFileEnd.flatMap { p in
                AddressSpace.parts(of: p.pages, outside: range).map { (mapping: p.mapping, pages: $0) }
            }
        }
        guard pastFileEnd.contains(where: { $0.overlaps(range) }) else { return }
        for r in pastFileEnd where r.overlaps(range) {
            let open = r.clamped(to: range)
            _ = mprotect(UnsafeMutableRawPointer(bitPattern: UInt(open.lowerBound)), open.count, PROT_READ | PROT_WRITE)
        }
        pastFileEnd = pastFileEnd.flatMap { AddressSpace.parts(of: $0, outside: range) }
    }

    /// The parts of `r` outside `cut`, in order: none, one, or the two on either side.
    static func parts(of r: Range<UInt64>, outside cut: Range<UInt64>) -> [Range<UInt64>] {
        guard r.overlaps(cut) else { return [r] }
        return [r.lowerBound..<max(r.lowerBound, cut.lowerBound), min(r.upperBound, cut.upperBound)..<r.upperBound]
            .filter { !$0.isEmpty }
    }

    /// A part of a program image (`mapImage`): guest pages [start, end) with `prot`, filled from
    /// the file at `fileOffset`, or zero (the bss) when that is nil; from `zeroFrom` on, zero
    /// again (the start of the bss in the segment's last file page).
    public struct ImagePiece: Equatable, Sendable {
        public var start: UInt64
        public var end: UInt64
        public var prot: Int32
        public var fileOffset: UInt64?
        public var zeroFrom: UInt64?
        public init(start: UInt64, end: UInt64, prot: Int32, fileOffset: UInt64?, zeroFrom: UInt64? = nil) {
            self.start = start
            self.end = end
            self.prot = prot
            self.fileOffset = fileOffset
            self.zeroFrom = zeroFrom
        }
    }

    /// Map a program image (the loader's, before the guest runs): private copies of the file's
    /// pages, as `map` with `.file` makes them, but read into one anonymous host mapping over
    /// the image, advised for transparent huge pages and widened to whole huge pages where the
    /// space around it is free. Populating perl's 3.4 MB of segments as private file mappings
    /// copied them page by page (a host write fault each, ~2.2 µs on the AMD host: 1.9 ms);
    /// read into huge pages they take ~0.5 ms (Docs/machine.md "Start-up"). Pages past the
    /// file's end read as zeros (a file mapping would fault there). Returns errno on failure.
    public func mapImage(_ pieces: [ImagePiece], fd: Int32, path: String) -> Int32 {
        guard let lo = pieces.map(\.start).min(), let hi = pieces.map(\.end).max() else { return 0 }
        guard lo >= layout.programStart, hi <= layout.end, lo < hi,
            pieces.allSatisfy({
                $0.start < $0.end && $0.start % GuestLayout.page == 0 && $0.end % GuestLayout.page == 0
            })
        else { return ENOMEM }
        return withDeferred { list in
            let mask = GuestLayout.hugePage - 1
            let wideLo = lo & ~mask, wideHi = min((hi + mask) & ~mask, layout.end)
            let hostLo = wideLo >= layout.programStart && isFree(wideLo, lo) ? wideLo : lo
            let hostHi = isFree(hi, wideHi) ? wideHi : hi
            do { try backing?.back(physical: layout.physical(hostLo)..<layout.physical(hostHi)) } catch {
                return ENOMEM
            }
            let e = resetHost(hostLo, hostHi - hostLo)
            guard e == 0 else { return e }
            // In order, as mappings one after another would be: a later piece replaces what an
            // earlier one put in its pages (a bss over another segment's file pages is zeros
            // there; elsewhere the anonymous memory is zero already, and stays unpopulated).
            for (i, piece) in pieces.enumerated() {
                guard let offset = piece.fileOffset else {
                    for earlier in pieces[..<i] where earlier.fileOffset != nil {
                        let lo = max(piece.start, earlier.start), hi = min(piece.end, earlier.end)
                        if lo < hi { memset(UnsafeMutableRawPointer(bitPattern: UInt(lo))!, 0, Int(hi - lo)) }
                    }
                    continue
                }
                var done: UInt64 = 0
                while done < piece.end - piece.start {
                    let n = pread(
                        fd, UnsafeMutableRawPointer(bitPattern: UInt(piece.start + done)),
                        Int(piece.end - piece.start - done), off_t(Int64(bitPattern: offset &+ done)))
                    if n < 0 && errno == EINTR { continue }
                    if n < 0 {
                        let e = errno
                        resetHost(hostLo, hostHi - hostLo)
                        return e
                    }
                    if n == 0 { break }
                    done += UInt64(n)
                }
                if let z = piece.zeroFrom, z >= piece.start, z < piece.end {
                    memset(UnsafeMutableRawPointer(bitPattern: UInt(z))!, 0, Int(piece.end - z))
                }
            }
            for piece in pieces {
                removeRecords(piece.start, piece.end, &list)
                insert(
                    Mapping(
                        start: piece.start, end: piece.end, prot: piece.prot, shared: false,
                        path: piece.fileOffset == nil ? nil : path, offset: piece.fileOffset ?? 0,
                        hostReadOnly: false))
            }
            return 0
        }
    }

    /// The guest's next syscall is about to be served: the mappings whose copy was deferred may
    /// be copied now, unless `next` (the range of a MAP_FIXED mmap the guest is making) lies
    /// inside one of them. With `copyNow` they are copied here; else `copyDeferredStep` copies
    /// them from another thread (the mailbox's spinner, between calls).
    ///
    /// ld.so maps a library's whole span, then maps its segments over it with MAP_FIXED, then
    /// goes on: copying the span when made copied ~800 pages of `perl -e 1` (~2.6 µs each on the
    /// AMD host) that were replaced before the guest touched them.
    public func releaseDeferred(unlessMapping next: Range<UInt64>?, copyNow: Bool) {
        guard chost_load_u32(deferredPending) != 0 else { return }
        withDeferred { list in
            if let next,
                list.contains(where: { $0.range.contains(next.lowerBound) && next.upperBound <= $0.range.upperBound })
                    || pendingPastFileEnd.contains(where: {
                        $0.mapping.contains(next.lowerBound) && next.upperBound <= $0.mapping.upperBound
                    })
            {
                return
            }
            for p in pendingPastFileEnd {
                _ = mprotect(UnsafeMutableRawPointer(bitPattern: UInt(p.pages.lowerBound)), p.pages.count, PROT_NONE)
                pastFileEnd.append(p.pages)
            }
            pendingPastFileEnd.removeAll()
            guard copyNow else {
                for i in list.indices { list[i].released = true }
                return
            }
            for d in list { copyUntouched(d.range) }
            list.removeAll(keepingCapacity: true)
        }
    }

    /// Copy up to `pages` pages of the released deferred mappings; false when none is left. Any
    /// thread: the lock keeps the guest's mappings from changing meanwhile.
    public func copyDeferredStep(pages: UInt64 = 8) -> Bool {
        guard chost_load_u32(deferredPending) != 0 else { return false }
        return withDeferred { list in
            guard let i = list.firstIndex(where: \.released) else { return false }
            let r = list[i].range
            let end = r.lowerBound + min(r.upperBound - r.lowerBound, pages * GuestLayout.page)
            copyUntouched(r.lowerBound..<end)
            if end == r.upperBound { list.remove(at: i) } else { list[i].range = end..<r.upperBound }
            return true
        }
    }
    /// /proc/self/pagemap, opened once, and the process it was opened in (a forked copy opens
    /// its own). Used under the lock.
    private var pagemapFD: (pid: Int32, fd: Int32) = (0, -1)

    /// Copy the pages of `range` the guest has not touched (under the lock). Those it has are
    /// mapped already (from the page cache, or copied by a write): copying one mapped from the
    /// page cache would make KVM drop its shadow entry, with an interrupt to the running vCPU
    /// (110 such exits and ~2 ms more for `perl -e 1` when it did).
    private func copyUntouched(_ range: Range<UInt64>) {
        if pagemapFD.pid != getpid() {
            if pagemapFD.fd >= 0 { close(pagemapFD.fd) }
            pagemapFD = (getpid(), open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC))
        }
        for run in AddressSpace.untouched(range, pagemap: pagemapFD.fd) {
            prefault(run.lowerBound, run.upperBound - run.lowerBound)
        }
    }

    /// Populate the host pages of [start, start+length) now (e.g. the top of the stack).
    public func prefault(_ start: UInt64, _ length: UInt64) {
        _ = madvise(UnsafeMutableRawPointer(bitPattern: UInt(start)), Int(length), 23 /* MADV_POPULATE_WRITE */)
    }

    /// Whether [start, start+length) lies inside the reservation (without overflowing). Every
    /// host mmap/mremap below goes through it: a range outside would replace the VMM's own
    /// memory, or outlive this address space.
    func inReservation(_ start: UInt64, _ length: UInt64) -> Bool {
        start >= layout.start && start <= layout.end && length <= layout.end - start
    }

    /// Unmap [start, end): the host range goes back to zero-filled anonymous memory. Only the
    /// part inside the reservation is touched.
    public func unmap(_ start: UInt64, _ end: UInt64) {
        let s = max(start, layout.start), e = min(end, layout.end)
        guard s < e else { return }
        withDeferred { list in
            resetHost(s, e - s)
            removeRecords(s, e, &list)
        }
    }

    /// Change the recorded protection (the guest's 2 MiB page tables do not enforce it).
    public func protect(_ start: UInt64, _ end: UInt64, prot: Int32) {
        split(at: start)
        split(at: end)
        for i in mappings.indices where mappings[i].start >= start && mappings[i].end <= end {
            mappings[i].prot = prot
        }
    }

    /// Move [old, old+oldLen) to [new, new+newLen) on the host (page-table moves, no copy).
    public func move(from old: UInt64, oldLength: UInt64, to new: UInt64, newLength: UInt64) -> Int32 {
        withDeferred { list in moveLocked(from: old, oldLength: oldLength, to: new, newLength: newLength, &list) }
    }

    private func moveLocked(
        from old: UInt64, oldLength: UInt64, to new: UInt64, newLength: UInt64,
        _ deferredCopies: inout [(range: Range<UInt64>, released: Bool)]
    ) -> Int32 {
        guard inReservation(old, oldLength), inReservation(new, newLength) else { return EINVAL }
        guard let first = mapping(containing: old) else { return EFAULT }
        do { try backing?.back(physical: layout.physical(new)..<layout.physical(new + newLength)) } catch {
            return ENOMEM
        }
        // Pages kept inaccessible past a file's end move as zeros (the list does not follow moves).
        clearPastFileEnd(old..<old + oldLength)
        // mremap(2) with MREMAP_MAYMOVE | MREMAP_FIXED (not exported by Glibc's Swift module).
        let r = chost_syscall6(25, old, oldLength, newLength, 3, new, 0)
        if r < 0 {
            // The range spans several host mappings: copy instead (anonymous memory only).
            guard first.path == nil, first.end >= old + oldLength else { return Int32(-r) }
            resetHost(new, newLength)
            memcpy(
                UnsafeMutableRawPointer(bitPattern: UInt(new))!, UnsafeRawPointer(bitPattern: UInt(old))!,
                Int(min(oldLength, newLength)))
        }
        // mremap left a hole in the reservation: fill it again.
        resetHost(old, oldLength)
        removeRecords(old, old + oldLength, &deferredCopies)
        removeRecords(new, new + newLength, &deferredCopies)
        var m = first
        m.offset += old - first.start
        m.start = new
        m.end = new + newLength
        insert(m)
        return 0
    }

    /// Grow a mapping in place (the caller checked the range after it is free).
    public func extend(_ start: UInt64, from oldEnd: UInt64, to newEnd: UInt64) -> Int32 {
        withDeferred { _ in extendLocked(start, from: oldEnd, to: newEnd) }
    }

    private func extendLocked(_ start: UInt64, from oldEnd: UInt64, to newEnd: UInt64) -> Int32 {
        guard oldEnd <= newEnd, inReservation(oldEnd, newEnd - oldEnd) else { return EINVAL }
        guard let m = mapping(containing: start) else { return EFAULT }
        if m.path != nil {
            // A file mapping grows by mapping the next part of the file.
            return EINVAL
        }
        do { try backing?.back(physical: layout.physical(oldEnd)..<layout.physical(newEnd)) } catch { return ENOMEM }
        resetHost(oldEnd, newEnd - oldEnd)
        var grown = m
        grown.start = oldEnd
        grown.end = newEnd
        insert(grown)
        return 0
    }

    /// [start, start+length) becomes fresh zero-filled anonymous memory on the host, advised for
    /// huge pages. 0, or the errno of the mapping.
    @discardableResult
    private func resetHost(_ start: UInt64, _ length: UInt64) -> Int32 {
        guard inReservation(start, length) else { return EINVAL }
        guard
            mmap(
                UnsafeMutableRawPointer(bitPattern: UInt(start)), Int(length), PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) != MAP_FAILED
        else { return errno }
        adviseHugePages(start, length)
        clearPastFileEnd(start..<start + length)
        return 0
    }

    private func split(at addr: UInt64) {
        guard let i = mappings.firstIndex(where: { $0.start < addr && addr < $0.end }) else { return }
        var tail = mappings[i]
        tail.offset += addr - tail.start
        tail.start = addr
        mappings[i].end = addr
        mappings.insert(tail, at: i + 1)
        if tail.hostReadOnly { hostReadOnlyCount += 1 }
    }

    /// The runs of pages of `range` that the host has not mapped, by /proc/self/pagemap (bit 63:
    /// present); the whole range when it cannot be read.
    static func untouched(_ range: Range<UInt64>, pagemap: Int32) -> [Range<UInt64>] {
        let pages = Int((range.upperBound - range.lowerBound) / GuestLayout.page)
        var entries = [UInt64](repeating: 0, count: pages)
        let want = pages * 8
        let got = entries.withUnsafeMutableBytes {
            pagemap < 0 ? -1 : pread(pagemap, $0.baseAddress, want, off_t(range.lowerBound / GuestLayout.page * 8))
        }
        guard got == want else { return [range] }
        var runs: [Range<UInt64>] = []
        var i = 0
        while i < pages {
            guard entries[i] & (1 << 63) == 0 else {
                i += 1
                continue
            }
            let first = i
            while i < pages, entries[i] & (1 << 63) == 0 { i += 1 }
            let lo = range.lowerBound + UInt64(first) * GuestLayout.page
            runs.append(lo..<range.lowerBound + UInt64(i) * GuestLayout.page)
        }
        return runs
    }

    private func removeRecords(
        _ start: UInt64, _ end: UInt64, _ deferredCopies: inout [(range: Range<UInt64>, released: Bool)]
    ) {
        if !deferredCopies.isEmpty {
            // What is replaced is no longer to copy; what is left of a range on either side still is.
            deferredCopies = deferredCopies.flatMap { d in
                AddressSpace.parts(of: d.range, outside: start..<end).map { (range: $0, released: d.released) }
            }
        }
        split(at: start)
        split(at: end)
        mappings.removeAll { m in
            let gone = m.start >= start && m.end <= end
            if gone && m.hostReadOnly { hostReadOnlyCount -= 1 }
            return gone
        }
    }

    private func insert(_ m: Mapping) {
        let i = mappings.firstIndex { $0.start >= m.end } ?? mappings.count
        mappings.insert(m, at: i)
        if m.hostReadOnly { hostReadOnlyCount += 1 }
    }
}

import Foundation
import GuestMemory
import XCTest

/// The loader's program image (`AddressSpace.mapImage`): the file's pages read into one anonymous
/// host mapping advised for transparent huge pages, widened to whole huge pages where the space
/// around it is free (Docs/machine.md "Start-up"). What the guest reads must be what private file
/// mappings gave it; the huge pages only change the host's cost, read here from /proc/self/smaps.
/// Anonymous guest memory sits in huge pages too (`AddressSpace.adviseHugePages`).
final class ImageMappingTests: AddressSpaceFileTestCase {
    /// 3 MiB of file and a 2 MiB-aligned base: the image spans two huge pages, the second only
    /// partly (its end is widened to the huge page's).
    let fileSize = 3 << 20
    var base: UInt64 { space.layout.programStart + (6 << 20) }

    override func fileContents() -> [UInt8] {
        (0..<fileSize).map { UInt8(truncatingIfNeeded: $0 / 4096 &* 7 &+ $0 % 251 &+ 1) }
    }

    func fileBytes(_ offset: Int, _ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
        out.removeLast(count - max(n, 0))
        return out
    }

    /// The kB of huge pages in the host mapping that holds `address` (smaps' AnonHugePages).
    func hugeKilobytes(at address: UInt64) throws -> Int {
        let smaps = try String(contentsOfFile: "/proc/self/smaps", encoding: .utf8)
        var inside = false
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let range = fields.first, range.contains("-"), !range.hasSuffix(":") {
                let bounds = range.split(separator: "-").compactMap { UInt64($0, radix: 16) }
                inside = bounds.count == 2 && bounds[0] <= address && address < bounds[1]
            } else if inside, fields.first == "AnonHugePages:", fields.count >= 2 {
                return Int(fields[1]) ?? 0
            }
        }
        return 0
    }

    func testAnImageReadsAsItsFileAndSitsInHugePages() throws {
        let text = base + 0x49000, data = base + 0x2f_0000, bss = base + 0x2f_2000
        let pieces: [AddressSpace.ImagePiece] = [
            .init(start: base, end: text, prot: PROT_READ, fileOffset: 0),
            .init(start: text, end: data, prot: PROT_READ | PROT_EXEC, fileOffset: 0x49000),
            // The data segment's last file page holds the start of its bss, from 0x1800 on.
            .init(start: data, end: bss, prot: PROT_READ | PROT_WRITE, fileOffset: 0x2e_0000, zeroFrom: data + 0x1800),
            .init(start: bss, end: bss + 0x5000, prot: PROT_READ | PROT_WRITE, fileOffset: nil),
        ]
        XCTAssertEqual(space.mapImage(pieces, fd: fd, path: "/usr/bin/prog"), 0)

        XCTAssertEqual(try space.bytes(at: base, count: 0x49000), fileBytes(0, 0x49000))
        XCTAssertEqual(try space.bytes(at: text, count: Int(data - text)), fileBytes(0x49000, Int(data - text)))
        XCTAssertEqual(try space.bytes(at: data, count: 0x1800), fileBytes(0x2e_0000, 0x1800))
        XCTAssertEqual(try space.bytes(at: data + 0x1800, count: 0x800), [UInt8](repeating: 0, count: 0x800))
        XCTAssertEqual(try space.bytes(at: bss, count: 0x5000), [UInt8](repeating: 0, count: 0x5000))

        // The guest's view: one mapping per piece, the file's named with its offset.
        let shown = space.mappings.map {
            "\($0.start - base):\($0.end - base):\($0.prot):\($0.path ?? "-"):\($0.offset)"
        }
        XCTAssertEqual(
            shown,
            [
                "0:299008:1:/usr/bin/prog:0", "299008:3080192:5:/usr/bin/prog:299008",
                "3080192:3088384:3:/usr/bin/prog:3014656", "3088384:3108864:3:-:0",
            ])

        // Both huge pages: the first holds the image's start, the second its end, widened.
        guard hugePagesOn else { return }
        XCTAssertEqual(try hugeKilobytes(at: base), 4096, "the image's host mapping, in huge pages")
    }

    var hugePagesOn: Bool {
        let thp = (try? String(contentsOfFile: "/sys/kernel/mm/transparent_hugepage/enabled", encoding: .utf8)) ?? ""
        if thp.contains("[never]") { print("ImageMappingTests: transparent huge pages are off on this host") }
        return !thp.contains("[never]")
    }

    func testAHeapGrowingByStepsSitsInOneHugePage() throws {
        // brk's steps: 132 KiB of anonymous memory at a time, each populated as it is mapped.
        let step: UInt64 = 132 << 10
        var top = base
        while top < base + (2 << 20) {
            let n = min(step, base + (2 << 20) - top)
            XCTAssertEqual(space.map(start: top, length: n, prot: PROT_READ | PROT_WRITE, backing: .anonymous), 0)
            try space.write([0x5A], at: top)
            top += n
        }
        guard hugePagesOn else { return }
        XCTAssertEqual(try hugeKilobytes(at: base), 2048, "the heap's host memory, in huge pages")
    }

    /// The system area (page tables, stub, mailbox) is mapped by the guest with 4 KiB pages: a host
    /// huge page under it would save no shadow fault, and its first write would zero 2 MiB.
    func testTheSystemAreaStaysInSmallPages() throws {
        space.systemArea.storeBytes(of: 0x5A, as: UInt8.self)
        XCTAssertEqual(space.map(start: base, length: 2 << 20, prot: PROT_READ | PROT_WRITE, backing: .anonymous), 0)
        try space.write([0x5A], at: base)
        guard hugePagesOn else { return }
        XCTAssertEqual(try hugeKilobytes(at: space.layout.start), 0, "the system area's host memory")
        XCTAssertEqual(try hugeKilobytes(at: base), 2048, "the program's memory, beside it")
    }

    /// A private file mapping is read into the guest's memory, in huge pages: KVM maps each of the
    /// guest's 2 MiB pages over it with one shadow fault instead of one per 4 KiB page.
    func testAPrivateFileMappingIsACopyInHugePages() throws {
        let length = UInt64(fileSize)
        let file = AddressSpace.Backing.file(
            fd: fd, path: "/usr/lib/libfoo.so", offset: 0, shared: false, writable: false, copyLater: true)
        XCTAssertEqual(space.map(start: base, length: length, prot: PROT_READ | PROT_EXEC, backing: file), 0)
        XCTAssertEqual(try space.bytes(at: base, count: fileSize), fileBytes(0, fileSize))
        XCTAssertEqual(space.mapping(containing: base)?.hostFile, false)
        guard hugePagesOn else { return }
        XCTAssertEqual(try hugeKilobytes(at: base), 4096, "the copy's host memory, in huge pages")
    }

    func testMemoryMappedAgainReadsAsZeros() throws {
        XCTAssertEqual(space.map(start: base, length: 0x3000, prot: PROT_READ | PROT_WRITE, backing: .anonymous), 0)
        try space.write([1, 2, 3], at: base + 0x1000)
        // Over a mapping: zeros at once.
        XCTAssertEqual(space.map(start: base, length: 0x2000, prot: PROT_READ | PROT_WRITE, backing: .anonymous), 0)
        XCTAssertEqual(try space.bytes(at: base + 0x1000, count: 3), [0, 0, 0])
        // Unmapped, then mapped where nothing is: zeros too.
        try space.write([4, 5, 6], at: base + 0x2000)
        space.unmap(base, base + 0x3000)
        XCTAssertEqual(space.map(start: base, length: 0x3000, prot: PROT_READ | PROT_WRITE, backing: .anonymous), 0)
        XCTAssertEqual(try space.bytes(at: base + 0x2000, count: 3), [0, 0, 0])
    }

    func testALaterPieceReplacesAnEarlierOne() throws {
        // A segment's bss laid over another's file pages (as a later mapping would replace them),
        // and a file piece over a bss.
        let pieces: [AddressSpace.ImagePiece] = [
            .init(start: base, end: base + 0x3000, prot: PROT_READ, fileOffset: 0),
            .init(start: base + 0x1000, end: base + 0x3000, prot: PROT_READ | PROT_WRITE, fileOffset: nil),
            .init(start: base + 0x2000, end: base + 0x3000, prot: PROT_READ, fileOffset: 0x5000),
        ]
        XCTAssertEqual(space.mapImage(pieces, fd: fd, path: "/f"), 0)
        XCTAssertEqual(try space.bytes(at: base, count: 0x1000), fileBytes(0, 0x1000))
        XCTAssertEqual(try space.bytes(at: base + 0x1000, count: 0x1000), [UInt8](repeating: 0, count: 0x1000))
        XCTAssertEqual(try space.bytes(at: base + 0x2000, count: 0x1000), fileBytes(0x5000, 0x1000))
        XCTAssertEqual(space.mappings.map { $0.end - $0.start }, [0x1000, 0x1000, 0x1000])
    }

    func testPagesPastTheFilesEndReadAsZeros() throws {
        let end = base + UInt64(fileSize) + 0x2000
        let pieces = [AddressSpace.ImagePiece(start: base, end: end, prot: PROT_READ, fileOffset: 0)]
        XCTAssertEqual(space.mapImage(pieces, fd: fd, path: "/short"), 0)
        XCTAssertEqual(try space.bytes(at: base + UInt64(fileSize) - 16, count: 16), fileBytes(fileSize - 16, 16))
        XCTAssertEqual(
            try space.bytes(at: base + UInt64(fileSize), count: 0x2000), [UInt8](repeating: 0, count: 0x2000))
    }

    func testAnImageOverAnotherMappingIsNotWidenedOverIt() throws {
        // A mapping in the image's huge page, below it: the image must not widen over it.
        let below = base
        XCTAssertEqual(space.map(start: below, length: 0x1000, prot: PROT_READ | PROT_WRITE, backing: .anonymous), 0)
        try space.write([0xAB], at: below)
        let start = base + 0x1000
        let pieces = [AddressSpace.ImagePiece(start: start, end: start + 0x3000, prot: PROT_READ, fileOffset: 0)]
        XCTAssertEqual(space.mapImage(pieces, fd: fd, path: "/f"), 0)
        XCTAssertEqual(try space.bytes(at: below, count: 1), [0xAB])
        XCTAssertEqual(try space.bytes(at: start, count: 0x3000), fileBytes(0, 0x3000))
        XCTAssertEqual(space.mappings.count, 2)
    }
}

import Foundation
import GuestMemory
import XCTest

/// Private file mappings larger than `AddressSpace.readLimit` (64 MiB) of files nobody in the guest
/// can write are copied after the guest is done mapping over them, and not where the guest has
/// touched them (AddressSpace.Backing.file's `copyLater`; Docs/machine.md "Start-up"). The copy
/// only changes the host's cost, never what the guest reads; these tests look at the host's page
/// map to see which pages were copied, in mappings of 16 pages with the limit lowered.
final class DeferredCopyTests: AddressSpaceFileTestCase {
    let pages: UInt64 = 16
    var base: UInt64 { space.layout.programStart + 0x10_0000 }

    override func setUpWithError() throws {
        try super.setUpWithError()
        space.readLimit = 0
    }

    override func fileContents() -> [UInt8] { (0..<Int(pages * 4096)).map { UInt8(truncatingIfNeeded: $0 / 4096 + 1) } }

    /// Per page of [base, base + pages): "." not mapped on the host, "c" copied (anonymous), "f"
    /// mapped from the file (the page cache).
    func hostPages() -> String {
        let pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC)
        defer { close(pagemap) }
        var entries = [UInt64](repeating: 0, count: Int(pages))
        let got = entries.withUnsafeMutableBytes { pread(pagemap, $0.baseAddress, $0.count, off_t(base / 4096 * 8)) }
        XCTAssertEqual(got, Int(pages) * 8)
        return String(entries.map { $0 & (1 << 63) == 0 ? "." : $0 & (1 << 61) != 0 ? "f" : "c" })
    }

    func mapFile(at start: UInt64, pages n: UInt64, fileOffset: UInt64 = 0) {
        let file = AddressSpace.Backing.file(
            fd: fd, path: "/f", offset: fileOffset, shared: false, writable: false, copyLater: true)
        XCTAssertEqual(space.map(start: start, length: n * 4096, prot: PROT_READ, backing: file), 0)
    }

    func testWhatIsMappedOverOrTouchedIsNotCopied() throws {
        mapFile(at: base, pages: pages)  // ld.so's span
        XCTAssertEqual(hostPages(), "................")
        // ld.so mapping a segment over the span: nothing is copied yet. (Another part of the file
        // than the span had there, so that the host does not merge the two mappings into one.)
        space.releaseDeferred(unlessMapping: base + 4 * 4096..<base + 8 * 4096, copyNow: true)
        mapFile(at: base + 4 * 4096, pages: 4, fileOffset: 8 * 4096)
        XCTAssertEqual(hostPages(), "................")
        // The guest reads page 1 (mapped from the page cache, and its neighbours with it).
        let p = try space.pointer(base + 4096, 1)
        XCTAssertEqual(p.load(as: UInt8.self), 2)
        let touched = hostPages()
        XCTAssertEqual(Array(touched)[1], "f")
        // Another mapping over the span waits too; another call copies the segment and what is
        // left of the span, but not where the host has mapped the file already.
        space.releaseDeferred(unlessMapping: base + 12 * 4096..<base + 13 * 4096, copyNow: true)
        XCTAssertEqual(hostPages(), touched)
        space.releaseDeferred(unlessMapping: nil, copyNow: true)
        XCTAssertEqual(hostPages(), String(touched.map { $0 == "f" ? "f" : "c" }))
        // The guest reads the file's bytes all along.
        for i in 0..<pages {
            let want = UInt8((4..<8).contains(i) ? i + 5 : i + 1)
            XCTAssertEqual(try space.pointer(base + i * 4096, 1).load(as: UInt8.self), want)
        }
    }

    func testTheSpinnerCopiesEightPagesAStepOnceReleased() {
        mapFile(at: base, pages: pages)
        XCTAssertFalse(space.copyDeferredStep(), "not released: the guest may still map over it")
        space.releaseDeferred(unlessMapping: nil, copyNow: false)
        XCTAssertEqual(hostPages(), "................")
        XCTAssertTrue(space.copyDeferredStep())
        XCTAssertEqual(hostPages(), "cccccccc........")
        // Unmapped meanwhile: what was left is no longer to copy.
        space.unmap(base + 12 * 4096, base + pages * 4096)
        XCTAssertTrue(space.copyDeferredStep())
        XCTAssertEqual(hostPages(), "cccccccccccc....")
        XCTAssertFalse(space.copyDeferredStep())
    }

    func testAFileOnAWritableMountIsCopiedWhenMapped() {
        XCTAssertEqual(
            space.map(
                start: base, length: pages * 4096, prot: PROT_READ,
                backing: .file(fd: fd, path: "/f", offset: 0, shared: false, writable: false)),
            0)
        XCTAssertEqual(hostPages(), "cccccccccccccccc")
    }
}

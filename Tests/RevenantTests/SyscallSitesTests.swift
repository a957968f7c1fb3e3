import CSyscallSites
import XCTest

/// revenant_site_branches_into (Sources/CSyscallSites): whether code beside a rewritten site could
/// branch into its patch. A byte scan answers "no" alone; a "maybe" is settled by decoding.
final class SyscallSitesTests: XCTestCase {
    private func branchesInto(_ code: [UInt8], at start: UInt64, _ lo: UInt64, _ hi: UInt64) -> Bool {
        code.withUnsafeBufferPointer { revenant_site_branches_into($0.baseAddress, $0.count, start, lo, hi) } != 0
    }

    private func rel32(_ target: UInt64, after end: UInt64) -> [UInt8] {
        withUnsafeBytes(of: Int32(truncatingIfNeeded: Int64(target) - Int64(end)).littleEndian) { Array($0) }
    }

    func testABranchIntoThePatchIsFound() {
        // nop; jmp 0x2004 (rel32), at 0x1000.
        let jmp: [UInt8] = [0x90, 0xe9] + rel32(0x2004, after: 0x1006)
        XCTAssertTrue(branchesInto(jmp, at: 0x1000, 0x2000, 0x2007))
        XCTAssertFalse(branchesInto(jmp, at: 0x1000, 0x2004, 0x2007), "the patch's first byte is not inside")
        // jne rel8 and jcc rel32.
        XCTAssertTrue(branchesInto([0x75, 0x10, 0xc3], at: 0x1000, 0x1010, 0x1012))
        XCTAssertTrue(branchesInto([0x0f, 0x84] + rel32(0x3001, after: 0x1006), at: 0x1000, 0x3000, 0x3002))
    }

    func testCodeWithoutSuchABranchIsClear() {
        // push rbp; mov rbp, rsp; pop rbp; ret
        XCTAssertFalse(branchesInto([0x55, 0x48, 0x89, 0xe5, 0x5d, 0xc3], at: 0x1000, 0x2000, 0x2007))
        // mov eax, imm32 whose bytes read as a jmp rel32 into the patch from the second byte; ret:
        // the scan's "maybe", which decoding settles.
        let imm: [UInt8] = [0xe9] + Array(rel32(0x2004, after: 0x1006).prefix(3))
        let fake: [UInt8] = [0xb8] + imm + [rel32(0x2004, after: 0x1006)[3], 0xc3]
        XCTAssertFalse(branchesInto(fake, at: 0x1000, 0x2000, 0x2007))
    }
}

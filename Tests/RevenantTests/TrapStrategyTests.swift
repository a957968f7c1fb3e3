import Foundation
import Machine
import XCTest

/// The VMX/SVM strategy cannot run on the PVM machines here: it is exercised against fakes.
final class TrapStrategyTests: XCTestCase {
    func fakeSysModule(_ modules: [String]) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sysmod-\(UUID().uuidString)")
        for m in modules {
            try FileManager.default.createDirectory(
                at: dir.appendingPathComponent(m), withIntermediateDirectories: true)
        }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir.path
    }

    func testProbePicksTheStrategyFromTheKernelModule() throws {
        XCTAssertEqual(TrapStrategy.probe(sysModule: try fakeSysModule(["kvm", "kvm_pvm"])).0, .pvmUserStub)
        XCTAssertEqual(TrapStrategy.probe(sysModule: try fakeSysModule(["kvm", "kvm_intel"])).0, .ring0Sysret)
        XCTAssertEqual(TrapStrategy.probe(sysModule: try fakeSysModule(["kvm", "kvm_amd"])).0, .ring0Sysret)
        XCTAssertTrue(TrapStrategy.probe(sysModule: try fakeSysModule(["kvm", "kvm_amd"])).hypervisor.contains("SVM"))
    }

    func testPVMReturnsToTheCallerItself() {
        var r = SyscallRegisters(rax: 39, rip: 0x1000_0044_006, rflags: 0x2, rcx: 0x5555_1234, r11: 0x246)
        TrapStrategy.pvmUserStub.complete(&r, result: 42)
        XCTAssertEqual(r, SyscallRegisters(rax: 42, rip: 0x5555_1234, rflags: 0x246, rcx: 0x5555_1234, r11: 0x246))
    }

    func testRing0LeavesTheReturnToSysret() {
        var r = SyscallRegisters(rax: 39, rip: 0x1000_0044_006, rflags: 0x2, rcx: 0x5555_1234, r11: 0x246)
        TrapStrategy.ring0Sysret.complete(&r, result: UInt64(bitPattern: -38))
        XCTAssertEqual(
            r,
            SyscallRegisters(
                rax: UInt64(bitPattern: -38), rip: 0x1000_0044_006, rflags: 0x2, rcx: 0x5555_1234, r11: 0x246))
    }
}

import Foundation
import LinuxABI
import Personality
import XCTest

final class SyscallTableTests: XCTestCase {
    func testEveryImplementedSyscallIsInTheTableAndViceVersa() {
        let implemented = LinuxPersonality.implementedNames
        let listed = Set(SyscallTable.entries.filter { $0.status != .unsupported }.map(\.name))
        XCTAssertEqual(implemented.subtracting(listed).sorted(), [], "handled but not in SyscallTable")
        XCTAssertEqual(listed.subtracting(implemented).sorted(), [], "in SyscallTable as supported/partial but no handler")
        let unsupported = Set(SyscallTable.entries.filter { $0.status == .unsupported }.map(\.name))
        XCTAssertEqual(unsupported.intersection(implemented).sorted(), [], "marked unsupported but handled")
    }

    func testTableNamesAreRealSyscalls() {
        for e in SyscallTable.entries {
            XCTAssertGreaterThanOrEqual(e.number, 0, "\(e.name) is not an x86-64 syscall name")
        }
        XCTAssertEqual(Set(SyscallTable.entries.map(\.name)).count, SyscallTable.entries.count, "duplicate entries")
    }

    func testChildProcessesAreDocumentedUnsupported() {
        for name in ["fork", "vfork", "clone", "clone3", "execve"] {
            XCTAssertEqual(SyscallTable.entries.first { $0.name == name }?.status, .unsupported, name)
        }
    }

    /// Docs/syscalls.md is generated from the table (`make docs`); this keeps it current.
    func testDocsSyscallsMarkdownIsCurrent() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let doc = try String(contentsOf: root.appendingPathComponent("Docs/syscalls.md"), encoding: .utf8)
        XCTAssertEqual(doc, SyscallTable.markdown(), "Docs/syscalls.md is stale: run `make docs`")
    }
}

final class SyscallArityTests: XCTestCase {
    /// Every call the personality implements has an argument count (replay compares only those).
    func testEveryImplementedCallHasAnArity() {
        let missing = SyscallTable.entries.map(\.name).filter { SyscallArity.byName[$0] == nil }
        XCTAssertEqual(missing, [])
        XCTAssertEqual(SyscallArity.count(UInt64(SyscallNames.byName["access"]!)), 2)
        XCTAssertEqual(SyscallArity.count(0x5256_0002), 6, "unknown calls compare everything")
    }
}

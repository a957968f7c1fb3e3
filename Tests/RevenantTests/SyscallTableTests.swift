import Foundation
import GuestMemory
import Replay
import Trace
import LinuxABI
import Personality
import XCTest

final class SyscallTableTests: XCTestCase {
    func testEveryImplementedSyscallIsInTheTableAndViceVersa() {
        let implemented = LinuxPersonality.implementedNames
        let listed = Set(SyscallTable.entries.filter { $0.status != .unsupported }.map(\.name))
        XCTAssertEqual(implemented.subtracting(listed).sorted(), [], "handled but not in SyscallTable")
        XCTAssertEqual(
            listed.subtracting(implemented).sorted(), [], "in SyscallTable as supported/partial but no handler")
        let unsupported = Set(SyscallTable.entries.filter { $0.status == .unsupported }.map(\.name))
        XCTAssertEqual(unsupported.intersection(implemented).sorted(), [], "marked unsupported but handled")
    }

    func testTableNamesAreRealSyscalls() {
        for e in SyscallTable.entries {
            XCTAssertGreaterThanOrEqual(e.number, 0, "\(e.name) is not an x86-64 syscall name")
        }
        XCTAssertEqual(Set(SyscallTable.entries.map(\.name)).count, SyscallTable.entries.count, "duplicate entries")
    }

    func testChildProcessesAreDocumentedPartial() {
        // Processes, not threads: partial; forked again in replay, and a child is input regen cannot
        // feed the fast Perl-level replay.
        for name in ["fork", "vfork", "clone", "clone3"] {
            let row = SyscallTable.entries.first { $0.name == name }
            XCTAssertEqual(row?.status, .partial, name)
            XCTAssertEqual(row?.replay, .forked, name)
            XCTAssertEqual(row?.input, .process, name)
        }
        // A new program in the same process is supported, and loaded again from the trace in replay.
        for name in ["execve", "execveat"] {
            XCTAssertEqual(SyscallTable.entries.first { $0.name == name }?.replay, .loaded, name)
        }
    }

    /// Docs/syscalls.md is generated from the table (`make docs`); this keeps it current.
    func testDocsSyscallsMarkdownIsCurrent() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let doc = try String(contentsOf: root.appendingPathComponent("Docs/syscalls.md"), encoding: .utf8)
        XCTAssertEqual(doc, SyscallTable.markdown(), "Docs/syscalls.md is stale: run `make docs`")
    }
}

final class SyscallArityTests: XCTestCase {
    /// Every row says how many arguments the call reads (replay compares only those).
    func testArityComesFromTheRow() {
        XCTAssertEqual(SyscallTable.arity(UInt64(SyscallNames.byName["access"]!)), 2)
        XCTAssertEqual(SyscallTable.arity(0x5256_0002), 6, "unknown calls compare everything")
        XCTAssertEqual(SyscallTable.arity(UInt64.max), 6)
        for e in SyscallTable.entries { XCTAssertTrue((0...6).contains(e.arity), e.name) }
    }
}

/// The docs and the behaviour agree: for every row, a call recorded and then replayed runs again
/// on the personality exactly when the row says `run again` or `forked as recorded` (it is fed
/// back otherwise), and the recording logged memory writes only for calls that are fed back.
final class ReplayRuleTests: XCTestCase {
    func testEveryRowReplaysAsItSays() throws { try preservingSIGCHLD { try everyRowReplaysAsItSays() } }

    func everyRowReplaysAsItSays() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("rule-\(UUID().uuidString)")
            .resolvingSymlinksInPath()
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        func personality() throws -> LinuxPersonality { try makeTestPersonality(root: root) }
        // Harmless arguments: zeros (bad pointers and descriptors), and for the waits that take a
        // timeout by pointer a zero one (a null one waits forever, as on Linux).
        let scratch = GuestLayout.base + GuestLayout.systemSize
        func request(_ row: SyscallSpec) -> SyscallRequest {
            let select: UInt64 = ["select", "pselect6"].contains(row.name) ? scratch : 0
            let ppoll: UInt64 = row.name == "ppoll" ? scratch : 0
            return SyscallRequest(number: UInt64(row.number), args: (0, 0, ppoll, 0, select, 0))
        }
        // pause waits for a signal, and once the personality has a child (the forks below) one may
        // come: nothing here would send it (SignalTests and Tests/MultiProcess cover it).
        let rows = SyscallTable.entries.filter { $0.status != .unsupported && $0.name != "pause" }
        let trace = try TraceDirectory.create(root.appendingPathComponent("t.rvt").path, force: false)
        // One address space at a time (each reserves the guest's range): the recording's is gone
        // before the replay's is made.
        try {
            let recording = try personality()
            defer { recording.shutdown() }
            let recorder = try Recorder(personality: recording, trace: trace)
            for row in rows {
                // A fork: the machine forks the host and tells the kernel (here: the parent's side).
                if case .fork = recorder.handle(request(row)) { _ = recorder.forked(child: false, pid: 4242) }
            }
            try recorder.finish(status: 0, nanoseconds: 0)
        }()

        var reader = try EventReader(path: trace.eventsPath)
        var logged: [String: Bool] = [:]
        var forked: Set<String> = []
        while let e = try reader.next() {
            guard e.kind == EventKind.syscall.rawValue else { continue }
            let s = try SyscallEvent.decode(e.payload)
            logged[s.name] = !s.writes.isEmpty || logged[s.name] == true
            if case .fork = s.outcome { forked.insert(s.name) }
        }
        // clone3 with a null argument block fails before forking (fed back, as a refused fork is).
        XCTAssertEqual(forked, ["fork", "vfork", "clone"])
        let replaying = try personality()
        let replayer = try Replayer(personality: replaying, trace: trace, quiet: true)
        for row in rows {
            let before = replaying.syscallCount
            _ = replayer.handle(request(row))
            XCTAssertNil(replayer.divergence, "\(row.name): \(replayer.divergence ?? "")")
            let ranAgain = replaying.syscallCount > before
            XCTAssertEqual(
                ranAgain, row.replay == .runAgain || forked.contains(row.name),
                "\(row.name): the row says \(row.replay.rawValue), the replay \(ranAgain ? "ran it" : "fed it back")")
            if row.replay != .fedBack { XCTAssertNotEqual(logged[row.name], true, "\(row.name) logged memory writes") }
        }
    }
}

import Foundation
import Glibc
import LinuxABI
import Replay
import Replicas
import Trace
import XCTest

/// The parts of a backup taking the primary's place that need no VM (Docs/replicas.md "Taking
/// over"): the log cut and written on by a new writer, read by followers that go back to the
/// cut; and the account a backup keeps of the guest's descriptors.
final class TakeOverTests: ScratchTestCase {
    private func events(_ n: Int, tag: UInt8) -> [Event] {
        (0..<n).map { i in Event(kind: tag, payload: (0..<(i % 97 + 200)).map { UInt8(truncatingIfNeeded: i &+ $0) }) }
    }

    /// An `events` file an old writer wrote `count` events to and left (its lock with it): its
    /// path and the events.
    private func oldWriter(_ count: Int) throws -> (String, [Event]) {
        let path = base.appendingPathComponent("events").path
        let old = events(count, tag: 1)
        let w = try EventWriter(path: path)
        for e in old { try w.append(e) }
        try w.flush()
        return (path, old)
    }

    /// Everything a reader has, then everything the file gained since.
    private func readOn(_ r: inout EventReader) throws -> [Event] {
        var out: [Event] = []
        while let e = try r.next() { out.append(e) }
        // What a refill finds past the last chunk read may be an incomplete chunk: once.
        if r.refill() { while let e = try r.next() { out.append(e) } }
        return out
    }

    func testAStreamCutAndWrittenOnByANewWriter() throws {
        let (path, old) = try oldWriter(2000)
        // Followers at three places: behind the cut, at it, and the new writer's own reader.
        var behind = try EventReader(path: path), atCut = try EventReader(path: path)
        var taker = try EventReader(path: path)
        let k: UInt64 = 1234
        for _ in 0..<700 { _ = try behind.next() }
        for _ in 0..<k { _ = try atCut.next() }
        for _ in 0..<k { _ = try taker.next() }
        let (cut, prefix) = try taker.cut(atEvent: k)
        XCTAssertEqual(cut.event, k)
        XCTAssertGreaterThan(k, cut.first, "the cut is inside a chunk")
        XCTAssertEqual(prefix, Array(old[Int(cut.first)..<Int(k)]), "the cut chunk's events before it")
        // The new writer: the file cut there, the chunk's first events again, then its own.
        let new = events(500, tag: 2)
        do {
            let w = try EventWriter.continuing(path, at: cut, prefix: prefix)
            for e in new { try w.append(e) }
            try w.close()
        }
        var fresh = try EventReader(path: path)
        XCTAssertEqual(try readOn(&fresh), Array(old[0..<Int(k)]) + new)
        try behind.rewind(toEvent: 700, cut: cut)
        XCTAssertEqual(try readOn(&behind), Array(old[700..<Int(k)]) + new)
        try atCut.rewind(toEvent: k, cut: cut)
        XCTAssertEqual(try readOn(&atCut), new)
        // A cut at a chunk's end writes nothing again.
        var whole = try EventReader(path: path)
        let all = try readOn(&whole)
        let (end, none) = try whole.cut(atEvent: UInt64(all.count))
        XCTAssertEqual(none, [])
        XCTAssertEqual(end.first, UInt64(all.count))
    }

    /// A copy of a checkpoint forgets what it read ahead (the log may have been cut and written on
    /// since) and then goes back to a cut before it reads again: it goes back to where it was,
    /// not to the start of the chunk it will read again (it replayed the log's first event a
    /// second time, `expected brk, saw access`, now and then under `--replicas 2`).
    func testGoingBackAfterForgettingReadsOnWhereItWas() throws {
        let (path, old) = try oldWriter(300)
        var copy = try EventReader(path: path)
        for _ in 0..<3 { _ = try copy.next() }
        try copy.forgetReadAhead()
        XCTAssertEqual(copy.position, 3)
        try copy.forgetReadAhead()
        XCTAssertEqual(copy.position, 3, "forgetting twice")
        var taker = try EventReader(path: path)
        XCTAssertEqual(try readOn(&taker), old)
        let (cut, none) = try taker.cut(atEvent: 300)
        XCTAssertEqual(none, [])
        let new = events(20, tag: 2)
        do {
            let w = try EventWriter.continuing(path, at: cut, prefix: none)
            for e in new { try w.append(e) }
            try w.close()
        }
        try copy.rewind(toEvent: copy.position, cut: cut)
        let read = try readOn(&copy)
        // (Compared whole, not printed whole: each event is 200 bytes.)
        XCTAssertTrue(
            read == Array(old[3...]) + new, "\(read.count) events, the first \(read.first?.payload.first ?? 0)")
    }

    /// A follower that read an incomplete chunk the old writer left reads it again from the file,
    /// where the new writer wrote over it.
    func testAnIncompleteChunkIsReadAgain() throws {
        let (path, old) = try oldWriter(300)
        var follower = try EventReader(path: path)
        XCTAssertEqual(try readOn(&follower), old)
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        // Half a chunk more, as from a writer killed while writing it.
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try h.seekToEnd()
        func le(_ v: UInt64, _ n: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }
        // magic, 0, first event, 1 event, 10 bytes, 100 compressed, a CRC; then 40 of the 100.
        let header = le(0x4B43_5652, 4) + le(0, 4) + le(300, 8) + le(1, 4) + le(10, 4) + le(100, 4) + le(0, 4)
        try h.write(contentsOf: Data(header + [UInt8](repeating: 7, count: 40)))
        try h.close()
        XCTAssertEqual(try readOn(&follower), [])
        XCTAssertNotNil(follower.truncatedAt)
        var taker = try EventReader(path: path)
        _ = try readOn(&taker)
        let (cut, prefix) = try taker.cut(atEvent: UInt64(old.count))
        XCTAssertEqual(cut.offset, size)
        let new = events(10, tag: 3)
        let w = try EventWriter.continuing(path, at: cut, prefix: prefix)
        for e in new { try w.append(e) }
        try w.close()
        XCTAssertEqual(try readOn(&follower), new)
    }

    private func call(
        _ name: String, _ args: [UInt64], _ result: Int64, path: String? = nil, pathIndex: Int = 1,
        writes: [(address: UInt64, bytes: [UInt8])] = []
    ) -> SyscallEvent {
        var e = SyscallEvent(
            number: UInt64(SyscallNames.byName[name]!), args: args + [UInt64](repeating: 0, count: 6 - args.count),
            outcome: .value(result), console: 0, writes: writes)
        if let path { e.paths = [(pathIndex, Array(path.utf8))] }
        return e
    }

    /// A program that opens and closes files all along keeps the ledger as small as what it holds
    /// open (each backup walks it at the calls that read its journal: a ledger that kept every
    /// closed file made 20,000 opens under `--replicas 3` 40% slower), and stdin's count stays.
    func testTheLedgerForgetsClosedFiles() {
        let cwd = UInt64(bitPattern: Int64(AT_FDCWD))
        var ledger = DescriptorLedger(cwd: "/home/u", umask: 0o022)
        ledger.apply(call("read", [0, 0x2000, 10], 10), at: 0)
        ledger.apply(call("close", [0], 0), at: 1)
        for i in 0..<5000 {
            ledger.apply(
                call("openat", [cwd, 0x1000, UInt64(O_RDONLY)], 3, path: "f\(i % 100)"), at: UInt64(2 + 2 * i))
            ledger.apply(call("close", [3], 0), at: UInt64(3 + 2 * i))
        }
        XCTAssertLessThan(ledger.descriptions.count, 100)
        XCTAssertEqual(ledger.openDescriptions.count, 2, "stdout and stderr")
        XCTAssertEqual(ledger.stdinOffset, 10)
    }

    func testTheLedgerFollowsTheGuestsDescriptors() {
        let cwd = UInt64(bitPattern: Int64(AT_FDCWD))
        var ledger = DescriptorLedger(cwd: "/home/u", umask: 0o022)
        // Each call is the run's next event.
        var events: UInt64 = 0
        func apply(_ e: SyscallEvent) {
            ledger.apply(e, at: events)
            events += 1
        }
        apply(call("openat", [cwd, 0x1000, UInt64(O_RDONLY)], 3, path: "data/in.txt"))
        apply(call("read", [3, 0x2000, 4096], 100))
        apply(call("dup", [3], 4))
        apply(call("lseek", [4, 10, UInt64(SEEK_CUR)], 110))
        apply(call("read", [4, 0x2000, 4096], 5))
        apply(call("close", [3], 0))
        apply(call("openat", [cwd, 0x1000, UInt64(O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC)], 3, path: "out"))
        apply(call("write", [3, 0x2000, 5], 5))
        apply(call("chdir", [0x1000], 0, path: "sub/../sub2", pathIndex: 0))
        apply(call("openat", [cwd, 0x1000, UInt64(O_RDONLY)], 5, path: "x"))
        apply(call("fcntl", [5, UInt64(F_DUPFD_CLOEXEC), 10], 10))
        apply(call("openat", [cwd, 0x1000, UInt64(O_RDONLY)], -2, path: "missing"))
        apply(call("umask", [0o077], 0o022))
        func file(_ fd: Int) -> (DescriptorLedger.Kind, Int64, Bool)? {
            guard let s = ledger.slots[fd], let d = ledger.descriptions[s.description] else { return nil }
            return (d.kind, d.offset, d.atEnd)
        }
        XCTAssertNil(file(6), "a failed open opens nothing")
        XCTAssertEqual(file(4)?.0, .file(path: "/home/u/data/in.txt", flags: O_RDONLY))
        XCTAssertEqual(file(4)?.1, 115, "reads and lseek move the shared offset")
        XCTAssertEqual(file(3)?.0, .file(path: "/home/u/out", flags: O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC))
        XCTAssertEqual(file(3)?.2, true, "an O_APPEND write leaves it at the end")
        XCTAssertEqual(ledger.cwd, "/home/u/sub/../sub2")
        XCTAssertEqual(file(5)?.0, .file(path: "/home/u/sub/../sub2/x", flags: O_RDONLY))
        XCTAssertEqual(ledger.slots[10]?.description, ledger.slots[5]?.description)
        XCTAssertEqual(ledger.slots[10]?.cloexec, true)
        XCTAssertEqual(file(1)?.0, .console(1))
        XCTAssertEqual(ledger.umask, 0o077)
        XCTAssertNil(ledger.obstacle())
        // A pipe cannot be opened again: the one line says which descriptor.
        let pipeFDs: [UInt8] = [7, 0, 0, 0, 8, 0, 0, 0]
        apply(call("pipe2", [0x3000, 0], 0, writes: [(0x3000, pipeFDs)]))
        XCTAssertEqual(ledger.obstacle(), "its fd 7 is a pipe, which cannot be opened again")
        apply(call("close", [7], 0))
        apply(call("close", [8], 0))
        XCTAssertNil(ledger.obstacle())
        // A socket is known by the event that made it (the supervisor holds a copy by it), and
        // is no obstacle; accept4's SOCK_CLOEXEC is its close-on-exec.
        apply(call("socket", [UInt64(AF_INET), UInt64(SOCK_STREAM.rawValue), 0], 7))
        apply(call("accept4", [7, 0, 0, UInt64(SOCK_CLOEXEC.rawValue)], 8))
        XCTAssertEqual(file(7)?.0, .socket(created: events - 2))
        XCTAssertEqual(file(8)?.0, .socket(created: events - 1))
        XCTAssertEqual(ledger.slots[8]?.cloexec, true)
        XCTAssertNil(ledger.obstacle())
        // A socket's offset counts what the journal serves: not a peek, nor a read with MSG_TRUNC
        // (its result is the datagram's whole length), MSG_OOB or MSG_ERRQUEUE.
        apply(call("recvfrom", [8, 0x2000, 100, 0, 0x3000, 0x3100], 5))
        for flags in [MSG_PEEK, MSG_TRUNC, MSG_OOB, MSG_ERRQUEUE] {
            apply(call("recvfrom", [8, 0x2000, 100, UInt64(flags), 0, 0], 9))
        }
        apply(call("read", [8, 0x2000, 100], 2))
        XCTAssertEqual(file(8)?.1, 7)
        // execve closes what is close-on-exec.
        var exec = call("execve", [0x1000, 0, 0], 0)
        exec.outcome = .exec(entry: 0, stack: 0)
        apply(exec)
        XCTAssertNil(ledger.slots[3])
        XCTAssertNil(ledger.slots[10])
        XCTAssertNotNil(ledger.slots[5])
        XCTAssertNotNil(ledger.slots[7])
        XCTAssertNil(ledger.slots[8])
    }
}

import Debugger
import Glibc
import XCTest

/// The GDB remote protocol's framing (Docs/gdb.md "Protocol"), byte for byte through a pipe.
final class RemoteProtocolTests: XCTestCase {
    /// A connection whose peer is two pipes: what it sends, and what it is sent.
    func pair() -> (RemoteConnection, toServer: Int32, fromServer: Int32) {
        var a: [Int32] = [0, 0], b: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&a), 0)
        XCTAssertEqual(pipe(&b), 0)
        return (RemoteConnection(input: a[0], output: b[1]), a[1], b[0])
    }

    func written(_ fd: Int32) -> String {
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        return String(decoding: buf[0..<max(n, 0)], as: UTF8.self)
    }

    func feed(_ fd: Int32, _ s: String) { _ = s.withCString { write(fd, $0, strlen($0)) } }

    func testPacketsAreFramedEscapedAndAcknowledged() {
        let (c, toServer, fromServer) = pair()
        // A packet with a bad checksum is refused (-), the good one after it acknowledged (+).
        feed(toServer, "$g#00$g#67")
        XCTAssertEqual(c.receive().map { String(decoding: $0, as: UTF8.self) }, "g")
        XCTAssertEqual(written(fromServer), "-+")
        // `#`, `$`, `}` and `*` are escaped as `}` and the byte xor 0x20; the checksum is over
        // what is sent (0x4f + 4 x 0x7d + 0x03 + 0x04 + 0x5d + 0x0a = 0x2b1); the peer's + ends the wait.
        feed(toServer, "+")
        c.send([0x4f, 0x23, 0x24, 0x7d, 0x2a])
        XCTAssertEqual(written(fromServer), "$O}\u{03}}\u{04}}]}\n#b1")
        // An interrupt is one byte outside any packet.
        feed(toServer, "\u{03}")
        XCTAssertEqual(c.receive(), [0x03])
        // Without acknowledgements: no + sent or awaited.
        c.acknowledging = false
        feed(toServer, "$qC#b4")
        XCTAssertEqual(c.receive().map { String(decoding: $0, as: UTF8.self) }, "qC")
        c.send("OK")
        XCTAssertEqual(written(fromServer), "$OK#9a")
        XCTAssertEqual(RemoteConnection.checksum(Array("OK".utf8)), 0x9a)
        close(toServer)
        XCTAssertNil(c.receive())
    }
}

/// How revenant gdb's checkpoints thin out (Docs/gdb.md "Checkpoints and the cost model").
final class CheckpointThinningTests: XCTestCase {
    /// A copy at every other return, 16 kept: the recent past stays dense, the distant sparse,
    /// and the first copy stays.
    func testCheckpointsThinOutWithAge() {
        var kept: [Int] = []
        for r in stride(from: 0, through: 400, by: 2) {
            kept.append(r)
            if kept.count > 16, let i = ReplayCheckpoints.thinning(kept) { kept.remove(at: i) }
        }
        XCTAssertEqual(kept.count, 16)
        XCTAssertEqual(kept.first, 0)
        XCTAssertEqual(kept.last, 400)
        // The last few stops are each still there; the gaps grow going back.
        XCTAssertEqual(Array(kept.suffix(3)), [396, 398, 400], "\(kept)")
        let gaps = zip(kept.dropFirst(), kept).map { $0 - $1 }
        XCTAssertGreaterThan(gaps[1], gaps[gaps.count - 1] * 4, "\(kept)")
    }
}

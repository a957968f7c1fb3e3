import Foundation
import Replay
import Trace
import XCTest
import LinuxABI

final class TraceFormatTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("trace-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func testChecksumsAgainstKnownVectors() {
        XCTAssertEqual(CRC32.checksum(Array("123456789".utf8)), 0xCBF4_3926)
        XCTAssertEqual(SHA256.hex([UInt8]()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(
            SHA256.hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(
            SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        let s = SHA256()
        for _ in 0..<1000 { s.update([UInt8](repeating: 0x61, count: 1000)) }
        XCTAssertEqual(
            s.finish().map { String(format: "%02x", $0) }.joined(),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Whole blocks go straight from the input, a partial one through the buffer: any split of
    /// the same bytes gives the same digest (the known vectors above pin which one).
    func testSHA256GivesTheSameDigestHoweverTheBytesArrive() {
        var g = SystemRandomNumberGenerator()
        let bytes = (0..<3000).map { _ in UInt8.random(in: 0...255, using: &g) }
        for length in [0, 1, 55, 56, 63, 64, 65, 127, 128, 129, 700, 3000] {
            let data = Array(bytes.prefix(length))
            let whole = SHA256.digest(data)
            for chunk in [1, 7, 63, 64, 65, 200] {
                let s = SHA256()
                var i = 0
                while i < data.count {
                    s.update(data[i..<min(i + chunk, data.count)])
                    i += chunk
                }
                XCTAssertEqual(s.finish(), whole, "\(length) bytes in chunks of \(chunk)")
            }
        }
    }

    func testVarints() {
        for v: UInt64 in [0, 1, 127, 128, 300, 1 << 35, UInt64.max] {
            var b: [UInt8] = []
            appendVarint(&b, v)
            XCTAssertEqual(readVarint(b, 0)?.0, v)
            XCTAssertEqual(readVarint(b, 0)?.1, b.count)
            XCTAssertNil(readVarint(Array(b.dropLast()), 0), "truncated varint")
        }
        XCTAssertNil(readVarint([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], 0), "over 64 bits")
    }

    func writeEvents(_ events: [Event], to name: String = "events") throws -> String {
        let path = dir.appendingPathComponent(name).path
        let w = try EventWriter(path: path)
        for e in events { try w.append(e) }
        try w.close()
        return path
    }

    func readAll(_ bytes: [UInt8]) throws -> ([Event], UInt64?) {
        var r = try EventReader(bytes: bytes)
        var out: [Event] = []
        while let e = try r.next() { out.append(e) }
        return (out, r.truncatedAt)
    }

    func sampleEvents(_ n: Int) -> [Event] {
        var g = SplitMix(seed: 42)
        return (0..<n).map { i in
            Event(
                kind: UInt8(i % 5),
                payload: (0..<Int(g.next() % 300)).map { _ in UInt8(truncatingIfNeeded: g.next() % 7) })
        }
    }

    func testEventsRoundTripAcrossManyChunks() throws {
        let events = sampleEvents(20_000)
        let path = try writeEvents(events)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let (back, truncated) = try readAll(bytes)
        XCTAssertEqual(back, events)
        XCTAssertNil(truncated)
        XCTAssertLessThan(bytes.count, events.reduce(0) { $0 + $1.payload.count + 3 }, "lz4 compresses this")
    }

    /// The events file layout is pinned: Docs/trace-format.md describes these bytes.
    func testEventsFileMatchesGolden() throws {
        let events = [
            Event(kind: 1, payload: Array("hello".utf8)), Event(kind: 2, payload: []),
            Event(kind: 1, payload: [UInt8](repeating: 0xab, count: 40)),
        ]
        let path = try writeEvents(events)
        let hex = try Data(contentsOf: URL(fileURLWithPath: path)).map { String(format: "%02x", $0) }.joined()
        let golden = packageRootDirectory().appendingPathComponent(
            "Tests/Golden/events-v\(EventStreamFormat.version).hex")
        if ProcessInfo.processInfo.environment["REVENANT_UPDATE_GOLDEN"] == "1" {
            try (hex + "\n").write(to: golden, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOf: golden, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(
            hex, expected,
            "the events format changed: bump EventStreamFormat.version, update Docs/trace-format.md, "
                + "regenerate with REVENANT_UPDATE_GOLDEN=1"
        )
    }

    /// Version 1 to 6 events files (written before execve, before child processes, before stamps
    /// were recorded, before the end event held the syscall rewriter's figures, before every
    /// changed path had a pre-image with its attributes, and before a mapping of /dev/zero was
    /// marked) still read, event for event.
    func testOlderEventsStillRead() throws {
        for version: UInt8 in [1, 2, 3, 4, 5, 6] {
            try checkOlderEvents(version: version)
        }
    }

    /// The end event's bytes (Docs/trace-format.md): status and duration, and from version 5 the
    /// rewriter's three figures; a version-4 end (no figures) still reads.
    func testEndEventBytes() throws {
        let figures = SyscallSiteFigures(rewritten: 34, fast: 195, trapped: 40)
        let end = EndEvent(status: -3, nanoseconds: 300, syscallSites: figures)
        XCTAssertEqual(end.encoded(), [0x05, 0xac, 0x02, 34, 0xc3, 0x01, 40])
        XCTAssertEqual(EndEvent.decode(end.encoded()), end)
        XCTAssertEqual(EndEvent.decode([0x05, 0xac, 0x02]), EndEvent(status: -3, nanoseconds: 300))
        XCTAssertNil(EndEvent.decode([0x05]))
        XCTAssertEqual(figures.shareText(), "83.0% of calls without a trap (195 of 235)")
    }

    /// A mapped-file event's payload (Docs/trace-format.md): a blob's 32-byte digest, or from
    /// version 7 nothing, for /dev/zero; anything else does not read.
    func testMappedFileEventBytes() throws {
        let digest = String(repeating: "0f", count: 32)
        XCTAssertEqual(MappedFileEvent.blob(digest: digest).encoded(), [UInt8](repeating: 0x0f, count: 32))
        XCTAssertEqual(MappedFileEvent.zeroDevice.encoded(), [])
        XCTAssertEqual(
            MappedFileEvent.decode([UInt8](repeating: 0x0f, count: 32), version: 6), .blob(digest: digest))
        XCTAssertEqual(MappedFileEvent.decode([], version: 7), .zeroDevice)
        XCTAssertNil(MappedFileEvent.decode([], version: 6), "no empty payload before version 7")
        XCTAssertNil(MappedFileEvent.decode([1, 2, 3], version: 7))
        var zero = stat(), null = stat()
        XCTAssertEqual(stat("/dev/zero", &zero), 0)
        XCTAssertEqual(stat("/dev/null", &null), 0)
        XCTAssertTrue(MappedFileEvent.isZeroDevice(zero))
        XCTAssertFalse(MappedFileEvent.isZeroDevice(null))
    }

    func checkOlderEvents(version: UInt8) throws {
        let old = packageRootDirectory().appendingPathComponent("Tests/Golden/events-v\(version).hex")
        let hex = try String(contentsOf: old, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let bytes = stride(from: 0, to: hex.count, by: 2).map { i -> UInt8 in
            let a = hex.index(hex.startIndex, offsetBy: i)
            return UInt8(hex[a..<hex.index(a, offsetBy: 2)], radix: 16)!
        }
        XCTAssertEqual(bytes[8], version, "a version \(version) stream")
        let (back, truncated) = try readAll(bytes)
        XCTAssertNil(truncated)
        XCTAssertEqual(
            back,
            [
                Event(kind: 1, payload: Array("hello".utf8)), Event(kind: 2, payload: []),
                Event(kind: 1, payload: [UInt8](repeating: 0xab, count: 40)),
            ])
    }

    func testHeaderRoundTripAndGoldenPrefix() throws {
        let h = TraceHeader(
            program: "/usr/bin/perl", argv: ["perl", "-e", "1"], env: ["A=1"], cwd: "/w",
            mounts: [.init(guest: "/", host: "/", writable: false)], memory: 1 << 32, network: false,
            trapStrategy: "pvm-user-stub", hypervisor: "kvm_pvm",
            cpuid: [.init(leaf: 0, subleaf: 0, eax: 1, ebx: 2, ecx: 3, edx: 4)],
            revenantVersion: "0.1", recordedAt: "2026-11-26T00:00:00Z")
        let bytes = try h.encoded()
        XCTAssertEqual(Array(bytes[0..<12]), Array("RVNTHEAD".utf8) + [2, 0, 0, 0])
        XCTAssertEqual(try TraceHeader.decode(bytes), h)
        var other = bytes
        other[8] = 9
        XCTAssertThrowsError(try TraceHeader.decode(other)) { e in
            XCTAssertEqual(e as? TraceError, .unsupportedVersion(file: "header", found: 9, supported: 2))
            XCTAssertEqual("\(e)", "header has trace format version 9; this revenant reads version 2")
        }
        // Version 1 (no checksum, paths as text) is refused by name too.
        other[8] = 1
        XCTAssertThrowsError(try TraceHeader.decode(other)) { e in
            XCTAssertEqual("\(e)", "header has trace format version 1; this revenant reads version 2")
        }
        // The trailing SHA-256 covers every byte before it: any change is found.
        let jsonLength = Int(bytes[12]) | Int(bytes[13]) << 8
        XCTAssertEqual(bytes.count, 16 + jsonLength + 32)
        for i in stride(from: 0, to: 16 + jsonLength, by: 7) where i < 8 || i >= 16 {
            var flipped = bytes
            flipped[i] ^= 0x10
            XCTAssertThrowsError(try TraceHeader.decode(flipped), "a flip at byte \(i) went unnoticed")
        }
        var tail = bytes
        tail[tail.count - 1] ^= 1
        XCTAssertThrowsError(try TraceHeader.decode(tail)) { e in
            XCTAssertEqual(
                "\(e)",
                "corrupt trace header: its checksum does not match its contents (the file was changed)")
        }
        XCTAssertThrowsError(try TraceHeader.decode(Array(bytes.prefix(40)))) { e in
            guard case .corruptHeader? = e as? TraceError else { return XCTFail("\(e)") }
        }
    }

    /// Arguments, environment and paths are bytes: what is not UTF-8 is kept as hex in the JSON.
    func testHeaderKeepsBytesThatAreNotUTF8() throws {
        var h = TraceHeader(
            program: ByteString([0x2f, 0x70, 0xff]), argv: [ByteString([0x61, 0xff, 0x62]), "ok"],
            env: [ByteString([0x4e, 0x3d, 0xfe])], cwd: ByteString([0x2f, 0xc3]), mounts: [],
            memory: 1, network: false, trapStrategy: "", hypervisor: "", cpuid: [],
            revenantVersion: "", recordedAt: "")
        h.files = [.init(path: ByteString([0x2f, 0x80]), blob: String(repeating: "0", count: 64))]
        let bytes = try h.encoded()
        let json = String(decoding: bytes[16..<bytes.count - 32], as: UTF8.self)
        XCTAssertTrue(json.contains(#"{"hex" : "61ff62"}"#) || json.contains(#""hex" : "61ff62""#), json)
        XCTAssertTrue(json.contains(#""ok""#), json)
        XCTAssertEqual(try TraceHeader.decode(bytes), h)
        XCTAssertEqual(ByteString([0x61, 0xff, 0x62]).description, "a\\xffb")
    }

    /// A recorder killed while writing leaves a stream that reads up to its last complete chunk.
    func testTruncatedStreamReadsUpToItsLastCompleteChunk() throws {
        let events = sampleEvents(3000)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: try writeEvents(events))))
        var complete: [Int] = []  // event counts at chunk boundaries
        for cut in stride(from: bytes.count - 1, to: 16, by: -997) {
            let (back, truncated) = try readAll(Array(bytes.prefix(cut)))
            XCTAssertNotNil(truncated, "cut at \(cut)")
            XCTAssertEqual(back, Array(events.prefix(back.count)), "a prefix of the events, cut at \(cut)")
            complete.append(back.count)
        }
        XCTAssertGreaterThan(Set(complete).count, 1)
    }

    func testCorruptChunkIsReportedWithItsOffset() throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: try writeEvents(sampleEvents(500)))))
        var bad = bytes
        bad[16 + 40] ^= 0x01  // inside the first chunk's payload
        XCTAssertThrowsError(try readAll(bad)) { e in
            XCTAssertEqual(e as? TraceError, .corruptChunk(offset: 16, why: "CRC mismatch"))
            XCTAssertEqual("\(e)", "corrupt event chunk at byte offset 16: CRC mismatch")
        }
        var version = bytes
        version[8] = UInt8(EventStreamFormat.version + 1)
        XCTAssertThrowsError(try readAll(version)) { e in
            XCTAssertEqual(
                e as? TraceError,
                .unsupportedVersion(
                    file: "events", found: EventStreamFormat.version + 1, supported: EventStreamFormat.version))
        }
        XCTAssertThrowsError(try readAll(Array("not a trace at all".utf8))) { e in
            guard case .notATrace? = e as? TraceError else { return XCTFail("\(e)") }
        }
    }

    /// Mutated and truncated streams: every read ends (events, or an error) — no crash, no hang.
    func testFuzzedStreamsNeverCrashOrHang() throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: try writeEvents(sampleEvents(800)))))
        var g = SplitMix(seed: 7)
        let cases = Int(ProcessInfo.processInfo.environment["REVENANT_FUZZ_CASES"] ?? "") ?? 3000
        var errors = 0
        for _ in 0..<cases {
            var m = bytes
            switch g.next() % 4 {
            case 0:
                for _ in 0...(g.next() % 8) {
                    m[Int(g.next() % UInt64(m.count))] ^= UInt8(truncatingIfNeeded: g.next() | 1)
                }
            case 1: m = Array(m.prefix(Int(g.next() % UInt64(m.count))))
            case 2:
                m.insert(
                    contentsOf: (0..<Int(g.next() % 16)).map { _ in UInt8(truncatingIfNeeded: g.next()) },
                    at: Int(g.next() % UInt64(m.count)))
            default:  // a plausible chunk header with wild sizes
                let at = 16 + 20 + Int(g.next() % 8)
                m[at] = 0xff
            }
            do { _ = try readAll(m) } catch is TraceError { errors += 1 }
        }
        XCTAssertGreaterThan(errors, cases / 10, "most mutations are caught")
    }

    /// A file stored from its mapping (what the recorder does with every file the program maps)
    /// is the blob its bytes name; an empty file is left to the reading path.
    func testAFileIsStoredAsABlobFromItsMapping() throws {
        let t = try TraceDirectory.create(dir.appendingPathComponent("m.rvt").path, force: false)
        let bytes = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) }
        let file = dir.appendingPathComponent("lib.so").path
        XCTAssertTrue(FileManager.default.createFile(atPath: file, contents: Data(bytes)))
        let fd = open(file, O_RDONLY)
        defer { close(fd) }
        let digest = try XCTUnwrap(try t.storeBlob(file: fd))
        XCTAssertEqual(digest, SHA256.hex(bytes))
        XCTAssertEqual(try t.blob(digest), bytes)
        XCTAssertEqual(try t.storeBlob(file: fd), digest, "stored once")
        XCTAssertEqual(t.blobNames, [digest])
        let empty = dir.appendingPathComponent("empty").path
        XCTAssertTrue(FileManager.default.createFile(atPath: empty, contents: Data()))
        let efd = open(empty, O_RDONLY)
        defer { close(efd) }
        XCTAssertNil(try t.storeBlob(file: efd))
    }

    func testTraceDirectoryAndBlobs() throws {
        let path = dir.appendingPathComponent("run.rvt").path
        let t = try TraceDirectory.create(path, force: false)
        XCTAssertThrowsError(try TraceDirectory.create(path, force: false)) {
            XCTAssertEqual($0 as? TraceError, .exists(path: path))
        }
        let d1 = try t.storeBlob(Array("contents".utf8))
        let d2 = try t.storeBlob(Array("contents".utf8))
        XCTAssertEqual(d1, d2)
        XCTAssertEqual(t.blobNames, [d1])
        XCTAssertEqual(try t.blob(d1), Array("contents".utf8))
        XCTAssertThrowsError(try t.blob(String(repeating: "0", count: 64)))
        // A directory that is not a trace.
        let other = dir.appendingPathComponent("plain").path
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        try "x".write(toFile: other + "/file", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try TraceDirectory.open(other)) { e in
            XCTAssertEqual("\(e)", "\(other) is not a Revenant trace: it has no header file")
        }
        XCTAssertThrowsError(try TraceDirectory.create(other, force: true), "--force replaces only traces")
        XCTAssertTrue(FileManager.default.fileExists(atPath: other + "/file"))
    }
}

/// A small deterministic generator for reproducible test data.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

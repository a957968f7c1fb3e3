import CGuestStub
import Foundation
import GuestMemory
import Personality
import Regen
import XCTest

/// The channel's contract: the VMM's constants match the C header the shims use, and the
/// decoder reads the record format of Docs/channel-format.md.
final class ChannelTests: XCTestCase {
    /// The VMM reads the contract from the C headers the shims and the stub include (module
    /// CGuestStub); what Swift still spells itself — the decoder's tags and report kinds, the
    /// guest layout's pages — is pinned to them here.
    func testTwinsMatchTheHeaders() throws {
        let tags: [(ChannelDecoder.Tag, revenant_record_tag)] = [
            (.start, REVENANT_REC_START), (.string, REVENANT_REC_STR), (.file, REVENANT_REC_FILE),
            (.context, REVENANT_REC_CONTEXT), (.statement, REVENANT_REC_STMT), (.opBegin, REVENANT_REC_OP_BEGIN),
            (.opEnd, REVENANT_REC_OP_END), (.environment, REVENANT_REC_ENV), (.arguments, REVENANT_REC_ARGV),
            (.hash, REVENANT_REC_HASH), (.seed, REVENANT_REC_SEED), (.opName, REVENANT_REC_OPNAME),
            (.sqlConnection, REVENANT_REC_SQL_CONN), (.sqlPrepare, REVENANT_REC_SQL_PREPARE),
            (.sqlExec, REVENANT_REC_SQL_EXEC), (.sqlDone, REVENANT_REC_SQL_DONE), (.sqlClock, REVENANT_REC_SQL_CLOCK),
            (.sqlRandom, REVENANT_REC_SQL_RANDOM), (.sqlSeed, REVENANT_REC_SQL_SEED),
            (.sqlTrigger, REVENANT_REC_SQL_TRIGGER), (.sqlFlag, REVENANT_REC_SQL_FLAG),
            (.sqlClose, REVENANT_REC_SQL_CLOSE),
        ]
        for (tag, c) in tags { XCTAssertEqual(UInt32(tag.rawValue), c.rawValue, "\(tag)") }
        XCTAssertEqual(UInt32(ChannelDecoder.deltaBase), REVENANT_REC_STMT_DELTA.rawValue)
        XCTAssertEqual(UInt32(ChannelDecoder.replayTag), REVENANT_REC_REPLAY.rawValue)
        let kinds: [(ReplayReport.Kind, revenant_replay_report)] = [
            (.hit, REVENANT_REPLAY_HIT), (.diverged, REVENANT_REPLAY_DIVERGED), (.done, REVENANT_REPLAY_DONE),
            (.failed, REVENANT_REPLAY_FAILED), (.stopped, REVENANT_REPLAY_STOPPED),
        ]
        for (kind, c) in kinds { XCTAssertEqual(UInt32(kind.rawValue), c.rawValue, "\(kind)") }
        // The stub's MMIO window and mailbox pages follow its code as the header says.
        XCTAssertEqual(GuestLayout.mmioWindow - GuestLayout.stubCode, UInt64(REVENANT_STUB_WINDOW))
        XCTAssertEqual(GuestLayout.mailbox - GuestLayout.stubCode, UInt64(REVENANT_STUB_MAILBOX))
        // The Perl shim's record format is the header's, not a number of its own.
        let shim = try String(
            contentsOf: packageRootDirectory().appendingPathComponent("Shims/perl/shim.h"), encoding: .utf8)
        XCTAssertTrue(shim.contains("#define SHIM_FORMAT_VERSION REVENANT_SHIM_FORMAT_VERSION"))
    }

    func testReplayReportsDecodeAndRefuseOtherRecords() throws {
        let b: [UInt8] = [0x0e, 1, 7, 3] + Array("$x=".utf8) + [0x0e, 3, 9, 0]
        XCTAssertEqual(
            try ChannelDecoder.replayReports(b),
            [ReplayReport(kind: .hit, statement: 7, text: "$x="), ReplayReport(kind: .done, statement: 9, text: "")])
        XCTAssertThrowsError(try ChannelDecoder.replayReports([0x05, 1, 1]))  // a STMT is not a report
        XCTAssertThrowsError(try ChannelDecoder.replayReports([0x0e, 9, 1, 0]))  // no kind 9
        XCTAssertThrowsError(try ChannelDecoder.replayReports([0x0e, 1, 7, 5, 0x41]))  // text cut short
    }

    func testDecodesEveryRecordKind() throws {
        var b: [UInt8] = [0x01, 1, 4] + Array("perl".utf8) + [1] + Array("x".utf8)  // START
        b += [0x02, 1, 4] + Array("main".utf8)  // STR 1 "main"
        b += [0x03, 1, 4] + Array("a.pl".utf8) + [0]  // FILE 1 "a.pl", no digest
        b += [0x04, 1, 1, 1, 0]  // CONTEXT 1: file 1, package main
        b += [0x05, 1, 0x80, 0x01]  // STMT ctx 1 line 128
        b += [0xc1, 0xbf]  // +1 → 129, -1 → 128
        b += [0x0c, 9, 4] + Array("time".utf8)  // OPNAME 9 time
        // BEGIN, END errno 0, int 66, bytes
        b += [0x06, 9, 0x07, 9, 0, 2, 1, 0x84, 0x01, 4, 2] + Array("hé".utf8).prefix(2)
        b += [0x09, 1, 1] + Array("a".utf8)  // ARGV ["a"]
        b += [0x0b, 42]  // SEED 42
        var d = ChannelDecoder(b)
        var records: [ChannelRecord] = []
        var ends: [Int] = []
        while let (r, end) = try d.next() {
            records.append(r)
            ends.append(end)
        }
        XCTAssertEqual(
            records,
            [
                .start(version: 1, interpreter: "perl", script: "x"),
                .string(id: 1, value: "main"),
                .file(id: 1, path: "a.pl", digest: nil),
                .context(id: 1, file: 1, package: 1, sub: 0),
                .statement(context: 1, line: 128),
                .statement(context: 1, line: 129),
                .statement(context: 1, line: 128),
                .opName(opcode: 9, name: "time"),
                .opBegin(opcode: 9),
                .opEnd(
                    opcode: 9, errno: 0,
                    values: [.int(66), .bytes(Array("hé".utf8).prefix(2).map { $0 }, utf8: false)]),
                .arguments(["a"]),
                .seed(42),
            ])
        XCTAssertEqual(ends.last, b.count)
        XCTAssertEqual(ends[5], ends[4] + 1, "a line delta is one byte")
    }

    func testCorruptStreamsGiveAnErrorNotATrap() throws {
        var d = ChannelDecoder([0x80])
        XCTAssertThrowsError(try d.next()) { XCTAssertTrue("\($0)".contains("before any statement")) }
        var e = ChannelDecoder([0x02, 1, 200])
        XCTAssertThrowsError(try e.next())
        var f = ChannelDecoder([0x7f])
        XCTAssertThrowsError(try f.next()) { XCTAssertTrue("\($0)".contains("unknown tag")) }
        // Random streams: never a trap, always an error or records.
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20000 {
            let bytes = (0..<Int.random(in: 0..<40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            var g = ChannelDecoder(bytes)
            while (try? g.next()) ?? nil != nil {}
        }
    }
}

/// The record format, pinned: the shim's native stream for a fixed script in a fixed
/// environment is compared byte for byte with Tests/Golden/channel-v1.hex.
final class ChannelGoldenTests: XCTestCase {
    func testNativeShimStreamMatchesTheGolden() throws {
        let root = packageRootDirectory()
        let lib = root.appendingPathComponent(".build/shims/perl/lib")
        guard FileManager.default.fileExists(atPath: lib.appendingPathComponent("auto/Revenant/Shim/Shim.so").path)
        else {
            throw TestSetupError("the Perl shim is not built at \(lib.path): run `make shims` (make test does)")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("golden-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(
            at: root.appendingPathComponent("Tests/Golden/channel-v1.pl"),
            to: dir.appendingPathComponent("channel-v1.pl"))
        let log = dir.appendingPathComponent("channel.bin")
        let r = ProcessRunner.run(
            executable: "/usr/bin/perl", arguments: ["-I" + lib.path, "-MRevenant::Shim", "channel-v1.pl"],
            directory: dir,
            environment: ["PERL_HASH_SEED": "0", "PERL_PERTURB_KEYS": "0", "REVENANT_SHIM_LOG": log.path],
            stdinPath: "/dev/null", stdoutFile: dir.appendingPathComponent("out"),
            stderrFile: dir.appendingPathComponent("err"), timeout: 60)
        XCTAssertEqual(r.status, 0, String(decoding: r.stderr, as: UTF8.self))
        XCTAssertEqual(String(decoding: r.stdout, as: UTF8.self), "12 2 1 42\n")
        let bytes = try Data(contentsOf: log)
        let hex =
            stride(from: 0, to: bytes.count, by: 32).map { i in
                bytes[i..<min(i + 32, bytes.count)].map { String(format: "%02x", $0) }.joined()
            }.joined(separator: "\n") + "\n"
        let golden = root.appendingPathComponent("Tests/Golden/channel-v1.hex")
        if ProcessInfo.processInfo.environment["REVENANT_UPDATE_GOLDEN"] == "1" {
            try hex.write(to: golden, atomically: true, encoding: .utf8)
        }
        XCTAssertEqual(
            hex, try String(contentsOf: golden, encoding: .utf8),
            "the channel format changed: bump REVENANT_CHANNEL_VERSION, update Docs/channel-format.md, "
                + "regenerate with REVENANT_UPDATE_GOLDEN=1"
        )
        // What it says, decoded.
        let (statements, records) = try ShimChecks.decode(Array(bytes))
        let mine = statements.filter { $0.file == "channel-v1.pl" }
        XCTAssertEqual(mine.map(\.line), [4, 5, 6, 3, 3, 6, 3, 3, 6, 3, 3, 8, 9, 10, 11, 12, 13, 14])
        XCTAssertEqual(Set(mine.filter { $0.line == 3 }.map(\.sub)), ["main::twice"])
        XCTAssertEqual(Set(mine.filter { $0.line != 3 }.map(\.sub)), [""], "file scope")
        XCTAssertTrue(statements.contains { $0.file.hasPrefix("(eval") }, "the string eval's statement")
        guard case .start(_, let interpreter, let script) = records.first else { return XCTFail("no START first") }
        XCTAssertTrue(interpreter.hasPrefix("perl 5."))
        XCTAssertEqual(script, "channel-v1.pl")
        XCTAssertTrue(
            records.contains(.environment([("PERL_HASH_SEED", "0"), ("PERL_PERTURB_KEYS", "0")])),
            "%ENV without REVENANT_SHIM_LOG")
        // (op, values + [errno]): errno is $! after the op, whatever left it there.
        let ends = records.compactMap { r -> (UInt64, [ChannelValue])? in
            if case .opEnd(let op, let e, let v) = r { return (op, v + [.uint(e)]) }
            return nil
        }
        XCTAssertTrue(ends.contains { $0.1.first == .int(42) }, "srand's result: \(ends)")
        XCTAssertTrue(ends.contains { $0.1 == [.undef, .uint(UInt64(ENOENT))] }, "the failed open: undef, $! = ENOENT")
    }
}

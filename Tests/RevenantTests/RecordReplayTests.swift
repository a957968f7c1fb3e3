import Foundation
import LinuxABI
import Replay
import Trace
import XCTest

/// Record every corpus entry, delete its working directory, replay the trace from elsewhere, and
/// compare what the guest wrote — stdout and stderr, byte for byte — and the exit status.
final class RecordReplayTests: XCTestCase {
    struct Result: Equatable {
        var status: Int32
        var stdout: Data
        var stderr: Data
    }

    func revenant(_ args: [String], cwd: URL, stdin: URL?, env: [String: String] = [:]) throws -> Result {
        let p = Process()
        p.executableURL = try revenantBinary()
        p.arguments = args
        p.currentDirectoryURL = cwd
        p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        let outURL = cwd.deletingLastPathComponent().appendingPathComponent("out-\(UUID().uuidString)")
        let errURL = cwd.deletingLastPathComponent().appendingPathComponent("err-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: outURL)
            try? FileManager.default.removeItem(at: errURL)
        }
        p.standardOutput = try FileHandle(forWritingTo: outURL)
        p.standardError = try FileHandle(forWritingTo: errURL)
        p.standardInput = try stdin.map { try FileHandle(forReadingFrom: $0) } ?? FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(180)
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            XCTFail("timed out: \(args)")
        }
        p.waitUntilExit()
        let status = p.terminationReason == .uncaughtSignal ? 128 + p.terminationStatus : p.terminationStatus
        return Result(status: status, stdout: try Data(contentsOf: outURL), stderr: try Data(contentsOf: errURL))
    }

    var base: URL!
    override func setUpWithError() throws {
        base = FileManager.default.temporaryDirectory.appendingPathComponent("rr-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: base) }

    var corpus: URL { packageRootDirectory().appendingPathComponent("Tests/Corpus") }

    /// Record `command` in a fresh copy of the fixtures, then replay it after the directory is gone.
    /// (The guest's /tmp is private: what it runs must be in the working directory, as `extra` files.)
    func recordThenReplay(
        _ name: String, command: [String], stdin: URL?, env: [String: String] = [:], extra: [URL] = []
    ) throws -> (Result, Result) {
        let (recorded, replayed, _) = try recordThenReplayTwice(
            name, command: command, stdin: stdin, env: env, extra: extra)
        return (recorded, replayed)
    }

    /// As `recordThenReplay`, and a second replay in which the spinner falls asleep or answers late
    /// at random calls (REVENANT_FORCE_FALLBACK): each call then takes another path than it did in
    /// the first replay, which must not change a byte.
    func recordThenReplayTwice(
        _ name: String, command: [String], stdin: URL?, env: [String: String] = [:], extra: [URL] = []
    ) throws -> (Result, Result, Result) {
        let work = base.appendingPathComponent("work-\(name)")
        try FileManager.default.copyItem(at: corpus.appendingPathComponent("fixtures"), to: work)
        for f in extra { try FileManager.default.copyItem(at: f, to: work.appendingPathComponent(f.lastPathComponent)) }
        let trace = base.appendingPathComponent("\(name).rvt")
        let recorded = try revenant(["record", "-o", trace.path, "--"] + command, cwd: work, stdin: stdin, env: env)
        try FileManager.default.removeItem(at: work)
        let elsewhere = base.appendingPathComponent("elsewhere")
        try? FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        let replayed = try revenant(["replay", trace.path], cwd: elsewhere, stdin: nil)
        let fallbacks = try revenant(
            ["replay", trace.path], cwd: elsewhere, stdin: nil, env: ["REVENANT_FORCE_FALLBACK": "30"])
        return (recorded, replayed, fallbacks)
    }

    func lines(_ url: URL) -> [String] {
        ((try? String(contentsOf: url, encoding: .utf8)) ?? "").split(separator: "\n", omittingEmptySubsequences: false)
            .map(String.init).filter { !$0.isEmpty && !$0.hasPrefix("#") }
    }

    func testCorpusRecordsAndReplaysIdentically() throws {
        try requireKVM()
        var failures: [String] = []
        for kind in ["perl", "sqlite"] {
            let dir = corpus.appendingPathComponent(kind)
            let names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
                .filter { $0.hasSuffix(kind == "perl" ? ".pl" : ".sql") }.sorted()
            for file in names {
                let name = String(file.dropLast(kind == "perl" ? 3 : 4))
                let command: [String]
                var stdin: URL?
                var env: [String: String] = [:]
                var extra: [URL] = []
                if kind == "perl" {
                    extra = [dir.appendingPathComponent(file)]
                    let argsFile = dir.appendingPathComponent("\(name).args")
                    let args =
                        FileManager.default.fileExists(atPath: argsFile.path)
                        ? ((try? String(contentsOf: argsFile, encoding: .utf8)) ?? "").split(
                            separator: "\n", omittingEmptySubsequences: false
                        ).dropLast().map(String.init) : []
                    command = ["/usr/bin/perl", file] + args
                    let s = dir.appendingPathComponent("\(name).stdin")
                    if FileManager.default.fileExists(atPath: s.path) { stdin = s }
                    for kv in lines(dir.appendingPathComponent("\(name).env")) {
                        if let eq = kv.firstIndex(of: "=") {
                            env[String(kv[..<eq])] = String(kv[kv.index(after: eq)...])
                        }
                    }
                } else {
                    command = ["/usr/bin/sqlite3", "test.db"]
                    stdin = dir.appendingPathComponent(file)
                }
                let (rec, rep, fallbacks) = try recordThenReplayTwice(
                    "\(kind)-\(name)", command: command, stdin: stdin, env: env, extra: extra)
                // The recorded run must be the real one (the status the corpus expects natively).
                let statusFile = dir.appendingPathComponent("\(name).status")
                let expected =
                    Int32(
                        ((try? String(contentsOf: statusFile, encoding: .utf8)) ?? "0").trimmingCharacters(
                            in: .whitespacesAndNewlines)) ?? 0
                if rec.status != expected {
                    let recordedStderr = String(decoding: rec.stderr.suffix(300), as: UTF8.self)
                    failures.append(
                        "\(kind)/\(name): recorded status \(rec.status), expected \(expected): \(recordedStderr)")
                }
                for (what, replayed) in [("replay", rep), ("replay with forced fallbacks", fallbacks)]
                where rec != replayed {
                    let why =
                        replayed.status != rec.status
                        ? "status \(rec.status) recorded, \(replayed.status) replayed" : "output differs"
                    let replayStderr = String(decoding: replayed.stderr.suffix(400), as: UTF8.self)
                    failures.append("\(kind)/\(name) \(what): \(why); replay stderr: \(replayStderr)")
                }
            }
        }
        XCTAssertEqual(failures, [], failures.joined(separator: "\n"))
    }

    /// Values that differ from run to run are reproduced, not recomputed.
    func testNondeterministicValuesReplayExactly() throws {
        try requireKVM()
        let script =
            #"use Time::HiRes; opendir D, "/etc"; my @d = readdir D; "#
            + #"print join(",", time, Time::HiRes::time(), rand(), $$, getppid(), scalar(@d), "#
            + #"(stat "/etc/hostname")[1], (stat "/etc/hostname")[9]), "\n"; "#
            + #"open R, "<", "/dev/urandom"; read R, my $b, 8; print unpack("H*", $b), "\n""#
        let (rec, rep) = try recordThenReplay("nondet", command: ["/usr/bin/perl", "-e", script], stdin: nil)
        XCTAssertEqual(rec.status, 0)
        XCTAssertEqual(rep, rec)
        let (r2, _) = try recordThenReplay("nondet2", command: ["/usr/bin/perl", "-e", script], stdin: nil)
        XCTAssertNotEqual(r2.stdout, rec.stdout, "two recordings differ (time, pid, random…): the test can fail")
        // A copy of the trace elsewhere replays the same; --quiet replays without output.
        let copy = base.appendingPathComponent("copies/nondet-copy.rvt")
        try FileManager.default.createDirectory(at: copy.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: base.appendingPathComponent("nondet.rvt"), to: copy)
        XCTAssertEqual(try revenant(["replay", copy.path], cwd: base, stdin: nil), rec)
        let quiet = try revenant(["replay", "--quiet", copy.path], cwd: base, stdin: nil)
        XCTAssertEqual(quiet.status, rec.status)
        XCTAssertEqual(quiet.stdout, Data())
        // Hash order (perl's hash seed is random per run) is reproduced too.
        let hashes = #"my %h = map { $_ => 1 } 1..40; print join(",", keys %h), "\n""#
        let (hrec, hrep) = try recordThenReplay("hash", command: ["/usr/bin/perl", "-e", hashes], stdin: nil)
        XCTAssertEqual(hrep, hrec)
        let sql = base.appendingPathComponent("now.sql")
        try "select random(), datetime('now'), hex(randomblob(8));\n".write(to: sql, atomically: true, encoding: .utf8)
        let (srec, srep) = try recordThenReplay("sqlnow", command: ["/usr/bin/sqlite3", ":memory:"], stdin: sql)
        XCTAssertEqual(srep, srec)
    }

    func testExistingTraceIsRefusedUnlessForce() throws {
        try requireKVM()
        let trace = base.appendingPathComponent("t.rvt")
        XCTAssertEqual(
            try revenant(["record", "-o", trace.path, "--", "/usr/bin/perl", "-e", "1"], cwd: base, stdin: nil).status,
            0)
        let again = try revenant(["record", "-o", trace.path, "--", "/usr/bin/perl", "-e", "1"], cwd: base, stdin: nil)
        XCTAssertEqual(again.status, 125)
        XCTAssertEqual(
            String(decoding: again.stderr, as: UTF8.self),
            "revenant: \(trace.path) already exists (use --force to replace it)\n")
        XCTAssertEqual(
            try revenant(
                ["record", "-o", trace.path, "--force", "--", "/usr/bin/perl", "-e", "print 2"], cwd: base, stdin: nil
            ).stdout, Data("2".utf8))
    }

    /// Replay compares each call with the log: an edited event is a divergence with a report.
    func testEditedEventIsADivergence() throws {
        try requireKVM()
        let (_, _) = try recordThenReplay(
            "edit",
            command: [
                "/usr/bin/perl", "-e", #"open F, "<", "/etc/hostname" or die; my $l = <F>; close F; print "ok\n""#,
            ], stdin: nil)
        let trace = base.appendingPathComponent("edit.rvt")
        // Rewrite the events: the result of the first openat becomes fd 7 instead of what it was.
        var reader = try EventReader(path: trace.appendingPathComponent("events").path)
        var events: [Event] = []
        while let e = try reader.next() { events.append(e) }
        try FileManager.default.removeItem(at: trace.appendingPathComponent("events"))
        let writer = try EventWriter(path: trace.appendingPathComponent("events").path)
        var edited = false
        for var e in events {
            if !edited, e.kind == 1, let (nr, _) = readVarint(e.payload, 0), nr == 257 /* openat */ {
                // Layout: nr, 6 args, console byte, outcome tag 0, zigzag result…
                var i = 0
                for _ in 0..<7 { i += readVarint(e.payload, i)!.1 }
                i += 2
                let (_, n) = readVarint(e.payload, i)!
                var patched = Array(e.payload[..<i])
                appendVarint(&patched, 14)  // zigzag(7)
                patched += e.payload[(i + n)...]
                e.payload = patched
                edited = true
            }
            try writer.append(e)
        }
        try writer.close()
        XCTAssertTrue(edited)
        let r = try revenant(["replay", trace.path], cwd: base, stdin: nil)
        XCTAssertEqual(r.status, 124, String(decoding: r.stderr, as: UTF8.self))
        let report = String(decoding: r.stderr, as: UTF8.self)
        XCTAssertTrue(report.contains("replay diverged at event"), report)
        XCTAssertTrue(report.contains("at rip 0x"), report)
        XCTAssertTrue(report.contains("last events:"), report)
    }

    /// Registers a call does not read hold whatever the caller left there (ld.so leaves its rdtsc
    /// timing in rdx before access("/etc/ld.so.preload"): different in every replay). Replay
    /// ignores them; a changed argument the call reads is still a divergence.
    func testUnusedArgumentRegistersAreNotCompared() throws {
        try requireKVM()
        let (rec, _) = try recordThenReplay(
            "junk", command: ["/usr/bin/perl", "-e", #"print -e "/etc/hostname" ? "yes\n" : "no\n""#], stdin: nil)
        let trace = base.appendingPathComponent("junk.rvt")
        func rewrite(_ change: (inout SyscallEvent) -> Bool) throws -> Int {
            var reader = try EventReader(path: trace.appendingPathComponent("events").path)
            var events: [Event] = []
            while let e = try reader.next() { events.append(e) }
            try FileManager.default.removeItem(at: trace.appendingPathComponent("events"))
            let writer = try EventWriter(path: trace.appendingPathComponent("events").path)
            var changed = 0
            for var e in events {
                if e.kind == EventKind.syscall.rawValue, var s = try? SyscallEvent.decode(e.payload), change(&s) {
                    e.payload = s.encoded()
                    changed += 1
                }
                try writer.append(e)
            }
            try writer.close()
            return changed
        }
        // Junk in every register past each call's arity.
        let junked = try rewrite { s in
            let n = SyscallTable.arity(s.number)
            guard n < 6 else { return false }
            for i in n..<6 { s.args[i] = 0xdead_0000_0000 + UInt64(i) }
            return true
        }
        XCTAssertGreaterThan(junked, 50)
        let same = try revenant(["replay", trace.path], cwd: base, stdin: nil)
        XCTAssertEqual(same, rec, String(decoding: same.stderr, as: UTF8.self))
        // A used argument: the first close's descriptor.
        var done = false
        XCTAssertEqual(
            try rewrite { s in
                guard !done, s.name == "close" else { return false }
                s.args[0] += 1
                done = true
                return true
            }, 1)
        let diverged = try revenant(["replay", trace.path], cwd: base, stdin: nil)
        XCTAssertEqual(diverged.status, 124, String(decoding: diverged.stderr, as: UTF8.self))
    }

    func testBadTracesGetOneClearLine() throws {
        try requireKVM()
        let (_, _) = try recordThenReplay(
            "bad", command: ["/usr/bin/perl", "-e", #"print "x" x 100 for 1..2000"#], stdin: nil)
        let trace = base.appendingPathComponent("bad.rvt")
        let header = trace.appendingPathComponent("header")
        var h = try Data(contentsOf: header)
        // Another format version.
        h[8] = 7
        try h.write(to: header)
        var r = try revenant(["replay", trace.path], cwd: base, stdin: nil)
        XCTAssertEqual(r.status, 125)
        XCTAssertEqual(
            String(decoding: r.stderr, as: UTF8.self),
            "revenant: \(header.path) has trace format version 7; "
                + "this revenant reads version \(TraceHeader.version)\n")
        h[8] = UInt8(TraceHeader.version)
        try h.write(to: header)
        // Another CPU: a CPUID value edited, the header's checksum made anew.
        var decoded = try TraceHeader.decode([UInt8](h))
        decoded.cpuid[0].eax += 1
        try Data(try decoded.encoded()).write(to: header)
        r = try revenant(["replay", trace.path], cwd: base, stdin: nil)
        XCTAssertEqual(r.status, 125)
        XCTAssertTrue(
            String(decoding: r.stderr, as: UTF8.self).contains(
                "was recorded on another CPU (CPUID leaf 0x0.0 eax: recorded"),
            String(decoding: r.stderr, as: UTF8.self))
        try h.write(to: header)
        // A corrupt chunk.
        let events = trace.appendingPathComponent("events")
        var ev = try Data(contentsOf: events)
        ev[16 + 40] ^= 0xff
        try ev.write(to: events)
        r = try revenant(["replay", trace.path], cwd: base, stdin: nil)
        XCTAssertEqual(r.status, 125)
        XCTAssertTrue(
            String(decoding: r.stderr, as: UTF8.self).hasPrefix(
                "revenant: \(trace.path): corrupt event chunk at byte offset 16"),
            String(decoding: r.stderr, as: UTF8.self))
        // Not a trace.
        r = try revenant(["replay", base.path], cwd: base, stdin: nil)
        XCTAssertEqual(r.status, 125)
        XCTAssertEqual(
            String(decoding: r.stderr, as: UTF8.self),
            "revenant: \(base.path) is not a Revenant trace: it has no header file\n")
    }

    /// A recorder killed with SIGKILL leaves a trace that replays up to its last complete chunk.
    func testKilledRecorderLeavesAReplayablePrefix() throws {
        try requireKVM()
        let trace = base.appendingPathComponent("killed.rvt")
        let p = Process()
        p.executableURL = try revenantBinary()
        p.arguments = [
            "record", "-o", trace.path, "--", "/usr/bin/perl", "-e",
            #"$| = 1; for (1..1000000000) { print "line $_\n"; select undef, undef, undef, 0.0001 if $_ % 50 == 0 }"#,
        ]
        p.currentDirectoryURL = base
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        Thread.sleep(forTimeInterval: 4)
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        let r = try revenant(["replay", trace.path], cwd: base, stdin: nil)
        XCTAssertEqual(r.status, 125)
        let err = String(decoding: r.stderr, as: UTF8.self)
        XCTAssertTrue(err.contains("its recording was cut short") && err.contains("replay stopped there"), err)
        let out = String(decoding: r.stdout, as: UTF8.self)
        XCTAssertTrue(out.hasPrefix("line 1\nline 2\n"), String(out.prefix(100)))
        XCTAssertGreaterThan(out.count, 1000, "the complete chunks replayed")
    }
}

extension RecordReplayTests {
    /// `log syscalls` on a trace whose recording was cut short lists what it has and says so in
    /// one line, as `replay` does: the events file ending inside a chunk, or lacking its end event.
    func testLogOfACutShortTraceWarns() throws {
        try requireKVM()
        // Enough read data for several chunks, the end event in the last one.
        let (rec, _) = try recordThenReplay(
            "cut",
            command: [
                "/usr/bin/perl", "-e",
                #"for (1..200) { open F, "<", "/usr/bin/perl"; read F, $b, 8192; close F } print "ok\n""#,
            ], stdin: nil)
        XCTAssertEqual(rec.status, 0)
        let trace = base.appendingPathComponent("cut.rvt")
        let events = trace.appendingPathComponent("events")
        let bytes = [UInt8](try Data(contentsOf: events))
        var chunks: [Int] = []
        var at = EventStreamFormat.preambleSize
        while at < bytes.count {
            chunks.append(at)
            let packed = bytes[(at + 24)..<(at + 28)].enumerated().reduce(0) {
                $0 | Int($1.element) << (8 * $1.offset)
            }
            at += EventStreamFormat.chunkHeaderSize + packed
        }
        XCTAssertGreaterThan(chunks.count, 2, "several chunks")
        let whole = try revenant(["log", trace.path, "syscalls"], cwd: base, stdin: nil)
        XCTAssertEqual(whole.status, 0)
        XCTAssertEqual(whole.stderr, Data(), "a complete trace: no warning")
        let last = chunks.last!
        for (cut, words) in [(last, "no end event"), (last + 40, "ends inside a chunk at byte offset \(last)")] {
            try Data(bytes.prefix(cut)).write(to: events)
            let r = try revenant(["log", trace.path, "syscalls"], cwd: base, stdin: nil)
            let err = String(decoding: r.stderr, as: UTF8.self)
            XCTAssertEqual(r.status, 0, "the listing is complete up to the cut")
            XCTAssertTrue(err.hasPrefix("revenant: \(trace.path) ends after event "), err)
            XCTAssertTrue(err.contains("its recording was cut short") && err.contains(words), err)
            XCTAssertEqual(err.split(separator: "\n").count, 1, err)
            let listed = String(decoding: r.stdout, as: UTF8.self).split(separator: "\n")
            XCTAssertGreaterThan(listed.count, 100)
            XCTAssertTrue(err.contains("ends after event \(listed.count):"), "the count it listed: \(err)")
        }
    }

    func testInfoAndLogReadTheTrace() throws {
        try requireKVM()
        let (rec, _) = try recordThenReplay(
            "info",
            command: [
                "/usr/bin/perl", "-e",
                #"open F, "<", "/etc/hostname"; open G, "<", "/no/such/file"; print "done\n"; exit 4"#,
            ], stdin: nil)
        XCTAssertEqual(rec.status, 4)
        let trace = base.appendingPathComponent("info.rvt").path
        let info = try revenant(["info", trace], cwd: base, stdin: nil)
        let text = String(decoding: info.stdout, as: UTF8.self)
        XCTAssertEqual(info.status, 0)
        for needle in [
            "program:        /usr/bin/perl", "outcome:        exit status 4", "trap strategy:  pvm-user-stub", "blobs",
        ] {
            XCTAssertTrue(text.contains(needle), "\(needle) in\n\(text)")
        }
        // The command the user ran, without the switches that load the Perl shim.
        let script = #"open F, "<", "/etc/hostname"; open G, "<", "/no/such/file"; print "done\n"; exit 4"#
        XCTAssertTrue(text.contains("argv:           /usr/bin/perl -e \(script)\n"), text)
        let json = try revenant(["info", trace, "--json"], cwd: base, stdin: nil)
        let obj = try JSONSerialization.jsonObject(with: json.stdout) as? [String: Any]
        XCTAssertEqual(obj?["argv"] as? [String], ["/usr/bin/perl", "-e", script])
        XCTAssertEqual(obj?["exit_status"] as? Int, 4)
        XCTAssertEqual((obj?["syscalls"] as? [String: Int])?["exit_group"], 1)
        let log = try revenant(["log", trace, "syscalls", "--where", "path=/no/*"], cwd: base, stdin: nil)
        XCTAssertEqual(String(decoding: log.stdout, as: UTF8.self).split(separator: "\n").count, 1)
        XCTAssertTrue(
            String(decoding: log.stdout, as: UTF8.self).contains(
                #"openat(AT_FDCWD, "/no/such/file", 0x80000, 0) = -1 ENOENT"#),
            String(decoding: log.stdout, as: UTF8.self))
        let none = try revenant(
            ["log", trace, "syscalls", "--where", "path=/nothing-like-this"], cwd: base, stdin: nil)
        XCTAssertEqual(none.status, 1, "no hit: exit 1")
        let jsonl = try revenant(
            ["log", trace, "syscalls", "--jsonl", "--where", "name=exit_group"], cwd: base, stdin: nil)
        let line = try JSONSerialization.jsonObject(with: jsonl.stdout) as? [String: Any]
        XCTAssertEqual(line?["name"] as? String, "exit_group")
    }

    /// Ctrl-C to the recorder reaches the guest at a syscall boundary, is logged there, and replays identically.
    func testSIGINTDuringRecordReplaysIdentically() throws {
        try requireKVM()
        let trace = base.appendingPathComponent("int.rvt")
        let p = Process()
        p.executableURL = try revenantBinary()
        p.arguments = [
            "record", "-o", trace.path, "--", "/usr/bin/perl", "-e",
            #"$| = 1; $SIG{INT} = sub { print "got INT at ", time, "\n"; exit 6 }; print "waiting\n"; sleep 1 while 1"#,
        ]
        p.currentDirectoryURL = base
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        Thread.sleep(forTimeInterval: 1.5)
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        let recorded = out.fileHandleForReading.readDataToEndOfFile()
        XCTAssertEqual(p.terminationStatus, 6)
        XCTAssertTrue(String(decoding: recorded, as: UTF8.self).contains("got INT at "))
        let r = try revenant(["replay", trace.path], cwd: base, stdin: nil)
        XCTAssertEqual(r.status, 6, String(decoding: r.stderr, as: UTF8.self))
        XCTAssertEqual(r.stdout, recorded)
    }
}

extension RecordReplayTests {
    /// A file the program opens for writing is kept as it was before (the start of SQL time travel).
    func testPreImageOfAFileOpenedForWriting() throws {
        try requireKVM()
        let work = base.appendingPathComponent("pre")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let db = work.appendingPathComponent("data.txt")
        try "before\n".write(to: db, atomically: true, encoding: .utf8)
        let trace = base.appendingPathComponent("pre.rvt")
        let r = try revenant(
            [
                "record", "-o", trace.path, "--", "/usr/bin/perl", "-e",
                #"open F, ">>", "data.txt" or die; print F "after\n""#,
            ], cwd: work, stdin: nil)
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(try String(contentsOf: db, encoding: .utf8), "before\nafter\n")
        var reader = try EventReader(path: trace.appendingPathComponent("events").path)
        var found: [UInt8]?
        while let e = try reader.next() {
            guard e.kind == 4 else { continue }
            XCTAssertNil(found, "one pre-image per file")
            XCTAssertEqual(String(decoding: e.payload.dropFirst(32), as: UTF8.self), db.resolvingSymlinksInPath().path)
            found = Array(e.payload.prefix(32))
        }
        guard let digest = found else { return XCTFail("no pre-image event") }
        let hex = digest.map { String(format: "%02x", $0) }.joined()
        let blob = try Data(contentsOf: trace.appendingPathComponent("blobs/\(hex)"))
        XCTAssertEqual(String(decoding: blob, as: UTF8.self), "before\n")
    }

    /// A trace whose program was swapped for another binary diverges, with a report, not a hang.
    func testChangedBinaryIsADivergence() throws {
        try requireKVM()
        let (rec, _) = try recordThenReplay("swap", command: ["/usr/bin/perl", "-e", "print 1"], stdin: nil)
        XCTAssertEqual(rec.status, 0)
        let trace = base.appendingPathComponent("swap.rvt")
        let headerURL = trace.appendingPathComponent("header")
        var h = try TraceHeader.decode([UInt8](try Data(contentsOf: headerURL)))
        // Another build of the program: the same perl with one byte of its .text changed would
        // do; a different program is the clearest case.
        let other = try TraceDirectory(path: trace.path).storeBlob(
            [UInt8](try Data(contentsOf: URL(fileURLWithPath: "/usr/bin/sqlite3"))))
        h.files = h.files?.map { $0.path == "/usr/bin/perl" ? .init(path: $0.path, blob: other) : $0 }
        try Data(try h.encoded()).write(to: headerURL)
        let r = try revenant(["replay", trace.path], cwd: base, stdin: nil)
        XCTAssertEqual(r.status, 124, String(decoding: r.stderr, as: UTF8.self))
        XCTAssertTrue(
            String(decoding: r.stderr, as: UTF8.self).contains("replay diverged"),
            String(decoding: r.stderr, as: UTF8.self))
    }

    /// The syscall event layout of Docs/trace-format.md, byte for byte.
    func testSyscallEventEncodingIsPinned() throws {
        var e = SyscallEvent(
            number: 257, args: [0xffff_ff9c, 0x1000, 0x80000, 0, 0, 0], outcome: .value(-2), console: 0,
            writes: [(0x2000, [0xaa, 0xbb])])
        e.paths = [(1, Array("/x".utf8))]
        let hex = e.encoded().map { String(format: "%02x", $0) }.joined()
        // 257 | six args | console 0 | tag 0, zigzag(-2)=3 | 1 write: 0x2000, 2 bytes | 1 path: arg 1, "/x"
        let expected = [
            "8102", "9cffffff0f", "8020", "808020", "00", "00", "00", "00", "00", "03", "01", "804002aabb",
            "0101022f78",
        ]
        XCTAssertEqual(hex, expected.joined())
        XCTAssertEqual(try SyscallEvent.decode(e.encoded()), e)
        let d = SyscallEvent(
            number: 62, args: [1, 10, 0, 0, 0, 0],
            outcome: .deliver(
                SignalDelivery(
                    signal: 10, handler: 0x4000, restorer: 0, flags: 0, savedMask: 0, code: -6, senderPID: 0,
                    senderUID: 0, result: 0)),
            console: 0, writes: [])
        let expectedDelivery = ["3e", "010a00000000", "00", "04", "0a", "0b", "00", "808001", "00", "00"]
        XCTAssertEqual(d.encoded().map { String(format: "%02x", $0) }.joined(), expectedDelivery.joined())
        // A fork (clone 56) in the parent: tag 7, the child's stack, zigzag(child pid 300) = 600,
        // the child's stream (3).
        var f = SyscallEvent(
            number: 56, args: [0x1200011, 0, 0, 0x7000, 0, 0], outcome: .fork(childStack: 0), console: 0, writes: [])
        f.child = 300
        f.childStream = 3
        let expectedFork = [
            "38", "918080", "09", "00", "00", "80e001", "00", "00", "00", "07", "00", "d804", "03", "00", "00",
        ]
        XCTAssertEqual(f.encoded().map { String(format: "%02x", $0) }.joined(), expectedFork.joined())
        XCTAssertEqual(try SyscallEvent.decode(f.encoded()), f)
        XCTAssertEqual(f.result, 300)
        // A child's stream starts with its pid, its parent's and its parent's stream.
        let start = ProcessEvent(pid: 300, parent: 299, parentStream: 1)
        XCTAssertEqual(start.encoded(), [0xac, 0x02, 0xab, 0x02, 0x01])
        XCTAssertEqual(try ProcessEvent.decode(start.encoded()), start)
        XCTAssertThrowsError(try ProcessEvent.decode([0xac, 0x02, 0xab, 0x02]))
    }

    /// Decoding arbitrary syscall-event payloads never traps.
    func testSyscallEventDecodingFuzz() {
        var g = SplitMix(seed: 99)
        let valid = SyscallEvent(
            number: 0, args: [3, 0x1000, 10, 0, 0, 0], outcome: .value(10), console: 0,
            writes: [(0x1000, Array("0123456789".utf8))]
        ).encoded()
        XCTAssertNotNil(try? SyscallEvent.decode(valid))
        for _ in 0..<20_000 {
            var m = valid
            for _ in 0...(g.next() % 4) { m[Int(g.next() % UInt64(m.count))] = UInt8(truncatingIfNeeded: g.next()) }
            if g.next() % 3 == 0 { m = Array(m.prefix(Int(g.next() % UInt64(m.count + 1)))) }
            _ = try? SyscallEvent.decode(m)
        }
    }
}

extension RecordReplayTests {
    /// A crash replays as it happened, reported with the symbol from the trace's copy of the program.
    func testCrashReplaysWithItsReportAfterTheBinaryIsGone() throws {
        try requireKVM()
        let src = base.appendingPathComponent("crash.c")
        try "#include <stdio.h>\nint main(void){ volatile int *p = 0; puts(\"before\"); fflush(stdout); return *p; }\n"
            .write(to: src, atomically: true, encoding: .utf8)
        let bin = base.appendingPathComponent("crash")
        let cc = Process()
        cc.executableURL = URL(fileURLWithPath: "/usr/bin/cc")
        cc.arguments = ["-O0", "-o", bin.path, src.path]
        try cc.run()
        cc.waitUntilExit()
        XCTAssertEqual(cc.terminationStatus, 0)
        let (rec, rep) = try recordThenReplay("crash", command: ["./crash"], stdin: nil, extra: [bin])
        XCTAssertEqual(rec.status, 139)
        XCTAssertEqual(rep, rec)
        let report = String(decoding: rep.stderr, as: UTF8.self)
        XCTAssertTrue(report.contains("at address 0x0") && report.contains("(crash: main+0x"), report)
    }
}

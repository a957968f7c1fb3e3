import Foundation
import LinuxABI
import Replay
import Trace
import XCTest

/// Issue 13's findings, one test each: what a hostile guest, a damaged trace or a careless command
/// line must not be able to do (Docs/security.md lists the promises and names these tests).
final class HostileInputTests: ScratchTestCase {
    static let perl = "/usr/bin/perl"

    /// Names of the entries of a host directory (nil when it does not exist).
    func entries(_ dir: URL) -> [String]? {
        try? FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
    }

    func write(_ text: String, _ name: String) throws {
        try text.write(to: base.appendingPathComponent(name), atomically: true, encoding: .utf8)
    }

    // MARK: - Sockets (findings 1–3)

    /// A script that binds a socketpair's end to each path it is given and prints what happened.
    static let binder = """
        use Socket; $| = 1;
        for my $p (@ARGV) {
            socketpair(my $a, my $b, AF_UNIX, SOCK_STREAM, 0) or die "socketpair: $!";
            print "$p: ", (bind($a, pack_sockaddr_un($p)) ? "bound" : "$!"), "\\n";
        }

        """

    /// `bind` creates a file: only in a writable mount, and /tmp is the private one.
    func testBindResolvesThroughTheSandbox() throws {
        try requireKVM()
        // Outside /tmp, which the guest sees as its private one.
        let outside = URL(fileURLWithPath: "/var/tmp/revenant-test-\(UUID().uuidString)")
        let ro = base.appendingPathComponent("wd/ro")
        defer { try? FileManager.default.removeItem(at: outside) }
        let wd = base.appendingPathComponent("wd")
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: ro, withIntermediateDirectories: true)
        try Self.binder.write(to: wd.appendingPathComponent("b.pl"), atomically: true, encoding: .utf8)
        let tmpName = "/tmp/revenant-test-\(UUID().uuidString).sock"
        defer { unlink(tmpName) }
        let r = try revenant(
            [
                "run", "--ro", ro.path, "--", Self.perl, "b.pl", outside.path + "/evil.sock",
                ro.path + "/evil.sock", "ro/evil2.sock", tmpName, "here.sock",
                String(repeating: "x", count: 100),
            ],
            directory: wd)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(
            r.stdout,
            """
            \(outside.path)/evil.sock: Read-only file system
            \(ro.path)/evil.sock: Read-only file system
            ro/evil2.sock: Read-only file system
            \(tmpName): bound
            here.sock: bound
            \(String(repeating: "x", count: 100)): bound

            """)
        XCTAssertEqual(entries(outside), [], "bind created a file outside the writable mounts")
        XCTAssertEqual(entries(ro), [], "bind created a file in a --ro mount")
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmpName), "bind reached the host's /tmp")
        // The writable working directory gets the sockets, as natively.
        XCTAssertTrue(
            entries(wd)?.contains("here.sock") == true
                && entries(wd)?.contains(String(repeating: "x", count: 100)) == true,
            "\(entries(wd) ?? [])")
    }

    /// Without --net no address reaches a host socket; a socket the run bound itself stays reachable.
    func testNoHostSocketWithoutNet() throws {
        try requireKVM()
        let listener = base.appendingPathComponent("listen.sock").path
        // A host datagram listener and a stream listener, reporting what reached them.
        try write(
            """
            import socket, sys, time
            d = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); d.bind(sys.argv[1])
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.bind(sys.argv[1] + ".s"); s.listen(1)
            d.setblocking(False); s.setblocking(False)
            open(sys.argv[1] + ".ready", "w").close()
            got = []
            end = time.time() + 30
            while time.time() < end and not __import__("os").path.exists(sys.argv[1] + ".done"):
                for f in (lambda: d.recv(100), lambda: s.accept()):
                    try: got.append(repr(f()))
                    except BlockingIOError: pass
                time.sleep(0.05)
            print("\\n".join(got) if got else "nothing")
            """, "listener.py")
        let out = base.appendingPathComponent("listener.out")
        let proc = Process()
        proc.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        proc.arguments = [base.appendingPathComponent("listener.py").path, listener]
        proc.standardOutput = try FileHandle(
            forWritingTo: {
                _ = FileManager.default.createFile(atPath: out.path, contents: nil)
                return out
            }())
        try proc.run()
        defer { proc.terminate() }
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: listener + ".ready") { usleep(50_000) }
        try write(
            """
            use Socket; $| = 1;
            socketpair(my $a, my $b, AF_UNIX, SOCK_DGRAM, 0) or die;
            socketpair(my $c, my $d, AF_UNIX, SOCK_STREAM, 0) or die;
            sub try_ { my ($what, $ok) = @_; print "$what: ", ($ok ? "ok" : "$!"), "\\n" }
            try_("sendto path", defined send($b, "evil", 0, pack_sockaddr_un("\(listener)")));
            try_("connect path", connect($c, pack_sockaddr_un("\(listener).s")));
            try_("sendto abstract", defined send($b, "evil", 0, pack_sockaddr_un("\\0revenant-test")));
            try_("sendto inet", defined send($b, "evil", 0, pack_sockaddr_in(9, inet_aton("127.0.0.1"))));
            try_("autobind", bind($c, pack("S", AF_UNIX)));
            # The run's own socket: bound here, reached by its peer through the path.
            try_("bind own", bind($a, pack_sockaddr_un("own.sock")));
            try_("sendto own", defined send($b, "hello", 0, pack_sockaddr_un("own.sock")));
            recv($a, my $got, 100, 0); print "got $got\\n";
            my $name = getsockname($a); print "name ", unpack_sockaddr_un($name), "\\n";

            """, "s.pl")
        let r = try revenant(["run", "--", Self.perl, "s.pl"])
        _ = FileManager.default.createFile(atPath: listener + ".done", contents: nil)
        proc.waitUntilExit()
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(
            r.stdout,
            """
            sendto path: Permission denied
            connect path: Permission denied
            sendto abstract: Permission denied
            sendto inet: Permission denied
            autobind: Permission denied
            bind own: ok
            sendto own: ok
            got hello
            name own.sock

            """)
        XCTAssertEqual(try String(contentsOf: out, encoding: .utf8), "nothing\n", "a host socket was reached")
    }

    /// The fast Perl-level replay runs recorded socket calls again: they must not touch the host,
    /// nor may an expression the user evaluates.
    func testFastReplayCreatesNoSocketOnTheHost() throws {
        try requireKVM()
        try write(
            """
            use Socket;
            socketpair(my $a, my $b, AF_UNIX, SOCK_STREAM, 0) or die;
            bind($a, pack_sockaddr_un("made.sock")) or die "bind: $!";
            my $n = 1;
            print "n=$n\\n";

            """, "s.pl")
        let rec = try revenant(["record", "-o", "s.rvt", "--", Self.perl, "s.pl"])
        XCTAssertEqual(rec.status, 0, rec.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: base.appendingPathComponent("made.sock").path))
        try FileManager.default.removeItem(at: base.appendingPathComponent("made.sock"))
        let before = entries(base)
        let hostTmp = "/tmp/revenant-test-\(UUID().uuidString).sock"
        defer { unlink(hostTmp) }
        let evaluate =
            "do { socketpair(my $x, my $y, 1, 1, 0); bind($x, pack('S', 1) . '\(base.path)/evil.sock'); "
            + "socketpair(my $p, my $q, 1, 1, 0); bind($p, pack('S', 1) . '\(hostTmp)'); 7 }"
        for args in [
            ["--path", "fast", "--when", "$n == 1"],
            ["--path", "fast", "--when", "$n == 1", "--print", evaluate],
        ] {
            let r = try revenant(["perl", "s.rvt"] + args)
            XCTAssertEqual(r.status, 0, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stdout.contains("s.pl:5"), r.stdout)
        }
        XCTAssertEqual(
            entries(base)?.filter { !$0.hasPrefix("out-") && !$0.hasPrefix("err-") },
            before?.filter { !$0.hasPrefix("out-") && !$0.hasPrefix("err-") },
            "a replay created a file on the host")
        XCTAssertFalse(
            FileManager.default.fileExists(atPath: hostTmp),
            "a replay bound a socket in the host's /tmp")
    }
}

// MARK: - A tampered trace (finding 6)

extension HostileInputTests {
    /// Record `perl -e` printing 1000; the trace and the blobs' names.
    func recordSmall(_ name: String = "t.rvt") throws -> (URL, TraceHeader) {
        let rec = try revenant(["record", "-o", name, "--", Self.perl, "-e", #"print 1000, "\n""#])
        XCTAssertEqual(rec.status, 0, rec.stderr)
        let trace = base.appendingPathComponent(name)
        let header = try TraceHeader.decode([UInt8](try Data(contentsOf: trace.appendingPathComponent("header"))))
        return (trace, header)
    }

    /// Every blob is checked against its digest when read, those the loader maps and those the
    /// program maps; a changed byte anywhere ends the replay with one line naming the blob.
    func testChangedBlobsAreFound() throws {
        try requireKVM()
        let (trace, header) = try recordSmall()
        let blobs = trace.appendingPathComponent("blobs")
        let perlBlob = try XCTUnwrap(header.blob(loadedFrom: "/usr/bin/perl"))
        let mapped = try FileManager.default.contentsOfDirectory(atPath: blobs.path).filter { name in
            name != perlBlob && !(header.files ?? []).contains { $0.blob == name }
        }
        XCTAssertFalse(mapped.isEmpty, "no blob the program mapped itself")
        for blob in [perlBlob] + mapped.prefix(3) {
            let file = blobs.appendingPathComponent(blob)
            let original = try Data(contentsOf: file)
            var changed = original
            changed[changed.count / 2] ^= 0x01
            chmod(file.path, 0o644)
            try changed.write(to: file)
            let r = try revenant(["replay", trace.path])
            XCTAssertEqual(r.status, 125, "\(blob): \(r.stderr)")
            XCTAssertEqual(
                r.stderr,
                "revenant: \(trace.path): corrupt blob \(blob): its contents do not match its name\n")
            try original.write(to: file)
        }
        let ok = try revenant(["replay", trace.path])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertEqual(ok.stdout, "1000\n")
    }

    /// Blob names in the header are digests and nothing else: a path there never reaches the host.
    func testBlobNamesAreDigestsOnly() throws {
        try requireKVM()
        let (trace, original) = try recordSmall()
        let outside = base.appendingPathComponent("outside-file")
        try Data("not a blob".utf8).write(to: outside)
        for name in [
            "../../outside-file", String(repeating: "A", count: 64),
            "../" + String(repeating: "0", count: 61),
        ] {
            var h = original
            h.files = h.files?.map { $0.path == "/usr/bin/perl" ? .init(path: $0.path, blob: name) : $0 }
            try Data(try h.encoded()).write(to: trace.appendingPathComponent("header"))
            let r = try revenant(["replay", trace.path])
            XCTAssertEqual(r.status, 125, r.stderr)
            XCTAssertEqual(
                r.stderr,
                "revenant: \(trace.path): corrupt blob \(name): "
                    + "a blob's name must be 64 lowercase hex digits\n")
        }
    }

    /// The header carries its own checksum: a changed byte is refused before anything runs.
    func testChangedHeaderIsRefused() throws {
        try requireKVM()
        let (trace, _) = try recordSmall()
        let file = trace.appendingPathComponent("header")
        let original = try Data(contentsOf: file)
        // In the environment, the arguments, a number: each one flip.
        let text = String(decoding: original, as: UTF8.self)
        for needle in ["\"PATH=", "print 1000", "\"memory\" : "] {
            let at = try XCTUnwrap(text.range(of: needle)).upperBound.utf16Offset(in: text)
            var changed = original
            changed[at] ^= 0x01
            try changed.write(to: file)
            for command in [["replay", trace.path], ["info", trace.path], ["log", trace.path, "syscalls"]] {
                let r = try revenant(command)
                XCTAssertEqual(r.status, 125, "\(needle) \(command): \(r.stderr)")
                XCTAssertEqual(
                    r.stderr,
                    "revenant: corrupt trace header: its checksum does not match its contents "
                        + "(the file was changed)\n",
                    "\(needle) \(command)")
            }
        }
        try original.write(to: file)
    }

    /// A FIFO (or any other file that is not a regular one) in place of a trace file is refused at
    /// once instead of waiting for a writer.
    func testIrregularTraceFilesAreRefused() throws {
        try requireKVM()
        let (trace, _) = try recordSmall()
        for part in ["events", "header"] {
            let file = trace.appendingPathComponent(part)
            let saved = base.appendingPathComponent("saved-" + part)
            try FileManager.default.moveItem(at: file, to: saved)
            XCTAssertEqual(mkfifo(file.path, 0o644), 0)
            for command in [
                ["replay", trace.path], ["info", trace.path], ["regen", trace.path],
                ["log", trace.path, "syscalls"],
            ] {
                let r = try revenant(command)
                XCTAssertEqual(r.status, 125, "\(part) \(command): \(r.stderr)")
                XCTAssertTrue(
                    r.stderr.hasSuffix("\(file.path) is not a regular file\n")
                        && r.stderr.split(separator: "\n").count == 1,
                    "\(part) \(command): \(r.stderr)")
            }
            try FileManager.default.removeItem(at: file)
            try FileManager.default.moveItem(at: saved, to: file)
        }
    }
}

// MARK: - Bytes that are not UTF-8 (finding 8), many arguments (finding 11)

extension HostileInputTests {
    /// Runs a command given as raw bytes (Foundation's Process takes Strings, which cannot hold them).
    func runRaw(_ argv: [[UInt8]], env: [[UInt8]], in dir: URL) throws -> (status: Int32, stdout: [UInt8]) {
        let out = dir.appendingPathComponent("raw-out-\(UUID().uuidString)")
        // Everything allocated before fork: the child of a threaded process only calls async-signal-safe functions.
        func c(_ b: [UInt8]) -> UnsafeMutablePointer<CChar>? {
            let p = UnsafeMutablePointer<CChar>.allocate(capacity: b.count)
            for (i, x) in b.enumerated() { p[i] = CChar(bitPattern: x) }
            return p
        }
        let cArgs = argv.map(c) + [nil], cEnv = env.map(c) + [nil]
        let outPath = c(Array(out.path.utf8) + [0]), dirPath = c(Array(dir.path.utf8) + [0])
        let pid = fork()
        if pid == 0 {
            chdir(dirPath!)
            let fd = open(outPath!, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            dup2(fd, 1)
            execve(cArgs[0]!, cArgs, cEnv)
            _exit(127)
        }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        let bytes = [UInt8]((try? Data(contentsOf: out)) ?? Data())
        try? FileManager.default.removeItem(at: out)
        return ((status >> 8) & 0xff, bytes)
    }

    func testArgumentsEnvironmentAndPathsAreBytes() throws {
        try requireKVM()
        try write(
            """
            print join(",", map { unpack("H*", $_) } @ARGV), "\\n";
            print unpack("H*", $ENV{NU}), "\\n";
            opendir(my $d, ".") or die; my @f = sort grep { /^f/ } readdir $d;
            print join(",", map { unpack("H*", $_) } @f), "\\n";
            for (@f) { open(my $h, "<", $_) or die "open: $!"; print "read ", scalar(<$h>) }
            open(my $o, ">", "new\\xfe.txt") or die "create: $!"; print $o "x\\n"; close $o;
            print -e "new\\xfe.txt" ? "made\\n" : "missing\\n";

            """, "nu.pl")
        let raw: [UInt8] = Array(base.path.utf8) + Array("/f".utf8) + [0xff] + Array(".txt".utf8) + [0]
        let fd = raw.withUnsafeBufferPointer { b in
            b.baseAddress!.withMemoryRebound(to: CChar.self, capacity: raw.count) {
                open($0, O_WRONLY | O_CREAT, 0o644)
            }
        }
        XCTAssertGreaterThanOrEqual(fd, 0)
        _ = "hi\n".withCString { Glibc.write(fd, $0, 3) }
        close(fd)
        let bin = try revenantBinary().path
        let env: [[UInt8]] = [
            Array("NU=v".utf8) + [0xfe] + Array("w".utf8) + [0],
            Array("PATH=/usr/bin:/bin".utf8) + [0],
        ]
        let args: [[UInt8]] = [
            Array("nu.pl".utf8) + [0], Array("a".utf8) + [0xff] + Array("b".utf8) + [0],
            Array("ok".utf8) + [0],
        ]
        let newName = base.path + "/new\u{FFFD}.txt"
        func removeCreated() {
            let p: [UInt8] = Array(base.path.utf8) + Array("/new".utf8) + [0xfe] + Array(".txt".utf8) + [0]
            _ = p.withUnsafeBufferPointer { b in
                b.baseAddress!.withMemoryRebound(to: CChar.self, capacity: p.count) { unlink($0) }
            }
        }
        let native = try runRaw([Array(Self.perl.utf8) + [0]] + args, env: env, in: base)
        removeCreated()
        XCTAssertEqual(
            String(decoding: native.stdout, as: UTF8.self),
            "61ff62,6f6b\n76fe77\n66ff2e747874\nread hi\nmade\n")
        let run = try runRaw(
            [
                Array(bin.utf8) + [0], Array("run".utf8) + [0], Array("--".utf8) + [0],
                Array(Self.perl.utf8) + [0],
            ] + args,
            env: env, in: base)
        XCTAssertEqual(run.status, 0)
        XCTAssertEqual(run.stdout, native.stdout, "run: " + String(decoding: run.stdout, as: UTF8.self))
        XCTAssertFalse(FileManager.default.fileExists(atPath: newName), "a name was changed to U+FFFD")
        removeCreated()
        let record = try runRaw(
            [Array(bin.utf8) + [0]]
                + ["record", "-o", "nu.rvt", "--", Self.perl].map { Array($0.utf8) + [0] } + args,
            env: env, in: base)
        XCTAssertEqual(record.stdout, native.stdout)
        let replay = try revenant(["replay", "nu.rvt"])
        XCTAssertEqual(replay.status, 0, replay.stderr)
        XCTAssertEqual(Array(replay.stdout.utf8), native.stdout)
        XCTAssertTrue(try revenant(["info", "nu.rvt"]).stdout.contains("a\\xffb ok"))
    }

    /// Every argument reaches the program (start-up time per argument is in `make bench`).
    func testManyArgumentsArrive() throws {
        try requireKVM()
        let args = (0..<20_000).map(String.init)
        let r = try revenant(
            ["run", "--", Self.perl, "-e", #"print scalar(@ARGV), " $ARGV[0] $ARGV[-1]\n""#]
                + args)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "20000 0 19999\n")
    }
}

// MARK: - What the program did to its own output (finding 7)

extension HostileInputTests {
    /// `seek`, `pwrite`, `truncate` on a stdout that is a regular file: the replay's file holds what
    /// the recording's held; a stdout that cannot seek makes the replay say so (124).
    func testReplayMovesAndTruncatesStdoutAsRecorded() throws {
        try requireKVM()
        let programs = [
            #"$|=1; print "AAAA\n"; seek(STDOUT,0,0); print "B""#,
            #"$|=1; print "0123456789\n"; truncate(STDOUT, 4); seek(STDOUT, 2, 0); print "xy"; "#
                + #"seek(STDOUT, 0, 2); print "end\n""#,
            #"$|=1; print "hello world\n"; syswrite(STDOUT, "ab"); sysseek(STDOUT, 6, 0); syswrite(STDOUT, "W")"#,
        ]
        for (i, program) in programs.enumerated() {
            let native = base.appendingPathComponent("native\(i)"),
                recorded = base.appendingPathComponent("rec\(i)")
            let replayed = base.appendingPathComponent("rep\(i)")
            XCTAssertEqual(try shell("\(Self.perl) -e '\(program)' > \(native.path)"), 0)
            XCTAssertEqual(
                try shell(
                    "\(try revenantBinary().path) record -o t\(i).rvt -- "
                        + "\(Self.perl) -e '\(program)' > \(recorded.path)"), 0)
            XCTAssertEqual(try shell("\(try revenantBinary().path) replay t\(i).rvt > \(replayed.path)"), 0)
            let expected = try Data(contentsOf: native)
            XCTAssertEqual(try Data(contentsOf: recorded), expected, program)
            XCTAssertEqual(try Data(contentsOf: replayed), expected, "replay: \(program)")
            // Into a pipe the program's moves cannot be made: it says so, exit 124.
            let piped = try run(
                "/bin/bash",
                [
                    "-c",
                    "\(try revenantBinary().path) replay t\(i).rvt "
                        + "| cat >/dev/null; exit ${PIPESTATUS[0]}",
                ])
            XCTAssertEqual(piped.status, 124, program)
            XCTAssertTrue(
                piped.stderr.contains(
                    "on its stdout, a regular file when recorded; "
                        + "this replay's stdout cannot do the same"),
                piped.stderr)
        }
    }

    /// Bytes sent to stdout from a file (sendfile) are not in the trace: the replay says so.
    func testReplayRefusesOutputItCannotReproduce() throws {
        try requireKVM()
        try write("0123456789", "data")
        let program =
            #"open(my $f, "<", "data") or die; "#
            + #"syscall(40, 1, fileno($f), 0, 10) == 10 or die "sendfile: $!""#
        let rec = try revenant(["record", "-o", "s.rvt", "--", Self.perl, "-e", program])
        XCTAssertEqual(rec.status, 0, rec.stderr)
        XCTAssertEqual(rec.stdout, "0123456789")
        let r = try revenant(["replay", "s.rvt"])
        XCTAssertEqual(r.status, 124, r.stderr)
        XCTAssertTrue(
            r.stderr.contains("wrote 10 bytes to its stdout with sendfile; the trace does not hold them"),
            r.stderr)
        // A replay that echoes nothing has nothing to refuse.
        XCTAssertEqual(try revenant(["replay", "s.rvt", "--quiet"]).status, 0)
    }

    /// `sh -c` in the test's folder; its exit status.
    func shell(_ command: String) throws -> Int32 { try run("/bin/sh", ["-c", command]).status }
}

// MARK: - Faults the program handles itself (finding 9)

extension HostileInputTests {
    /// Tests/Programs/faults.c natively, under run, and recorded then replayed: the same bytes.
    func testProgramsHandleTheirOwnFaults() throws {
        try requireKVM()
        let source = packageRootDirectory().appendingPathComponent("Tests/Programs/faults.c").path
        XCTAssertEqual(try run("/usr/bin/gcc", ["-O1", "-mavx", "-o", "faults", source]).status, 0)
        let exe = base.appendingPathComponent("faults").path
        let native = try run(exe, [])
        XCTAssertEqual(native.status, 139)
        XCTAssertEqual(
            native.stdout,
            """
            caught Segmentation fault code 1 addr set
            caught Floating point exception code 1 addr set
            caught Segmentation fault code 1 addr set
            caught Illegal instruction, trapno 6, skipping
            after ud2: xmm8 kept yes, ymm9's upper half kept yes
            caught Trace/breakpoint trap
            after int3
            getpid with rsp 0: a pid

            """)
        let r = try revenant(["run", "--", exe])
        XCTAssertEqual(r.status, 139)
        XCTAssertEqual(r.stdout, native.stdout)
        XCTAssertTrue(
            r.stderr.hasPrefix(
                "revenant: guest killed by SIGSEGV: "
                    + "page fault (#PF, read, not present) at address 0x18"), r.stderr)
        let rec = try revenant(["record", "-o", "f.rvt", "--", exe])
        XCTAssertEqual(rec.stdout, native.stdout)
        let rep = try revenant(["replay", "f.rvt"])
        XCTAssertEqual(rep.status, 139, rep.stderr)
        XCTAssertEqual(rep.stdout, native.stdout)
        XCTAssertEqual(rep.stderr, rec.stderr)
    }

    func testPerlHandlesItsOwnSegfault() throws {
        try requireKVM()
        let program =
            #"$SIG{SEGV} = sub { print "caught SEGV\n"; exit 3 }; "#
            + #"my $x = unpack("p", pack("J", 8)); print "not reached\n""#
        let native = try run(Self.perl, ["-e", program])
        XCTAssertEqual(native.status, 3)
        XCTAssertEqual(native.stdout, "caught SEGV\n")
        let r = try revenant(["run", "--", Self.perl, "-e", program])
        XCTAssertEqual(r.status, 3, r.stderr)
        XCTAssertEqual(r.stdout, native.stdout)
        XCTAssertEqual(
            try revenant(["record", "-o", "p.rvt", "--", Self.perl, "-e", program]).stdout,
            native.stdout)
        let rep = try revenant(["replay", "p.rvt"])
        XCTAssertEqual(rep.status, 3, rep.stderr)
        XCTAssertEqual(rep.stdout, native.stdout)
    }

    /// `int 0x80` is not a fault the program may handle: it is a system call Revenant lacks.
    func testInt80IsNamed() throws {
        try requireKVM()
        try write(
            "int main(void) { long r; __asm__ volatile(\"int $0x80\" : \"=a\"(r) : \"a\"(20L)); "
                + "return r > 0 ? 0 : 1; }\n", "i80.c")
        XCTAssertEqual(try run("/usr/bin/gcc", ["-O1", "-o", "i80", "i80.c"]).status, 0)
        let r = try revenant(["run", "--", base.appendingPathComponent("i80").path])
        XCTAssertEqual(r.status, 132)
        XCTAssertTrue(r.stderr.contains("int 0x80 (the 32-bit system call gate is not supported)"), r.stderr)
    }
}

// MARK: - Time limits, read-only traces, a full disk (findings 10 and 12)

extension HostileInputTests {
    /// Every evaluation the user supplies has a time limit: a --print that sleeps or loops ends
    /// the command with one line naming where, in both forms of the Perl replay.
    func testPerlEvaluationsHaveATimeLimit() throws {
        try requireKVM()
        try write("my $n = 0;\nfor my $i (1 .. 3) { $n += $i }\nprint \"$n\\n\";\n", "t.pl")
        XCTAssertEqual(try revenant(["record", "-o", "t.rvt", "--", Self.perl, "t.pl"]).status, 0)
        let cases: [(path: String, print: String, what: String)] = [
            (
                "fast", "do { sleep 100; 1 }",
                "the --when predicate or a --print expression timed out after 1 s at statement #"
            ),
            (
                "fast", "do { 1 while 1; 1 }",
                "the --when predicate or a --print expression timed out after 1 s at statement #"
            ),
            (
                "vm", "do { 1 while 1; 1 }",
                "the --print expression do { 1 while 1; 1 } timed out after 1 s at statement #"
            ),
        ]
        for c in cases {
            let start = Date()
            let r = try revenant([
                "perl", "t.rvt", "--path", c.path, "--when", "$n > 2", "--print", c.print,
                "--timeout", "1",
            ])
            XCTAssertEqual(r.status, 125, "\(c): \(r.stderr)")
            XCTAssertTrue(
                r.stderr.hasPrefix("revenant: " + c.what)
                    && r.stderr.contains("(t.pl:2) (--timeout to allow longer)"),
                "\(c): \(r.stderr)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
            XCTAssertLessThan(Date().timeIntervalSince(start), 60, "\(c) was not stopped")
        }
        // Nothing of the sandboxes is left behind.
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: "/tmp")
                .filter { $0.hasPrefix("revenant-scratch-") }, [])
        // Within its time an evaluation answers as before.
        let ok = try revenant([
            "perl", "t.rvt", "--path", "fast", "--when", "$n > 2", "--print", "do { 7 }",
            "--first",
        ])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertTrue(ok.stdout.contains("do { 7 } = 7"), ok.stdout)
    }

    /// Mounts a tmpfs of `size` at a new folder for `body`; skips loudly where mounting is not allowed.
    func withTmpfs(size: String, readOnly: Bool = false, _ body: (URL) throws -> Void) throws {
        let dir = base.appendingPathComponent("mnt-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        guard try run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(size)", "tmpfs", dir.path]).status == 0 else {
            throw XCTSkip("mounting a tmpfs is not allowed here: the test needs it")
        }
        defer { _ = try? run("/bin/umount", ["-l", dir.path]) }
        try body(dir)
    }

    /// A full disk while recording is said as such, and the trace's complete part replays.
    func testDiskFullWhileRecording() throws {
        try requireKVM()
        try withTmpfs(size: "12m") { dir in
            let trace = dir.appendingPathComponent("t.rvt").path
            let r = try revenant([
                "record", "-o", trace, "--", Self.perl, "-e",
                #"open my $f, "<", "/dev/urandom"; "#
                    + #"for (1..40) { read($f, my $b, 1 << 20) } print "done\n""#,
            ])
            XCTAssertEqual(r.status, 125)
            XCTAssertEqual(r.stderr, "revenant: recording failed: \(trace)/events: No space left on device\n")
            let replay = try revenant(["replay", trace])
            XCTAssertEqual(replay.status, 125)
            XCTAssertTrue(replay.stderr.contains("its recording was cut short"), replay.stderr)
        }
    }

    /// A trace that cannot take an index (a read-only copy) still answers log, perl and sql: the
    /// index goes to $XDG_CACHE_HOME/revenant/.
    func testReadOnlyTraceIsIndexedInTheCache() throws {
        try requireKVM()
        try write("my $n = 0;\n$n += $_ for 1 .. 3;\nprint \"$n\\n\";\n", "t.pl")
        XCTAssertEqual(try revenant(["record", "-o", "t.rvt", "--", Self.perl, "t.pl"]).status, 0)
        let cache = base.appendingPathComponent("cache")
        let trace = base.appendingPathComponent("t.rvt")
        guard try run("/bin/mount", ["--bind", trace.path, trace.path]).status == 0 else {
            throw XCTSkip("a bind mount is not allowed here: the test needs it")
        }
        defer { _ = try? run("/bin/umount", ["-l", trace.path]) }
        XCTAssertEqual(try run("/bin/mount", ["-o", "remount,ro,bind", trace.path]).status, 0)
        let env = ["XDG_CACHE_HOME": cache.path]
        let log = try revenant(["log", "t.rvt", "perl"], env: env)
        XCTAssertEqual(log.status, 0, log.stderr)
        XCTAssertTrue(log.stdout.contains("t.pl:2"), log.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: trace.appendingPathComponent("index.sqlite").path))
        let cached = try FileManager.default.contentsOfDirectory(
            atPath: cache.appendingPathComponent("revenant").path)
        XCTAssertEqual(cached.count, 1, "\(cached)")
        XCTAssertTrue(cached.first?.hasSuffix(".index.sqlite") == true)
        let perl = try revenant(["perl", "t.rvt", "--when", "$n > 2", "--first"], env: env)
        XCTAssertEqual(perl.status, 0, perl.stderr)
        XCTAssertTrue(perl.stdout.contains("t.pl:3"), perl.stdout)
    }
}

// MARK: - A trace damaged anywhere (finding 6's rule)

extension HostileInputTests {
    /// Single-byte changes and cuts anywhere in the files a replay reads: every one is refused
    /// with one line (exit 125), none replays quietly, none traps or hangs.
    func testDamagedTracesAreRefused() throws {
        try requireKVM()
        let (trace, _) = try recordSmall()
        let fm = FileManager.default
        let files =
            ["header", "events"]
            + (try fm.contentsOfDirectory(atPath: trace.appendingPathComponent("blobs").path))
            .map { "blobs/" + $0 }
        var rng = SystemRandomNumberGenerator()
        var refused = 0
        for i in 0..<Self.damages {
            let name = files[i % files.count]
            let file = trace.appendingPathComponent(name)
            let original = try Data(contentsOf: file)
            var damaged = original
            let cut = i % 4 == 3 && original.count > 1
            if cut {
                damaged = original.prefix(Int.random(in: 0..<original.count, using: &rng))
            } else {
                damaged[Int.random(in: 0..<original.count, using: &rng)] ^=
                    UInt8(1 << Int.random(in: 0..<8, using: &rng))
            }
            chmod(file.path, 0o644)
            try damaged.write(to: file)
            let r = try revenant(["replay", trace.path])
            try original.write(to: file)
            XCTAssertEqual(r.status, 125, "\(name) \(cut ? "cut" : "flipped"): \(r.stderr)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "\(name): \(r.stderr)")
            XCTAssertTrue(r.stderr.hasPrefix("revenant: "), r.stderr)
            if r.status == 125 { refused += 1 }
        }
        print(
            "[fuzz] \(Self.damages) damaged traces (flips and cuts in the header, the events and every blob): "
                + "\(refused) refused with one line, 0 replayed")
        let ok = try revenant(["replay", trace.path])
        XCTAssertEqual(ok.status, 0, ok.stderr)
    }
    static let damages = 300
}

// MARK: - Names from a trace stay in Revenant's folders (finding 4's siblings)

extension HostileInputTests {
    /// `sql --restore` re-executes the log: a file name there (`ATTACH 'sub/../../…'`) and the
    /// name of a pre-image in the events may hold `..`: they stay inside the scratch folder.
    func testSQLRestoreWritesNothingOutsideItsFolders() throws {
        try requireKVM()
        let escape = "/tmp/revenant-escape-\(UUID().uuidString).db"
        defer {
            unlink(escape)
            unlink(escape + "-journal")
        }
        try FileManager.default.createDirectory(
            at: base.appendingPathComponent("sub"),
            withIntermediateDirectories: true)
        try write(
            "create table t(x);\ninsert into t values(1);\nattach 'sub/" + String(repeating: "../", count: 30)
                + "\(escape.dropFirst())' as e;\n"
                + "insert into t values(3);\n", "s.sql")
        let rec = try revenant(
            ["record", "-o", "s.rvt", "--", "/usr/bin/sqlite3", "main.db"],
            stdin: base.appendingPathComponent("s.sql").path)
        XCTAssertNotEqual(rec.status, 125, rec.stderr)
        // A pre-image whose name climbs out, added to the events.
        let trace = base.appendingPathComponent("s.rvt")
        var reader = try EventReader(path: trace.appendingPathComponent("events").path)
        var events: [Event] = []
        while let e = try reader.next() { events.append(e) }
        let blob = try TraceDirectory(path: trace.path).storeBlob(Array("planted".utf8))
        let evil = "/" + String(repeating: "../", count: 30) + escape.dropFirst() + ".planted"
        events.insert(Event(kind: EventKind.preImage.rawValue, payload: Hex.bytes(blob) + Array(evil.utf8)), at: 0)
        try FileManager.default.removeItem(at: trace.appendingPathComponent("events"))
        let writer = try EventWriter(path: trace.appendingPathComponent("events").path)
        for e in events { try writer.append(e) }
        try writer.close()
        let restore = try revenant(["sql", "s.rvt", "--at", "3", "--restore", "out.db", "--no-machine-check"])
        // The ATTACH ran again (it fails natively, as recorded; in the scratch folder it opens).
        XCTAssertTrue(restore.stderr.contains("statement 2: attach"), restore.stderr)
        XCTAssertFalse(
            FileManager.default.fileExists(atPath: escape),
            "an ATTACH in the log created a file on the host")
        XCTAssertFalse(
            FileManager.default.fileExists(atPath: escape + ".planted"),
            "a pre-image's name led out of the scratch folder")
        unlink(escape + ".planted")
    }
}

// MARK: - A trace made consistent by someone who means harm

extension HostileInputTests {
    /// A checksum is no signature: someone can write a header that checks out. Its values, any
    /// of them, give one line and 124 or 125, never a trap.
    func testCraftedHeadersAreAnswered() throws {
        try requireKVM()
        let (trace, original) = try recordSmall()
        let file = trace.appendingPathComponent("header")
        var crafted: [(String, (inout TraceHeader) -> Void)] = [
            ("memory", { $0.memory = UInt64.max }),
            ("no memory", { $0.memory = 0 }),
            (
                "consoles",
                {
                    $0.consoles = [
                        .init(fd: 1, offset: Int64.min, append: false),
                        .init(fd: 2, offset: Int64.max, append: true),
                    ]
                }
            ),
            ("argv empty", { $0.argv = [] }),
            ("program empty", { $0.program = "" }),
            ("cwd relative", { $0.cwd = "relative/../.." }),
            ("atRandom", { $0.process?.atRandom = "zz" }),
            ("no process", { $0.process = nil }),
            ("no files", { $0.files = [] }),
            ("mounts", { $0.mounts = [.init(guest: "", host: "", writable: true)] }),
            ("cpuid", { $0.cpuid = [.init(leaf: 0, subleaf: 0, eax: 0, ebx: 0, ecx: 0, edx: 0)] }),
        ]
        crafted.append(
            (
                "environment",
                {
                    $0.env = (0..<5000).map { ByteString("K\($0)=" + String(repeating: "v", count: 1000)) }
                }
            ))
        for (what, change) in crafted {
            var h = original
            change(&h)
            try Data(try h.encoded()).write(to: file)
            for command in [["replay", trace.path], ["info", trace.path]] {
                let r = try revenant(command)
                let context = "\(what) \(command[0]): status \(r.status), \(r.stderr)"
                XCTAssertTrue([0, 124, 125].contains(r.status), context)
                XCTAssertFalse(r.stderr.contains("Fatal error") || r.stderr.contains("runtime failure"), context)
                if r.status != 0 { XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, context) }
            }
        }
        try Data(try original.encoded()).write(to: file)
        XCTAssertEqual(try revenant(["replay", trace.path]).status, 0)
    }
}

// SandboxAndErrorTests.swift — black-box tests of `revenant run`: exit statuses and error lines,
// guest crash reports, unsupported syscalls, and the sandbox (read-only host, writable working
// directory, private /tmp, no `..`/symlink escapes, hidden /proc/self, --rw/--ro, environment,
// network, memory cap, stdin, -v) plus `revenant info`.
//
// Contract (Docs/architecture.md "Exit codes" and "The guest and the VMM"; Docs/security.md):
//   * exit status: the guest's own (128+N when killed by signal N); Revenant's own outcomes:
//     125 failure/usage, 126 found but not executable, 127 not found — each with ONE line on
//     stderr starting with "revenant: ".
//   * a guest crash ends with the signal Linux would deliver and a report: rip, symbol, address.
//   * an unsupported syscall returns ENOSYS and prints one diagnostic line naming it.
//   * sandbox: host filesystem read-only, working directory read-write, private /tmp, no network,
//     caller's environment; openat2(RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS) path semantics.
//
// Every test runs in a fresh working directory under NSTemporaryDirectory() and every revenant
// run has a hard 60 s timeout (SIGTERM, then SIGKILL to the process group).
//
// Environment knobs:
//   REVENANT_BIN             revenant binary (default <package root>/.build/release/revenant)
//   REVENANT_REQUIRE_KVM=1   missing/unusable /dev/kvm fails instead of skipping

import Foundation
import XCTest

final class SandboxAndErrorTests: XCTestCase {

    /// Fresh per-test directory: `base/wd` is the working directory, `base/out` holds the
    /// captured stdout/stderr files (kept out of the working directory).
    private var base: URL!
    private var workDir: URL!
    private var outDir: URL!
    private var runCounter = 0
    /// Host paths outside `base` that a test created and must remove.
    private var hostLeftovers: [String] = []

    private static let perl = "/usr/bin/perl"
    private static let timeout: TimeInterval = 60

    override func setUpWithError() throws {
        try super.setUpWithError()
        let tmp = URL(fileURLWithPath: NSTemporaryDirectory()).resolvingSymlinksInPath()
        base = tmp.appendingPathComponent("revenant-sbx-\(UUID().uuidString.prefix(8))")
        workDir = base.appendingPathComponent("wd")
        outDir = base.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: workDir, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
        runCounter = 0
        hostLeftovers = []
    }

    override func tearDownWithError() throws {
        for path in hostLeftovers {
            try? FileManager.default.removeItem(atPath: path)
        }
        if let base = base {
            try? FileManager.default.removeItem(at: base)
        }
        try super.tearDownWithError()
    }

    // MARK: - Program lookup and Revenant's own errors

    func testMissingAbsoluteProgramIs127() throws {
        try requireKVM()
        let r = try revenant(["run", "--", "/nonexistent/prog"])
        assertOwnError(r, status: 127, contains: ["/nonexistent/prog"])
    }

    func testMissingCommandOnPathIs127() throws {
        try requireKVM()
        let r = try revenant(["run", "--", "no-such-command-xyz"])
        assertOwnError(r, status: 127, contains: ["no-such-command-xyz"])
    }

    func testNonExecutableFileIs126() throws {
        try requireKVM()
        let file = try writeWorkFile("plain.txt", "just text\n", mode: 0o644)
        let r = try revenant(["run", "--", file.path])
        assertOwnError(r, status: 126, contains: ["Permission denied"])
    }

    func testNonELFExecutableIs126ExecFormatError() throws {
        try requireKVM()
        let file = try writeWorkFile("notelf", "this is not a program\n", mode: 0o755)
        let r = try revenant(["run", "--", "./notelf"])
        assertOwnError(r, status: 126, contains: ["Exec format error"])
        _ = file
    }

    func testDirectoryAsProgramIs126() throws {
        try requireKVM()
        let r = try revenant(["run", "--", "/usr"])
        assertOwnError(r, status: 126, contains: ["/usr"])
    }

    func testShebangScriptRuns() throws {
        try requireKVM()
        try writeWorkFile("hello", "#!/usr/bin/perl\nprint \"hi\\n\";\n", mode: 0o755)
        let r = try revenant(["run", "--", "./hello"])
        assertGuest(r, status: 0, stdout: "hi\n", stderr: "")

        // Arguments and $0 reach the script as with execve(2): $0 is the path as given.
        try writeWorkFile("args", "#!/usr/bin/perl -w\nprint \"$0|@ARGV\\n\";\n", mode: 0o755)
        let r2 = try revenant(["run", "--", "./args", "a b", "c"])
        assertGuest(r2, status: 0, stdout: "./args|a b c\n", stderr: "")
    }

    func testUsageErrorNoProgramIs125() throws {
        try requireKVM()
        let r = try revenant(["run"])
        assertOwnError(r, status: 125, contains: [])
        let r2 = try revenant(["run", "--"])
        assertOwnError(r2, status: 125, contains: [])
    }

    func testUsageErrorBadMemoryIs125() throws {
        try requireKVM()
        let r = try revenant(["run", "--memory", "abc", "--", Self.perl, "-e", "1"])
        assertOwnError(r, status: 125, contains: ["--memory"])
    }

    func testUsageErrorMissingRwPathIs125() throws {
        try requireKVM()
        let r = try revenant(["run", "--rw", "/does/not/exist", "--", Self.perl, "-e", "1"])
        assertOwnError(r, status: 125, contains: ["/does/not/exist"])
        let r2 = try revenant(["run", "--ro", "/does/not/exist", "--", Self.perl, "-e", "1"])
        assertOwnError(r2, status: 125, contains: ["/does/not/exist"])
    }

    func testUsageErrorBadEnvIs125() throws {
        try requireKVM()
        let r = try revenant(["run", "--env", "NOEQUALS", "--", Self.perl, "-e", "1"])
        assertOwnError(r, status: 125, contains: ["NOEQUALS"])
    }

    /// An option `run` does not know, before `--`, is a usage error (125), not a program name.
    func testUsageErrorUnknownOptionIs125() throws {
        try requireKVM()
        let r = try revenant(["run", "--bogus-option", "--", Self.perl, "-e", "1"])
        assertOwnError(r, status: 125, contains: ["--bogus-option"])
    }

    // MARK: - Guest crashes

    func testNullDereferenceIsSIGSEGV() throws {
        try requireKVM()
        try compileC("crash", "int main(void) { volatile int *p = 0; return *p; }\n")
        let r = try revenant(["run", "--", "./crash"])
        XCTAssertEqual(r.status, 139, r.describe)
        XCTAssertEqual(r.stdout, "", r.describe)
        let line = assertSingleRevenantLine(r)
        assertContains(line, ["SIGSEGV", "page fault", "rip 0x", "crash: main+0x"], r)
        assertMatches(line, #"at address 0x0(?![0-9a-fA-F])"#, r)
    }

    func testUD2IsSIGILL() throws {
        try requireKVM()
        try compileC("ill", "int main(void) { __builtin_trap(); return 0; }\n")
        let r = try revenant(["run", "--", "./ill"])
        XCTAssertEqual(r.status, 132, r.describe)
        XCTAssertEqual(r.stdout, "", r.describe)
        let line = assertSingleRevenantLine(r)
        assertContains(line, ["SIGILL", "invalid opcode", "rip 0x", "ill: main+0x"], r)
    }

    func testDivideByZeroIsSIGFPE() throws {
        try requireKVM()
        try compileC("fpe", "int main(void) { volatile int a = 1, b = 0; return a / b; }\n")
        let r = try revenant(["run", "--", "./fpe"])
        XCTAssertEqual(r.status, 136, r.describe)
        XCTAssertEqual(r.stdout, "", r.describe)
        let line = assertSingleRevenantLine(r)
        assertContains(line, ["SIGFPE", "rip 0x", "fpe: main+0x"], r)
    }

    func testPerlBadPointerIsSIGSEGVAtAddress8() throws {
        try requireKVM()
        let r = try revenant(["run", "--", Self.perl, "-e", #"unpack "p", pack "Q", 8"#])
        XCTAssertEqual(r.status, 139, r.describe)
        XCTAssertEqual(r.stdout, "", r.describe)
        let line = assertSingleRevenantLine(r)
        assertContains(line, ["SIGSEGV", "rip 0x"], r)
        assertMatches(line, #"at address 0x8(?![0-9a-fA-F])"#, r)
    }

    // MARK: - Guest exit statuses

    func testPerlDieIs255() throws {
        try requireKVM()
        let r = try revenant(["run", "--", Self.perl, "-e", #"die "oops\n""#])
        assertGuest(r, status: 255, stdout: "", stderr: "oops\n")
    }

    func testPerlExit3() throws {
        try requireKVM()
        let r = try revenant(["run", "--", Self.perl, "-e", "exit 3"])
        assertGuest(r, status: 3, stdout: "", stderr: "")
    }

    func testPerlKillSelfTERMIs143() throws {
        try requireKVM()
        let r = try revenant([
            "run", "--", Self.perl, "-e", #"$| = 1; print "before\n"; kill 'TERM', $$; print "after\n""#,
        ])
        XCTAssertEqual(r.status, 143, r.describe)
        XCTAssertEqual(r.stdout, "before\n", r.describe)
        // Linux prints nothing when a program kills itself; with -v Revenant says what happened.
        XCTAssertEqual(r.stderr, "", r.describe)
        let v = try revenant(["run", "-v", "--", Self.perl, "-e", #"kill 'TERM', $$"#])
        XCTAssertEqual(v.status, 143, v.describe)
        assertContains(v.stderr, ["guest killed by SIGTERM", "the program sent itself SIGTERM"], v)
    }

    // MARK: - Unsupported syscalls

    func testUnsupportedSyscallPtraceReturnsENOSYS() throws {
        try requireKVM()
        let r = try revenant(["run", "--", Self.perl, "-e", #"my $r = syscall(101, 0, 0, 0, 0); print "$r $!\n""#])
        XCTAssertEqual(r.status, 0, r.describe)
        XCTAssertEqual(r.stdout, "-1 Function not implemented\n", r.describe)
        let line = assertSingleRevenantLine(r)
        assertContains(line, ["unsupported syscall ptrace"], r)
    }

    func testUnknownSyscallNumberReturnsENOSYS() throws {
        try requireKVM()
        // 400 is not assigned on x86-64 (io_pgetevents=333, rseq=334, pidfd_send_signal=424).
        let r = try revenant(["run", "--", Self.perl, "-e", #"my $r = syscall(400); print "$r $!\n""#])
        XCTAssertEqual(r.status, 0, r.describe)
        XCTAssertEqual(r.stdout, "-1 Function not implemented\n", r.describe)
        let line = assertSingleRevenantLine(r)
        assertContains(line, ["unsupported syscall", "400"], r)
    }

    // MARK: - Sandbox: read-only host, writable working directory

    func testWritesOutsideMountsAreEROFS() throws {
        try requireKVM()
        let fm = FileManager.default
        let victim = fm.fileExists(atPath: "/etc/hostname") ? "/etc/hostname" : "/etc/passwd"
        XCTAssertTrue(fm.fileExists(atPath: victim), "host has neither /etc/hostname nor /etc/passwd")
        let usrFile = "/usr/revenant-test-x-\(uniq())"
        let rootDir = "/revenant-x-\(uniq())"
        let script = """
            open(my $f, ">", "\(usrFile)") and print "opened\\n" or print "open: $!\\n";
            unlink("\(victim)") and print "unlinked\\n" or print "unlink: $!\\n";
            mkdir("\(rootDir)") and print "mkdir ok\\n" or print "mkdir: $!\\n";
            rename("\(victim)", "\(victim).moved") and print "renamed\\n" or print "rename: $!\\n";
            """
        // If the sandbox leaks, make sure nothing stays behind on the host and the victim comes back.
        hostLeftovers += [usrFile, rootDir]
        let saved = try Data(contentsOf: URL(fileURLWithPath: victim))
        defer {
            if !fm.fileExists(atPath: victim) {
                if fm.fileExists(atPath: victim + ".moved") {
                    try? fm.moveItem(atPath: victim + ".moved", toPath: victim)
                } else {
                    try? saved.write(to: URL(fileURLWithPath: victim))
                }
            }
        }
        let r = try revenant(["run", "--", Self.perl, "-e", script])
        assertGuest(
            r, status: 0,
            stdout:
                "open: Read-only file system\nunlink: Read-only file system\n"
                + "mkdir: Read-only file system\nrename: Read-only file system\n",
            stderr: "")
        XCTAssertFalse(fm.fileExists(atPath: usrFile), "guest created \(usrFile) on the host")
        XCTAssertFalse(fm.fileExists(atPath: rootDir), "guest created \(rootDir) on the host")
        XCTAssertTrue(fm.fileExists(atPath: victim), "guest removed \(victim) on the host")
        XCTAssertFalse(fm.fileExists(atPath: victim + ".moved"), "guest renamed \(victim) on the host")
    }

    func testWorkingDirectoryIsWritable() throws {
        try requireKVM()
        try writeWorkFile("existing.txt", "old\n", mode: 0o644)
        let script = """
            open(my $f, ">", "made-by-guest.txt") or die "open: $!\\n"; print $f "hello from guest\\n"; close $f or die;
            mkdir "subdir" or die "mkdir: $!\\n";
            open(my $g, ">", "subdir/inner.txt") or die "inner: $!\\n"; print $g "inner\\n"; close $g;
            open(my $h, ">>", "existing.txt") or die "append: $!\\n"; print $h "appended\\n"; close $h;
            print "done\\n";
            """
        let r = try revenant(["run", "--", Self.perl, "-e", script])
        assertGuest(r, status: 0, stdout: "done\n", stderr: "")
        XCTAssertEqual(
            try? String(contentsOf: workDir.appendingPathComponent("made-by-guest.txt"), encoding: .utf8),
            "hello from guest\n")
        XCTAssertEqual(
            try? String(contentsOf: workDir.appendingPathComponent("subdir/inner.txt"), encoding: .utf8), "inner\n")
        XCTAssertEqual(
            try? String(contentsOf: workDir.appendingPathComponent("existing.txt"), encoding: .utf8), "old\nappended\n")
    }

    /// The working directory is reachable by its absolute path too (programs use getcwd() and
    /// absolute paths all the time), and `cd ..; cd wd` works as on Linux.
    func testWorkingDirectoryByAbsolutePath() throws {
        try requireKVM()
        let cwd = workDir.path
        let name = workDir.lastPathComponent
        let parent = workDir.deletingLastPathComponent().path
        let script = """
            use Cwd;
            print getcwd(), "\\n";
            print -d "\(cwd)" ? "cwd is a directory\\n" : "cwd missing: $!\\n";
            my $f; open($f, ">", "\(cwd)/abs.txt") and print $f "abs\\n" and close($f) \
            and print "abs write ok\\n" or print "abs write: $!\\n";
            chdir("..") and print "up: ", getcwd(), "\\n" or print "up: $!\\n";
            chdir("\(name)") and print "back: ", getcwd(), "\\n" or print "back: $!\\n";
            """
        let r = try revenant(["run", "--", Self.perl, "-e", script])
        assertGuest(
            r, status: 0,
            stdout: "\(cwd)\ncwd is a directory\nabs write ok\nup: \(parent)\nback: \(cwd)\n",
            stderr: "")
        XCTAssertEqual(try? String(contentsOf: workDir.appendingPathComponent("abs.txt"), encoding: .utf8), "abs\n")
    }

    // MARK: - Sandbox: private /tmp

    func testPrivateTmp() throws {
        try requireKVM()
        let fm = FileManager.default
        let guestName = "revenant-private-test-\(uniq()).txt"
        let hostName = "revenant-host-only-\(uniq()).txt"
        let hostPath = "/tmp/" + hostName
        hostLeftovers += ["/tmp/" + guestName, hostPath]
        XCTAssertTrue(fm.createFile(atPath: hostPath, contents: Data("host\n".utf8)), "cannot create \(hostPath)")
        let script = """
            print -e "/tmp/\(hostName)" ? "host file visible\\n" : "host file hidden\\n";
            open(my $f, ">", "/tmp/\(guestName)") or die "open: $!\\n"; print $f "guest\\n"; close $f or die;
            open(my $g, "<", "/tmp/\(guestName)") or die "reopen: $!\\n"; print "read back: ", scalar(<$g>);
            opendir(my $d, "/tmp") or die "opendir: $!\\n";
            print join(",", grep { $_ eq "\(hostName)" } readdir $d), "|\\n";
            """
        let r = try revenant(["run", "--", Self.perl, "-e", script])
        assertGuest(r, status: 0, stdout: "host file hidden\nread back: guest\n|\n", stderr: "")
        XCTAssertFalse(fm.fileExists(atPath: "/tmp/" + guestName), "guest's /tmp file appeared in the host's /tmp")
        XCTAssertEqual(try? String(contentsOfFile: hostPath, encoding: .utf8), "host\n", "host /tmp file changed")
        // The private /tmp is thrown away: no copy of the guest's file anywhere one level down either.
        let leaked = ((try? fm.contentsOfDirectory(atPath: "/tmp")) ?? []).filter {
            fm.fileExists(atPath: "/tmp/\($0)/\(guestName)")
        }
        XCTAssertEqual(leaked, [], "guest's private /tmp file left behind on the host")
    }

    // MARK: - Sandbox: no escape through .. or symlinks

    func testDotDotCannotEscapeRoot() throws {
        try requireKVM()
        let script = """
            chdir("/") or die "chdir: $!\\n";
            opendir(my $a, "/") or die "a: $!\\n"; my $x = join(",", sort readdir $a);
            opendir(my $b, "/../../..") or die "b: $!\\n"; my $y = join(",", sort readdir $b);
            opendir(my $c, "../../..") or die "c: $!\\n"; my $z = join(",", sort readdir $c);
            print $x eq $y ? "same\\n" : "differ: [$x] vs [$y]\\n";
            print $x eq $z ? "same\\n" : "differ: [$x] vs [$z]\\n";
            print length($x) > 5 ? "nonempty\\n" : "empty\\n";
            """
        let r = try revenant(["run", "--", Self.perl, "-e", script])
        assertGuest(r, status: 0, stdout: "same\nsame\nnonempty\n", stderr: "")
    }

    func testSymlinksResolveInsideTheSandbox() throws {
        try requireKVM()
        let fm = FileManager.default
        let hostName = "revenant-symlink-target-\(uniq()).txt"
        let hostPath = "/tmp/" + hostName
        let etcName = "revenant-etclink-\(uniq())"
        hostLeftovers += [hostPath, "/etc/" + etcName]
        XCTAssertTrue(fm.createFile(atPath: hostPath, contents: Data("host secret\n".utf8)))
        try fm.createSymbolicLink(atPath: workDir.appendingPathComponent("tmplink").path, withDestinationPath: "/tmp")
        try fm.createSymbolicLink(
            atPath: workDir.appendingPathComponent("escape").path,
            withDestinationPath: "../../../../../../tmp/" + hostName)
        try fm.createSymbolicLink(atPath: workDir.appendingPathComponent("etclink").path, withDestinationPath: "/etc")
        let script = """
            print -e "tmplink/\(hostName)" ? "tmplink: visible\\n" : "tmplink: hidden\\n";
            print -e "escape" ? "escape: visible\\n" : "escape: hidden\\n";
            my $r; open($r, "<", "escape") and print "escape read: ", scalar(<$r>) or print "escape read: $!\\n";
            open(my $w, ">", "escape") or die "escape write: $!\\n"; print $w "guest\\n"; close $w;
            open(my $e, ">", "etclink/\(etcName)") and print "etclink: opened\\n" or print "etclink: $!\\n";
            """
        let r = try revenant(["run", "--", Self.perl, "-e", script])
        assertGuest(
            r, status: 0,
            stdout:
                "tmplink: hidden\nescape: hidden\n"
                + "escape read: No such file or directory\netclink: Read-only file system\n",
            stderr: "")
        XCTAssertEqual(
            try? String(contentsOfFile: hostPath, encoding: .utf8), "host secret\n",
            "writing through the `escape` symlink reached the host's /tmp")
        XCTAssertFalse(fm.fileExists(atPath: "/etc/" + etcName), "writing through `etclink` reached the host's /etc")
    }

    // MARK: - Sandbox: /proc/self

    func testProcSelfIsVirtualised() throws {
        try requireKVM()
        let script =
            #"print readlink("/proc/self/exe") // "undef:$!", "\n", $^X, "\n", "#
            + #"(-e "/proc/self/maps" ? "maps visible" : "maps hidden"), "\n""#
        // Found through PATH, so $^X has to come from /proc/self/exe.
        let r = try revenant(["run", "--", "perl", "-e", script])
        assertGuest(r, status: 0, stdout: "/usr/bin/perl\n/usr/bin/perl\nmaps hidden\n", stderr: "")
    }

    // MARK: - Sandbox: --rw and --ro

    /// `--rw` of a second temporary directory (a sibling of the working directory, both nested
    /// under the host's temp directory).
    func testRwMountIsWritable() throws {
        try requireKVM()
        let extra = base.appendingPathComponent("extra-rw")
        try FileManager.default.createDirectory(at: extra, withIntermediateDirectories: true)
        try checkRwMount(extra)
    }

    /// `--rw` of a directory directly under /tmp (so it sits right inside the private /tmp).
    func testRwMountDirectlyUnderTmp() throws {
        try requireKVM()
        let extra = URL(fileURLWithPath: "/tmp/revenant-rw-\(uniq())")
        hostLeftovers.append(extra.path)
        try FileManager.default.createDirectory(at: extra, withIntermediateDirectories: true)
        try checkRwMount(extra)
    }

    private func checkRwMount(_ extra: URL, file: StaticString = #filePath, line: UInt = #line) throws {
        let target = extra.appendingPathComponent("from-guest.txt").path
        let script = """
            open(my $f, ">", "\(target)") or die "open: $!\\n"; print $f "rw ok\\n"; close $f or die; print "wrote\\n";
            opendir(my $d, "\(extra.path)") or die "opendir: $!\\n"; print join(",", sort readdir $d), "\\n";
            """
        let r = try revenant(["run", "--rw", extra.path, "--", Self.perl, "-e", script])
        assertGuest(r, status: 0, stdout: "wrote\n.,..,from-guest.txt\n", stderr: "", file: file, line: line)
        XCTAssertEqual(try? String(contentsOfFile: target, encoding: .utf8), "rw ok\n", file: file, line: line)

        // Without --rw the same path is not writable: read-only host, or, under /tmp, absent
        // from the private /tmp.
        try? FileManager.default.removeItem(atPath: target)
        let script2 = """
            open(my $f, ">", "\(target)") and print "opened\\n" or print "$!\\n";
            """
        let expected = extra.path.hasPrefix("/tmp/") ? "No such file or directory\n" : "Read-only file system\n"
        let r2 = try revenant(["run", "--", Self.perl, "-e", script2])
        assertGuest(r2, status: 0, stdout: expected, stderr: "", file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: target), file: file, line: line)
    }

    func testRoMountInsideWorkingDirectoryIsReadOnly() throws {
        try requireKVM()
        let sub = workDir.appendingPathComponent("sub")
        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
        try writeWorkFile("sub/keep.txt", "keep\n", mode: 0o644)
        let script = """
            open(my $f, ">", "sub/new.txt") and print "opened\\n" or print "new: $!\\n";
            unlink("sub/keep.txt") and print "unlinked\\n" or print "unlink: $!\\n";
            my $r; open($r, "<", "sub/keep.txt") and print "read: ", scalar(<$r>) or print "read: $!\\n";
            open(my $g, ">", "outside-sub.txt") or die "cwd: $!\\n"; print $g "x"; close $g; print "cwd ok\\n";
            """
        let r = try revenant(["run", "--ro", sub.path, "--", Self.perl, "-e", script])
        assertGuest(
            r, status: 0,
            stdout: "new: Read-only file system\nunlink: Read-only file system\nread: keep\ncwd ok\n",
            stderr: "")
        XCTAssertFalse(FileManager.default.fileExists(atPath: sub.appendingPathComponent("new.txt").path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: sub.appendingPathComponent("keep.txt").path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: workDir.appendingPathComponent("outside-sub.txt").path))
    }

    // MARK: - Environment

    func testEnvFlagSetsVariable() throws {
        try requireKVM()
        let r = try revenant(["run", "--env", "FOO=bar", "--", Self.perl, "-e", #"print "$ENV{FOO}\n""#])
        assertGuest(r, status: 0, stdout: "bar\n", stderr: "")
        // --env overrides an inherited value; a value may contain '='.
        let r2 = try revenant(
            ["run", "--env", "FOO=bar=baz", "--", Self.perl, "-e", #"print "$ENV{FOO}\n""#],
            extraEnvironment: ["FOO": "from-host"])
        assertGuest(r2, status: 0, stdout: "bar=baz\n", stderr: "")
    }

    func testClearEnv() throws {
        try requireKVM()
        let r = try revenant([
            "run", "--clear-env", "--env", "ONLY=1", "--", Self.perl, "-e",
            #"print join(",", sort keys %ENV), "\n""#,
        ])
        assertGuest(r, status: 0, stdout: "ONLY\n", stderr: "")
    }

    func testCallerEnvironmentPassesThrough() throws {
        try requireKVM()
        let name = "REVENANT_SBX_\(uniq().uppercased())"
        let value = "value with spaces = \(uniq())"
        let r = try revenant(
            ["run", "--", Self.perl, "-e", "print \"$ENV{\(name)}\\n\""],
            extraEnvironment: [name: value])
        assertGuest(r, status: 0, stdout: value + "\n", stderr: "")
    }

    // MARK: - Network

    func testNoNetworkByDefault() throws {
        try requireKVM()
        let r = try revenant([
            "run", "--", Self.perl, "-e",
            #"use Socket; socket(my $s, PF_INET, SOCK_STREAM, 0) ? print "ok\n" : print "$!\n""#,
        ])
        assertGuest(r, status: 0, stdout: "Permission denied\n", stderr: "")
    }

    func testNetFlagAllowsSockets() throws {
        try requireKVM()
        let r = try revenant([
            "run", "--net", "--", Self.perl, "-e",
            #"use Socket; socket(my $s, PF_INET, SOCK_STREAM, 0) ? print "ok\n" : print "$!\n""#,
        ])
        assertGuest(r, status: 0, stdout: "ok\n", stderr: "")
    }

    // MARK: - Memory cap

    func testMemoryCapStopsHugeAllocation() throws {
        try requireKVM()
        let r = try revenant([
            "run", "--memory", "256M", "--", Self.perl, "-e",
            #"$x = "a" x (400*1024*1024); print "big\n""#,
        ])
        XCTAssertFalse(r.timedOut, r.describe)
        XCTAssertFalse(r.stdout.contains("big"), "allocation beyond --memory succeeded; " + r.describe)
        XCTAssertNotEqual(r.status, 0, r.describe)
        XCTAssertNotEqual(r.status, 125, "Revenant itself failed; " + r.describe)
        XCTAssertTrue(r.stderr.contains("Out of memory!"), "perl should report 'Out of memory!'; " + r.describe)
    }

    func testMemoryOneGigabyteAllowsLargeString() throws {
        try requireKVM()
        let r = try revenant([
            "run", "--memory", "1G", "--", Self.perl, "-e",
            #"$x = "a" x (200*1024*1024); print length($x), "\n""#,
        ])
        assertGuest(r, status: 0, stdout: "209715200\n", stderr: "")
    }

    // MARK: - stdin

    func testStdinPipe() throws {
        try requireKVM()
        let r = try revenant(["run", "--", Self.perl, "-ne", "print uc"], stdin: Data("abc\n".utf8))
        assertGuest(r, status: 0, stdout: "ABC\n", stderr: "")
    }

    // MARK: - -v and info

    func testVerboseNamesTrapStrategy() throws {
        try requireKVM()
        let r = try revenant(["run", "-v", "--", Self.perl, "-e", #"print "x\n""#])
        XCTAssertEqual(r.status, 0, r.describe)
        XCTAssertEqual(r.stdout, "x\n", r.describe)
        let lines = r.stderrLines.filter { $0.contains("trap strategy") }
        XCTAssertEqual(lines.count, 1, "expected one stderr line naming the trap strategy; " + r.describe)
        if FileManager.default.fileExists(atPath: "/sys/module/kvm_pvm"), let line = lines.first {
            XCTAssertTrue(line.contains("pvm-user-stub"), "PVM host, but: \(line)")
        }
    }

    func testInfoPrintsTrapStrategy() throws {
        try requireKVM()
        let r = try revenant(["info"])
        XCTAssertEqual(r.status, 0, r.describe)
        let lines = r.stdout.split(separator: "\n").map(String.init).filter { $0.contains("trap strategy:") }
        XCTAssertEqual(lines.count, 1, "expected one 'trap strategy:' line; " + r.describe)
        if FileManager.default.fileExists(atPath: "/sys/module/kvm_pvm"), let line = lines.first {
            XCTAssertTrue(line.contains("pvm-user-stub"), "PVM host, but: \(line)")
        }
    }

    // MARK: - Helpers: assertions

    /// Revenant's own failure: exact status, nothing on stdout, exactly one stderr line
    /// starting with "revenant: " that contains every string in `contains`.
    private func assertOwnError(
        _ r: SBXRunResult, status: Int32, contains: [String],
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertEqual(r.status, status, r.describe, file: file, line: line)
        XCTAssertEqual(r.stdout, "", r.describe, file: file, line: line)
        let l = assertSingleRevenantLine(r, file: file, line: line)
        assertContains(l, contains, r, file: file, line: line)
    }

    /// Exactly one stderr line, starting with "revenant: ", newline-terminated; returns it.
    @discardableResult
    private func assertSingleRevenantLine(
        _ r: SBXRunResult, file: StaticString = #filePath, line: UInt = #line
    ) -> String {
        XCTAssertFalse(r.timedOut, r.describe, file: file, line: line)
        XCTAssertEqual(r.stderrLines.count, 1, "stderr must be exactly one line; " + r.describe, file: file, line: line)
        XCTAssertTrue(
            r.stderr.hasSuffix("\n"), "stderr line must end with a newline; " + r.describe, file: file, line: line)
        let first = r.stderrLines.first ?? ""
        XCTAssertTrue(
            first.hasPrefix("revenant: "), "stderr line must start with 'revenant: '; " + r.describe, file: file,
            line: line)
        return first
    }

    private func assertContains(
        _ text: String, _ needles: [String], _ r: SBXRunResult,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        for n in needles {
            XCTAssertTrue(text.contains(n), "expected \"\(n)\" in \"\(text)\"; " + r.describe, file: file, line: line)
        }
    }

    private func assertMatches(
        _ text: String, _ pattern: String, _ r: SBXRunResult,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        let matched = text.range(of: pattern, options: .regularExpression) != nil
        XCTAssertTrue(matched, "expected /\(pattern)/ in \"\(text)\"; " + r.describe, file: file, line: line)
    }

    /// A guest run: exact status, stdout and stderr.
    private func assertGuest(
        _ r: SBXRunResult, status: Int32, stdout: String, stderr: String,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertFalse(r.timedOut, r.describe, file: file, line: line)
        XCTAssertEqual(r.status, status, "status; " + r.describe, file: file, line: line)
        XCTAssertEqual(r.stdout, stdout, "stdout; " + r.describe, file: file, line: line)
        XCTAssertEqual(r.stderr, stderr, "stderr; " + r.describe, file: file, line: line)
    }

    // MARK: - Helpers: files, compiling, running

    private func uniq() -> String {
        String(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12)).lowercased()
    }

    @discardableResult
    private func writeWorkFile(_ name: String, _ contents: String, mode: Int) throws -> URL {
        let url = workDir.appendingPathComponent(name)
        try Data(contents.utf8).write(to: url)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: url.path)
        return url
    }

    /// Compiles NAME.c into NAME in the working directory with `cc -O0` (a dynamic PIE).
    private func compileC(_ name: String, _ source: String) throws {
        let cc = ["/usr/bin/cc", "/usr/bin/gcc", "/usr/local/bin/cc"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
        guard let cc else { throw XCTSkip("no C compiler (cc) on this host; cannot build the crash program") }
        try writeWorkFile("\(name).c", source, mode: 0o644)
        let r = try runProcess(executable: cc, arguments: ["-O0", "-o", name, "\(name).c"])
        guard r.status == 0, FileManager.default.isExecutableFile(atPath: workDir.appendingPathComponent(name).path)
        else {
            XCTFail("cc failed to build \(name); " + r.describe)
            throw SBXError("cc failed")
        }
    }

    private func revenant(
        _ arguments: [String], stdin: Data? = nil,
        extraEnvironment: [String: String] = [:]
    ) throws -> SBXRunResult {
        let bin = try revenantBinary()
        let r = try runProcess(
            executable: bin.path, arguments: arguments, stdin: stdin, extraEnvironment: extraEnvironment)
        if r.timedOut {
            XCTFail("revenant timed out after \(Int(Self.timeout)) s; " + r.describe)
        }
        return r
    }

    /// Runs a process in the working directory with stdout/stderr to files, stdin from a pipe
    /// (when `stdin` is given) or /dev/null, and a hard timeout.
    private func runProcess(
        executable: String, arguments: [String], stdin: Data? = nil,
        extraEnvironment: [String: String] = [:]
    ) throws -> SBXRunResult {
        runCounter += 1
        let outURL = outDir.appendingPathComponent("\(runCounter).stdout")
        let errURL = outDir.appendingPathComponent("\(runCounter).stderr")
        let fm = FileManager.default
        guard fm.createFile(atPath: outURL.path, contents: nil), fm.createFile(atPath: errURL.path, contents: nil),
            let out = FileHandle(forWritingAtPath: outURL.path),
            let err = FileHandle(forWritingAtPath: errURL.path)
        else {
            throw SBXError("cannot create output files in \(outDir.path)")
        }
        defer {
            try? out.close()
            try? err.close()
        }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = workDir
        var env = ProcessInfo.processInfo.environment
        for (k, v) in extraEnvironment { env[k] = v }
        process.environment = env
        process.standardOutput = out
        process.standardError = err
        var inputPipe: Pipe? = nil
        var devNull: FileHandle? = nil
        if stdin != nil {
            inputPipe = Pipe()
            process.standardInput = inputPipe
        } else {
            devNull = FileHandle(forReadingAtPath: "/dev/null")
            process.standardInput = devNull
        }
        defer { try? devNull?.close() }

        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        do {
            try process.run()
        } catch {
            throw SBXError("cannot launch \(executable): \(error)")
        }
        if let data = stdin, let pipe = inputPipe {
            // Small payloads only; write then close so the guest sees EOF.
            DispatchQueue.global().async {
                pipe.fileHandleForWriting.write(data)
                try? pipe.fileHandleForWriting.close()
            }
            try? pipe.fileHandleForReading.close()
        }

        var result = SBXRunResult()
        result.command = ([executable] + arguments).map(sbxShellQuote).joined(separator: " ")
        if finished.wait(timeout: .now() + Self.timeout) == .timedOut {
            result.timedOut = true
            let pid = process.processIdentifier
            sbxSignal(pid, SIGTERM)
            if finished.wait(timeout: .now() + 5) == .timedOut {
                sbxSignal(pid, SIGKILL)
                _ = finished.wait(timeout: .now() + 30)
            }
        }
        try? out.synchronize()
        try? err.synchronize()
        if !process.isRunning {
            process.waitUntilExit()
            if process.terminationReason == .uncaughtSignal {
                result.status = 128 + process.terminationStatus
                result.killedBySignal = true
            } else {
                result.status = process.terminationStatus
            }
        }
        result.stdoutData = (try? Data(contentsOf: outURL)) ?? Data()
        result.stderrData = (try? Data(contentsOf: errURL)) ?? Data()
        return result
    }
}

// MARK: - File-private support types

private struct SBXError: Error, CustomStringConvertible, LocalizedError {
    let description: String
    init(_ d: String) { description = d }
    var errorDescription: String? { description }
}

private struct SBXRunResult {
    var command = ""
    var status: Int32 = -1
    var killedBySignal = false
    var timedOut = false
    var stdoutData = Data()
    var stderrData = Data()

    var stdout: String { String(decoding: stdoutData, as: UTF8.self) }
    var stderr: String { String(decoding: stderrData, as: UTF8.self) }
    /// stderr split into lines (a trailing newline does not make an extra empty line).
    var stderrLines: [String] {
        var lines = stderr.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        return lines
    }
    var describe: String {
        var s =
            "command: \(command)\n  status: \(status)\(killedBySignal ? " (revenant itself killed by a signal)" : "")"
        if timedOut { s += " TIMED OUT" }
        s += "\n  stdout: \(stdout.debugDescription.prefix(2000))\n  stderr: \(stderr.debugDescription.prefix(2000))"
        return s
    }
}

private func sbxShellQuote(_ s: String) -> String {
    if !s.isEmpty, s.allSatisfy({ $0.isLetter || $0.isNumber || "-_./=:,+".contains($0) }) { return s }
    return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// Signals the child and, when it leads its own process group, that whole group.
private func sbxSignal(_ pid: pid_t, _ sig: Int32) {
    guard pid > 0 else { return }
    if getpgid(pid) == pid { _ = kill(-pid, sig) }
    _ = kill(pid, sig)
}

import Foundation
import XCTest

/// `revenant when`: hits with their positions at the three levels.
final class WhenTests: ScratchTestCase {
    func testSyscallAndSQLPredicatesWithPositionsAtThreeLevels() throws {
        try requireKVM()
        try """
        use DBI; $| = 1;
        my $dbh = DBI->connect("dbi:SQLite:dbname=bank.db", "", "", { RaiseError => 1 });
        $dbh->do("CREATE TABLE acc(id INTEGER PRIMARY KEY, owner TEXT, balance INTEGER)");
        my $add = $dbh->prepare("INSERT INTO acc(owner, balance) VALUES (?, ?)");
        $add->execute("ann", 10);
        $add->execute("bob", -5);
        print "ERROR: bob is overdrawn\\n";
        print "done\\n";

        """.write(to: base.appendingPathComponent("bank.pl"), atomically: true, encoding: .utf8)
        let rec = try revenant(["record", "-o", "b.rvt", "--", "/usr/bin/perl", "bank.pl"])
        XCTAssertEqual(rec.status, 0, rec.stderr)
        // The write of the error line: data is read from guest memory during the replay.
        let w = try revenant(["when", "b.rvt", "--syscall", "write fd=1 data~ERROR"])
        XCTAssertEqual(w.status, 0, w.stderr)
        let lines = w.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, w.stdout)
        XCTAssertTrue(w.stdout.hasPrefix("event #") && w.stdout.contains("write(1, 0x"), w.stdout)
        XCTAssertTrue(w.stdout.contains("perl bank.pl:7") && w.stdout.contains("SQL #3"), w.stdout)
        // Every open of the database, with the Perl statement that was running (inside DBI).
        let o = try revenant(["when", "b.rvt", "--syscall", "openat path=*bank.db"])
        XCTAssertEqual(o.status, 0, o.stderr)
        XCTAssertTrue(
            o.stdout.contains("openat(") && o.stdout.contains("perl bank.pl:2, in "),
            "the program's own line, then DBI's: \(o.stdout)")
        // Each hit's call reads as `log syscalls` prints that event: the path, not a pointer.
        XCTAssertTrue(o.stdout.contains(#"openat(AT_FDCWD, ""#) && o.stdout.contains(#"bank.db", "#), o.stdout)
        let log = try revenant(["log", "b.rvt", "syscalls"]).stdout.split(separator: "\n").map(String.init)
        for hit in (o.stdout + w.stdout).split(separator: "\n") {
            let event = Int(hit.dropFirst("event #".count).prefix { $0.isNumber })!
            // The hit's position as --at takes it ends the line (Docs/positions.md).
            XCTAssertTrue(hit.hasSuffix("  at event:\(event)"), String(hit))
            let call = hit.dropLast("  at event:\(event)".count).components(separatedBy: ": ").dropFirst()
                .joined(separator: ": ")
            XCTAssertEqual("#\(event) " + call, log[event], "when and log print the same call")
        }
        // A SQL predicate: after the second insert, with its Perl line.
        let q = try revenant(["when", "b.rvt", "--sql", "SELECT min(balance) < 0 FROM acc"])
        XCTAssertEqual(q.status, 0, q.stderr)
        XCTAssertEqual(q.stdout.split(separator: "\n").count, 1, q.stdout)
        XCTAssertTrue(q.stdout.contains("perl bank.pl:6") && q.stdout.contains("INSERT INTO acc"), q.stdout)
        // A function the SQLite shim wraps: one hit per call the program made, in libsqlite3 (the
        // shim's wrapper is hidden unless --include-shims).
        let prepares = try revenant(["when", "b.rvt", "--symbol", "sqlite3_prepare_v2"])
        XCTAssertEqual(prepares.status, 0, prepares.stderr)
        let shown = prepares.stdout.split(separator: "\n")
        XCTAssertFalse(shown.isEmpty)
        XCTAssertTrue(shown.allSatisfy { $0.contains("(libsqlite3.so") }, prepares.stdout)
        let withShims = try revenant(["when", "b.rvt", "--symbol", "sqlite3_prepare_v2", "--include-shims"])
        let all = withShims.stdout.split(separator: "\n")
        XCTAssertEqual(all.count, 2 * shown.count, all.joined(separator: "\n"))
        XCTAssertEqual(all.filter { $0.contains("(librevenant_sqlite.so") }.count, shown.count)
        // --first stops at the first hit (and the replay there).
        let firstOpen = try revenant(["when", "b.rvt", "--syscall", "openat", "--first"])
        XCTAssertEqual(firstOpen.status, 0, firstOpen.stderr)
        XCTAssertEqual(firstOpen.stdout.split(separator: "\n").count, 1, firstOpen.stdout)
        // No hit: exit 1. Unknown or unsupported predicates: one line, 125.
        XCTAssertEqual(try revenant(["when", "b.rvt", "--syscall", "openat path=*.nothing"]).status, 1)
        for bad in [["--syscall", "openat colour=red"], ["--perl", "$x >"], ["--perl", "foo($x)"]] {
            let r = try revenant(["when", "b.rvt"] + bad)
            XCTAssertEqual(r.status, 125, r.stderr)
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        }
    }
}

/// `when --watch`: the VMM reads the watched bytes at every event of the replay.
final class WatchTests: ScratchTestCase {
    func testWatchReportsEveryChangeAtTheEventAfterIt() throws {
        try requireKVM()
        try """
        #include <stdio.h>
        #include <unistd.h>
        static volatile long counter;
        int main(void) {
            printf("%p\\n", (void *)&counter);
            fflush(stdout);
            for (int i = 0; i < 3; i++) {
                counter += 10;
                write(1, "tick\\n", 5);
            }
            return 0;
        }
        """.write(to: base.appendingPathComponent("w.c"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try run("/usr/bin/gcc", ["-O1", "-o", "w", "w.c"]).status, 0)
        let rec = try revenant(["record", "-o", "w.rvt", "--", "./w"])
        XCTAssertEqual(rec.status, 0, rec.stderr)
        let address = String(rec.stdout.split(separator: "\n")[0])
        let w = try revenant(["when", "w.rvt", "--watch", address + ":8", "--watch", address + ":1"])
        XCTAssertEqual(w.status, 0, w.stderr)
        let lines = w.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 6, w.stdout)
        // Each change shows at the write that follows it (the events are the three ticks).
        let ticks = try revenant(["log", "w.rvt", "syscalls"]).stdout.split(separator: "\n").filter {
            $0.contains("write(1, ") && $0.hasSuffix("= 5")
        }
        let tickEvents = ticks.compactMap { $0.split(separator: " ").first.map { String($0.dropFirst()) } }
        XCTAssertEqual(tickEvents.count, 3)
        XCTAssertEqual(
            lines.filter { $0.contains(":8 ") }.map { String($0.split(separator: ":")[0].dropFirst(7)) }, tickEvents,
            w.stdout)
        // Each line ends with the return before the change, as --at takes it (Docs/positions.md).
        XCTAssertTrue(
            lines[0].hasSuffix("0000000000000000 -> 0a00000000000000  at event:\(Int(tickEvents[0])! - 1)")
                || lines[1].hasSuffix("0000000000000000 -> 0a00000000000000  at event:\(Int(tickEvents[0])! - 1)"),
            w.stdout)
        XCTAssertTrue(w.stdout.contains(":8 1400000000000000 -> 1e00000000000000"), w.stdout)
        let first = try revenant(["when", "w.rvt", "--watch", address + ":8", "--first"])
        XCTAssertEqual(first.stdout.split(separator: "\n").count, 1, first.stdout)
        // Unchanged (here never mapped) guest memory: no hit, exit 1. A bad spec, or an address the
        // guest cannot have: one line, 125.
        XCTAssertEqual(try revenant(["when", "w.rvt", "--watch", "0x1000300000:8"]).status, 1)
        for spec in ["lots", "0x1000:8", "0x10:0", "0xffffffffffffffff:4096"] {
            assertOneLine(
                try revenant(["when", "w.rvt", "--watch", spec]), 125,
                containing: ["--watch \(spec)"], spec)
        }
    }

    /// `when --symbol`: software breakpoints (int3) at a function of the program and at one of
    /// libperl, as many hits as calls, the replay unchanged, and the exact Perl statement.
    func testSymbolBreakpointsHitEveryCallWithTheirStatement() throws {
        try requireKVM()
        try """
        #include <stdio.h>
        #include <unistd.h>
        __attribute__((noinline)) long tick(long x) { write(1, "tick\\n", 5); return x * 3 + 1; }
        int main(void) {
            long v = 1;
            for (int i = 0; i < 3; i++) v = tick(v);
            printf("v=%ld\\n", v);
            return 0;
        }
        """.write(to: base.appendingPathComponent("s.c"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try run("/usr/bin/gcc", ["-O1", "-o", "s", "s.c"]).status, 0)
        XCTAssertEqual(try revenant(["record", "-o", "s.rvt", "--", "./s"]).stdout, "tick\ntick\ntick\nv=40\n")
        let c = try revenant(["when", "s.rvt", "--symbol", "tick"])
        XCTAssertEqual(c.status, 0, c.stderr)
        let lines = c.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 3, c.stdout)
        XCTAssertTrue(lines.allSatisfy { $0.contains(": tick at 0x") && $0.contains("tick+0x0") }, c.stdout)
        XCTAssertEqual(
            Set(lines.map { $0.split(separator: ":")[0] }).count, 3, "each call before its own write: \(c.stdout)")
        XCTAssertEqual(
            try revenant(["when", "s.rvt", "--symbol", "tick", "--first"]).stdout.split(separator: "\n").count, 1)
        let none = try revenant(["when", "s.rvt", "--symbol", "no_such_function"])
        XCTAssertEqual(none.status, 1)
        XCTAssertEqual(none.stderr.split(separator: "\n").count, 1, none.stderr)

        try """
        my @words = qw(a b);
        for my $w (@words) {
            print "word $w\\n";
            my $n = length $w;
            print "length $n\\n";
        }

        """.write(to: base.appendingPathComponent("p.pl"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try revenant(["record", "-o", "p.rvt", "--", "/usr/bin/perl", "p.pl"]).status, 0)
        let p = try revenant(["when", "p.rvt", "--symbol", "Perl_pp_print"])
        XCTAssertEqual(p.status, 0, p.stderr)
        // Output is buffered: all four prints happen between the same two events; the channel
        // still names each one's statement.
        let at = p.stdout.split(separator: "\n").map {
            $0.components(separatedBy: ", perl ")[1].components(separatedBy: ":")[0...1].joined(separator: ":")
        }
        XCTAssertEqual(at, ["p.pl:3", "p.pl:5", "p.pl:3", "p.pl:5"], p.stdout)
    }
}

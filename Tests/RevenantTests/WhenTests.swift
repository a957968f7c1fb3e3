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
        XCTAssertTrue(w.stdout.hasPrefix("event #") && w.stdout.contains("write(0x1"), w.stdout)
        XCTAssertTrue(w.stdout.contains("perl bank.pl:7") && w.stdout.contains("SQL #3"), w.stdout)
        // Every open of the database, with the Perl statement that was running (inside DBI).
        let o = try revenant(["when", "b.rvt", "--syscall", "openat path=*bank.db"])
        XCTAssertEqual(o.status, 0, o.stderr)
        XCTAssertTrue(o.stdout.contains("openat(") && o.stdout.contains("perl bank.pl:2, in "), "the program's own line, then DBI's: \(o.stdout)")
        // A SQL predicate: after the second insert, with its Perl line.
        let q = try revenant(["when", "b.rvt", "--sql", "SELECT min(balance) < 0 FROM acc"])
        XCTAssertEqual(q.status, 0, q.stderr)
        XCTAssertEqual(q.stdout.split(separator: "\n").count, 1, q.stdout)
        XCTAssertTrue(q.stdout.contains("perl bank.pl:6") && q.stdout.contains("INSERT INTO acc"), q.stdout)
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

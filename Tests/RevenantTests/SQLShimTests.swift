import Foundation
import XCTest

/// The SQLite shim in the VM, the regenerated query log, and time travel in databases.
final class SQLShimTests: ScratchTestCase {
    func file(_ name: String, _ text: String) throws -> String {
        let url = base.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func sqlLog(_ trace: String, _ extra: [String] = []) throws -> [[String: Any]] {
        let r = try revenant(["log", trace, "sql", "--jsonl"] + extra)
        XCTAssertEqual(r.status, 0, r.stderr)
        return r.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    func requireShim() throws { try requireSQLiteShim() }

    static let session = """
        CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, v REAL);
        CREATE TABLE audit(n INTEGER);
        CREATE TRIGGER tr AFTER INSERT ON t BEGIN INSERT INTO audit VALUES (new.id); END;
        INSERT INTO t(name, v) VALUES ('a', 0.1);
        INSERT INTO t(name, v) VALUES ('b', 0.2);
        BEGIN;
        INSERT INTO t(name, v) VALUES ('c', 0.30000000000000004);
        UPDATE t SET v = v * 2 WHERE name = 'a';
        COMMIT;
        DELETE FROM t WHERE name = 'b';
        SELECT count(*) FROM audit;
        INSERT INTO t(name, v) VALUES ('d', 4);
        SELECT name FROM t ORDER BY id;

        """

    /// The query log: each statement once, in order, with its result; trigger entries marked
    /// under the statement that fired them; the tables each read and wrote.
    func testQueryLogFromTheCLI() throws {
        try requireShim()
        let s = try file(
            "s.sql", SQLShimTests.session + "SELECT random(), hex(randomblob(4)), datetime('now') > '2000';\n")
        let rec = try revenant(["record", "-o", "s.rvt", "--", "/usr/bin/sqlite3", "test.db"], stdin: s)
        XCTAssertEqual(rec.status, 0, rec.stderr)
        let log = try sqlLog("s.rvt")
        let sqls = log.compactMap { $0["sql"] as? String }
        let expected = SQLShimTests.session.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
        XCTAssertEqual(Array(sqls.prefix(expected.count)), expected, "every statement once, in order")
        let inserts = log.filter { ($0["sql"] as? String)?.hasPrefix("INSERT INTO t(") == true }
        XCTAssertEqual(inserts.count, 4)
        for i in inserts {
            XCTAssertEqual((i["triggers"] as? [String])?.count ?? 0, 2, "the trigger and its body, marked: \(i)")
            XCTAssertEqual(i["changes"] as? Int, 1)
            XCTAssertEqual(
                Set(i["tables_written"] as? [String] ?? []), ["t", "audit"], "the trigger's table too: \(i)")
        }
        XCTAssertFalse(
            sqls.contains { $0.hasPrefix("--") || $0.hasPrefix("INSERT INTO audit") },
            "trigger bodies are not top-level statements")
        let delete = log.first { ($0["sql"] as? String)?.hasPrefix("DELETE") == true }
        XCTAssertEqual(delete?["changes"] as? Int, 1)
        XCTAssertEqual(delete?["tables_written"] as? [String], ["t"])
        let count = log.first { ($0["sql"] as? String) == "SELECT count(*) FROM audit;" }
        XCTAssertEqual(count?["rows"] as? Int, 1)
        XCTAssertEqual(count?["tables_read"] as? [String], ["audit"])
        // random(): the regenerated value is the one the CLI printed.
        let printed = rec.stdout.split(separator: "\n").last.map(String.init) ?? ""
        let random = printed.split(separator: "|").first.map(String.init)
        let r = try revenant(["log", "s.rvt", "sql", "--where", "sql~random()"])
        XCTAssertEqual(r.status, 0)
        let db = base.appendingPathComponent("s.rvt/index.sqlite").path
        let stored = try run("/usr/bin/sqlite3", [db, "SELECT random FROM sql_log WHERE sql LIKE 'SELECT random()%'"])
            .stdout
        let hex =
            stored.trimmingCharacters(in: CharacterSet(charactersIn: "[]\"\n")).split(separator: "\"").first.map(
                String.init) ?? ""
        let bytes = stride(from: 0, to: min(16, hex.count), by: 2).map {
            UInt8(hex.dropFirst($0).prefix(2), radix: 16) ?? 0
        }
        let value = bytes.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        XCTAssertEqual(String(Int64(bitPattern: value)), random, "random() as logged = as printed")
    }

    /// Time travel: the last statement gives the file the live run left, byte for byte (and the
    /// machine-level reconstruction agrees); every statement outside a transaction gives the file
    /// a native run of the session cut after it leaves.
    func testRestoreMatchesTheLiveFileAndNativeCuts() throws {
        try requireShim()
        let s = try file("s.sql", SQLShimTests.session)
        XCTAssertEqual(
            try revenant(["record", "-o", "t.rvt", "--", "/usr/bin/sqlite3", "test.db"], stdin: s).status, 0)
        let live = try Data(contentsOf: base.appendingPathComponent("test.db"))
        let log = try sqlLog("t.rvt")
        let last = log.count - 1
        let r = try revenant(["sql", "t.rvt", "--at", String(last), "--restore", "last.db"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("byte-identical"), r.stdout)
        XCTAssertEqual(
            try Data(contentsOf: base.appendingPathComponent("last.db")), live,
            "restore at the last statement = the live file")
        // Native cuts: the session's first n+1 statements run by the real sqlite3 on a fresh file.
        let statements = SQLShimTests.session.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
        var inTransaction = false
        var compared = 0
        for n in 0..<statements.count {
            if statements[n] == "BEGIN;" { inTransaction = true }
            if statements[n] == "COMMIT;" {
                inTransaction = false
                continue
            }
            if inTransaction { continue }
            let cut = try file("cut\(n).sql", statements[0...n].joined(separator: "\n") + "\n")
            try? FileManager.default.removeItem(at: base.appendingPathComponent("native\(n).db"))
            XCTAssertEqual(try run("/usr/bin/sqlite3", ["native\(n).db"], stdin: cut).status, 0)
            let restored = try revenant([
                "sql", "t.rvt", "--at", String(n), "--restore", "r\(n).db", "--no-machine-check",
            ])
            XCTAssertEqual(restored.status, 0, restored.stderr)
            XCTAssertEqual(
                try Data(contentsOf: base.appendingPathComponent("r\(n).db")),
                try Data(contentsOf: base.appendingPathComponent("native\(n).db")), "statement \(n): \(statements[n])")
            compared += 1
        }
        XCTAssertGreaterThan(compared, 8)
        // Inside the transaction: what the connection saw (the uncommitted insert included).
        let inside = statements.firstIndex(of: "UPDATE t SET v = v * 2 WHERE name = 'a';")!
        let t = try revenant(["sql", "t.rvt", "--at", String(inside), "--restore", "inside.db"])
        XCTAssertTrue(t.stdout.contains("open transaction"), t.stdout)
        XCTAssertEqual(
            try run("/usr/bin/sqlite3", ["inside.db", "SELECT group_concat(name) FROM t"]).stdout, "a,b,c\n")
    }

    /// --when: the statements after which a query becomes true.
    func testWhenAQueryBecomesTrue() throws {
        try requireShim()
        let s = try file("s.sql", SQLShimTests.session)
        XCTAssertEqual(
            try revenant(["record", "-o", "w.rvt", "--", "/usr/bin/sqlite3", "test.db"], stdin: s).status, 0)
        let r = try revenant(["sql", "w.rvt", "--when", "SELECT count(*) >= 3 FROM t"])
        XCTAssertEqual(r.status, 0, r.stderr)
        // True after 'c' is inserted, false after the DELETE, true again after 'd'.
        XCTAssertEqual(
            r.stdout.split(separator: "\n").map { $0.split(separator: " ", maxSplits: 1).last.map(String.init) ?? "" },
            ["INSERT INTO t(name, v) VALUES ('c', 0.30000000000000004);", "INSERT INTO t(name, v) VALUES ('d', 4);"])
        let f = try revenant(["sql", "w.rvt", "--when", "SELECT count(*) >= 3 FROM t", "--first"])
        XCTAssertEqual(f.stdout.split(separator: "\n").count, 1)
        XCTAssertEqual(
            try revenant(["sql", "w.rvt", "--when", "SELECT count(*) > 100 FROM t"]).status, 1, "never true: exit 1")
    }

    /// Perl + DBD::SQLite: each statement is attributed to the Perl line that ran it, with exact
    /// bindings; the database restores byte for byte.
    func testPerlDBIStatementsAreAttributedToPerlLines() throws {
        try requireShim()
        let p = try file(
            "dbi.pl",
            """
            use DBI;
            my $dbh = DBI->connect("dbi:SQLite:dbname=app.db", "", "", { RaiseError => 1, AutoCommit => 1 });
            $dbh->do("CREATE TABLE acc(id INTEGER PRIMARY KEY, owner TEXT, balance REAL)");
            my $ins = $dbh->prepare("INSERT INTO acc(owner, balance) VALUES (?, ?)");
            $ins->execute("ann", 0.1 + 0.2);
            $ins->execute("bob\\0x", -5);
            $dbh->do("UPDATE acc SET balance = balance - 10 WHERE owner = 'ann'");
            print "done\\n";

            """)
        let rec = try revenant(["record", "-o", "p.rvt", "--", "/usr/bin/perl", p])
        XCTAssertEqual(rec.status, 0, rec.stderr)
        let log = try sqlLog("p.rvt", ["--where", "table=acc"])
        let inserts = log.filter { ($0["sql"] as? String)?.hasPrefix("INSERT") == true }
        XCTAssertEqual(inserts.count, 2)
        XCTAssertEqual(
            inserts.compactMap { ($0["perl"] as? String)?.split(separator: "/").last.map(String.init) },
            ["dbi.pl:5", "dbi.pl:6"])
        let b0 = inserts[0]["bindings"] as? [Any]
        XCTAssertEqual(b0?.first as? String, "ann")
        XCTAssertEqual(b0?.last as? String, "0.3", "what DBD bound: perl's string for 0.1 + 0.2, as text")
        XCTAssertEqual((inserts[1]["bindings"] as? [Any])?.first as? String, "bob\u{0}x", "text with a NUL")
        let update = log.first { ($0["sql"] as? String)?.hasPrefix("UPDATE") == true }
        XCTAssertTrue(
            (update?["perl_caller"] as? String)?.hasSuffix("dbi.pl:7") == true,
            "do() runs inside DBD's own sub: the caller line: \(String(describing: update))")
        let all = try sqlLog("p.rvt")
        let r = try revenant(["sql", "p.rvt", "--db", "app.db", "--at", String(all.count - 1), "--restore", "back.db"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(
            try Data(contentsOf: base.appendingPathComponent("back.db")),
            try Data(contentsOf: base.appendingPathComponent("app.db")))
    }

    /// Every corpus session: restored at its last statement it is the file the live run left,
    /// byte for byte; for sessions whose statements carry no bindings, restored at every
    /// statement outside a transaction it is the file the real sqlite3 leaves after running the
    /// logged statements up to that one on a fresh file.
    func testCorpusSessionsRestoreExactly() throws {
        try requireShim()
        let corpus = packageRootDirectory().appendingPathComponent("Tests/Corpus")
        let sessions = try FileManager.default.contentsOfDirectory(atPath: corpus.appendingPathComponent("sqlite").path)
            .filter { $0.hasSuffix(".sql") }.sorted()
        var failures: [String] = []
        var cuts = 0
        for session in sessions {
            let name = String(session.dropLast(4))
            let work = base.appendingPathComponent("c-\(name)")
            try FileManager.default.copyItem(at: corpus.appendingPathComponent("fixtures"), to: work)
            let trace = base.appendingPathComponent("\(name).rvt").path
            let rec = try run(
                try revenantBinary().path, ["record", "-o", trace, "--", "/usr/bin/sqlite3", "test.db"],
                stdin: corpus.appendingPathComponent("sqlite/\(session)").path, in: work)
            guard rec.status < 124 else {
                failures.append("\(name): record failed: \(rec.stderr)")
                continue
            }
            let log = try sqlLog(trace, ["--where", "db=*/test.db"])
            guard let last = log.last?["seq"] as? Int else {
                failures.append("\(name): no statement on test.db")
                continue
            }
            let out = base.appendingPathComponent("\(name)-last.db").path
            let r = try revenant(["sql", trace, "--db", "test.db", "--at", String(last), "--restore", out])
            if r.status != 0 {
                failures.append("\(name): restore at \(last): \(r.stderr)")
                continue
            }
            if (try? Data(contentsOf: URL(fileURLWithPath: out)))
                != (try? Data(contentsOf: work.appendingPathComponent("test.db")))
            {
                failures.append("\(name): restored at the last statement (\(last)) differs from the live test.db")
            }
            // Native cuts for deterministic sessions (no mask) whose statements carry no bindings.
            let masked = FileManager.default.fileExists(
                atPath: corpus.appendingPathComponent("sqlite/\(name).mask").path)
            guard !masked, log.allSatisfy({ ($0["bindings"] as? [Any])?.isEmpty ?? false }) else { continue }
            var texts: [String] = []
            for entry in log {
                guard let seq = entry["seq"] as? Int, let sql = entry["sql"] as? String else { continue }
                texts.append(sql.hasSuffix(";") ? sql : sql + ";")
                let restored = base.appendingPathComponent("\(name)-\(seq).db").path
                let t = try revenant([
                    "sql", trace, "--db", "test.db", "--at", String(seq), "--restore", restored, "--no-machine-check",
                ])
                guard t.status == 0 else {
                    failures.append("\(name): restore at \(seq): \(t.stderr)")
                    break
                }
                if t.stdout.contains("open transaction") { continue }
                // Each cut in a fresh folder: attached databases must start from nothing too.
                let folder = base.appendingPathComponent("\(name)-\(seq)-native")
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                let native = folder.appendingPathComponent("test.db").path
                let cut = try file("\(name)-\(seq).sql", texts.joined(separator: "\n") + "\n")
                _ = try run("/usr/bin/sqlite3", [native], stdin: cut, in: folder)
                if (try? Data(contentsOf: URL(fileURLWithPath: restored)))
                    != (try? Data(contentsOf: URL(fileURLWithPath: native)))
                {
                    failures.append(
                        "\(name): statement \(seq) (\(texts.last ?? "")) restores to another file than the native cut")
                }
                cuts += 1
            }
        }
        XCTAssertEqual(failures, [], failures.joined(separator: "\n"))
        XCTAssertGreaterThan(cuts, 100, "cut comparisons made")
        print(
            "[sql corpus] \(sessions.count) sessions restored at their last statement; "
                + "\(cuts) statements compared with native cuts"
        )
    }

    /// `--restore OUT` writes a temporary beside OUT and renames it into place: it never writes
    /// into a device, a directory or the trace it reads, and never follows a symlink it replaces.
    func testRestoreReplacesOnlyWhatItMay() throws {
        try requireShim()
        let s = try file("s.sql", "CREATE TABLE t(x);\nINSERT INTO t VALUES (1);\n")
        XCTAssertEqual(
            try revenant(["record", "-o", "r.rvt", "--", "/usr/bin/sqlite3", "r.db"], stdin: s).status, 0)
        let fm = FileManager.default
        func path(_ p: String) -> String { base.appendingPathComponent(p).path }
        func kind(_ p: String) -> mode_t? {
            var st = stat()
            return lstat(path(p), &st) == 0 ? st.st_mode & S_IFMT : nil
        }
        func restore(_ out: String, _ extra: [String] = []) throws -> Output {
            try revenant(["sql", "r.rvt", "--at", "1", "--restore", out, "--no-machine-check"] + extra)
        }
        let events = try Data(contentsOf: URL(fileURLWithPath: path("r.rvt/events")))
        // Inside the trace it reads, by its own name or through a symlinked folder: refused.
        try fm.createSymbolicLink(atPath: path("alias"), withDestinationPath: "r.rvt")
        for out in ["r.rvt/events", "r.rvt/new.db", "alias/new.db", "r.rvt/blobs/new.db", "r.rvt"] {
            assertOneLine(try restore(out, ["--force"]), 125, containing: [out], "--restore \(out) --force")
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("r.rvt/events"))), events, "events intact")
        XCTAssertFalse(fm.fileExists(atPath: path("r.rvt/new.db")))
        // Not a regular file: a FIFO, a directory, and (as root) a character device.
        XCTAssertEqual(mkfifo(path("fifo"), 0o644), 0)
        try fm.createDirectory(atPath: path("folder"), withIntermediateDirectories: false)
        var refused = ["fifo", "folder"]
        if getuid() == 0, mknod(path("null"), S_IFCHR | 0o666, dev_t((1 << 8) | 3)) == 0 { refused.append("null") }
        for out in refused {
            assertOneLine(try restore(out, ["--force"]), 125, containing: [out], "--restore \(out) --force")
        }
        XCTAssertEqual(kind("fifo"), S_IFIFO, "the FIFO is still one")
        XCTAssertEqual(kind("folder"), S_IFDIR)
        if refused.contains("null") { XCTAssertEqual(kind("null"), S_IFCHR, "the device node is still one") }
        // A symlink at OUT, dangling or not: refused without --force; with it, the link itself is
        // replaced and its target left alone.
        try fm.createSymbolicLink(atPath: path("dangling.db"), withDestinationPath: "nowhere/else.db")
        try "keep me".write(toFile: path("target.txt"), atomically: false, encoding: .utf8)
        try fm.createSymbolicLink(atPath: path("link.db"), withDestinationPath: "target.txt")
        for out in ["dangling.db", "link.db"] {
            assertOneLine(try restore(out), 125, containing: [out, "--force"], "--restore \(out)")
            XCTAssertEqual(kind(out), S_IFLNK)
            XCTAssertEqual(try restore(out, ["--force"]).status, 0)
            XCTAssertEqual(kind(out), S_IFREG, "\(out): the link itself replaced")
        }
        XCTAssertFalse(fm.fileExists(atPath: path("nowhere")), "a dangling link's target is never created")
        XCTAssertEqual(try String(contentsOfFile: path("target.txt"), encoding: .utf8), "keep me")
        XCTAssertEqual(try run("/usr/bin/sqlite3", [path("link.db"), "SELECT x FROM t"]).stdout, "1\n")
        // No usable name: one line each.
        assertOneLine(try restore(""), 125, containing: ["--restore: an empty path"], "--restore ''")
        assertOneLine(try restore("no/such/folder.db"), 125, containing: ["no/such/folder.db"], "missing folder")
        // A restore that fails leaves neither OUT nor a temporary behind.
        let failed = try revenant(["sql", "r.rvt", "--db", "other.db", "--at", "1", "--restore", "f.db"])
        assertOneLine(failed, 1, containing: ["never opened"], "unknown --db")
        let left = try fm.contentsOfDirectory(atPath: base.path).filter { $0.contains("f.db") }
        XCTAssertEqual(left, [], "nothing left behind")
    }

    /// `--when`: a predicate is one read-only statement (refused before any replay otherwise); a
    /// table the run has not created yet makes it false there, not an error; an evaluation that
    /// runs past --timeout ends the command with one line naming it.
    func testWhenPredicatesAreOneBoundedReadOnlyStatement() throws {
        try requireShim()
        let s = try file(
            "s.sql",
            "CREATE TABLE t(x);\nINSERT INTO t VALUES (1);\n"
                + "CREATE TABLE u(y);\nINSERT INTO u VALUES (2);\n")
        XCTAssertEqual(
            try revenant(["record", "-o", "q.rvt", "--", "/usr/bin/sqlite3", "q.db"], stdin: s).status, 0)
        let index = base.appendingPathComponent("q.rvt/index.sqlite").path
        for (query, words) in [
            ("SELECT 1; DROP TABLE t", "one statement"), ("UPDATE t SET x = 2", "only read"),
            ("DELETE FROM u", "only read"), ("SELEC 1", "syntax error"), ("", "empty"),
            ("BEGIN", "only read"), ("SELECT count(*) FROM u; SELECT 2", "one statement"),
        ] {
            assertOneLine(
                try revenant(["sql", "q.rvt", "--when", query]), 125,
                containing: ["--when", words], query)
            assertOneLine(try revenant(["when", "q.rvt", "--sql", query]), 125, containing: ["--sql", words], query)
            XCTAssertFalse(FileManager.default.fileExists(atPath: index), "refused before any replay: \(query)")
        }
        // u exists from statement 2 on: false before, true after the insert into it.
        let u = try revenant(["sql", "q.rvt", "--when", "SELECT count(*) > 0 FROM u"])
        XCTAssertEqual(u.status, 0, u.stderr)
        XCTAssertEqual(u.stdout, "#3 INSERT INTO u VALUES (2);\n")
        let col = try revenant(["when", "q.rvt", "--sql", "SELECT y = 2 FROM u"])
        XCTAssertEqual(col.status, 0, col.stderr)
        XCTAssertTrue(col.stdout.hasSuffix("SQL #3: INSERT INTO u VALUES (2);  at sql:3\n"), col.stdout)
        // A table the run never creates: the query never ran, which is said.
        assertOneLine(
            try revenant(["sql", "q.rvt", "--when", "SELECT 1 FROM absent"]), 125,
            containing: ["no such table: absent"], "never")
        // An unbounded query: stopped at its deadline.
        let forever = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT count(*) FROM c"
        let t0 = Date()
        assertOneLine(
            try revenant(["sql", "q.rvt", "--when", forever, "--timeout", "0.5"]), 125,
            containing: ["the --when query timed out after 0.5 s at statement #0", "--timeout"], "sql")
        assertOneLine(
            try revenant(["when", "q.rvt", "--sql", forever, "--timeout", "0.5"]), 125,
            containing: ["the --sql query timed out after 0.5 s at statement #0"], "when timeout")
        XCTAssertLessThan(Date().timeIntervalSince(t0), 30)
        for bad in ["0", "-1", "nan", "x"] {
            let r = try revenant(["sql", "q.rvt", "--when", "SELECT 1", "--timeout", bad])
            assertOneLine(r, 125, containing: ["--timeout"], bad)
        }
    }

    func testErrorsAreClear() throws {
        try requireShim()
        let s = try file("s.sql", "CREATE TABLE t(x);\nINSERT INTO t VALUES (1);\n")
        XCTAssertEqual(try revenant(["record", "-o", "e.rvt", "--", "/usr/bin/sqlite3", "e.db"], stdin: s).status, 0)
        // An existing OUT.db is refused unless --force.
        XCTAssertEqual(try revenant(["sql", "e.rvt", "--at", "1", "--restore", "y.db"]).status, 0)
        let again = try revenant(["sql", "e.rvt", "--at", "1", "--restore", "y.db"])
        XCTAssertEqual(again.status, 125)
        XCTAssertTrue(again.stderr.contains("exists"), again.stderr)
        XCTAssertEqual(try revenant(["sql", "e.rvt", "--at", "0", "--restore", "y.db", "--force"]).status, 0)
        let range = try revenant(["sql", "e.rvt", "--at", "99", "--restore", "x.db"])
        XCTAssertEqual(range.status, 1)
        XCTAssertTrue(range.stderr.contains("out of range"), range.stderr)
        let nodb = try revenant(["sql", "e.rvt", "--db", "nope.db", "--at", "0", "--restore", "x.db"])
        XCTAssertEqual(nodb.status, 1)
        XCTAssertTrue(nodb.stderr.contains("never opened"), nodb.stderr)
        XCTAssertEqual(try revenant(["record", "-o", "n.rvt", "--", "/usr/bin/perl", "-e", "print 1"]).status, 0)
        let none = try revenant(["log", "n.rvt", "sql"])
        XCTAssertEqual(none.status, 1)
        XCTAssertTrue(none.stderr.contains("no SQLite activity"), none.stderr)
        XCTAssertEqual(
            try revenant(["record", "-o", "m.rvt", "--shims", "none", "--", "/usr/bin/sqlite3", "m.db"], stdin: s)
                .status, 0)
        let noShim = try revenant(["sql", "m.rvt", "--at", "0"])
        XCTAssertEqual(noShim.status, 1)
        XCTAssertTrue(noShim.stderr.contains("without the SQLite shim"), noShim.stderr)
        for r in [again, range, nodb, none, noShim] {
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        }
    }
}

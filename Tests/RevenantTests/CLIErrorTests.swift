import Foundation
import XCTest

/// One line per error, as the docs promise: every bad invocation of every subcommand ends with
/// exactly one line on stderr starting with "revenant: " and the documented exit code (125 for
/// malformed input, 1 for a valid question with no answer); `--help` still prints the full help.
final class CLIErrorTests: ScratchTestCase {
    /// Refused while the command line is read: no trace, no KVM needed.
    func testArgumentErrorsAreOneLine() throws {
        let cases: [([String], [String])] = [
            (["sql"], ["<trace>", "(see revenant sql --help)"]),
            (["sql", "t.rvt", "--bogus"], ["--bogus", "(see revenant sql --help)"]),
            (["sql", "t.rvt", "--at", "-1"], ["--at: statement numbers start at 0"]),
            (["sql", "t.rvt", "--at", "x"], ["--at"]),
            (["sql", "t.rvt", "--at", "99999999999999999999999"], ["--at"]),
            (["sql", "t.rvt", "--first"], ["--first", "--when"]),
            (["sql", "t.rvt", "--force"], ["--force", "--restore"]),
            (["sql", "t.rvt", "--db", "", "--at", "0"], ["--db: an empty name"]),
            (["sql", "t.rvt", "--when", "SELECT 1", "--timeout", "-1"], ["--timeout"]),
            (["log", "t.rvt"], ["<what>", "(see revenant log --help)"]),
            (["log", "t.rvt", "syscalls", "--limit", "-1"], ["--limit"]),
            (["log", "t.rvt", "syscalls", "--limit", "x"], ["--limit"]),
            (["when", "t.rvt", "--sql", "SELECT 1", "--timeout", "abc"], ["--timeout"]),
            (["when", "t.rvt", "--syscall", "read", "--include-shims"], ["--include-shims", "--symbol"]),
            (["bogus"], ["bogus", "(see revenant --help)"]),
            (["syscalls", "--bogus"], ["--bogus", "(see revenant syscalls --help)"]),
            (["run", "--memory", "-1", "--", "/bin/true"], ["--memory", "-1"]),
            (["record", "-o", "", "--", "/bin/true"], ["-o: an empty path"]),
            (["sql", ""], ["TRACE: an empty path"]),
            (["log", "", "syscalls"], ["TRACE: an empty path"]),
            (["replay", ""], ["TRACE: an empty path"]),
            (["regen", ""], ["TRACE: an empty path"]),
            (["info", ""], ["TRACE: an empty path"]),
            (["perl", ""], ["TRACE: an empty path"]),
            (["when", "", "--syscall", "read"], ["TRACE: an empty path"]),
            (["run", "--rw", "", "--", "/bin/true"], ["--rw: an empty path"]),
        ]
        for (args, words) in cases {
            assertOneLine(try revenant(args), 125, containing: words, args.joined(separator: " "))
        }
        // Help is not an error: the full text, exit 0.
        // (`run` and `record` capture what follows their options for the program: help is still help.)
        for args in [["--help"], ["sql", "--help"], ["help", "when"], ["run", "--help"], ["record", "-h"]] {
            let r = try revenant(args)
            XCTAssertEqual(r.status, 0, args.joined(separator: " "))
            XCTAssertTrue(r.stdout.contains("USAGE:") && r.stdout.split(separator: "\n").count > 10, r.stdout)
            XCTAssertEqual(r.stderr, "")
        }
    }

    /// Questions about a recorded run: malformed ones are 125, valid ones without an answer 1,
    /// each with one line naming the problem.
    func testQueryErrorsAreOneLine() throws {
        try requireSQLiteShim()
        let session = base.appendingPathComponent("s.sql")
        try "CREATE TABLE t(x);\nINSERT INTO t VALUES (1);\n".write(to: session, atomically: true, encoding: .utf8)
        let rec = try revenant(["record", "-o", "t.rvt", "--", "/usr/bin/sqlite3", "t.db"], stdin: session.path)
        XCTAssertEqual(rec.status, 0, rec.stderr)
        let cases: [([String], Int32, [String])] = [
            (["log", "t.rvt", "syscalls", "--where", "path~(["], 125, ["path~([", "regular expression"]),
            (["log", "t.rvt", "syscalls", "--where", "name=nosuchcall"], 125, ["nosuchcall", "revenant syscalls"]),
            (["log", "t.rvt", "syscalls", "--where", "colour=red"], 125, ["colour"]),
            (["log", "t.rvt", "bogus"], 125, ["bogus"]),
            (["when", "t.rvt", "--syscall", "nosuchcall"], 125, ["nosuchcall", "revenant syscalls"]),
            (["when", "t.rvt", "--syscall", "openat path~(["], 125, ["regular expression"]),
            (["when", "t.rvt", "--watch", "0x10"], 125, ["--watch 0x10", "guest"]),
            (["when", "t.rvt", "--symbol", ""], 125, ["--symbol"]),
            (["when", "t.rvt"], 125, ["exactly one of"]),
            (["sql", "t.rvt", "--when", ""], 125, ["empty"]),
            (["sql", "t.rvt", "--db", "nosuch.db", "--at", "1"], 1, ["never opened a database named nosuch.db"]),
            (["sql", "t.rvt", "--at", "99"], 1, ["out of range"]),
            (["when", "t.rvt", "--syscall", "openat path=*.nothing"], 1, []),
            (["log", "t.rvt", "syscalls", "--where", "path=*.nothing"], 1, []),
        ]
        for (args, status, words) in cases {
            let r = try revenant(args)
            if words.isEmpty {
                // No answer to a valid question: exit 1 and nothing said.
                XCTAssertEqual(r.status, status, args.joined(separator: " "))
                XCTAssertEqual(r.stderr, "", args.joined(separator: " "))
            } else {
                assertOneLine(r, status, containing: words, args.joined(separator: " "))
            }
        }
        // A foreign or damaged index: one line saying what to do, for every reader of it.
        XCTAssertEqual(try revenant(["regen", "t.rvt"]).status, 0)
        XCTAssertEqual(try run("/usr/bin/sqlite3", ["t.rvt/index.sqlite", "DROP TABLE sql_statements"]).status, 0)
        for args in [
            ["log", "t.rvt", "sql"], ["sql", "t.rvt", "--at", "1"], ["sql", "t.rvt", "--when", "SELECT 1"],
            ["when", "t.rvt", "--syscall", "openat"],
        ] {
            let words = ["t.rvt/index.sqlite is not a valid index", "revenant regen t.rvt"]
            assertOneLine(try revenant(args), 125, containing: words, args.joined(separator: " "))
        }
        // The Perl log's readers too (perl's own command included).
        XCTAssertEqual(try revenant(["record", "-o", "p.rvt", "--", "/usr/bin/perl", "-e", "print 1"]).status, 0)
        XCTAssertEqual(try revenant(["regen", "p.rvt"]).status, 0)
        XCTAssertEqual(try run("/usr/bin/sqlite3", ["p.rvt/index.sqlite", "DROP TABLE files"]).status, 0)
        for args in [["log", "p.rvt", "perl"], ["perl", "p.rvt", "--path", "vm", "--break=-e:1"]] {
            let words = ["p.rvt/index.sqlite is not a valid index", "revenant regen p.rvt"]
            assertOneLine(try revenant(args), 125, containing: words, args.joined(separator: " "))
        }
    }

    /// A --print that ends the program (in the clone that evaluates it) says so in words.
    func testPrintThatEndsTheProgramSaysSoInWords() throws {
        try requireKVM()
        let script = base.appendingPathComponent("p.pl")
        try "my $x = 1;\n$x++;\nprint \"x=$x\\n\";\n".write(to: script, atomically: true, encoding: .utf8)
        XCTAssertEqual(try revenant(["record", "-o", "p.rvt", "--", "/usr/bin/perl", "p.pl"]).status, 0)
        let r = try revenant(["perl", "p.rvt", "--path", "vm", "--break", "p.pl:2", "--print", "exit 9"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let shown = r.stdout.split(separator: "\n").last.map(String.init) ?? ""
        XCTAssertTrue(shown.contains("exit 9: the evaluation ended the program"), r.stdout)
        XCTAssertFalse(["killed(", "report:", "exited("].contains { shown.contains($0) }, "no Swift enum: \(shown)")
    }

    /// Help texts are paragraphs: ArgumentParser wraps them at 80 columns, so a line break inside a
    /// paragraph is only where the next word would not have fitted (a break written into the source
    /// shows as a short line mid-sentence).
    func testHelpIsWrappedAsParagraphs() throws {
        let commands = ["", "run", "record", "replay", "info", "regen", "log", "perl", "sql", "when", "syscalls"]
        for command in commands {
            let r = try revenant(command.isEmpty ? ["--help"] : [command, "--help"])
            XCTAssertEqual(r.status, 0, command)
            let prose = r.stdout.components(separatedBy: "\nUSAGE:")[0].split(
                separator: "\n", omittingEmptySubsequences: false)
            for (line, next) in zip(prose, prose.dropFirst()) {
                guard let word = next.split(separator: " ").first, !line.isEmpty, !next.hasPrefix(" "),
                    !line.hasSuffix(":")
                else {
                    continue
                }
                // (ArgumentParser keeps a line under 80 columns.)
                XCTAssertGreaterThanOrEqual(
                    line.count + 1 + word.count, 80, "revenant \(command) --help breaks a paragraph after: \(line)")
            }
        }
    }
}

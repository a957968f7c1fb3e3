import Foundation
import XCTest

/// The acceptance corpus of bug-hunting scenarios (Tests/Scenarios): each script states its
/// question in its header; the answer comes from a native run under perl's debugger with a
/// DB::DB that evaluates the same thing at every statement in the program's scope
/// (Tests/Scenarios/oracle.pl), and Revenant must give the same answer from the recorded run.
final class PerlScenarioTests: ScratchTestCase {
    struct Scenario {
        var name: String
        var fields: [String: String]
        var when: String? { fields["when"] }
    }

    func scenarios() throws -> [Scenario] {
        let dir = packageRootDirectory().appendingPathComponent("Tests/Scenarios")
        var out: [Scenario] = []
        for file in try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() where file.hasSuffix(".pl") {
            let text = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
            var fields: [String: String] = [:]
            for line in text.split(separator: "\n") where line.hasPrefix("# ") {
                let body = line.dropFirst(2)
                guard let colon = body.firstIndex(of: ":") else { continue }
                fields[String(body[..<colon])] = String(body[body.index(after: colon)...]).trimmingCharacters(
                    in: .whitespaces)
            }
            guard fields["question"] != nil else { continue }
            out.append(Scenario(name: String(file.dropLast(3)), fields: fields))
            try FileManager.default.copyItem(
                at: dir.appendingPathComponent(file), to: base.appendingPathComponent(file))
        }
        for helper in ["oracle.pl", "setup.pl"] {
            try FileManager.default.copyItem(
                at: dir.appendingPathComponent(helper), to: base.appendingPathComponent(helper))
        }
        return out
    }

    /// What the native oracle printed: each hit's file:line, the previous statement in the
    /// program's file, and the printed values.
    struct Hit: Equatable, CustomStringConvertible {
        var location: String
        var previous: String?
        var values: [String]
        var description: String {
            location + (previous.map { " (after \($0))" } ?? "")
                + (values.isEmpty ? "" : " " + values.joined(separator: "; "))
        }
    }

    func oracle(_ s: Scenario, extra: [String: String] = [:]) throws -> [Hit] {
        let out = base.appendingPathComponent("\(s.name).oracle")
        var env = ["ORACLE_OUT": out.path, "PERL5DB": "BEGIN { require \"\(base.path)/oracle.pl\" }"]
        for (k, v) in [
            ("when", "ORACLE_WHEN"), ("print", "ORACLE_PRINT"), ("previous", "ORACLE_PREVIOUS"),
            ("only", "ORACLE_ONLY"),
        ] {
            if let f = s.fields[k] { env[v] = f }
        }
        env.merge(extra) { $1 }
        let r = try run("/usr/bin/perl", ["-d", "\(s.name).pl"], env: env)
        XCTAssertEqual(r.status, 0, "\(s.name): the native oracle run failed: \(r.stderr)")
        var hits: [Hit] = []
        for line in try String(contentsOf: out, encoding: .utf8).split(separator: "\n") {
            if line.hasPrefix("HIT ") {
                hits.append(Hit(location: String(line.dropFirst(4)), previous: nil, values: []))
            } else if line.hasPrefix("  previous ") {
                hits[hits.count - 1].previous = String(line.dropFirst(11))
            } else if line.hasPrefix("  ") {
                hits[hits.count - 1].values.append(String(line.dropFirst(2)))
            }
        }
        return hits
    }

    /// Revenant's hits: "event #E, perl FILE:LINE[, SQL #k]: ..." lines, with "    $x = v" under them.
    func parse(_ output: String, previous: Bool = false) -> [Hit] {
        var hits: [Hit] = []
        for line in output.split(separator: "\n") {
            if line.hasPrefix("event #"), let p = line.range(of: ", perl ") {
                var rest = line[p.upperBound...]
                if let c = rest.range(of: ", in ") { rest = rest[..<c.lowerBound] }  // the program's own line first
                let end = rest.range(of: ", SQL #")?.lowerBound ?? rest.range(of: ": ")?.lowerBound ?? rest.endIndex
                let at = String(rest[..<end])
                hits.append(
                    previous
                        ? Hit(location: "", previous: at, values: []) : Hit(location: at, previous: nil, values: []))
            } else if line.hasPrefix("    "), !hits.isEmpty {
                // Revenant quotes strings ('x'); perl's print does not.
                var v = String(line.dropFirst(4))
                if let eq = v.range(of: " = '"), v.hasSuffix("'") {
                    v = String(v[..<eq.lowerBound]) + " = " + String(v[eq.upperBound...].dropLast())
                }
                hits[hits.count - 1].values.append(v)
            }
        }
        return hits
    }

    func testScenariosAnswerAsTheNativeRunWithPrints() throws {
        try requireKVM()
        let all = try scenarios()
        XCTAssertGreaterThanOrEqual(all.count, 5)
        XCTAssertEqual(try run("/usr/bin/perl", ["setup.pl"]).status, 0)
        var report: [String] = [], fast: [String] = [], notFast: [String] = []
        for s in all {
            let expected = try oracle(s)
            XCTAssertFalse(
                expected.isEmpty, "\(s.name): the oracle found nothing: the scenario asks a question with no answer")
            let rec = try revenant(["record", "-o", "\(s.name).rvt", "--", "/usr/bin/perl", "\(s.name).pl"])
            XCTAssertEqual(rec.status, 0, "\(s.name): \(rec.stderr)")
            if let q = s.fields["syscall"] {
                // The statement running at the call is the one the oracle saw just before the
                // first statement where the effect is visible.
                let w = try revenant(["when", "\(s.name).rvt", "--syscall", q, "--first"])
                XCTAssertEqual(w.status, 0, "\(s.name): \(w.stderr)")
                XCTAssertEqual(
                    parse(w.stdout, previous: true).map(\.previous), [expected[0].previous], "\(s.name): \(w.stdout)")
            } else if let q = s.fields["sql"] {
                let w = try revenant(["when", "\(s.name).rvt", "--sql", q])
                XCTAssertEqual(w.status, 0, "\(s.name): \(w.stderr)")
                XCTAssertEqual(
                    parse(w.stdout, previous: true).map(\.previous), expected.map(\.previous), "\(s.name): \(w.stdout)")
            } else if let when = s.when {
                // Both forms: the fast one (perl runs the script again, fed from the log) where
                // regen found it exact — it must refuse, with regen's reason, elsewhere — and the VM.
                for path in ["fast", "vm"] {
                    var args = ["perl", "\(s.name).rvt", "--path", path, "--when", when]
                    if let p = s.fields["print"] { args += ["--print", p.replacingOccurrences(of: ";", with: ",")] }
                    let r = try revenant(args)
                    if path == "fast" && r.status == 124 && r.stderr.contains("regen found it inexact for this run") {
                        notFast.append(s.name)
                        continue
                    }
                    XCTAssertEqual(r.status, 0, "\(s.name) (\(path)): \(r.stderr)")
                    XCTAssertEqual(parse(r.stdout), expected, "\(s.name) (\(path))")
                    // The same predicate through `when --perl`, and --first.
                    let w = try revenant(["when", "\(s.name).rvt", "--path", path, "--perl", when])
                    XCTAssertEqual(
                        parse(w.stdout).map(\.location), expected.map(\.location),
                        "\(s.name) (\(path)): when --perl: \(w.stderr)")
                    let f = try revenant(["perl", "\(s.name).rvt", "--path", path, "--when", when, "--first"])
                    XCTAssertEqual(
                        parse(f.stdout).map(\.location), [expected[0].location], "\(s.name) (\(path)): --first")
                    if path == "fast" { fast.append(s.name) }
                }
            }
            report.append("\(s.name): \(expected.map(\.description).joined(separator: " | "))")
        }
        print("[scenarios] " + report.joined(separator: "\n[scenarios] "))
        print(
            "[scenarios] fast and VM path: \(fast.joined(separator: ", ")); "
                + "VM path only (regen found the fast form inexact): \(notFast.joined(separator: ", "))"
        )
        // Scripts whose input all passes through perl's ops take the fast form; XS and C I/O does not.
        XCTAssertTrue(Set(fast).isSuperset(of: ["bank", "logscan"]), "fast: \(fast)")
        XCTAssertTrue(Set(notFast).isSuperset(of: ["digest", "storable"]), "not fast: \(notFast)")
    }

    /// Breakpoints: every stop at FILE:LINE with the values there, as perl's debugger shows them;
    /// and the inputs may be gone (the replay reads the trace only).
    func testBreakpointsMatchTheDebuggerAndNeedNoInputFiles() throws {
        try requireKVM()
        guard let bank = try scenarios().first(where: { $0.name == "bank" }),
            let storable = try? Scenario(name: "storable", fields: [:])
        else { return XCTFail("no bank scenario") }
        XCTAssertEqual(try run("/usr/bin/perl", ["setup.pl"]).status, 0)
        let cases = [(bank, "bank.pl:19", "$balance;$count;$op"), (storable, "storable.pl:11", "$total;$item->{qty}")]
        var expected: [[Hit]] = []
        for (s, line, print) in cases {
            expected.append(
                try oracle(Scenario(name: s.name, fields: [:]), extra: ["ORACLE_BREAK": line, "ORACLE_PRINT": print]))
            XCTAssertGreaterThan(expected.last!.count, 2)
            XCTAssertEqual(
                try revenant(["record", "-o", "\(s.name).rvt", "--", "/usr/bin/perl", "\(s.name).pl"]).status, 0)
        }
        // The fast form gives the same stops where it applies (bank: every input through perl's ops).
        let fastBank = try revenant([
            "perl", "bank.rvt", "--path", "fast", "--break", cases[0].1, "--print",
            cases[0].2.replacingOccurrences(of: ";", with: ","),
        ])
        XCTAssertEqual(fastBank.status, 0, fastBank.stderr)
        XCTAssertEqual(parse(fastBank.stdout), expected[0], "bank (fast)")
        // The replay needs no input file: remove them. The fast form needs the script (it runs it
        // again): it steps aside, and the VM answers.
        for f in ["cart.storable", "storable.pl", "bank.pl"] {
            try FileManager.default.removeItem(at: base.appendingPathComponent(f))
        }
        for ((s, line, print), want) in zip(cases, expected) {
            let r = try revenant([
                "perl", "\(s.name).rvt", "--break", line, "--print", print.replacingOccurrences(of: ";", with: ","),
            ])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(parse(r.stdout), want, s.name)
            XCTAssertTrue(r.stderr.contains("does not apply ("), r.stderr)
        }
        // A line that never ran: exit 1 and nothing printed.
        let none = try revenant(["perl", "bank.rvt", "--break", "bank.pl:1"])
        XCTAssertEqual(none.status, 1)
        XCTAssertEqual(none.stdout, "")
    }
}

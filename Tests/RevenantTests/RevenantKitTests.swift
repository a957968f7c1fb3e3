import LinuxABI
import Machine
import RevenantKit
import XCTest

/// The domain code the command line uses, tested in process (it lives in RevenantKit now).
final class RevenantKitTests: XCTestCase {
    /// `info` shows the user's command by undoing exactly what `record` added for the shims: the
    /// two live in one place and must stay each other's inverse.
    func testShimSwitchesAreUndoneExactly() throws {
        let lib = "/opt/revenant/shims/perl/lib"
        let argv = ["perl", "-w", "script.pl", "a b"]
        let recorded = [argv[0]] + ShimSelection.perlSwitches(lib) + argv.dropFirst()
        XCTAssertEqual(recorded, ["perl", "-I" + lib, "-MRevenant::Shim", "-w", "script.pl", "a b"])
        XCTAssertEqual(ShimSelection.userCommand(argv: recorded, environment: [], shims: ["perl"]).argv, argv)
        // Without the shim recorded, the same words are the user's own.
        XCTAssertEqual(ShimSelection.userCommand(argv: recorded, environment: [], shims: []).argv, recorded)
        XCTAssertTrue(ShimSelection.isPerl("/usr/bin/perl5.36.0"))
        XCTAssertFalse(ShimSelection.isPerl("/usr/bin/perldoc"))
    }

    func testBreakpointsAndSizesParse() throws {
        let b = try Breakpoint("lib/Bank.pm:42")
        XCTAssertEqual(b.file, "lib/Bank.pm")
        XCTAssertEqual(b.line, 42)
        XCTAssertTrue(b.matches(file: "/home/u/app/lib/Bank.pm", line: 42))
        XCTAssertFalse(b.matches(file: "/home/u/app/xlib/Bank.pm", line: 42))
        for bad in ["", "file", ":3", "f:0", "f:-1", "f:x"] {
            XCTAssertThrowsError(try Breakpoint(bad), bad)
        }
        XCTAssertEqual(parseSize("512M"), 512 << 20)
        XCTAssertEqual(parseSize("4G"), 4 << 30)
        XCTAssertNil(parseSize("-1"))
        XCTAssertNil(parseSize("99999999999999999999G"))
        XCTAssertNil(parseSize(""))
    }

    func testEvaluationLimitSaysWhatTimedOut() {
        XCTAssertEqual(
            EvaluationLimit(seconds: 10).timedOut("the --when query", at: "statement #3").message,
            "the --when query timed out after 10 s at statement #3 (--timeout to allow longer)")
        XCTAssertEqual(
            EvaluationLimit(seconds: 0.5).timedOut("x", at: "y").message,
            "x timed out after 0.5 s at y (--timeout to allow longer)")
    }

    /// The public surface: a program run as `revenant run` runs it (a program that is not there
    /// is one line with the shell's 127).
    func testAMissingProgramIsRefusedBeforeAnythingRuns() throws {
        var options = SessionOptions()
        options.memory = "64M"
        XCTAssertThrowsError(try GuestSession(options: options, program: "/no/such/program", arguments: [])) { e in
            XCTAssertEqual((e as? CLIError)?.code, 127, "\(e)")
        }
    }
}

import Foundation
import XCTest

/// Signals that come from outside: Ctrl-C or SIGTERM sent to `revenant` reach the guest at its
/// next syscall boundary and run its handlers as Linux would, whichever syscall path serves it.
final class SignalTests: XCTestCase {
    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Start `revenant run ARGS`, send `signals` (one every `gap` seconds after `delay`), wait.
    func run(
        _ args: [String], stdinPipe: Bool = false, signals: [Int32], delay: Double = 1.0, gap: Double = 0.5
    ) throws -> Outcome {
        let p = Process()
        p.executableURL = try revenantBinary()
        p.arguments = ["run"] + args
        let out = Pipe(), err = Pipe(), input = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = stdinPipe ? input : FileHandle.nullDevice
        try p.run()
        Thread.sleep(forTimeInterval: delay)
        for s in signals {
            kill(p.processIdentifier, s)
            Thread.sleep(forTimeInterval: gap)
        }
        let deadline = Date().addingTimeInterval(30)
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            XCTFail("revenant did not end within 30 s of the signals")
        }
        p.waitUntilExit()
        try? input.fileHandleForWriting.close()
        let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let status = p.terminationReason == .uncaughtSignal ? 128 + p.terminationStatus : p.terminationStatus
        return Outcome(status: status, stdout: o, stderr: e)
    }

    static let paths = [["--syscall-path", "mailbox"], ["--syscall-path", "exit"]]

    func testSIGINTRunsTheGuestsHandlerDuringASleep() throws {
        try requireKVM()
        for path in Self.paths {
            let r = try run(
                path + [
                    "--", "/usr/bin/perl", "-e",
                    #"$| = 1; $SIG{INT} = sub { print "got INT\n"; exit 7 }; sleep 20; print "slept\n""#,
                ],
                signals: [SIGINT])
            XCTAssertEqual(r.status, 7, "\(path): \(r)")
            XCTAssertEqual(r.stdout, "got INT\n", "\(path)")
            XCTAssertEqual(r.stderr, "", "\(path)")
        }
    }

    func testSIGTERMWithoutHandlerEndsTheGuestAsLinuxWould() throws {
        try requireKVM()
        let before = Set((try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []).filter {
            $0.hasPrefix("revenant-tmp-")
        }
        let r = try run(["--", "/usr/bin/perl", "-e", "sleep 20"], signals: [SIGTERM])
        XCTAssertEqual(r.status, 143, "\(r)")
        XCTAssertEqual(r.stderr, "")
        let after = Set((try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []).filter {
            $0.hasPrefix("revenant-tmp-")
        }
        XCTAssertTrue(
            after.subtracting(before).isEmpty, "the private /tmp was left behind: \(after.subtracting(before))")
    }

    /// The guest blocks in a read from a pipe that never delivers: the signal must interrupt it
    /// (the mailbox's spinner is kicked out of its host read).
    func testSIGINTInterruptsABlockingRead() throws {
        try requireKVM()
        for path in Self.paths {
            let r = try run(
                path + [
                    "--", "/usr/bin/perl", "-e",
                    #"$| = 1; $SIG{INT} = sub { print "got INT\n"; exit 4 }; my $l = <STDIN>; print "read\n""#,
                ],
                stdinPipe: true, signals: [SIGINT])
            XCTAssertEqual(r.status, 4, "\(path): \(r)")
            XCTAssertEqual(r.stdout, "got INT\n", "\(path)")
        }
    }

    /// A guest that computes without syscalls cannot take the first Ctrl-C; the second stops it.
    func testSecondSIGINTStopsAGuestThatMakesNoSyscalls() throws {
        try requireKVM()
        let r = try run(["--", "/usr/bin/perl", "-e", "1 while 1"], signals: [SIGINT, SIGINT])
        XCTAssertEqual(r.status, 130, "\(r)")
    }
}

/// KVM unavailable: one clear line and 125, never a trap.
final class KVMUnavailableTests: XCTestCase {
    func testMissingOrUnusableKVMDeviceIs125() throws {
        for device in ["/nonexistent/kvm", "/tmp"] {
            let p = Process()
            p.executableURL = try revenantBinary()
            p.arguments = ["run", "--", "/usr/bin/perl", "-e", "print 1"]
            p.environment = ProcessInfo.processInfo.environment.merging(["REVENANT_KVM_DEVICE": device]) { $1 }
            let out = Pipe(), err = Pipe()
            p.standardOutput = out
            p.standardError = err
            try p.run()
            p.waitUntilExit()
            let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            XCTAssertEqual(p.terminationStatus, 125, "\(device): \(stderr)")
            XCTAssertEqual(stdout, "")
            XCTAssertTrue(
                stderr.hasPrefix("revenant: ") && stderr.hasSuffix("\n") && stderr.dropLast().contains("\n") == false,
                "one line: \(stderr)")
            XCTAssertTrue(stderr.contains(device), stderr)
        }
    }
}

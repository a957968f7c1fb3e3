// KVMGate.swift — shared gate for tests that need a usable /dev/kvm.
//
// Usage (from any XCTestCase method that needs KVM):
//
//     func testSomething() throws {
//         try requireKVM()
//         ...
//     }
//
// If /dev/kvm cannot be opened read-write:
//   * REVENANT_REQUIRE_KVM=1  -> throws `KVMUnavailableError` (the test FAILS, with the reason);
//   * otherwise               -> throws `XCTSkip` (the test is SKIPPED, with the reason).

import Foundation
import GuestMemory
import XCTest

/// Thrown by `requireKVM()` when KVM is unavailable and REVENANT_REQUIRE_KVM=1 is set.
/// Deliberately not an `XCTSkip`, so XCTest records a failure.
struct KVMUnavailableError: Error, CustomStringConvertible, LocalizedError {
    let reason: String
    var description: String {
        "KVM unavailable: \(reason) (REVENANT_REQUIRE_KVM=1 is set, so this is a failure)"
    }
    var errorDescription: String? { description }
}

/// Path of the KVM device; tests may only read it.
let kvmDevicePath = "/dev/kvm"

/// Returns nil when `/dev/kvm` can be opened read-write, otherwise a human-readable reason.
func kvmUnavailableReason() -> String? {
    let fd = open(kvmDevicePath, O_RDWR | O_CLOEXEC)
    if fd >= 0 {
        close(fd)
        return nil
    }
    let err = errno
    let message = String(cString: strerror(err))
    switch err {
    case ENOENT:
        return
            "\(kvmDevicePath) does not exist (\(message)); "
            + "is the kvm module loaded / is this a VM without nested virtualisation?"
    case EACCES, EPERM:
        return
            "cannot open \(kvmDevicePath) read-write (\(message)); "
            + "add the user to the 'kvm' group or fix the device permissions"
    default:
        return "cannot open \(kvmDevicePath) read-write: \(message) (errno \(err))"
    }
}

/// True when the environment asks for a missing KVM to be a failure rather than a skip.
func kvmIsRequired() -> Bool {
    let value = ProcessInfo.processInfo.environment["REVENANT_REQUIRE_KVM"] ?? ""
    return value == "1" || value.lowercased() == "true" || value.lowercased() == "yes"
}

/// Skips the calling test when KVM is unavailable, or fails it when REVENANT_REQUIRE_KVM=1.
func requireKVM() throws {
    guard let reason = kvmUnavailableReason() else { return }
    if kvmIsRequired() {
        throw KVMUnavailableError(reason: reason)
    }
    throw XCTSkip("KVM unavailable: \(reason); set REVENANT_REQUIRE_KVM=1 to make this a failure")
}

// MARK: - The binary under test

struct TestSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The package root: the nearest directory above this file holding Package.swift.
func packageRootDirectory(file: String = #filePath) -> URL {
    var dir = URL(fileURLWithPath: file).deletingLastPathComponent()
    while dir.path != "/" {
        if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) { return dir }
        dir = dir.deletingLastPathComponent()
    }
    return URL(fileURLWithPath: file).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
}

/// The revenant binary: $REVENANT_BIN, else <package root>/.build/release/revenant.
func revenantBinary() throws -> URL {
    if let b = ProcessInfo.processInfo.environment["REVENANT_BIN"], !b.isEmpty {
        guard FileManager.default.isExecutableFile(atPath: b) else {
            throw TestSetupError("REVENANT_BIN=\(b) is not an executable file")
        }
        return URL(fileURLWithPath: b)
    }
    let url = packageRootDirectory().appendingPathComponent(".build/release/revenant")
    guard FileManager.default.isExecutableFile(atPath: url.path) else {
        throw TestSetupError("revenant binary not found at \(url.path); build it with `make build` or set REVENANT_BIN")
    }
    return url
}

/// A test of a guest address space of 64 MiB (`space`) and a file (`fd`, already unlinked) that
/// holds what `fileContents` gives.
class AddressSpaceFileTestCase: XCTestCase {
    var space: AddressSpace!
    var fd: Int32 = -1

    func fileContents() -> [UInt8] { [] }

    override func setUpWithError() throws {
        space = try AddressSpace(layout: GuestLayout(memory: 64 << 20))
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(
            "\(type(of: self))-\(UUID().uuidString)")
        try Data(fileContents()).write(to: url)
        fd = open(url.path, O_RDONLY | O_CLOEXEC)
        unlink(url.path)
        XCTAssertGreaterThanOrEqual(fd, 0)
    }

    override func tearDown() {
        close(fd)
        space = nil
    }
}

/// A test with a scratch folder of its own (`base`), which is also the working directory of the
/// commands it runs; removed afterwards.
class ScratchTestCase: XCTestCase {
    var base: URL!

    override func setUpWithError() throws {
        base = FileManager.default.temporaryDirectory.appendingPathComponent("\(type(of: self))-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: base) }

    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Run a command (in `base` unless told otherwise) and collect what it printed.
    @discardableResult
    func run(
        _ exe: String, _ args: [String], stdin: String = "/dev/null", env: [String: String] = [:],
        in directory: URL? = nil
    ) throws -> Output {
        let r = ProcessRunner.run(
            executable: exe, arguments: args, directory: directory ?? base,
            environment: ProcessInfo.processInfo.environment.merging(env) { $1 }, stdinPath: stdin,
            stdoutFile: base.appendingPathComponent("out-\(UUID().uuidString)"),
            stderrFile: base.appendingPathComponent("err-\(UUID().uuidString)"), timeout: 180)
        return Output(
            status: r.status, stdout: String(decoding: r.stdout, as: UTF8.self),
            stderr: String(decoding: r.stderr, as: UTF8.self))
    }

    @discardableResult
    func revenant(
        _ args: [String], stdin: String = "/dev/null", env: [String: String] = [:], directory: URL? = nil
    ) throws -> Output {
        try run(try revenantBinary().path, args, stdin: stdin, env: env, in: directory)
    }
}

/// The SQLite shim must be built (`make shims`) for tests that record its query log.
func requireSQLiteShim() throws {
    try requireKVM()
    let lib = packageRootDirectory().appendingPathComponent(".build/shims/sqlite/librevenant_sqlite.so")
    guard FileManager.default.fileExists(atPath: lib.path) else {
        throw TestSetupError("the SQLite shim is not built at \(lib.path): run `make shims` (make test does)")
    }
}

extension ScratchTestCase {
    /// Revenant's own refusal, as the docs promise it: nothing on stdout, exactly one line on
    /// stderr starting with "revenant: " (holding `containing`), and `status`.
    func assertOneLine(
        _ r: Output, _ status: Int32, containing: [String] = [], _ what: String = "",
        file: StaticString = #filePath, line: UInt = #line
    ) {
        let context = "\(what): status \(r.status), stderr \(r.stderr.debugDescription)"
        XCTAssertEqual(r.status, status, context, file: file, line: line)
        XCTAssertEqual(r.stdout, "", context, file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("revenant: ") && r.stderr.hasSuffix("\n"), context, file: file, line: line)
        let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.count, 2, context, file: file, line: line)
        for c in containing { XCTAssertTrue(r.stderr.contains(c), "\(c) in \(context)", file: file, line: line) }
    }
}

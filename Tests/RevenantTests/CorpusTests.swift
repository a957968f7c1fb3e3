// CorpusTests.swift — differential tests: every program in Tests/Corpus is run natively and
// under `revenant run`, and the two runs must be indistinguishable.
//
// Conventions (kept identical to Tests/Corpus/check-native.sh):
//   * Corpus layout: Tests/Corpus/perl/NAME.pl, Tests/Corpus/sqlite/NAME.sql, Tests/Corpus/fixtures/.
//   * Each run gets a fresh working directory into which the CONTENTS of fixtures/ are copied
//     (fixtures/words.txt -> ./words.txt); perl entries also get NAME.pl copied in.
//     The native and the revenant working directories have paths of equal length
//     (…/<entry>/native and …/<entry>/replay).
//   * perl:   /usr/bin/perl NAME.pl ARGS...         vs  revenant run -- /usr/bin/perl NAME.pl ARGS...
//     sqlite: /usr/bin/sqlite3 test.db < NAME.sql   vs  revenant run -- /usr/bin/sqlite3 test.db < NAME.sql
//   * Sidecars next to NAME.pl / NAME.sql:
//       NAME.args   one argument per line; a trailing newline ends the last line, an empty line
//                   is an empty argument (perl only).
//       NAME.stdin  bytes fed on stdin (perl only; default /dev/null).
//       NAME.env    K=V lines added to the inherited environment; V is everything after the first
//                   '=', verbatim; blank lines and lines starting with '#' are ignored.
//       NAME.mask   one regex per line (blank and '#' lines ignored), applied in multi-line mode
//                   (^/$ match at line boundaries); every match in stdout, stderr, file contents
//                   and symlink targets is replaced by "<MASKED>". Masks operate on raw bytes
//                   (each byte is treated as one Latin-1 character), so keep them ASCII.
//       NAME.status expected exit status of the native run (default 0).
//   * Before masking, each run's own working-directory path (as created and as resolved through
//     symlinks) is replaced by "<CWD>" in all outputs and files.
//   * Exit status: normal exit -> its status; death by signal N -> 128+N.
//   * Files: the whole working directory tree is compared after the run (symlinks are not
//     followed): the set of paths and their types, regular-file contents (normalised as above),
//     symlink targets. For sqlite entries WITH a mask file, every file starting with the SQLite
//     header is compared through `/usr/bin/sqlite3 FILE .dump` (normalised) instead of its bytes.
//     File modes and timestamps are not compared.
//
// Environment knobs:
//   REVENANT_BIN             revenant binary (default <package root>/.build/release/revenant)
//   REVENANT_REQUIRE_KVM=1   missing/unusable /dev/kvm fails instead of skipping
//   REVENANT_CORPUS_FILTER   comma/space separated entries to run: NAME, perl/NAME, sqlite/NAME
//   REVENANT_CORPUS_TIMEOUT  per-run timeout in seconds (default 120)
//   REVENANT_CORPUS_KEEP=1   keep the temporary directories (their path is printed)
//   REVENANT_RUN_ARGS        extra whitespace-separated arguments inserted after `run` (before `--`)
//   REVENANT_CORPUS_DIR      corpus directory (default: ../Corpus relative to this file)

import Foundation
import XCTest

final class CorpusTests: XCTestCase {

    /// Sanity checks of the corpus itself; needs neither KVM nor the revenant binary.
    func testCorpusIsWellFormed() throws {
        let corpus = try CorpusLocator.corpusDirectory()
        var isDir: ObjCBool = false
        XCTAssertTrue(
            FileManager.default.fileExists(atPath: corpus.appendingPathComponent("fixtures").path, isDirectory: &isDir)
                && isDir.boolValue,
            "missing fixtures directory in \(corpus.path)")
        for kind in CorpusKind.allCases {
            let entries = try CorpusEntry.loadAll(kind: kind, corpus: corpus)
            XCTAssertGreaterThanOrEqual(entries.count, kind.minimumCount, "too few \(kind.rawValue) corpus entries")
            let dir = corpus.appendingPathComponent(kind.rawValue)
            let names = Set(entries.map { $0.name })
            for file in try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() {
                let url = URL(fileURLWithPath: file)
                let ext = url.pathExtension
                let stem = url.deletingPathExtension().lastPathComponent
                if ext == kind.mainExtension { continue }
                XCTAssertTrue(kind.sidecarExtensions.contains(ext), "\(kind.rawValue)/\(file): unknown sidecar type")
                XCTAssertTrue(
                    names.contains(stem), "\(kind.rawValue)/\(file): sidecar without \(stem).\(kind.mainExtension)")
            }
        }
    }

    func testPerlCorpus() throws {
        try runCorpus(kind: .perl)
    }

    /// The Perl shim is behaviour-neutral and its log is regenerated exactly: every perl corpus
    /// entry runs natively without the shim, natively with it (logging to a file), and recorded
    /// in the VM with it (`record --keep-channel`); all three give the same output. Then
    /// `regen` must give, byte for byte, the channel the live run handed over, and for entries
    /// without masks (deterministic ones) the same statement sequence as the native shim's log.
    func testPerlCorpusWithShim() throws {
        let lib = packageRootDirectory().appendingPathComponent(".build/shims/perl/lib")
        guard FileManager.default.fileExists(atPath: lib.appendingPathComponent("auto/Revenant/Shim/Shim.so").path)
        else {
            throw TestSetupError("the Perl shim is not built at \(lib.path): run `make shims` (make test does)")
        }
        try runCorpus(kind: .perl, variant: .shim(lib: lib.path))
    }

    func testSQLiteCorpus() throws {
        try runCorpus(kind: .sqlite)
    }

    // MARK: - Driver

    private func runCorpus(kind: CorpusKind, variant: RunVariant = .plain) throws {
        try requireKVM()
        let revenant = try revenantBinary()
        let corpus = try CorpusLocator.corpusDirectory()
        let settings = CorpusSettings.fromEnvironment()
        var entries = try CorpusEntry.loadAll(kind: kind, corpus: corpus)
        if let filter = settings.filter {
            entries = entries.filter { filter.contains($0.id) || filter.contains($0.name) }
            if entries.isEmpty {
                print("[corpus] no \(kind.rawValue) entries match REVENANT_CORPUS_FILTER; nothing to do")
                return
            }
        }
        XCTAssertFalse(entries.isEmpty, "no \(kind.rawValue) corpus entries found in \(corpus.path)")

        let base = FileManager.default.temporaryDirectory
            .appendingPathComponent("revenant-corpus-\(kind.rawValue)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        defer {
            if settings.keep {
                print("[corpus] kept temporary directories under \(base.path)")
            } else {
                try? FileManager.default.removeItem(at: base)
            }
        }

        var failed: [String] = []
        for entry in entries {  // strictly sequential
            let runner = EntryRunner(
                entry: entry, corpus: corpus, revenant: revenant,
                settings: settings, base: base.appendingPathComponent("\(kind.rawValue)-\(entry.name)"),
                variant: variant)
            let problems: [String]
            let timing: String
            do {
                (problems, timing) = try runner.run()
            } catch {
                problems = ["harness error: \(error)"]
                timing = ""
            }
            if problems.isEmpty {
                print("[corpus] \(entry.id): ok \(timing)")
            } else {
                failed.append(entry.id)
                print("[corpus] \(entry.id): FAILED \(timing)")
                XCTFail("\(entry.id) failed \(timing):\n" + problems.map { "  - " + $0 }.joined(separator: "\n"))
            }
            if !settings.keep {
                try? FileManager.default.removeItem(at: runner.base)
            }
        }
        print(
            "[corpus] \(kind.rawValue): \(entries.count - failed.count) passed, \(failed.count) failed"
                + (failed.isEmpty ? "" : ": " + failed.joined(separator: ", ")))
    }
}

// MARK: - Settings and locating things

private struct CorpusSettings {
    var timeout: TimeInterval = 120
    var keep = false
    var filter: Set<String>? = nil
    var extraRunArguments: [String] = []

    static func fromEnvironment() -> CorpusSettings {
        let env = ProcessInfo.processInfo.environment
        var s = CorpusSettings()
        if let t = env["REVENANT_CORPUS_TIMEOUT"], let v = TimeInterval(t), v > 0 { s.timeout = v }
        s.keep = env["REVENANT_CORPUS_KEEP"] == "1"
        if let f = env["REVENANT_CORPUS_FILTER"] {
            let items = f.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\n" || $0 == "\t" }).map(String.init)
            if !items.isEmpty { s.filter = Set(items) }
        }
        if let a = env["REVENANT_RUN_ARGS"] {
            s.extraRunArguments = a.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init)
        }
        return s
    }
}

private struct CorpusSetupError: Error, CustomStringConvertible, LocalizedError {
    let description: String
    var errorDescription: String? { description }
}

private enum CorpusLocator {
    /// Directory containing this source file (Tests/RevenantTests).
    static func testsSourceDirectory(file: String = #filePath) -> URL {
        URL(fileURLWithPath: file).deletingLastPathComponent()
    }

    static func corpusDirectory() throws -> URL {
        let env = ProcessInfo.processInfo.environment
        let url: URL
        if let d = env["REVENANT_CORPUS_DIR"], !d.isEmpty {
            url = URL(fileURLWithPath: d)
        } else {
            url = testsSourceDirectory().deletingLastPathComponent().appendingPathComponent("Corpus")
        }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), isDir.boolValue else {
            throw CorpusSetupError(description: "corpus directory not found at \(url.path)")
        }
        return url.standardizedFileURL
    }
}

// MARK: - Corpus entries

private enum CorpusKind: String, CaseIterable {
    case perl
    case sqlite

    var mainExtension: String { self == .perl ? "pl" : "sql" }
    var nativeExecutable: String { self == .perl ? "/usr/bin/perl" : "/usr/bin/sqlite3" }
    var minimumCount: Int { self == .perl ? 27 : 11 }
    var sidecarExtensions: Set<String> {
        self == .perl ? ["args", "stdin", "env", "mask", "status"] : ["env", "mask", "status"]
    }
}

private struct CorpusEntry {
    let kind: CorpusKind
    let name: String
    let mainFile: URL
    let arguments: [String]  // command-line arguments after the program
    let stdinPath: String  // file fed on stdin
    let extraEnvironment: [String: String]
    let masks: [NSRegularExpression]
    let expectedStatus: Int32

    var id: String { "\(kind.rawValue)/\(name)" }
    var hasMasks: Bool { !masks.isEmpty }

    static func loadAll(kind: CorpusKind, corpus: URL) throws -> [CorpusEntry] {
        let dir = corpus.appendingPathComponent(kind.rawValue)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
            .filter { $0.hasSuffix("." + kind.mainExtension) }
            .map { String($0.dropLast(kind.mainExtension.count + 1)) }
            .sorted()
        return try names.map { try load(kind: kind, name: $0, directory: dir) }
    }

    static func load(kind: CorpusKind, name: String, directory: URL) throws -> CorpusEntry {
        func sidecar(_ ext: String) -> URL { directory.appendingPathComponent("\(name).\(ext)") }
        func text(_ ext: String) throws -> String? {
            let url = sidecar(ext)
            guard FileManager.default.fileExists(atPath: url.path) else { return nil }
            return String(decoding: try Data(contentsOf: url), as: UTF8.self)
        }
        func lines(_ s: String) -> [String] {
            var l = s.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            if l.last == "" { l.removeLast() }
            return l
        }
        let id = "\(kind.rawValue)/\(name)"
        let main = sidecar(kind.mainExtension)

        var arguments: [String] = []
        var stdinPath = "/dev/null"
        switch kind {
        case .perl:
            arguments = ["\(name).pl"] + (try text("args").map(lines) ?? [])
            if FileManager.default.fileExists(atPath: sidecar("stdin").path) { stdinPath = sidecar("stdin").path }
        case .sqlite:
            arguments = ["test.db"]
            stdinPath = main.path
        }

        var env: [String: String] = [:]
        for line in try text("env").map(lines) ?? [] {
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let eq = line.firstIndex(of: "="), eq != line.startIndex else {
                throw CorpusSetupError(description: "\(id).env: malformed line \"\(line)\" (expected K=V)")
            }
            env[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }

        var masks: [NSRegularExpression] = []
        for line in try text("mask").map(lines) ?? [] {
            if line.isEmpty || line.hasPrefix("#") { continue }
            do {
                masks.append(try NSRegularExpression(pattern: line, options: [.anchorsMatchLines]))
            } catch {
                throw CorpusSetupError(description: "\(id).mask: invalid regex \"\(line)\": \(error)")
            }
        }

        var expected: Int32 = 0
        if let s = try text("status") {
            let t = s.trimmingCharacters(in: .whitespacesAndNewlines)
            guard let v = Int32(t) else { throw CorpusSetupError(description: "\(id).status: not a number: \"\(t)\"") }
            expected = v
        }
        return CorpusEntry(
            kind: kind, name: name, mainFile: main, arguments: arguments, stdinPath: stdinPath,
            extraEnvironment: env, masks: masks, expectedStatus: expected)
    }
}

// MARK: - Running one entry

struct RunOutcome {
    var status: Int32 = -1  // exit status, or 128+N for death by signal N
    var signal: Int32? = nil
    var stdout = Data()
    var stderr = Data()
    var timedOut = false
    var unkillable = false
    var launchError: String? = nil
    var seconds: Double = 0

    var statusDescription: String {
        if let s = signal { return "\(status) (killed by signal \(s))" }
        return "\(status)"
    }
}

enum ProcessRunner {
    /// Runs a process with stdout/stderr redirected to files (no pipes, so no deadlock on large
    /// outputs), stdin from a file, and a hard timeout (SIGTERM, then SIGKILL).
    static func run(
        executable: String, arguments: [String], directory: URL, environment: [String: String],
        stdinPath: String, stdoutFile: URL, stderrFile: URL, timeout: TimeInterval
    ) -> RunOutcome {
        var outcome = RunOutcome()
        let fm = FileManager.default
        guard fm.createFile(atPath: stdoutFile.path, contents: nil),
            fm.createFile(atPath: stderrFile.path, contents: nil),
            let out = FileHandle(forWritingAtPath: stdoutFile.path),
            let err = FileHandle(forWritingAtPath: stderrFile.path)
        else {
            outcome.launchError = "cannot create output files in \(stdoutFile.deletingLastPathComponent().path)"
            return outcome
        }
        guard let input = FileHandle(forReadingAtPath: stdinPath) else {
            try? out.close()
            try? err.close()
            outcome.launchError = "cannot open stdin file \(stdinPath)"
            return outcome
        }
        defer {
            try? input.close()
            try? out.close()
            try? err.close()
        }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = directory
        process.environment = environment
        process.standardInput = input
        process.standardOutput = out
        process.standardError = err
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }

        let start = Date()
        do {
            try process.run()
        } catch {
            outcome.launchError = "cannot launch \(executable): \(error)"
            return outcome
        }
        if finished.wait(timeout: .now() + timeout) == .timedOut {
            outcome.timedOut = true
            // Foundation's Process spawns the child as the leader of its own process group
            // (POSIX_SPAWN_SETPGROUP) and notices its exit only once every inheritor of an internal
            // socket has gone, so signal the whole group: that is the child and its descendants.
            let pid = process.processIdentifier
            signalChild(pid, SIGTERM)
            if finished.wait(timeout: .now() + 5) == .timedOut {
                signalChild(pid, SIGKILL)
                if finished.wait(timeout: .now() + 30) == .timedOut {
                    outcome.unkillable = true
                }
            }
        }
        outcome.seconds = Date().timeIntervalSince(start)
        try? out.synchronize()
        try? err.synchronize()
        outcome.stdout = (try? Data(contentsOf: stdoutFile)) ?? Data()
        outcome.stderr = (try? Data(contentsOf: stderrFile)) ?? Data()
        if outcome.unkillable || process.isRunning {
            outcome.unkillable = true
            return outcome
        }
        process.waitUntilExit()
        if process.terminationReason == .uncaughtSignal {
            outcome.signal = process.terminationStatus
            outcome.status = 128 + process.terminationStatus
        } else {
            outcome.status = process.terminationStatus
        }
        return outcome
    }

    /// Sends `sig` to the child and, if it leads its own process group, to that group.
    private static func signalChild(_ pid: pid_t, _ sig: Int32) {
        guard pid > 0 else { return }
        if getpgid(pid) == pid {
            _ = kill(-pid, sig)
        }
        _ = kill(pid, sig)
    }
}

private enum FileNode: Equatable {
    case directory
    case file(Data)
    case sqliteDump(Data)
    case symlink(Data)
    case other(String)

    var kindName: String {
        switch self {
        case .directory: return "directory"
        case .file: return "file"
        case .sqliteDump: return "sqlite database"
        case .symlink: return "symlink"
        case .other(let t): return "special file (\(t))"
        }
    }
}

/// How an entry runs: plainly (native vs `revenant run`), or with the Perl shim (native with
/// the shim vs `revenant record --keep-channel`, plus the shim checks of ShimChecks.swift).
enum RunVariant {
    case plain
    case shim(lib: String)
}

private struct EntryRunner {
    let entry: CorpusEntry
    let corpus: URL
    let revenant: URL
    let settings: CorpusSettings
    let base: URL
    var variant: RunVariant = .plain

    var traceDir: URL { base.appendingPathComponent("trace.rvt") }
    var nativeLog: URL { base.appendingPathComponent("native-channel.bin") }

    private var nativeDir: URL { base.appendingPathComponent("native") }
    private var replayDir: URL { base.appendingPathComponent("replay") }  // same length as "native"
    private var outputDir: URL { base.appendingPathComponent("output") }

    /// Returns the list of problems (empty = pass) and a timing summary.
    func run() throws -> ([String], String) {
        let fm = FileManager.default
        try? fm.removeItem(at: base)
        for d in [nativeDir, replayDir, outputDir] {
            try fm.createDirectory(at: d, withIntermediateDirectories: true)
        }
        try prepare(nativeDir)
        try prepare(replayDir)
        let startedWith = RestoreChecks.files(under: replayDir.resolvingSymlinksInPath())

        var environment = ProcessInfo.processInfo.environment
        if case .shim = variant {
            // One hash order for all three runs: scripts whose control flow follows hash order
            // (JSON::PP's overload setup does) then run the same statements natively and in the VM.
            environment["PERL_HASH_SEED"] = "0"
            environment["PERL_PERTURB_KEYS"] = "0"
        }
        for (k, v) in entry.extraEnvironment { environment[k] = v }

        var nativeArguments = entry.arguments, nativeEnvironment = environment, verb = ["run"]
        if case .shim(let lib) = variant {
            nativeArguments = ["-I" + lib, "-MRevenant::Shim"] + nativeArguments
            nativeEnvironment["REVENANT_SHIM_LOG"] = nativeLog.path
            verb = ["record", "-o", traceDir.path, "--keep-channel"]
        }
        let native = ProcessRunner.run(
            executable: entry.kind.nativeExecutable, arguments: nativeArguments, directory: nativeDir,
            environment: nativeEnvironment, stdinPath: entry.stdinPath,
            stdoutFile: outputDir.appendingPathComponent("native.stdout"),
            stderrFile: outputDir.appendingPathComponent("native.stderr"), timeout: settings.timeout)
        let replay = ProcessRunner.run(
            executable: revenant.path,
            arguments: verb + settings.extraRunArguments + ["--", entry.kind.nativeExecutable] + entry.arguments,
            directory: replayDir, environment: environment, stdinPath: entry.stdinPath,
            stdoutFile: outputDir.appendingPathComponent("revenant.stdout"),
            stderrFile: outputDir.appendingPathComponent("revenant.stderr"), timeout: settings.timeout)
        let timing = String(format: "(native %.2f s, revenant %.2f s)", native.seconds, replay.seconds)

        var problems: [String] = []
        for (label, r) in [("native", native), ("revenant", replay)] {
            if let e = r.launchError { problems.append("\(label) run: \(e)") }
            if r.timedOut {
                problems.append(
                    "\(label) run timed out after \(Int(settings.timeout)) s and was killed"
                        + (r.unkillable ? " (and did not die even after SIGKILL)" : ""))
            }
        }
        if !problems.isEmpty {
            if native.launchError == nil && !native.timedOut {
                problems.append(tail(label: "revenant stderr", replay.stderr))
            }
            return (problems, timing)
        }

        if native.status != entry.expectedStatus {
            problems.append(
                "corpus problem: native exit status \(native.statusDescription), expected \(entry.expectedStatus)"
                    + (entry.expectedStatus == 0 ? "" : " (\(entry.name).status)"))
        }
        if native.status != replay.status {
            problems.append("exit status: native \(native.statusDescription), revenant \(replay.statusDescription)")
        }

        let normaliser = Normaliser(masks: entry.masks)
        let nStdout = normaliser.apply(native.stdout, cwd: nativeDir)
        let rStdout = normaliser.apply(replay.stdout, cwd: replayDir)
        if nStdout != rStdout { problems.append("stdout " + describeDifference(nStdout, rStdout)) }
        let nStderr = normaliser.apply(native.stderr, cwd: nativeDir)
        let rStderr = normaliser.apply(replay.stderr, cwd: replayDir)
        if nStderr != rStderr { problems.append("stderr " + describeDifference(nStderr, rStderr)) }

        let nFiles = try snapshot(nativeDir, normaliser: normaliser, tag: "native")
        let rFiles = try snapshot(replayDir, normaliser: normaliser, tag: "revenant")
        problems.append(contentsOf: compareTrees(nFiles, rFiles))

        if native.status != replay.status {
            problems.append(tail(label: "revenant stderr", replay.stderr))
        }
        if case .shim = variant, problems.isEmpty {
            // Natively without the shim, in a fresh directory: the same output as with it.
            let plainDir = base.appendingPathComponent("noshim")
            try FileManager.default.createDirectory(at: plainDir, withIntermediateDirectories: true)
            try prepare(plainDir)
            let plain = ProcessRunner.run(
                executable: entry.kind.nativeExecutable, arguments: entry.arguments, directory: plainDir,
                environment: environment, stdinPath: entry.stdinPath,
                stdoutFile: outputDir.appendingPathComponent("plain.stdout"),
                stderrFile: outputDir.appendingPathComponent("plain.stderr"), timeout: settings.timeout)
            if plain.status != native.status {
                problems.append(
                    "exit status: without the shim \(plain.statusDescription), with it \(native.statusDescription)")
            }
            let pOut = normaliser.apply(plain.stdout, cwd: plainDir),
                pErr = normaliser.apply(plain.stderr, cwd: plainDir)
            if pOut != nStdout { problems.append("stdout without/with the shim " + describeDifference(pOut, nStdout)) }
            if pErr != nStderr { problems.append("stderr without/with the shim " + describeDifference(pErr, nStderr)) }
            problems += ShimChecks.afterRecord(
                revenant: revenant, trace: traceDir, nativeLog: nativeLog,
                deterministic: !entry.hasMasks && native.signal == nil, scratch: base, timeout: settings.timeout)
            problems += RestoreChecks.afterRecord(
                revenant: revenant, trace: traceDir, runDirectory: replayDir, startedWith: startedWith, scratch: base,
                timeout: settings.timeout)
            if problems.isEmpty && !entry.hasMasks && native.signal == nil {
                problems += try quietRecording(environment: environment, expectedStatus: native.status)
            }
        }
        if settings.keep {
            problems = problems.isEmpty ? [] : problems + ["kept: \(base.path)"]
        }
        return (problems, timing)
    }

    /// A deterministic entry recorded again as users record (no --keep-channel: the shim quiet,
    /// leaving its statements out) regenerates the statements the full recording kept live.
    private func quietRecording(environment: [String: String], expectedStatus: Int32) throws -> [String] {
        let dir = base.appendingPathComponent("silent")  // same length as "replay" and "native"
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try prepare(dir)
        let quietTrace = base.appendingPathComponent("quiet.rvt")
        let r = ProcessRunner.run(
            executable: revenant.path,
            arguments: ["record", "-o", quietTrace.path] + settings.extraRunArguments
                + ["--", entry.kind.nativeExecutable] + entry.arguments,
            directory: dir, environment: environment, stdinPath: entry.stdinPath,
            stdoutFile: outputDir.appendingPathComponent("quiet.stdout"),
            stderrFile: outputDir.appendingPathComponent("quiet.stderr"), timeout: settings.timeout)
        guard r.status == expectedStatus else {
            return ["quiet recording exited \(r.statusDescription): " + tail(label: "stderr", r.stderr)]
        }
        guard let live = try? Data(contentsOf: traceDir.appendingPathComponent("channel.live")) else {
            return ["no channel.live to compare the quiet recording with"]
        }
        return ShimChecks.afterQuietRecord(
            revenant: revenant, trace: quietTrace, reference: live, scratch: base, timeout: settings.timeout)
    }

    /// Copies the contents of fixtures/ (and the perl script) into a fresh working directory.
    private func prepare(_ dir: URL) throws {
        let fm = FileManager.default
        let fixtures = corpus.appendingPathComponent("fixtures")
        if fm.fileExists(atPath: fixtures.path) {
            for item in try fm.contentsOfDirectory(atPath: fixtures.path).sorted() {
                try fm.copyItem(at: fixtures.appendingPathComponent(item), to: dir.appendingPathComponent(item))
            }
        }
        if entry.kind == .perl {
            try fm.copyItem(at: entry.mainFile, to: dir.appendingPathComponent(entry.mainFile.lastPathComponent))
        }
    }

    /// Recursively records every path under `root` (relative path -> node), normalised.
    private func snapshot(_ root: URL, normaliser: Normaliser, tag: String) throws -> [String: FileNode] {
        let fm = FileManager.default
        var result: [String: FileNode] = [:]
        var dumpCounter = 0
        func walk(_ dir: URL, _ prefix: String) throws {
            for name in try fm.contentsOfDirectory(atPath: dir.path).sorted() {
                let url = dir.appendingPathComponent(name)
                let rel = prefix.isEmpty ? name : prefix + "/" + name
                let attrs = try fm.attributesOfItem(atPath: url.path)  // does not follow symlinks
                let type = attrs[.type] as? FileAttributeType
                if type == .typeSymbolicLink {
                    let target = try fm.destinationOfSymbolicLink(atPath: url.path)
                    result[rel] = .symlink(normaliser.apply(Data(target.utf8), cwd: root))
                } else if type == .typeDirectory {
                    result[rel] = .directory
                    try walk(url, rel)
                } else if type == .typeRegular {
                    let data = try Data(contentsOf: url)
                    if entry.kind == .sqlite && entry.hasMasks && data.starts(with: sqliteHeader) {
                        dumpCounter += 1
                        result[rel] = .sqliteDump(
                            normaliser.apply(try sqliteDump(data, tag: "\(tag)-\(dumpCounter)"), cwd: root))
                    } else {
                        result[rel] = .file(normaliser.apply(data, cwd: root))
                    }
                } else {
                    result[rel] = .other(type.map { "\($0)" } ?? "unknown")
                }
            }
        }
        try walk(root, "")
        return result
    }

    private var sqliteHeader: Data { Data("SQLite format 3\u{0}".utf8) }

    /// `sqlite3 FILE .dump`, run natively on a copy of the database (so the working tree is untouched).
    private func sqliteDump(_ data: Data, tag: String) throws -> Data {
        let copy = outputDir.appendingPathComponent("dump-\(tag).db")
        try data.write(to: copy)
        let r = ProcessRunner.run(
            executable: CorpusKind.sqlite.nativeExecutable, arguments: [copy.path, ".dump"], directory: outputDir,
            environment: ProcessInfo.processInfo.environment, stdinPath: "/dev/null",
            stdoutFile: outputDir.appendingPathComponent("dump-\(tag).sql"),
            stderrFile: outputDir.appendingPathComponent("dump-\(tag).err"), timeout: settings.timeout)
        if let e = r.launchError { throw CorpusSetupError(description: "sqlite3 .dump: \(e)") }
        if r.timedOut { throw CorpusSetupError(description: "sqlite3 .dump timed out") }
        var out = r.stdout
        if !r.stderr.isEmpty || r.status != 0 {
            out.append(Data("\n-- sqlite3 .dump exit status \(r.status), stderr:\n".utf8))
            out.append(r.stderr)
        }
        return out
    }

    private func compareTrees(_ native: [String: FileNode], _ replay: [String: FileNode]) -> [String] {
        var problems: [String] = []
        let onlyNative = native.keys.filter { replay[$0] == nil }.sorted()
        let onlyReplay = replay.keys.filter { native[$0] == nil }.sorted()
        if !onlyNative.isEmpty {
            problems.append("files only in the native run: " + summariseList(onlyNative))
        }
        if !onlyReplay.isEmpty {
            problems.append("files only in the revenant run: " + summariseList(onlyReplay))
        }
        var contentProblems = 0
        for path in native.keys.sorted() {
            guard let n = native[path], let r = replay[path], n != r else { continue }
            contentProblems += 1
            if contentProblems > 10 {
                continue
            }
            switch (n, r) {
            case (.file(let a), .file(let b)):
                problems.append("file \(path) " + describeDifference(a, b))
            case (.sqliteDump(let a), .sqliteDump(let b)):
                problems.append("database \(path) (compared via .dump) " + describeDifference(a, b))
            case (.symlink(let a), .symlink(let b)):
                problems.append("symlink \(path): native -> \(quote(a)), revenant -> \(quote(b))")
            default:
                problems.append("\(path): native has a \(n.kindName), revenant has a \(r.kindName)")
            }
        }
        if contentProblems > 10 {
            problems.append("... and \(contentProblems - 10) more differing files")
        }
        return problems
    }

    private func summariseList(_ items: [String]) -> String {
        let shown = items.prefix(15).joined(separator: ", ")
        return items.count > 15 ? shown + ", ... (\(items.count) in total)" : shown
    }

    private func tail(label: String, _ data: Data) -> String {
        let lines = splitLines(data)
        let last = lines.suffix(8).map { "      " + quote($0) }
        if last.isEmpty { return "\(label): (empty)" }
        return "\(label) (last \(last.count) lines):\n" + last.joined(separator: "\n")
    }
}

// MARK: - Normalisation (cwd replacement + masks)

private struct Normaliser {
    let masks: [NSRegularExpression]

    func apply(_ data: Data, cwd: URL) -> Data {
        var result = data
        var paths = [cwd.path]
        let resolved = cwd.resolvingSymlinksInPath().path
        if resolved != cwd.path { paths.append(resolved) }
        for p in paths.sorted(by: { $0.utf8.count > $1.utf8.count }) {
            result = replaceAll(in: result, needle: Data(p.utf8), with: Data("<CWD>".utf8))
        }
        if masks.isEmpty { return result }
        // Treat every byte as one Latin-1 character so regexes work on arbitrary binary data.
        var scalars = String.UnicodeScalarView()
        scalars.append(contentsOf: result.map { Unicode.Scalar($0) })
        var text = String(scalars)
        for re in masks {
            let ns = text as NSString
            text = re.stringByReplacingMatches(
                in: text, options: [], range: NSRange(location: 0, length: ns.length),
                withTemplate: "<MASKED>")
        }
        return Data(text.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) })
    }

    private func replaceAll(in data: Data, needle: Data, with replacement: Data) -> Data {
        guard !needle.isEmpty, data.count >= needle.count else { return data }
        var out = Data()
        out.reserveCapacity(data.count)
        var cursor = data.startIndex
        while let r = data.range(of: needle, options: [], in: cursor..<data.endIndex) {
            out.append(data[cursor..<r.lowerBound])
            out.append(replacement)
            cursor = r.upperBound
        }
        if cursor == data.startIndex { return data }
        out.append(data[cursor..<data.endIndex])
        return out
    }
}

// MARK: - Human-readable differences

private func splitLines(_ data: Data) -> [Data] {
    var lines: [Data] = []
    var start = data.startIndex
    var i = data.startIndex
    while i < data.endIndex {
        if data[i] == 0x0A {
            lines.append(data[start..<i])
            start = data.index(after: i)
        }
        i = data.index(after: i)
    }
    if start < data.endIndex { lines.append(data[start..<data.endIndex]) }
    return lines
}

/// Quotes a line for display: valid UTF-8 is shown as text with control characters escaped,
/// anything else byte-wise with \xNN escapes; long lines are truncated.
private func quote(_ data: Data, limit: Int = 160) -> String {
    var s = ""
    if let text = String(data: data, encoding: .utf8) {
        for ch in text.unicodeScalars {
            switch ch {
            case "\t": s += "\\t"
            case "\r": s += "\\r"
            case "\"": s += "\\\""
            case "\\": s += "\\\\"
            default:
                if ch.value < 0x20 || ch.value == 0x7F {
                    s += String(format: "\\x%02x", ch.value)
                } else {
                    s.unicodeScalars.append(ch)
                }
            }
            if s.count > limit { return "\"" + s.prefix(limit) + "\"…" }
        }
    } else {
        for b in data {
            if b >= 0x20 && b < 0x7F && b != 0x22 && b != 0x5C {
                s.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                s += String(format: "\\x%02x", b)
            }
            if s.count > limit { return "\"" + s.prefix(limit) + "\"…" }
        }
    }
    return "\"" + s + "\""
}

/// e.g. `differs: native 120 bytes / 10 lines, revenant 0 bytes / 0 lines; first difference at line 1 (byte 0): ...`
private func describeDifference(_ native: Data, _ replay: Data) -> String {
    let nLines = splitLines(native)
    let rLines = splitLines(replay)
    var firstByte = 0
    let nb = [UInt8](native), rb = [UInt8](replay)
    while firstByte < nb.count && firstByte < rb.count && nb[firstByte] == rb[firstByte] { firstByte += 1 }
    var firstLine = 0
    while firstLine < nLines.count && firstLine < rLines.count && nLines[firstLine] == rLines[firstLine] {
        firstLine += 1
    }
    var differing = 0
    for i in 0..<max(nLines.count, rLines.count) {
        let a = i < nLines.count ? nLines[i] : nil
        let b = i < rLines.count ? rLines[i] : nil
        if a != b { differing += 1 }
    }
    var s =
        "differs: native \(native.count) bytes / \(nLines.count) lines, "
        + "revenant \(replay.count) bytes / \(rLines.count) lines; "
    s +=
        "\(differing) line(s) differ position-wise; "
        + "first difference at line \(firstLine + 1) (byte offset \(firstByte)):"
    s += "\n      native:   " + (firstLine < nLines.count ? quote(nLines[firstLine]) : "<end of output>")
    s += "\n      revenant: " + (firstLine < rLines.count ? quote(rLines[firstLine]) : "<end of output>")
    if firstLine >= nLines.count && firstLine >= rLines.count {
        s += "\n      (lines are equal; the difference is in the trailing newline)"
    }
    return s
}

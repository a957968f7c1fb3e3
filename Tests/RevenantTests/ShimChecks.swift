import Foundation
import Personality
import Regen
import Replay
import Trace

/// Checks on a run recorded with the Perl shim (used by the corpus and by PerlShimTests).
enum ShimChecks {
    /// A statement as the log names it: file, line and sub.
    struct Statement: Equatable, CustomStringConvertible {
        var file: String, line: Int64, sub: String
        var description: String { "\(file):\(line) \(sub)" }
    }

    /// Decode a channel stream into its statements (file:line sub) and op results.
    /// A process that execs another perl has a second program's records after the first's, from
    /// its START on, numbered afresh (ProgramIds); `firstProgram` stops there (a native shim log
    /// has the first program only: natively nothing adds the shim to the programs it execs).
    static func decode(
        _ bytes: [UInt8], firstProgram: Bool = false
    ) throws -> (statements: [Statement], records: [ChannelRecord]) {
        var d = ProgramReader(bytes)
        var started = false
        var strings: [UInt64: String] = [:], files: [UInt64: String] = [:], contexts: [UInt64: (UInt64, UInt64)] = [:]
        var statements: [Statement] = [], records: [ChannelRecord] = []
        while true {
            // (A START begins each Perl program; the stream has no other mark of a new program.)
            if started, d.offset < bytes.count, bytes[d.offset] == ChannelDecoder.Tag.start.rawValue {
                if firstProgram { break }
                d.nextProgram()
            }
            guard let (r, _) = try d.next() else { break }
            if case .start = r { started = true }
            records.append(r)
            switch r {
            case .string(let id, let v): strings[id] = v
            case .file(let id, let p, _): files[id] = p
            case .context(let id, let f, _, let sub): contexts[id] = (f, sub)
            case .statement(let c, let line):
                let (f, sub) = contexts[c] ?? (0, 0)
                statements.append(
                    Statement(file: files[f] ?? "?", line: line, sub: sub == 0 ? "" : strings[sub] ?? "?"))
            default: break
            }
        }
        return (statements, records)
    }

    /// Syscall numbers of every event in a trace.
    static func syscallNumbers(_ trace: URL) throws -> [UInt64] {
        var reader = try EventReader(path: trace.appendingPathComponent("events").path)
        var out: [UInt64] = []
        while let e = try reader.next() {
            guard e.kind == EventKind.syscall.rawValue else { continue }
            out.append(try SyscallEvent.decode(e.payload).number)
        }
        return out
    }

    /// After `record --keep-channel`: regen gives the live channel byte for byte (its replay made
    /// to take the fallback paths at random calls: REVENANT_FORCE_FALLBACK); the trace holds no
    /// channel call; for deterministic runs the statements equal the native log's.
    static func afterRecord(
        revenant: URL, trace: URL, nativeLog: URL, deterministic: Bool, scratch: URL, timeout: TimeInterval
    ) -> [String] {
        var problems: [String] = []
        let regen: Data
        switch regenerate(
            revenant: revenant, trace: trace, named: "regen", scratch: scratch, timeout: timeout,
            environment: ["REVENANT_FORCE_FALLBACK": "30"])
        {
        case .failure(let problem): return [problem.text]
        case .success(let channel): regen = channel
        }
        guard let live = try? Data(contentsOf: trace.appendingPathComponent("channel.live")) else {
            return ["no channel.live or regenerated channel"]
        }
        if live.isEmpty { problems.append("the live channel is empty: the shim did not run in the VM") }
        if live != regen {
            let common = zip(live, regen).prefix { $0 == $1 }.count
            problems.append(
                "regenerated channel (\(regen.count) bytes) differs from the live one (\(live.count) bytes) "
                    + "at byte \(common)"
            )
        }
        problems += steppedStatements(
            revenant: revenant, trace: trace, regenerated: regen, scratch: scratch, timeout: timeout)
        problems += fastStatements(
            revenant: revenant, trace: trace, regenerated: regen, scratch: scratch, timeout: timeout)
        do {
            if try syscallNumbers(trace).contains(ChannelPort.number) {
                problems.append("the trace holds a channel call")
            }
        } catch { problems.append("cannot read the trace's events: \(error)") }
        if deterministic {
            do {
                guard let native = try? Data(contentsOf: nativeLog) else {
                    return problems + ["the native shim wrote no log"]
                }
                let n = try decode(Array(native)).statements
                let v = try decode(Array(regen), firstProgram: true).statements
                if let d = difference(n, "native", v, "regenerated") { problems.append(d) }
                if n.isEmpty { problems.append("the native shim logged no statement") }
            } catch { problems.append("a channel does not decode: \(error)") }
        }
        return problems
    }

    /// After a plain `record` of the same deterministic run (the shim quiet: no statement record):
    /// `regen` replays it without diverging and brings back the statements the recording that
    /// kept every record handed over live (`reference`), in order.
    static func afterQuietRecord(
        revenant: URL, trace: URL, reference: Data, scratch: URL, timeout: TimeInterval
    ) -> [String] {
        let regenerated: Data
        switch regenerate(revenant: revenant, trace: trace, named: "quiet-regen", scratch: scratch, timeout: timeout) {
        case .failure(let problem): return ["of the quiet recording: " + problem.text]
        case .success(let channel): regenerated = channel
        }
        guard let q = try? decode(Array(regenerated)).statements, let f = try? decode(Array(reference)).statements
        else { return ["a channel of the quiet recording or of the full one does not decode"] }
        return difference(q, "regenerated from the quiet recording", f, "kept live").map { [$0] } ?? []
    }

    struct Problem: Error { var text: String }

    /// `regen -q TRACE --channel-out` into `scratch` (NAME.stdout, NAME.stderr, NAME-channel.bin):
    /// the regenerated channel, or what went wrong in one line.
    static func regenerate(
        revenant: URL, trace: URL, named name: String, scratch: URL, timeout: TimeInterval,
        environment extra: [String: String] = [:]
    ) -> Result<Data, Problem> {
        let out = scratch.appendingPathComponent(name + "-channel.bin")
        let r = ProcessRunner.run(
            executable: revenant.path, arguments: ["regen", "-q", trace.path, "--channel-out", out.path],
            directory: scratch, environment: ProcessInfo.processInfo.environment.merging(extra) { $1 },
            stdinPath: "/dev/null", stdoutFile: scratch.appendingPathComponent(name + ".stdout"),
            stderrFile: scratch.appendingPathComponent(name + ".stderr"), timeout: timeout)
        guard r.status == 0 else {
            return .failure(
                Problem(text: "regen exited \(r.status): \(String(decoding: r.stderr.suffix(400), as: UTF8.self))"))
        }
        guard let channel = try? Data(contentsOf: out) else { return .failure(Problem(text: "regen wrote no channel")) }
        return .success(channel)
    }

    /// Where two statement sequences part, in one line ("statements: A n, B m; first difference at
    /// #i: A x vs y"); nil when they are the same.
    static func difference(_ a: [Statement], _ aName: String, _ b: [Statement], _ bName: String) -> String? {
        guard a != b else { return nil }
        let i = zip(a, b).prefix { $0 == $1 }.count
        return "statements: \(aName) \(a.count), \(bName) \(b.count); first difference at #\(i): "
            + "\(aName) \(i < a.count ? a[i].description : "-") vs \(i < b.count ? b[i].description : "-")"
    }

    /// `revenant perl TRACE` stops at every statement (the VMM pausing the guest inside the
    /// shim's hook) and must list exactly the regenerated statements, in order, and replay to the
    /// end without diverging: stepping changes nothing the program can see.
    static func steppedStatements(
        revenant: URL, trace: URL, regenerated: Data, scratch: URL, timeout: TimeInterval
    ) -> [String] {
        let r = ProcessRunner.run(
            executable: revenant.path, arguments: ["perl", "--path", "vm", trace.path], directory: scratch,
            environment: ProcessInfo.processInfo.environment, stdinPath: "/dev/null",
            stdoutFile: scratch.appendingPathComponent("perl.stdout"),
            stderrFile: scratch.appendingPathComponent("perl.stderr"), timeout: timeout)
        guard r.status == 0 else {
            return ["revenant perl exited \(r.status): \(String(decoding: r.stderr.suffix(400), as: UTF8.self))"]
        }
        return sameStatements(r.stdout, regenerated, what: "revenant perl --path vm")
    }

    /// `revenant perl --path fast`: where regen found every input went through hooked ops, the
    /// script runs again under perl, the shim feeding the log back and checking every statement;
    /// it lists exactly the regenerated statements and ends as the recording did — or declines
    /// for an operation it names as not replayable outside the VM. Where regen found input outside
    /// the hooked ops, it refuses with regen's reason. Prints which it was.
    static func fastStatements(
        revenant: URL, trace: URL, regenerated: Data, scratch: URL, timeout: TimeInterval
    ) -> [String] {
        let r = ProcessRunner.run(
            executable: revenant.path, arguments: ["perl", "--path", "fast", trace.path], directory: scratch,
            environment: ProcessInfo.processInfo.environment, stdinPath: "/dev/null",
            stdoutFile: scratch.appendingPathComponent("fast.stdout"),
            stderrFile: scratch.appendingPathComponent("fast.stderr"), timeout: timeout)
        let name = trace.deletingLastPathComponent().lastPathComponent
        let err = String(decoding: r.stderr, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let dir = try? TraceDirectory.open(trace.path).0, let index = TraceIndex.open(dir) else {
            return ["no index after revenant perl"]
        }
        let eligible = index.meta("fast_replay") == "yes"
        if r.status == 0 {
            guard eligible else { return ["the fast replay ran although regen found it inexact for this run"] }
            print("[corpus] \(name): fast replay: \(index.statementCount) statements, ended as recorded")
            return sameStatements(r.stdout, regenerated, what: "revenant perl --path fast")
        }
        guard r.status == 124 else { return ["revenant perl --path fast exited \(r.status): \(err.suffix(400))"] }
        if !eligible {
            guard err.contains("regen found it inexact for this run") else {
                return ["--path fast refused for another reason: \(err)"]
            }
            print("[corpus] \(name): fast replay: not eligible (\(index.meta("fast_replay_blocker") ?? "?"))")
            return []
        }
        // Declining is honest only for an operation named as not replayable outside the VM.
        guard err.contains("cannot be replayed outside the VM") else { return ["the fast replay diverged: \(err)"] }
        print("[corpus] \(name): fast replay: declined (\(err.components(separatedBy: ": ").last ?? err))")
        return []
    }

    /// The "perl FILE:LINE" positions `revenant perl` listed are the regenerated statements.
    static func sameStatements(_ stdout: Data, _ regenerated: Data, what: String) -> [String] {
        // "event #E, perl FILE:LINE[, SQL #k]: statement #N[ in SUB]"
        let stepped = String(decoding: stdout, as: UTF8.self).split(separator: "\n").map { line -> String in
            guard let p = line.range(of: ", perl ") else { return String(line) }
            let rest = line[p.upperBound...]
            let end =
                rest.range(of: ", SQL #")?.lowerBound ?? rest.range(of: ": statement #")?.lowerBound ?? rest.endIndex
            return String(rest[..<end])
        }
        guard let wanted = try? decode(Array(regenerated)).statements.map({ "\($0.file):\($0.line)" }) else {
            return ["the regenerated channel does not decode"]
        }
        if stepped != wanted {
            let i = zip(stepped, wanted).prefix { $0 == $1 }.count
            return [
                "\(what) stopped at \(stepped.count) statements, the channel has \(wanted.count); "
                    + "first difference at #\(i): "
                    + "\(i < stepped.count ? stepped[i] : "-") vs \(i < wanted.count ? wanted[i] : "-")"
            ]
        }
        return []
    }
}

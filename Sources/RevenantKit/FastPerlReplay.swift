import Glibc
import LinuxABI
import Machine
import PerlReplay
import Regen
import Trace

/// The fast form of the Perl-level replay (Docs/perl-replay.md): the recorded script runs again
/// under perl in a fresh sandbox — a new VM, the recorded argv and environment, the recorded
/// working directory backed by a scratch folder holding only the program's own source files,
/// the host read-only — with the Perl shim in replay mode. The shim feeds every logged result
/// back, checks every statement against the log, evaluates --when/--print in the program's own
/// scope at the statements asked for, and reports through the channel. Used only where `regen`
/// found that every input passed through hooked ops; any divergence is reported and the caller
/// takes the VM path.
package struct FastPerlReplay {
    /// What to evaluate where: the shim's request, one item per line.
    package struct Request {
        /// `when EXPR`, then its variables: `var $x` (aliased into the predicate's package) or
        /// `need $Pkg::x` (only has to exist).
        var when: [String] = []
        /// `print KIND DISPLAY<TAB>CODE`: KIND s (a scalar), a or h (a reference to the array or
        /// hash, shown as a list).
        var prints: [String] = []
        /// Statement numbers to stop at; nil: every statement (a listing, or --when everywhere).
        var breaks: [Int]?
        var first = false

        init(
            when: (text: String, expression: PerlExpression)?, prints: [(text: String, expression: PerlExpression)],
            other: String?, breaks: [Int]?, first: Bool
        ) {
            if let when {
                self.when =
                    ["when " + when.text]
                    + Set(when.expression.variables).sorted().map { n in
                        // As the VM path resolves them: a plain name may be a lexical or in the
                        // statement's package; a qualified or special one is found as it is.
                        let leaf = n.dropFirst()
                        let plain =
                            leaf.first.map { $0.isLetter || $0 == "_" } == true && !leaf.contains("::")
                            && !PerlIntrospector.mainOnly.contains(String(leaf))
                        return (plain ? "var " : "need ") + n
                    }
            }
            // The display ends at the line's first tab; the code may hold any.
            func shown(_ t: String) -> String { t.replacingOccurrences(of: "\t", with: " ") }
            for (text, e) in prints {
                switch e {
                case .arrayVar, .derefArray: self.prints.append("print a \(shown(text))\t\\\(text)")
                case .hashVar, .derefHash: self.prints.append("print h \(shown(text))\t\\\(text)")
                default: self.prints.append("print s \(shown(text))\t\(text)")
                }
            }
            if let other { self.prints.append("print s \(shown(other))\t\(other)") }
            self.breaks = breaks
            self.first = first
        }

        var text: [String] {
            when + prints + (breaks.map { $0.map { "break \($0)" } } ?? ["every"]) + (first ? ["first"] : [])
        }

        /// An expression with a newline in it would break its line apart.
        var fitsLines: Bool { !text.contains { $0.contains("\n") } }
    }

    package enum Outcome {
        /// The run ended where the recording did (or stopped at --first): the hits, in order.
        case finished([(seq: Int, lines: [String])])
        /// The fast form cannot be trusted for this run; why.
        case diverged(String)
    }

    package let trace: String
    package let index: TraceIndex
    package let header: TraceHeader
    /// How long one evaluation may run (--timeout).
    package var evaluation = EvaluationLimit()

    package init(trace: String, index: TraceIndex, header: TraceHeader) {
        self.trace = trace
        self.index = index
        self.header = header
    }

    /// Why this run cannot take the fast form, or nil when it can.
    package func unavailable() -> String? {
        guard index.meta("fast_replay") == "yes" else {
            return "regen found it inexact for this run: \(index.meta("fast_replay_blocker") ?? "unknown")"
        }
        guard ShimSelection.perlShimLibrary() != nil else { return "the Perl shim is not built" }
        guard ShimSelection.isPerl(header.program.description) else { return "\(header.program) is not perl" }
        return nil
    }

    /// Run it (an expression spanning lines cannot be sent: the request is one item per line).
    package func run(_ request: Request) throws -> Outcome {
        if let why = unavailable() { return .diverged(why) }
        guard request.fitsLines else { return .diverged("an expression spans lines") }
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        guard null >= 0 else { throw CLIError("cannot open /dev/null: \(String(cString: strerror(errno)))") }
        defer { close(null) }
        let stderr: Int32 = environmentValue("REVENANT_FAST_STDERR") == nil ? null : 2
        do {
            let what =
                request.when.isEmpty
                ? "the --print expression"
                : request.prints.isEmpty
                    ? "the --when predicate"
                    : "the --when predicate or a --print expression"
            return try inSandbox(
                request.text, stdio: [null, null, stderr], debugger: false,
                timing: what
            ) { status, collected in
                try outcome(status: status, collected: collected)
            }
        } catch let e as Inexact { return .diverged(e.why) }
    }

    /// perl's own debugger (`perl -d`) on the fast form, on the terminal: the user's commands run
    /// as they would on the original run, its statements checked against the log as they go.
    /// Returns the exit status for revenant.
    package func debug() throws -> Int32 {
        if let why = unavailable() { throw CLIError("--path fast: \(why)", code: 124) }
        do {
            return try inSandbox([], stdio: [0, 1, 2], debugger: true) { _, collected in
                switch try outcome(status: nil, collected: collected) {
                case .finished: return 0
                case .diverged(let why):
                    FileHandleStderr.write("revenant: the fast replay \(why)\n")
                    return 124
                }
            }
        } catch let e as Inexact { throw CLIError("--path fast: \(e.why)", code: 124) }
    }

    /// Set up the sandbox (scratch folder, the feed and request in the guest's /tmp), run perl
    /// in it, and hand `body` its exit status and the channel it wrote.
    /// `timing`: what the shim evaluates, bounded by --timeout (nil: nothing of ours runs).
    package func inSandbox<T>(
        _ requestLines: [String], stdio: [Int32], debugger: Bool, timing: String? = nil,
        _ body: (Int32, [UInt8]) throws -> T
    ) throws -> T {
        let feed = try index.perlFeed()
        guard let hash = try hashState(feed) else { throw CLIError("\(trace): the run's records have no hash state") }
        guard let scratch = makeScratchFolder("revenant-scratch") else {
            throw CLIError("cannot create a scratch folder: \(String(cString: strerror(errno)))")
        }
        defer { removeTree(scratch) }
        if let why = try stageSources(into: scratch) { throw Inexact(why: why) }

        let lib = ShimSelection.perlShimLibrary()!
        var argv = header.argv
        if let i = argv.firstIndex(of: "-MRevenant::Shim"), i > 0, argv[i - 1].hasPrefix("-I") {
            argv[i - 1] = ByteString("-I" + lib)
        }
        if debugger { argv.insert("-d", at: 1) }
        let feedPath = "/tmp/.revenant-replay-feed", requestPath = "/tmp/.revenant-replay-request"
        var env = header.env.compactMap(withoutSQLiteShim)
        var lines = requestLines
        // The recorded hash seed and key-order mode, and for perl -d the caller's debugger
        // options; the shim takes them out of %ENV again.
        var added = [("PERL_HASH_SEED", Hex.string(hash.seed)), ("PERL_PERTURB_KEYS", String(hash.enabled))]
        if debugger, let opts = environmentValue("PERLDB_OPTS") { added.append(("PERLDB_OPTS", opts)) }
        for (name, value) in added where !env.contains(where: { $0.hasPrefix(ByteString(name + "=")) }) {
            env.append(ByteString(name + "=" + value))
            lines.append("unsetenv " + name)
        }
        env += [ByteString("REVENANT_SHIM_REPLAY=" + feedPath), ByteString("REVENANT_SHIM_REQUEST=" + requestPath)]
        var options = SessionOptions()
        options.memory = "\(max(header.memory >> 20, 64))M"
        let session = try GuestSession(
            options: options, program: header.program, arguments: [], record: nil,
            replica: .init(
                program: ProgramSpec(path: header.program, argv: argv), environment: env, cwd: header.cwd,
                scratch: scratch, readOnly: [lib] + recordedMounts(), stdio: stdio,
                runsChildren: debugger))
        // The feed, the request, and the empty file reads open in place of the recorded ones.
        for (path, bytes) in [
            (feedPath, feed), (requestPath, Array((lines.joined(separator: "\n") + "\n").utf8)),
            ("/tmp/.revenant-replay-empty", []),
        ] {
            if let e = writeWholeFile(session.privateTmp + path.dropFirst(4), bytes) {
                throw CLIError("cannot write the replay's \(path): \(String(cString: strerror(e)))")
            }
        }
        if environmentValue("REVENANT_FAST_STDERR") != nil {
            FileHandleStderr.write(lines.joined(separator: "\n") + "\n")
        }
        var watchdog: EvaluationWatchdog?
        if let what = timing {
            let (index, evaluation, tmp) = (index, evaluation, session.privateTmp)
            watchdog = EvaluationWatchdog(
                channel: session.personality.channel, memory: session.machine.space,
                seconds: evaluation.seconds
            ) { seq in
                // The guest may compute forever: this thread ends the command, leaving nothing behind.
                removeTree(scratch)
                removeTree(tmp)
                let place = (try? index.statements(seqs: [seq]))?[seq].map { " (\($0.file):\($0.line))" } ?? ""
                FileHandleStderr.write(
                    "revenant: \(evaluation.timedOut(what, at: "statement #\(seq)\(place)").message)\n")
                _exit(125)
            }
            watchdog?.start()
        }
        let status = try session.run()
        watchdog?.stop()
        return try body(status, session.personality.channel.collected)
    }

    /// The program's code is not the recorded code (found before perl runs).
    package struct Inexact: Error { var why: String }

    /// What the reports say; `status` nil when the exit status is not to be checked (perl -d).
    package func outcome(status: Int32?, collected: [UInt8]) throws -> Outcome {
        let reports: [ReplayReport]
        do { reports = try ChannelDecoder.replayReports(collected) } catch {
            return .diverged("the replay's reports are unreadable: \(error)")
        }
        var hits: [(seq: Int, lines: [String])] = []
        var ended: ReplayReport.Kind?
        for r in reports {
            switch r.kind {
            case .hit:
                hits.append(
                    (
                        r.statement,
                        r.text.isEmpty
                            ? [] : r.text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                    ))
            case .diverged: return .diverged("diverged at statement #\(r.statement), \(r.text)")
            case .failed: return .diverged(r.text)
            case .done, .stopped: ended = ended ?? r.kind
            }
        }
        switch ended {
        case .stopped?: return .finished(hits)
        case .done?:
            // The same end: the recorded exit status (a signal's 128+N included).
            if let status, let recorded = index.meta("exit_status").flatMap(Int32.init), recorded != status {
                return .diverged("perl ended with status \(status), the recording with \(recorded)")
            }
            return .finished(hits)
        default: return .diverged("perl ended\(status.map { " (status \($0))" } ?? "") before the end of the recording")
        }
    }

    /// The hash seed and key-order mode the recording ran with (its HASH record).
    package func hashState(_ feed: [UInt8]) throws -> (seed: [UInt8], enabled: Int)? {
        var d = ChannelDecoder(feed)
        while let (record, _) = try d.next() {
            if case .hashState(let seed, _, let enabled) = record { return (seed, enabled ? 1 : 0) }
        }
        return nil
    }

    /// The program's own source files under the recorded working directory, copied into the
    /// scratch folder that stands in for it; nil, or why they cannot be (gone, or changed since
    /// the recording: the shim checks the other files' digests itself).
    package func stageSources(into scratch: String) throws -> String? {
        let recorded = header.cwd.description
        let cwd = recorded.hasSuffix("/") ? recorded : recorded + "/"
        for f in try index.sourceFiles() where f.programCode && !f.path.hasSuffix("/Revenant/Shim.pm") {
            guard let digest = f.sha256 else { continue }
            let absolute = lexicallyNormalized(f.path.hasPrefix("/") ? f.path : cwd + f.path)
            guard absolute.hasPrefix(cwd) else { continue }
            guard let bytes = readWholeFile(absolute) else { return "\(f.path) is gone since the recording" }
            guard SHA256.hex(bytes) == digest else { return "\(f.path) changed since the recording" }
            let target = scratch + "/" + absolute.dropFirst(cwd.count)
            makeDirectories(ByteString(String(target[..<(target.lastIndex(of: "/") ?? target.endIndex)])))
            if let e = writeWholeFile(target, bytes) {
                throw CLIError("cannot stage \(f.path): \(String(cString: strerror(e)))")
            }
        }
        return nil
    }

    /// The recording's own mounts (--ro, --rw: the program may load code from them), read-only, as
    /// far as they still exist; the root, /tmp and the working directory are the sandbox's.
    package func recordedMounts() -> [String] {
        header.mounts.filter { m in
            m.guest == m.host && m.guest != "/" && m.guest != "/tmp" && m.guest != header.cwd
                && m.host.withCString { access($0, F_OK) } == 0
        }.map(\.host.description)
    }

    /// LD_PRELOAD without the SQLite shim (the fast form loads only the Perl shim); nil drops it.
    package func withoutSQLiteShim(_ kv: ByteString) -> ByteString? {
        guard kv.hasPrefix("LD_PRELOAD=") else { return kv }
        let kept = kv.dropFirst("LD_PRELOAD=".count).split(separator: UInt8(ascii: ":"))
            .filter { !$0.hasSuffix("/librevenant_sqlite.so") }
        return kept.isEmpty ? nil : "LD_PRELOAD=" + kept.joined(separator: ":")
    }
}

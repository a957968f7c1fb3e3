import CGuestStub
/// Walks the channel's records and the trace's events together, in machine order, and hands
/// the index its rows: statements and nondeterministic results with their event positions, and
/// the first input that happened outside every hooked op (which rules out the fast Perl replay).
struct IndexBuilder {
    let stream: [UInt8]
    /// The channel's write offset as the guest reached each event.
    let positions: [UInt64]
    let events: [EventDigest]
    let cwd: String

    private(set) var statementCount = 0
    private(set) var nondeterministicCount = 0
    private(set) var sqlCount = 0
    private(set) var blocker: Blocker?

    struct Blocker: CustomStringConvertible {
        var event: Int
        var syscall: String
        var kind: InputKind
        var detail: String
        var statement: String?
        /// Not a syscall: why, in words.
        var other: String? = nil
        var description: String {
            if let other { return "event #\(event): \(other)" + (statement.map { " (at \($0))" } ?? "") }
            let shownDetail = detail.isEmpty ? "" : "(" + detail + ")"
            return
                "event #\(event) \(syscall)\(shownDetail) reads \(kind.rawValue) outside any hooked op"
                + (statement.map { " (after \($0))" } ?? "")
        }
    }

    /// A SQL execution between its SQL_EXEC and SQL_DONE, and what SQLite read while it ran.
    private struct Execution {
        var seq: Int, statement: UInt64, event: Int, perlStatement: Int, userStatement: Int, bindings: [ChannelValue]
        var clock: [Int64] = [], random: [[UInt8]] = []
    }

    /// An open op marker: which op, and whether a statement ran inside it since it began.
    private struct Marker {
        var opcode: UInt64
        var statementSince = false
        var beginEvent: Int
        var statement: Int
    }

    /// The ops the fast replay runs for real rather than feeding them their logged results.
    static let runForReal = Set(REVENANT_PERL_RUN_FOR_REAL.split(separator: " ").map(String.init))

    /// `programStarts`: where each program the process ran with shims starts in `stream`
    /// (ChannelPort.programStarts).
    let programStarts: [Int]

    /// A forked child's stream starts as its parent's up to the fork (ChannelPort.inherited): of
    /// those records only the definitions count (files, contexts, names, connections, prepared
    /// statements, the PRNG seed, flags, ops open at the fork); its own start here.
    let inherited: Int

    init(
        stream: [UInt8], programStarts: [Int] = [], inherited: Int = 0, positions: [UInt64], events: [EventDigest],
        cwd: String
    ) {
        self.programStarts = programStarts
        self.inherited = inherited
        self.stream = stream
        self.positions = positions
        self.events = events
        self.cwd = cwd
    }

    /// Decode everything and feed `sink`.
    mutating func run(into sink: IndexSink) throws {
        var reader = ProgramReader(stream)
        var strings: [UInt64: String] = [:]
        var files: [UInt64: String] = [:]
        var contextFiles: [UInt64: UInt64] = [:]
        var opNames: [UInt64: String] = [:]
        var markers: [Marker] = []
        var currentStatement = -1
        // The last statement in the program's own code (not a module under /usr, not an eval):
        // where a SQL statement that DBI ran inside its own subs came from.
        var userStatement = -1
        var userFiles: [UInt64: Bool] = [:]
        var registered = false
        // Paths whose reads are program code, not input: source files the shim digested and
        // files the program mapped.
        let codePaths = try mappedPaths().union(sourcePaths())
        var fdPaths: [UInt64: String] = [:]
        var event = 0
        var executions: [Execution] = []
        var inheritedExecutions: Set<UInt64> = []
        // The parent's program names a forked child that runs no program of its own.
        var inheritedStart: (interpreter: String, script: String)?
        var prepared: [UInt64: (connection: UInt64, sql: String)] = [:]
        var lastContext: UInt64 = 0
        var lastLine: Int64 = 0

        func where_() -> String? {
            guard currentStatement >= 0, let f = contextFiles[lastContext] else { return nil }
            return "\(files[f] ?? "?"):\(lastLine)"
        }

        // Serve events up to (not including) the first one the guest reached after `offset`.
        func advance(to offset: UInt64) {
            while event < positions.count && positions[event] < offset {
                check(event)
                event += 1
            }
        }
        func check(_ i: Int) {
            guard i < events.count else { return }
            let e = events[i]
            track(e, &fdPaths)
            guard registered, blocker == nil, let kind = SyscallTable.row(e.number)?.input else { return }
            if let top = markers.last, !top.statementSince { return }
            switch kind {
            case .data:
                if let p = fdPaths[e.fd], codePaths.contains(p) { return }
            case .hostState:
                // fstat-like calls (an empty path with AT_EMPTY_PATH) read nothing new.
                if let p = e.path, p.isEmpty { return }
                if e.path == nil && (e.name == "newfstatat" || e.name == "statx") { return }
            case .fileSystem, .process: break
            }
            blocker = Blocker(
                event: i, syscall: e.name, kind: kind,
                detail: e.path.map { "\"\($0)\"" } ?? (kind == .data ? "fd \(e.fd)" : ""),
                statement: where_())
        }

        // The Perl records alone, byte for byte: the feed of the fast Perl-level replay.
        var perlFeed: [UInt8] = []
        var recordStart = 0
        // Programs the process execed after the first, each numbering its ids afresh.
        var laterPrograms = programStarts.filter { $0 > 0 }[...]
        var firstProgram = true, started = false
        while true {
            // (A program that wrote nothing starts where the next one does.)
            if let next = laterPrograms.first, reader.offset >= next {
                while let n = laterPrograms.first, reader.offset >= n { laterPrograms.removeFirst() }
                reader.nextProgram()
                firstProgram = false
                // What the old program left open ended with it (an exec inside a hooked op).
                markers = []
                for x in executions { try write(x, prepared[x.statement], result: nil, endEvent: event, into: sink) }
                executions = []
            }
            guard let (record, end) = try reader.next() else { break }
            defer { recordStart = end }
            if end <= inherited {
                // The parent's, before the fork: what it did is not the child's.
                switch record {
                case .start(_, let interpreter, let script):
                    inheritedStart = (interpreter, script)
                    continue
                case .statement, .environment, .arguments, .hashState, .seed, .sqlClock, .sqlRandom, .sqlTrigger:
                    continue
                case .sqlExec(let id, _):
                    inheritedExecutions.insert(id)
                    continue
                case .sqlDone(let id, _, _, _, _):
                    inheritedExecutions.remove(id)
                    continue
                case .opEnd:
                    markers.removeLast(markers.isEmpty ? 0 : 1)
                    continue
                default: break
                }
            } else if firstProgram,
                stream[recordStart] < ChannelDecoder.Tag.sqlConnection.rawValue
                    || stream[recordStart] >= ChannelDecoder.deltaBase
            {
                perlFeed += stream[recordStart..<end]
            }
            advance(to: UInt64(end))
            registered = true
            switch record {
            case .start(let version, let interpreter, let script):
                guard version == ChannelDecoder.version else {
                    throw ChannelFormatError(
                        offset: end,
                        why: "shim format version \(version); this revenant reads \(ChannelDecoder.version)")
                }
                // The process's first Perl program names it.
                if !started {
                    started = true
                    try sink.meta("interpreter", interpreter)
                    try sink.meta("script", script)
                }
            case .string(let id, let value): strings[id] = value
            case .file(let id, let path, let digest):
                files[id] = path
                // The program's own code: not a module under /usr, not a string eval.
                userFiles[id] = ChannelDecoder.isProgramCode(path)
                try sink.file(id: id, path: path, digest: digest, programCode: userFiles[id]!)
            case .context(let id, let file, let package, let sub):
                contextFiles[id] = file
                try sink.context(id: id, file: file, package: strings[package], sub: sub == 0 ? nil : strings[sub])
            case .statement(let context, let line):
                lastContext = context
                lastLine = line
                currentStatement = statementCount
                if let f = contextFiles[context], userFiles[f] == true { userStatement = statementCount }
                try sink.statement(seq: statementCount, event: event, context: context, line: line)
                statementCount += 1
                if !markers.isEmpty { markers[markers.count - 1].statementSince = true }
            case .opName(let opcode, let name): opNames[opcode] = name
            case .opBegin(let opcode):
                markers.append(Marker(opcode: opcode, beginEvent: event, statement: currentStatement))
            case .opEnd(let opcode, let err, let values):
                guard let m = markers.popLast(), m.opcode == opcode else {
                    throw ChannelFormatError(
                        offset: end, why: "the end of op \(opNames[opcode] ?? String(opcode)) without its begin")
                }
                // The fast replay runs opens, require and do FILE for real (the code they run is
                // checked as it goes); other ops it feeds from the log, which cannot run the Perl
                // code a PerlIO layer or a tied handle ran inside them.
                if m.statementSince, blocker == nil, let name = opNames[opcode], !Self.runForReal.contains(name) {
                    blocker = Blocker(
                        event: event, syscall: name, kind: .data, detail: "", statement: where_(),
                        other: "op \(name) ran Perl code inside it (a PerlIO layer or a tied handle)")
                }
                try sink.nondeterminism(
                    op: opNames[opcode] ?? "op\(opcode)", statement: m.statement, beginEvent: m.beginEvent,
                    endEvent: event, errno: err, values: "[" + values.map(\.json).joined(separator: ",") + "]")
                nondeterministicCount += 1
            case .environment(let env):
                try sink.nondeterminism(
                    op: "%ENV", statement: currentStatement, beginEvent: event, endEvent: event, errno: 0,
                    values: "{" + env.map { jsonQuote($0.0) + ":" + jsonQuote($0.1) }.joined(separator: ",") + "}")
                nondeterministicCount += 1
            case .arguments(let args):
                try sink.nondeterminism(
                    op: "@ARGV", statement: currentStatement, beginEvent: event, endEvent: event, errno: 0,
                    values: "[" + args.map(jsonQuote).joined(separator: ",") + "]")
                nondeterministicCount += 1
            case .hashState(let seed, let bits, let enabled):
                let seedHex = seed.map { String($0, radix: 16).leftPad(2) }.joined()
                try sink.nondeterminism(
                    op: "hash seed", statement: currentStatement, beginEvent: event, endEvent: event, errno: 0,
                    values: "{\"seed\":\"\(seedHex)\",\"rand_bits\":\(bits),\"randomised\":\(enabled)}"
                )
                nondeterministicCount += 1
            case .sqlConnection(let id, let file):
                try sink.sqlConnection(id: id, file: file, event: event)
            case .sqlClose(let id):
                try sink.sqlClose(id: id, event: event)
            case .sqlPrepare(let id, let connection, let sql, let reads, let writes):
                prepared[id] = (connection, sql)
                try sink.sqlPrepared(id: id, connection: connection, sql: sql, reads: reads, writes: writes)
            case .sqlExec(let id, let bindings):
                executions.append(
                    Execution(
                        seq: sqlCount, statement: id, event: event, perlStatement: currentStatement,
                        userStatement: userStatement, bindings: bindings))
                sqlCount += 1
            case .sqlDone(let id, let rc, let rows, let changes, let digest):
                // One the parent had started when it forked ends in the child: the parent's.
                if inheritedExecutions.remove(id) != nil { continue }
                guard let i = executions.lastIndex(where: { $0.statement == id }) else {
                    throw ChannelFormatError(offset: end, why: "SQL statement \(id) ends without having started")
                }
                let x = executions.remove(at: i)
                try write(x, prepared[id], result: (rc, rows, changes, digest), endEvent: event, into: sink)
            case .sqlClock(let v):
                if executions.isEmpty {
                    try sink.sqlEvent(kind: "clock", statement: nil, event: event, value: String(v))
                } else {
                    executions[executions.count - 1].clock.append(v)
                }
            case .sqlRandom(let b):
                if executions.isEmpty {
                    try sink.sqlEvent(kind: "random", statement: nil, event: event, value: "\"" + hex(b) + "\"")
                } else {
                    executions[executions.count - 1].random.append(b)
                }
            case .sqlSeed(let n, let b):
                try sink.sqlEvent(
                    kind: "seed", statement: executions.last?.seq, event: event,
                    value: "{\"requested\":\(n),\"bytes\":\"\(hex(b))\"}")
            case .sqlTrigger(let connection, let text):
                try sink.sqlTrigger(statement: executions.last?.seq, connection: connection, text: text, event: event)
            case .sqlFlag(let connection, let kind, let detail):
                let names = [
                    REVENANT_SQL_FLAG_FUNCTION: "function", REVENANT_SQL_FLAG_COLLATION: "collation",
                    REVENANT_SQL_FLAG_BLOB_WRITE: "blob write", REVENANT_SQL_FLAG_BACKUP: "backup",
                    REVENANT_SQL_FLAG_DESERIALIZE: "deserialize", REVENANT_SQL_FLAG_EXTENSION: "extension",
                ]
                .reduce(into: [UInt32: String]()) { $0[$1.key.rawValue] = $1.value }
                let name = names[UInt32(truncatingIfNeeded: kind)] ?? "kind \(kind)"
                try sink.sqlEvent(
                    kind: "flag", statement: executions.last?.seq, event: event,
                    value: "{\"connection\":\(connection),\"kind\":\(jsonQuote(name)),\"detail\":\(jsonQuote(detail))}")
            case .seed(let seed):
                try sink.nondeterminism(
                    op: "rand seed", statement: currentStatement, beginEvent: event, endEvent: event, errno: 0,
                    values: "[\(seed)]")
                nondeterministicCount += 1
            }
        }
        guard reader.offset == stream.count else {
            throw ChannelFormatError(offset: reader.offset, why: "trailing bytes")
        }
        if !started, let (interpreter, script) = inheritedStart {
            try sink.meta("interpreter", interpreter)
            try sink.meta("script", script)
        }
        // Executions still running when the process ended (no SQL_DONE).
        for x in executions { try write(x, prepared[x.statement], result: nil, endEvent: event, into: sink) }
        try sink.meta("sql_statements", String(sqlCount))
        advance(to: UInt64.max)
        while event < events.count {
            check(event)
            event += 1
        }
        try sink.meta("statements", String(statementCount))
        try sink.perlFeed(perlFeed)
        try sink.meta("fast_replay", blocker == nil ? "yes" : "no")
        if let b = blocker {
            try sink.meta("fast_replay_blocker", b.description)
            try sink.meta("fast_replay_blocker_event", String(b.event))
        }
    }

    private func write(
        _ x: Execution, _ p: (connection: UInt64, sql: String)?, result: (UInt64, UInt64, Int64, [UInt8])?,
        endEvent: Int, into sink: IndexSink
    ) throws {
        try sink.sqlStatement(
            SQLStatementRow(
                seq: x.seq, event: x.event, endEvent: endEvent,
                perlStatement: x.perlStatement >= 0 ? x.perlStatement : nil,
                userStatement: x.userStatement >= 0 ? x.userStatement : nil,
                prepared: x.statement, connection: p?.connection,
                bindings: "[" + x.bindings.map(\.json).joined(separator: ",") + "]",
                rawBindings: x.bindings.reduce(into: [UInt8]()) { $1.encode(into: &$0) },
                rc: result.map { Int64($0.0) }, rows: result.map { Int64($0.1) }, changes: result?.2,
                digest: result.map { hex($0.3) }, clock: "[" + x.clock.map(String.init).joined(separator: ",") + "]",
                random: "[" + x.random.map { "\"" + hex($0) + "\"" }.joined(separator: ",") + "]"))
    }

    /// Descriptor → path, from opens and closes (dups are rare in what the shims watch).
    func track(_ e: EventDigest, _ fdPaths: inout [UInt64: String]) {
        if e.number == SyscallNamesLookup.openat || e.number == SyscallNamesLookup.open, e.result >= 0, let p = e.path {
            fdPaths[UInt64(e.result)] = absolute(p)
        } else if e.number == SyscallNamesLookup.close {
            fdPaths[e.fd] = nil
        }
    }

    /// Every Perl source file the shim saw (perl reads a file before its first statement runs).
    func sourcePaths() throws -> Set<String> {
        var d = ChannelDecoder(stream)
        var out = Set<String>()
        while let (r, _) = try d.next() { if case .file(_, let path, _) = r { out.insert(absolute(path)) } }
        return out
    }

    /// Every file the program maps (shared objects): reading their headers is loading code.
    func mappedPaths() -> Set<String> {
        var fdPaths: [UInt64: String] = [:]
        var out = Set<String>()
        for e in events {
            track(e, &fdPaths)
            if e.number == SyscallNamesLookup.mmap, e.result >= 0, Int64(bitPattern: e.mmapFD) >= 0,
                let p = fdPaths[e.mmapFD]
            {
                out.insert(p)
            }
        }
        return out
    }

    func absolute(_ p: String) -> String {
        if p.hasPrefix("/") { return p }
        return (cwd.hasSuffix("/") ? cwd : cwd + "/") + (p.hasPrefix("./") ? String(p.dropFirst(2)) : p)
    }
}

/// Where the builder's rows go (the GRDB index; tests may collect them instead).
protocol IndexSink: AnyObject {
    func meta(_ key: String, _ value: String) throws
    func file(id: UInt64, path: String, digest: [UInt8]?, programCode: Bool) throws
    func context(id: UInt64, file: UInt64, package: String?, sub: String?) throws
    func statement(seq: Int, event: Int, context: UInt64, line: Int64) throws
    func nondeterminism(
        op: String, statement: Int, beginEvent: Int, endEvent: Int, errno: UInt64, values: String) throws
    func sqlConnection(id: UInt64, file: String, event: Int) throws
    func sqlClose(id: UInt64, event: Int) throws
    func sqlPrepared(id: UInt64, connection: UInt64, sql: String, reads: [String], writes: [String]) throws
    func sqlStatement(_ row: SQLStatementRow) throws
    func sqlTrigger(statement: Int?, connection: UInt64, text: String, event: Int) throws
    func sqlEvent(kind: String, statement: Int?, event: Int, value: String) throws
    func perlFeed(_ bytes: [UInt8]) throws
}

/// One SQL statement execution, as the index keeps it.
struct SQLStatementRow {
    var seq: Int, event: Int, endEvent: Int, perlStatement: Int?, userStatement: Int?, prepared: UInt64,
        connection: UInt64?, bindings: String
    /// The bindings exactly (channel value encoding), for re-execution.
    var rawBindings: [UInt8]
    var rc: Int64?, rows: Int64?, changes: Int64?, digest: String?, clock: String, random: String
}

import LinuxABI

enum SyscallNamesLookup {
    static func number(_ name: String) -> Int { SyscallNames.byName[name] ?? -1 }
    static let openat = UInt64(number("openat")), open = UInt64(number("open")), close = UInt64(number("close"))
    static let mmap = UInt64(number("mmap"))
}

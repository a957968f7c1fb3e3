import Glibc
import LinuxABI
import Replay
import Regen
import Trace
import RevenantKit

/// What a trace holds, read straight from it.
struct TraceSummary {
    var header: TraceHeader
    var events: UInt64 = 0
    var byKind: [UInt8: UInt64] = [:]
    var bySyscall: [String: UInt64] = [:]
    var status: Int32?
    var nanoseconds: UInt64?
    /// The first process's syscall rewriter figures (events version 5).
    var syscallSites: SyscallSiteFigures?
    var truncatedAt: UInt64?
    var headerBytes = 0, eventBytes = 0, blobs = 0, blobBytes = 0
    var syscallEventBytes = 0, writtenBytes = 0
    /// Every process of the run, the first one first.
    var processes: [ProcessSummary] = []

    init(_ path: String) throws {
        let (dir, header): (TraceDirectory, TraceHeader)
        do { (dir, header) = try TraceDirectory.open(path) } catch { throw CLIError(error.description) }
        self.header = header
        var reader: EventReader
        do { reader = try EventReader(path: dir.eventsPath) } catch { throw CLIError("\(path): \(error)") }
        do {
            while let e = try reader.next() {
                events += 1
                byKind[e.kind, default: 0] += 1
                if e.kind == EventKind.syscall.rawValue, let s = try? SyscallEvent.decode(e.payload) {
                    bySyscall[s.name, default: 0] += 1
                    let w = s.writes.reduce(0) { $0 + $1.bytes.count }
                    writtenBytes += w
                    syscallEventBytes += e.payload.count - w
                } else if e.kind == EventKind.end.rawValue, let end = EndEvent.decode(e.payload) {
                    status = end.status
                    nanoseconds = end.nanoseconds
                    syscallSites = end.syscallSites
                }
            }
        } catch { throw CLIError("\(path): \(error)") }
        truncatedAt = reader.truncatedAt
        headerBytes = fileSize(dir.headerPath)
        eventBytes = fileSize(dir.eventsPath)
        processes = [try ProcessSummary(dir, stream: 0, pid: header.process?.pid ?? 0, program: header.program)]
        for n in dir.childStreams {
            processes.append(try ProcessSummary(dir, stream: n, pid: 0, program: nil))
            eventBytes += fileSize(dir.eventsPath(stream: n))
        }
        for b in dir.blobNames {
            blobs += 1
            blobBytes += fileSize(dir.blobsPath + "/" + b)
        }
    }
}

/// One process's stream: who it was (its parent, the last program it ran) and how it ended.
struct ProcessSummary {
    var stream: Int
    var pid: Int32
    var parent: Int32?
    var program: ByteString?
    var events: UInt64 = 0
    var status: Int32?

    init(_ dir: TraceDirectory, stream: Int, pid: Int32, program: ByteString?) throws {
        let path = dir.eventsPath(stream: stream)
        self.stream = stream
        self.pid = pid
        self.program = program
        var reader: EventReader
        do { reader = try EventReader(path: path) } catch { throw CLIError("\(error)") }
        do {
            while let e = try reader.next() {
                events += 1
                switch EventKind(rawValue: e.kind) {
                case .process:
                    let p = try? ProcessEvent.decode(e.payload)
                    parent = p?.parent
                    self.pid = p?.pid ?? self.pid
                case .exec: self.program = (try? ExecEvent.decode(e.payload))?.files.first?.path ?? self.program
                case .end: status = EndEvent.decode(e.payload)?.status
                default: break
                }
            }
        } catch { throw CLIError("\(path): \(error)") }
    }

    var text: String {
        let end = status.map { "exit \($0)" } ?? "incomplete"
        let from = parent.map { ", child of \($0)" } ?? ""
        return "\(pid) \(program?.description ?? "(its parent's program, forked)")\(from), \(end)"
    }

    var json: String {
        "{\"pid\":\(pid),\"stream\":\(stream),\"parent\":\(parent.map(String.init) ?? "null"),"
            + "\"program\":\(program.map { jsonString($0.description) } ?? "null"),"
            + "\"events\":\(events),\"exit_status\":\(status.map(String.init) ?? "null")}"
    }
}

func fileSize(_ path: String) -> Int {
    var st = stat()
    return stat(path, &st) == 0 ? Int(st.st_size) : 0
}

func describeTrace(_ path: String, json: Bool) throws {
    let s = try TraceSummary(path)
    let h = s.header
    let kinds: [(String, UInt64)] = [
        ("syscall", s.byKind[EventKind.syscall.rawValue] ?? 0),
        ("mapped file", s.byKind[EventKind.mappedFile.rawValue] ?? 0),
        ("pre-image", s.byKind[EventKind.preImage.rawValue] ?? 0),
        ("program loaded", s.byKind[EventKind.exec.rawValue] ?? 0),
        ("end", s.byKind[EventKind.end.rawValue] ?? 0),
    ]
    let top = s.bySyscall.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
    let syscallEvents = max(1, Int(s.byKind[EventKind.syscall.rawValue] ?? 0))
    let shims = h.shims ?? []
    // What the user ran, not the switches that loaded the shims.
    let argv = ShimSelection.userCommand(
        argv: h.argv.map(\.description), environment: h.env.map(\.description),
        shims: shims
    ).argv
    let index = TraceIndex.open(TraceDirectory(path: path))
    let replicas = try ReplicaRecord.read(from: TraceDirectory(path: path))
    let indexText: String
    if let index {
        indexText =
            "index.sqlite: \(index.statementCount) Perl statements; fast Perl replay "
            + (index.meta("fast_replay") == "yes"
                ? "possible" : "not possible (\(index.meta("fast_replay_blocker") ?? "?"))")
    } else {
        indexText = shims.isEmpty ? "none" : "not made yet (revenant regen)"
    }
    if json {
        func q(_ x: String) -> String { jsonString(x) }
        var o: [String] = []
        o.append("\"program\":\(q(h.program.description))")
        o.append("\"argv\":[\(argv.map(q).joined(separator: ","))]")
        o.append("\"recorded_at\":\(q(h.recordedAt))")
        o.append("\"exit_status\":\(s.status.map(String.init) ?? "null")")
        o.append("\"duration_ns\":\(s.nanoseconds.map(String.init) ?? "null")")
        o.append("\"complete\":\(s.status != nil)")
        o.append("\"events\":\(s.events)")
        o.append("\"events_by_kind\":{\(kinds.map { "\(q($0.0)):\($0.1)" }.joined(separator: ","))}")
        o.append("\"syscalls\":{\(top.map { "\(q($0.key)):\($0.value)" }.joined(separator: ","))}")
        o.append("\"bytes\":{\"header\":\(s.headerBytes),\"events\":\(s.eventBytes),\"blobs\":\(s.blobBytes)}")
        o.append("\"blobs\":\(s.blobs)")
        o.append("\"processes\":[\(s.processes.map(\.json).joined(separator: ","))]")
        o.append("\"shims\":[\(shims.map(q).joined(separator: ","))]")
        o.append("\"kept_channel\":\(h.keptChannel ?? false)")
        o.append(
            "\"index\":"
                + (index.map {
                    "{\"statements\":\($0.statementCount),\"fast_replay\":\($0.meta("fast_replay") == "yes")}"
                } ?? "null"))
        o.append("\"trap_strategy\":\(q(h.trapStrategy))")
        o.append("\"syscall_rewriter\":\(h.syscallRewriter.map(String.init) ?? "null")")
        o.append(
            "\"syscall_sites\":"
                + (s.syscallSites.map {
                    "{\"rewritten\":\($0.rewritten),\"fast_calls\":\($0.fast),\"trapped_calls\":\($0.trapped)}"
                } ?? "null"))
        o.append(
            "\"replicas\":"
                + (replicas.map { r in
                    let faults = r.faults.map {
                        "{\"replica\":\($0.replica),\"event\":\($0.event),\"what\":\(q($0.what))}"
                    }
                    let recoveries = r.recoveries.map {
                        "{\"replica\":\($0.replica),\"from\":\($0.donor),\"event\":\($0.event)}"
                    }
                    let takeOvers = r.takeOvers.map {
                        "{\"replica\":\($0.replica),\"from\":\($0.from),\"event\":\($0.event)}"
                    }
                    return "{\"count\":\(r.replicas),\"faults\":[\(faults.joined(separator: ","))],"
                        + "\"recoveries\":[\(recoveries.joined(separator: ","))],"
                        + "\"takeovers\":[\(takeOvers.joined(separator: ","))]}"
                } ?? "null"))
        o.append("\"hypervisor\":\(q(h.hypervisor))")
        let leaves: [String] = h.cpuid.map {
            "{\"leaf\":\($0.leaf),\"subleaf\":\($0.subleaf),"
                + "\"eax\":\($0.eax),\"ebx\":\($0.ebx),\"ecx\":\($0.ecx),\"edx\":\($0.edx)}"
        }
        o.append("\"cpuid\":[\(leaves.joined(separator: ","))]")
        print("{" + o.joined(separator: ",") + "}")
        return
    }
    let vendor =
        h.cpuid.first { $0.leaf == 0 }.map { l in
            String(
                decoding: [l.ebx, l.edx, l.ecx].flatMap { v in (0..<4).map { UInt8((v >> (8 * $0)) & 0xff) } },
                as: UTF8.self)
        } ?? "?"
    let family = h.cpuid.first { $0.leaf == 1 }.map { "family/model/stepping 0x\(String($0.eax, radix: 16))" } ?? ""
    let cutShort = s.truncatedAt.map { "; the events end inside a chunk at byte \($0)" } ?? ""
    let outcome = s.status.map { "exit status \($0)" } ?? "incomplete (the recorder did not finish\(cutShort))"
    let duration = s.nanoseconds.map { ", \(fmtMs($0))" } ?? ""
    let topSyscalls =
        top.prefix(8).map { "\($0.key) \($0.value)" }.joined(separator: ", ") + (top.count > 8 ? ", …" : "")
    let sizes =
        "header \(s.headerBytes) B, events \(s.eventBytes) B (compressed), blobs \(s.blobs) files \(s.blobBytes) B"
    let perSyscall =
        "\(s.syscallEventBytes / syscallEvents) B before compression, payload excluded "
        + "(\(s.writtenBytes) B of memory writes in all)"
    let shown = s.processes.prefix(6).map(\.text).joined(separator: "; ")
    let processText = "\(s.processes.count): \(shown)\(s.processes.count > 6 ? "; …" : "")"
    let shimsText =
        (shims.isEmpty ? "none" : shims.joined(separator: ", "))
        + (h.keptChannel == true ? " (live channel kept in channel.live)" : "")
    print(
        """
        program:        \(h.program)
        argv:           \(argv.joined(separator: " "))
        recorded:       \(h.recordedAt) in \(h.cwd)
        outcome:        \(outcome)\(duration)
        processes:      \(processText)
        events:         \(s.events): \(kinds.map { "\($0.1) \($0.0)" }.joined(separator: ", "))
        syscalls:       \(topSyscalls)
        sizes:          \(sizes)
        per syscall:    \(perSyscall)
        shims:          \(shimsText)
        index:          \(indexText)
        trap strategy:  \(h.trapStrategy) (\(h.hypervisor))
        syscall path:   \(syscallPathText(h, s))
        CPU signature:  \(vendor), \(family), \(h.cpuid.count) CPUID leaves
        """)
    if let replicas {
        print(
            "replicas:       \(replicas.replicas), \(replicas.faults.count) faults, "
                + "\(replicas.recoveries.count) recoveries"
        )
        for f in replicas.faults { print("  fault:        replica \(f.replica) at event:\(f.event): \(f.what)") }
        for r in replicas.recoveries {
            print("  recovery:     replica \(r.replica) forked from replica \(r.donor) at event:\(r.event)")
        }
        for t in replicas.takeOvers {
            print(
                "  takeover:     replica \(t.replica) took the place of the primary (replica \(t.from)) "
                    + "at event:\(t.event)"
            )
        }
    }
}

/// Whether the recording rewrote syscalls, and what that gave its first process.
func syscallPathText(_ h: TraceHeader, _ s: TraceSummary) -> String {
    guard let version = h.syscallRewriter else { return "trap (no syscall instruction rewritten)" }
    var text = "fast (rewriter version \(version))"
    if let f = s.syscallSites {
        text += ": \(f.rewritten) sites rewritten, " + f.shareText(whose: "the first process's ")
    }
    return text
}

/// A JSON string literal.
func jsonString(_ x: String) -> String { JSON.quote(x) }

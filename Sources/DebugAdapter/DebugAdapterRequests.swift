import Monitor
import PerlReplay
import RevenantKit

extension DebugAdapter {
    /// What a request asks of the paused replay.
    enum Action {
        /// Answered; wait for the next request.
        case wait
        /// Go on in the mode set.
        case resume
        /// Replay again from the start (`next` says to where).
        case restart
        /// The client is done.
        case end
    }

    /// One request, at a stop or (stop nil) while no replay is paused.
    @discardableResult
    func handle(_ r: JSONValue, at stop: Stop?) -> Action {
        guard r["type"]?.string == "request", let command = r["command"]?.string else { return .wait }
        let args = r["arguments"] ?? .object([])
        func fail(_ why: String) -> Action {
            io.respond(to: r, error: why)
            return .wait
        }
        switch command {
        case "initialize":
            io.respond(
                to: r,
                body: [
                    "supportsConfigurationDoneRequest": .bool(true), "supportsStepBack": .bool(true),
                    "supportsConditionalBreakpoints": .bool(true), "supportsHitConditionalBreakpoints": .bool(true),
                    "supportsFunctionBreakpoints": .bool(true), "supportsEvaluateForHovers": .bool(true),
                    "supportsTerminateRequest": .bool(true),
                    "exceptionBreakpointFilters": .array([
                        .sorted([
                            "filter": .string("die"), "label": .string("die in the program's own code"),
                            "default": .bool(false),
                        ]),
                        .sorted([
                            "filter": .string("die-all"), "label": .string("every die (modules' too, caught or not)"),
                            "default": .bool(false),
                        ]),
                    ]),
                ])
            io.event("initialized")
        case "launch":
            if let t = args["trace"]?.string { trace = t }
            guard let trace else { return fail("launch: give \"trace\": the trace directory") }
            do { run = try PerlReplayRun(trace: trace, pid: args["pid"]?.integer.map { Int32($0) }) } catch {
                return fail("launch: \(error)")
            }
            stopOnEntry = args["stopOnEntry"] == .bool(true)
            next = stopOnEntry ? .target(0, reason: "entry") : .proceed
            launched = true
            io.respond(to: r)
        case "configurationDone":
            configured = true
            io.respond(to: r)
        case "setBreakpoints":
            guard let run else { return fail("setBreakpoints: launch first") }
            let path = args["source"]?["path"]?.string ?? ""
            let file = path.hasPrefix(run.cwd + "/") ? String(path.dropFirst(run.cwd.count + 1)) : path
            var set: [LineBreakpoint] = [], answers: [JSONValue] = []
            for b in args["breakpoints"].flatMap(array) ?? [] {
                let line = b["line"]?.integer ?? 0
                var problem: String?
                let condition = Condition(b["condition"]?.string)
                let hit = b["hitCondition"]?.string.flatMap { $0.isEmpty ? nil : HitCondition($0) }
                if let h = b["hitCondition"]?.string, !h.isEmpty, hit == nil {
                    problem = "hit condition: N, >= N, > N or % N"
                }
                guard let point = try? Breakpoint("\(file):\(line)") else { continue }
                let ran = ((try? run.targets([point])) ?? []).count
                if problem == nil, ran == 0 { problem = "no statement ran on this line" }
                if problem == nil { set.append(LineBreakpoint(point: point, condition: condition, hit: hit)) }
                var answer: [String: JSONValue] = ["verified": .bool(problem == nil), "line": .int(line)]
                if let problem { answer["message"] = .string(problem) }
                answers.append(.sorted(answer))
            }
            lines[file] = set
            io.respond(to: r, body: ["breakpoints": .array(answers)])
        case "setFunctionBreakpoints":
            guard let run else { return fail("setFunctionBreakpoints: launch first") }
            functions = []
            var answers: [JSONValue] = []
            for b in args["breakpoints"].flatMap(array) ?? [] {
                let name = b["name"]?.string ?? ""
                let condition = Condition(b["condition"]?.string)
                let entries = Set(((try? run.index.subEntries(name)) ?? []).map(\.seq))
                if !entries.isEmpty { functions.append((name, condition, entries)) }
                var answer: [String: JSONValue] = ["verified": .bool(!entries.isEmpty)]
                if entries.isEmpty { answer["message"] = .string("no call of \(name) ran") }
                answers.append(.sorted(answer))
            }
            io.respond(to: r, body: ["breakpoints": .array(answers)])
        case "setExceptionBreakpoints":
            let filters = args["filters"].flatMap(array)?.compactMap(\.string) ?? []
            dieFilters = Set(filters.filter { $0 == "die" || $0 == "die-all" })
            io.respond(
                to: r,
                body: ["breakpoints": .array(filters.map { .sorted(["verified": .bool(dieFilters.contains($0))]) })])
        case "threads":
            io.respond(to: r, body: ["threads": .array([.sorted(["id": .int(1), "name": .string("perl")])])])
        case "disconnect", "terminate":
            io.respond(to: r)
            disconnected = true
            return .end
        default:
            guard let stop else { return fail("\(command): the program is not paused") }
            return handle(command, r, args, at: stop)
        }
        return .wait
    }

    private func array(_ v: JSONValue) -> [JSONValue]? { if case .array(let a) = v { a } else { nil } }

    /// The requests that need a paused replay.
    private func handle(_ command: String, _ r: JSONValue, _ args: JSONValue, at s: Stop) -> Action {
        switch command {
        case "continue":
            mode = .proceed
            io.respond(to: r, body: ["allThreadsContinued": .bool(true)])
            return .resume
        case "next", "stepIn", "stepOut":
            mode = command == "stepIn" ? .stepIn : command == "next" ? .over(depth: s.depth) : .out(depth: s.depth)
            io.respond(to: r)
            return .resume
        case "stepBack":
            next = .target(max(0, s.stop.seq - 1), reason: "step")
            io.respond(to: r)
            return .restart
        case "reverseContinue":
            next = .scan(until: s.stop.seq, last: nil)
            io.respond(to: r)
            return .restart
        case "stackTrace":
            io.respond(to: r, body: stackTrace(s))
        case "scopes":
            let frame = args["frameId"]?.integer ?? 0
            var scopes: [JSONValue] = []
            if frame == 0 {
                scopes.append(scope("Locals", .locals))
                scopes.append(scope("Package \(s.stop.package)", .package(s.stop.package)))
            }
            io.respond(to: r, body: ["scopes": .array(scopes)])
        case "variables":
            guard let ref = references[Int(args["variablesReference"]?.integer ?? 0)] else {
                io.respond(to: r, error: "variables: no such reference (they last until the program goes on)")
                return .wait
            }
            io.respond(to: r, body: ["variables": .array(variables(ref, s))])
        case "evaluate":
            let text = args["expression"]?.string ?? ""
            do {
                let value = try evaluate(text, s)
                io.respond(to: r, body: ["result": .string(value), "variablesReference": .int(0)])
            } catch {
                io.respond(to: r, error: "\(error)")
            }
        default:
            io.respond(to: r, error: "unsupported request \"\(command)\"")
        }
        return .wait
    }

    private func scope(_ name: String, _ ref: Reference) -> JSONValue {
        .sorted(["name": .string(name), "variablesReference": .int(Int64(remember(ref))), "expensive": .bool(false)])
    }

    private func remember(_ ref: Reference) -> Int {
        let id = references.count + 1
        references[id] = ref
        return id
    }

    /// Frame 0 is the statement about to run; each sub call above it is a frame at its call site.
    private func stackTrace(_ s: Stop) -> [String: JSONValue] {
        let calls = (try? s.stepper.inspector().calls()) ?? []
        var frames: [(name: String, file: String, line: Int64)] = [
            (calls.first?.sub ?? "main", s.stop.file, s.stop.line)
        ]
        for (k, c) in calls.enumerated() {
            frames.append((k + 1 < calls.count ? calls[k + 1].sub ?? "?" : "main", c.file, c.line))
        }
        let cwd = run?.cwd ?? "/"
        return [
            "stackFrames": .array(
                frames.enumerated().map { k, f in
                    let path = f.file.hasPrefix("/") ? f.file : cwd + "/" + f.file
                    let name = String(path.split(separator: "/").last ?? "")
                    return .sorted([
                        "id": .int(Int64(k)), "name": .string(f.name), "line": .int(f.line), "column": .int(1),
                        "source": .sorted(["path": .string(path), "name": .string(name)]),
                    ])
                }),
            "totalFrames": .int(Int64(frames.count)),
        ]
    }

    private func variables(_ ref: Reference, _ s: Stop) -> [JSONValue] {
        guard let v = try? s.stepper.inspector() else { return [] }
        let named: [(String, UInt64)]
        switch ref {
        case .locals: named = ((try? v.lexicals()) ?? []).sorted { $0.name < $1.name }
        case .package(let p): named = (try? v.packageVariables(p)) ?? []
        case .value(let sv):
            if (try? v.isArray(sv)) == true {
                named = ((try? v.arrayElements(sv, limit: 1000)) ?? []).enumerated().map {
                    ("[\($0.offset)]", $0.element)
                }
            } else if (try? v.isHash(sv)) == true {
                named = ((try? v.hashEntries(sv, limit: 1000)) ?? []).sorted { $0.key < $1.key }.map { ($0.key, $0.sv) }
            } else {
                named = [("$$", sv)]
            }
        }
        return named.map { name, sv in variable(name, sv, v) }
    }

    /// One variable: its value as `--print` renders it (cut at 200 characters), and a reference
    /// to expand it when it is an array, a hash, or a reference to one.
    private func variable(_ name: String, _ sv: UInt64, _ v: PerlIntrospector) -> JSONValue {
        var expand: UInt64?
        if (try? v.isArray(sv)) == true || (try? v.isHash(sv)) == true {
            expand = sv
        } else if let r = (try? v.scalar(sv))?.reference, ["ARRAY", "HASH", "SCALAR", "REF"].contains(r.kind) {
            expand = r.address
        }
        var text = v.value(sv, depth: 1, limit: 20).rendered
        if text.count > 200 { text = String(text.prefix(200)) + "..." }
        return .sorted([
            "name": .string(name), "value": .string(text),
            "variablesReference": .int(Int64(expand.map { remember(.value($0)) } ?? 0)),
        ])
    }

    /// The VMM's subset read from perl's memory; anything else in a throw-away clone.
    private func evaluate(_ text: String, _ s: Stop) throws -> String {
        if let list = try? PerlExpression.parseList(text) {
            let e = try s.stepper.evaluator(package: s.stop.package)
            return list.map { e.printable($0.expression).rendered }.joined(separator: ", ")
        }
        switch try CloneEvaluation.evaluate(text, in: s.session, evaluation: evaluation) {
        case .success(let value): return value
        case .failure(let f): throw f
        }
    }
}

import CHost
import Glibc
import Machine
import PerlReplay
import RevenantKit
import SQLReplay
import Trace

/// A question a monitor asked that has no answer here: one line, the request's error.
public struct QueryError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The paused replay a notification offers: valid until the handler returns. Every question
/// reads the VMM's copy of the guest (or a throw-away clone, or another replay), so nothing
/// asked here changes what the program does next.
public final class MonitorPause {
    unowned let monitor: ReplayMonitor
    public let position: Position
    /// How many of the process's events lie before this point (files are as they were then).
    let eventsBefore: Int
    /// The Perl statement the guest is paused before, at a Perl notification (a clone can
    /// evaluate any Perl expression only there).
    let perl: PerlStop?
    var valid = true
    /// The vCPU is stopped here (every call an exit, or a breakpoint's exception).
    let stopped: Bool

    init(monitor: ReplayMonitor, position: Position, eventsBefore: Int, perl: PerlStop?, registers: Bool) {
        self.monitor = monitor
        stopped = registers
        self.position = position
        self.eventsBefore = eventsBefore
        self.perl = perl
    }

    private func live() throws(QueryError) {
        guard valid else { throw QueryError("the replay is not paused: ask at a notification") }
    }

    /// The program's general registers, rip, rflags and the FS and GS bases, by name.
    public func registers() throws(QueryError) -> [(String, UInt64)] {
        try live()
        guard stopped, let p = monitor.session.machine.programRegisters() else {
            throw QueryError("the registers cannot be read at this point")
        }
        let r = p.regs
        return [
            ("rax", r.rax), ("rbx", r.rbx), ("rcx", r.rcx), ("rdx", r.rdx), ("rsi", r.rsi), ("rdi", r.rdi),
            ("rbp", r.rbp), ("rsp", r.rsp), ("r8", r.r8), ("r9", r.r9), ("r10", r.r10), ("r11", r.r11),
            ("r12", r.r12), ("r13", r.r13), ("r14", r.r14), ("r15", r.r15), ("rip", r.rip), ("rflags", r.rflags),
            ("fs_base", p.sregs.fs.base), ("gs_base", p.sregs.gs.base),
        ]
    }

    /// Guest memory as the program has it (breakpoints and rewritten syscall sites show their
    /// original bytes); at most 1 MiB.
    public func memory(at address: UInt64, count: Int) throws(QueryError) -> [UInt8] {
        try live()
        guard count >= 0, count <= 1 << 20 else { throw QueryError("memory: length \(count) is not 0–1048576") }
        guard let bytes = monitor.session.machine.programBytes(at: address, count: count) else {
            throw QueryError("memory: 0x\(String(address, radix: 16)) (\(count) bytes) is not mapped")
        }
        return bytes
    }

    /// An address as crash reports name it: function+offset (file).
    public func symbolize(_ address: UInt64) throws(QueryError) -> String {
        try live()
        return monitor.session.machine.describe(rip: address)
    }

    /// Where a function of the program or its libraries is mapped now.
    public func addresses(of name: String) throws(QueryError) -> [UInt64] {
        try live()
        let space = monitor.session.machine.space
        return space.mappings.flatMap { SymbolBreakpoints.functions([name], in: $0).map(\.address) }.sorted()
    }

    /// A Perl expression's value, rendered as `--print` renders it: the VMM evaluates its subset
    /// by reading the interpreter's memory; anything else runs in a throw-away clone, which
    /// only a Perl notification (the guest paused before a statement) allows.
    public func perl(_ text: String) throws -> String {
        try live()
        let stepper = monitor.stepper
        if let list = try? PerlExpression.parseList(text) {
            // Between statements the running one is PL_curcop, not PL_op.
            let reader = try? stepper.inspector()
            reader?.atStatement = perl != nil
            defer { reader?.atStatement = true }
            let package = perl?.package ?? stepper.current().statement?.package ?? "main"
            let e: PerlEvaluator
            do { e = try stepper.evaluator(package: package) } catch { throw QueryError("perl: \(error)") }
            return list.map { e.printable($0.expression).rendered }.joined(separator: ", ")
        }
        guard perl != nil, stopped else {
            throw QueryError(
                "perl \(text): beyond what the VMM evaluates; a clone evaluates any expression at a perl notification")
        }
        switch try CloneEvaluation.evaluate(text, in: monitor.session, evaluation: monitor.evaluation) {
        case .success(let v): return v
        case .failure(let f): throw QueryError(f.message)
        }
    }

    /// A file the run wrote, as it was at this point: `revenant restore` gives it, in a process
    /// of its own (its replay needs the guest's address range, which this replay holds).
    public func file(_ path: String) throws -> [UInt8] {
        try live()
        guard let scratch = makeScratchFolder("revenant-monitor") else {
            throw QueryError("file: cannot create a scratch folder: \(String(cString: strerror(errno)))")
        }
        defer { removeTree(scratch) }
        let out = scratch + "/file"
        _ = try answer("file", ["restore", monitor.trace, "--at", here, "--path", path, "-o", out])
        guard let data = readWholeFile(out) else { throw QueryError("file: \(path): the restored copy is unreadable") }
        return data
    }
}

extension MonitorPause {
    /// A database the run used, as it was at this point, written to `output` (a new file unless
    /// `force`): `revenant sql --at event:E --restore` in a process of its own. Its summary line.
    public func database(_ output: String, name: String?, force: Bool) throws -> String {
        try live()
        let args =
            ["sql", monitor.trace, "--at", here, "--restore", output] + (name.map { ["--db", $0] } ?? [])
            + (force ? ["--force"] : [])
        return try answer("database", args)
    }

    /// This point as `--at` takes it: right after the last event before it.
    private var here: String {
        RunPosition(pid: monitor.pid, eventsBefore > 0 ? .afterEvent(eventsBefore - 1) : .start).description
    }

    /// The last line another revenant printed (without "revenant: "). Its refusal (no such file or
    /// database, a file there already) is the request's answer; a replay that diverges there ends
    /// the session.
    private func answer(_ request: String, _ arguments: [String]) throws -> String {
        let (status, said) = try runSelf(arguments)
        let last = said.split(separator: "\n").last.map(String.init) ?? "revenant \(arguments[0]) failed"
        let line = last.hasPrefix("revenant: ") ? String(last.dropFirst(10)) : last
        guard status == 0 else {
            if status == 124 { throw CLIError(line, code: 124) }
            throw QueryError("\(request): \(line)")
        }
        return line
    }
}

/// Run this revenant with `arguments`; its exit status and what it printed (stdout and stderr).
func runSelf(_ arguments: [String]) throws -> (Int32, String) {
    let argv = (["/proc/self/exe"] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0, input: Int32 = -1, output: Int32 = -1
    let rc = chost_spawn_piped(argv, 1, &input, &output, &pid)
    guard rc == 0 else { throw CLIError("cannot start revenant again: \(String(cString: strerror(rc)))") }
    close(input)
    var said: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(output, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        said += chunk[0..<n]
    }
    close(output)
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let code = status & 0x7f == 0 ? (status >> 8) & 0xff : 125
    return (code, String(decoding: said, as: UTF8.self))
}

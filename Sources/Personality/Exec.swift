import Glibc
import GuestMemory
import LinuxABI

/// What the loader is asked for at execve, once the old program is gone.
public struct ExecImageRequest {
    /// The ELF file to load (a guest path; the loader opens it, and its PT_INTERP, through `open`).
    public var path: ByteString
    /// The name the program gave execve (AT_EXECFN).
    public var execfn: ByteString
    public var argv: [ByteString]
    public var environment: [ByteString]
    public var atRandom: [UInt8]
}

/// Where the new program starts and how its memory is laid out.
public struct ExecImage {
    public var entry: UInt64
    public var stackPointer: UInt64
    public var brkStart: UInt64
    public var mmapTop: UInt64
    public init(entry: UInt64, stackPointer: UInt64, brkStart: UInt64, mmapTop: UInt64) {
        self.entry = entry
        self.stackPointer = stackPointer
        self.brkStart = brkStart
        self.mmapTop = mmapTop
    }
}

/// A file the recorded execve opened, as the replay gets it back: the guest path it was opened by
/// and a way to open the trace's copy.
public struct LoggedExecFile {
    public var path: ByteString
    /// The trace's copy, which crash reports and symbols read.
    public var file: String
    public var open: () throws -> Int32
    public init(path: ByteString, file: String, open: @escaping () throws -> Int32) {
        self.path = path
        self.file = file
        self.open = open
    }
}

/// execve and execveat: the program replaced in the same process, in the order Linux's fs/exec.c
/// checks things. Everything that can fail with an errno (the path, the permissions, the format, a
/// `#!` interpreter) is checked before the old program is torn down; past that point a failure
/// kills the process, as on Linux.
extension LinuxPersonality {
    /// Linux's limits: BINPRM_MAX_RECURSION (`#!` interpreters that are scripts) and the bytes of
    /// argv and envp together (a quarter of the default 8 MiB stack).
    static let maxInterpreterDepth = 4
    static let maxArgumentBytes = 2 << 20
    static let atEmptyPath: Int32 = 0x1000

    static let execHandlers: [(String, OutcomeHandler)] = [
        (
            "execve",
            { p, r in try p.execve(r, dirfd: UInt64(bitPattern: Int64(AT_FDCWD)), r[0], argv: r[1], envp: r[2]) }
        ),
        (
            "execveat",
            { p, r in
                let flags = Int32(truncatingIfNeeded: r[4])
                guard flags & ~(atEmptyPath | AT_SYMLINK_NOFOLLOW) == 0 else { throw SysError(EINVAL) }
                return try p.execve(r, dirfd: r[0], r[1], argv: r[2], envp: r[3], flags: flags)
            }
        ),
    ]

    func execve(
        _ req: SyscallRequest, dirfd: UInt64, _ pathAddr: UInt64, argv argvAddr: UInt64, envp envpAddr: UInt64,
        flags: Int32 = 0
    ) throws -> SyscallOutcome {
        // A personality without a loader (a test's, say) cannot replace its program.
        guard let loader = imageLoader else { return unsupported(req, detail: "no program loader in this VMM") }
        // `name`: the path as given (a script's interpreter gets it as its argument, as on Linux);
        // `target`: the same, absolute, to resolve in the guest's view.
        var name = ByteString(try path(pathAddr))
        var argv = try stringArray(argvAddr)
        let envp = try stringArray(envpAddr)
        guard argv.reduce(0, { $0 + $1.count + 1 }) + envp.reduce(0, { $0 + $1.count + 1 }) <= Self.maxArgumentBytes
        else { throw SysError(E2BIG) }
        // A replay takes the files from the log by name: it needs no descriptors nor directory.
        let replaying = execFilesFromLog != nil
        var target = name
        if name.isEmpty {
            // AT_EMPTY_PATH: the file the descriptor holds, named as Linux names it.
            guard flags & Self.atEmptyPath != 0 else { throw SysError(ENOENT) }
            name = ByteString("/dev/fd/\(Int32(truncatingIfNeeded: dirfd))")
            if !replaying {
                guard let p = try fds.entry(dirfd).path else { throw SysError(EACCES) }
                target = p
            }
        } else if name.first != UInt8(ascii: "/"), !replaying {
            target = try base(dirfd) + "/" + name
        }

        // AT_EXECFN: the name as given, as Linux keeps it (a script's, not its interpreter's).
        let execfn = name
        // The file, and a script's interpreter (its interpreter may be a script too, up to a limit).
        execFileNames = [:]
        var files: [Int32] = []
        defer { for fd in files { close(fd) } }
        for depth in 0... {
            guard depth <= Self.maxInterpreterDepth else { throw SysError(ELOOP) }
            let fd = try openExecFile(name, at: target, executable: true)
            files.append(fd)
            var head = [UInt8](repeating: 0, count: 256)
            let n = head.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 256, 0) }
            guard n >= 0 else { throw SysError(EIO) }
            head.removeLast(256 - n)
            if head.starts(with: [0x7f, 0x45, 0x4c, 0x46]) {
                guard Self.isLoadableELF(head) else { throw SysError(ENOEXEC) }
                break
            }
            guard let (interpreter, argument) = Self.shebang(head) else { throw SysError(ENOEXEC) }
            // Linux's binfmt_script: interpreter [argument] script args-after-argv[0].
            argv = [interpreter] + (argument.map { [$0] } ?? []) + [name] + argv.dropFirst()
            name = interpreter
            target = interpreter.first == UInt8(ascii: "/") || replaying ? interpreter : sandbox.cwd + "/" + interpreter
        }

        // The shims go into every program (as the first got them), whatever its parent passed.
        argv = execShims.argv(argv, program: name)
        let environment = execShims.environment(envp)

        // The point of no return. A vfork child lets its parent go on, with what it wrote.
        releaseVforkParent()
        let random = execRandomFromLog ?? nondeterminism.atRandom()
        execRandomFromLog = nil
        lastExecRandom = random
        replaceProgram(named: target)
        var first = files.removeLast()
        let image: ExecImage
        do {
            image = try loader(
                ExecImageRequest(path: target, execfn: execfn, argv: argv, environment: environment, atRandom: random),
                { [unowned self] path in self.execFileNames[path] ?? path.description },
                { [unowned self] path in
                    // The loader asks for the program first (already open), then its interpreter.
                    if first >= 0, path == target {
                        defer { first = -1 }
                        return first
                    }
                    return (try? self.openExecFile(path, at: path, executable: false)) ?? -1
                })
        } catch {
            if first >= 0 { close(first) }
            return .killed(
                signal: Signal.sigsegv, reason: "execve of \(target) failed after the old program was gone: \(error)")
        }
        setBreak(image.brkStart)
        mmapTop = image.mmapTop
        return .exec(entry: image.entry, stack: image.stackPointer)
    }

    /// A file execve loads: resolved in the guest's view and opened on the host (recorded by the
    /// recorder), or the next file of the recorded call (replay).
    /// `name` as the program gave it (the log's key), `guest` the absolute path it leads to.
    func openExecFile(_ name: ByteString, at guest: ByteString, executable: Bool) throws(SysError) -> Int32 {
        if execFilesFromLog != nil {
            guard let next = execFilesFromLog?.first, next.path == name else { throw SysError(EIO) }
            execFilesFromLog!.removeFirst()
            execFileNames[guest] = next.file
            do { return try next.open() } catch { throw SysError(EIO) }
        }
        let res = try sandbox.resolve(guest.bytes, followFinal: true)
        var host = res.host
        switch res.kind {
        case .host: break
        case .programLink: host = try sandbox.resolve(sandbox.programPath.bytes, followFinal: true).host
        case .guestFD(let n):
            guard let p = try fds.entry(UInt64(n)).path else { throw SysError(EACCES) }
            host = try sandbox.resolve(p.bytes, followFinal: true).host
        }
        guard let st = hostStat(host, follow: true) else { throw SysError(errno) }
        guard st.st_mode & S_IFMT == S_IFREG else { throw SysError(EACCES) }
        if executable, host.withCString({ Glibc.access($0, X_OK) }) != 0 { throw SysError(EACCES) }
        let fd = host.withCString { open($0, O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else { throw SysError(errno) }
        // Logged by the name the program gave: the replay asks for the same names in the same order.
        execFileNames[guest] = host.description
        onExecFileOpened?(name, fd)
        return fd
    }

    /// What Linux's begin_new_exec and its callers reset: the memory map, close-on-exec descriptors,
    /// caught signals (ignored ones stay ignored; the mask and pending signals stay), the alternate
    /// signal stack, the FS base, the name; the shims' channel goes with the old program.
    func replaceProgram(named path: ByteString) {
        channel.programReplaced()
        for m in memory.mappings.reversed() { memory.unmap(m.start, m.end) }
        fds.closeOnExec()
        for sig in 1..<signalActions.count {
            let handler = signalActions[sig].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
            if handler != 1 /* SIG_IGN */ { signalActions[sig] = [UInt8](repeating: 0, count: 32) }
        }
        altStack = [0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]  // SS_DISABLE
        fsBase = 0
        sandbox.programPath = path
        if let name = path.split(separator: UInt8(ascii: "/")).last { threadName = Array(name.bytes.prefix(15)) }
    }

    /// A NULL-terminated array of C strings in guest memory (NULL itself: empty).
    func stringArray(_ addr: UInt64) throws -> [ByteString] {
        guard addr != 0 else { return [] }
        var out: [ByteString] = []
        var total = 0
        for i in 0... {
            let p = try memory.load(UInt64.self, at: addr + UInt64(8 * i))
            if p == 0 { break }
            guard let s = try memory.cString(at: p, max: 128 << 10) else { throw SysError(E2BIG) }
            total += s.count + 1
            guard total <= Self.maxArgumentBytes else { throw SysError(E2BIG) }
            out.append(ByteString(s))
        }
        return out
    }

    /// A 64-bit x86-64 executable or shared object (PIE, static-pie, ld.so).
    static func isLoadableELF(_ head: [UInt8]) -> Bool {
        guard head.count >= 20, head[4] == 2 /* ELFCLASS64 */, head[5] == 1 /* little-endian */ else { return false }
        let type = UInt16(head[16]) | UInt16(head[17]) << 8
        let machine = UInt16(head[18]) | UInt16(head[19]) << 8
        return (type == 2 || type == 3) && machine == 62
    }

    /// `#!interpreter [one argument]` as Linux's binfmt_script reads it: the first line, blanks
    /// around, the rest after the interpreter one argument (blanks inside kept).
    static func shebang(_ head: [UInt8]) -> (ByteString, ByteString?)? {
        guard head.starts(with: [0x23, 0x21]) else { return nil }
        var line = Array(head.dropFirst(2).prefix { $0 != 0x0a })
        func blank(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 }
        while let c = line.last, blank(c) { line.removeLast() }
        line = Array(line.drop(while: blank))
        guard !line.isEmpty else { return nil }
        let interpreter = Array(line.prefix { !blank($0) })
        let rest = Array(line.dropFirst(interpreter.count).drop(while: blank))
        return (ByteString(interpreter), rest.isEmpty ? nil : ByteString(rest))
    }
}

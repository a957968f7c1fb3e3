import LinuxABI

/// How the shims are put into a program: the first one by `record` (ShimSelection), and every
/// program a recorded process execs afterwards by the VMM, whatever environment its parent passes
/// (the SQLite shim takes itself out of LD_PRELOAD, and a script may clear %ENV). The VMM does it
/// in record and in replay alike, from the trace header, so the guest sees the same bytes.
public struct ExecShims: Equatable, Sendable {
    /// The Perl shim's library folder (`-I` it, then `-MRevenant::Shim`), for programs that are perl.
    public var perlLibrary: String?
    /// The SQLite shim's library, first in LD_PRELOAD of every dynamically linked program (inert until
    /// something initializes SQLite).
    public var sqliteLibrary: String?

    public init(perlLibrary: String? = nil, sqliteLibrary: String? = nil) {
        self.perlLibrary = perlLibrary
        self.sqliteLibrary = sqliteLibrary
    }

    /// The switches that go first on perl's command line (before any -M the user gives: PERL5OPT
    /// would load after them). The shim takes its own -I out of @INC again.
    public static func perlSwitches(_ lib: String) -> [String] { ["-I" + lib, "-MRevenant::Shim"] }

    /// perl, perl5.36.0 …
    public static func isPerl(_ path: String) -> Bool {
        let base = path.split(separator: "/").last.map(String.init) ?? path
        return base == "perl" || (base.hasPrefix("perl5") && base.dropFirst(5).allSatisfy { $0.isNumber || $0 == "." })
    }

    /// `argv` of `program` with the Perl shim's switches (when it is perl and they are not there
    /// already: a perl that runs `$^X` with switches of its own keeps them after ours).
    public func argv(_ argv: [ByteString], program: ByteString) -> [ByteString] {
        guard let lib = perlLibrary, Self.isPerl(program.description), !argv.isEmpty else { return argv }
        let switches = Self.perlSwitches(lib).map { ByteString($0) }
        if argv.count > switches.count, Array(argv[1...switches.count]) == switches { return argv }
        var out = argv
        out.insert(contentsOf: switches, at: 1)
        return out
    }

    /// `environment` with the SQLite shim first in LD_PRELOAD (added when there is none).
    public func environment(_ env: [ByteString]) -> [ByteString] {
        guard let lib = sqliteLibrary else { return env }
        var env = env
        if let i = env.firstIndex(where: { $0.hasPrefix("LD_PRELOAD=") }) {
            let old = env[i].dropFirst("LD_PRELOAD=".count)
            if old.split(separator: UInt8(ascii: ":")).first == ByteString(lib) { return env }
            env[i] = ByteString("LD_PRELOAD=" + lib) + (old.isEmpty ? "" : ":" + old)
        } else {
            env.append(ByteString("LD_PRELOAD=" + lib))
        }
        return env
    }
}

import Glibc
import LinuxABI
import Machine
import Personality

/// Which shims `record --shims` asked for, and how each is loaded into the guest.
package struct ShimSelection {
    package var perl = false
    package var sqlite = false
    package var explicit = false

    /// auto: every shim that applies to the program; none; or a comma-separated list.
    package init(_ value: String) throws {
        switch value {
        case "auto":
            perl = true
            sqlite = true
        case "none": break
        default:
            explicit = true
            for name in value.split(separator: ",", omittingEmptySubsequences: false) {
                switch name {
                case "perl": perl = true
                case "sqlite": sqlite = true
                default: throw CLIError("--shims \(value): expected auto, none, or a list of perl, sqlite")
                }
            }
        }
    }

    /// The program's argv and environment with the shims added; fails (one line) when a shim
    /// named explicitly cannot be loaded. `loaded` names what was armed (for the program or for a
    /// program it execs: `exec` says how the VMM adds them then); `folders` are the host folders
    /// the guest must see (read-only) for them — a build under /tmp is hidden by the guest's
    /// private /tmp otherwise.
    package func apply(
        to spec: ProgramSpec, environment: [ByteString]
    ) throws
        -> (spec: ProgramSpec, environment: [ByteString], loaded: [String], folders: [String], exec: ExecShims)
    {
        var spec = spec
        var loaded: [String] = []
        var folders: [String] = []
        var exec = ExecShims()
        if sqlite {
            // Preloaded into every program (inert until something initializes SQLite: perl may load
            // DBD::SQLite at any point); it takes itself out of LD_PRELOAD before main runs.
            if let lib = ShimSelection.sqliteShimLibrary() {
                exec.sqliteLibrary = lib
                loaded.append("sqlite")
                folders.append(String(lib[..<(lib.lastIndex(of: "/") ?? lib.endIndex)]))
            } else {
                let why =
                    "the SQLite shim is not built "
                    + "(run `make shims`, or set REVENANT_SHIMS to the folder holding sqlite/)"
                if explicit { throw CLIError("--shims sqlite: \(why)") }
                if spec.path.hasSuffix("/sqlite3") {
                    FileHandleStderr.write("revenant: \(why); recording without it\n")
                }
            }
        }
        if perl {
            // For the program if it is perl, and for every perl it starts.
            if let lib = ShimSelection.perlShimLibrary() {
                exec.perlLibrary = lib
                loaded.append("perl")
                folders.append(lib)
            } else {
                let why =
                    "the Perl shim is not built "
                    + "(run `make shims`, or set REVENANT_SHIMS to the folder holding perl/lib)"
                if explicit { throw CLIError("--shims perl: \(why)") }
                if ExecShims.isPerl(spec.path.description) {
                    FileHandleStderr.write("revenant: \(why); recording without it\n")
                }
            }
        }
        spec.argv = exec.argv(spec.argv, program: spec.path)
        return (spec, exec.environment(environment), loaded, folders, exec)
    }

    /// The switches apply() puts first on perl's command line to load the Perl shim from `lib`.
    package static func perlSwitches(_ lib: String) -> [String] { ExecShims.perlSwitches(lib) }

    /// The command the user ran: a recorded argv and environment less exactly what apply() added
    /// for `shims` (the trace header's list): perl's switches, the SQLite shim in LD_PRELOAD.
    package static func userCommand(
        argv: [String], environment: [String],
        shims: [String]
    ) -> (argv: [String], environment: [String]) {
        var argv = argv, env = environment
        if shims.contains("perl"), argv.count >= 3, argv[1].hasPrefix("-I"),
            Array(argv[1...2]) == perlSwitches(String(argv[1].dropFirst(2)))
        {
            argv.removeSubrange(1...2)
        }
        if shims.contains("sqlite"), let i = env.firstIndex(where: { $0.hasPrefix("LD_PRELOAD=") }) {
            let value = env[i].dropFirst("LD_PRELOAD=".count)
            var libraries = value.split(separator: ":", omittingEmptySubsequences: false)
            if let lib = libraries.first, isShimLibrary(String(lib)) {
                libraries.removeFirst()
                // apply() appended the variable when there was none (or an empty one).
                if libraries.isEmpty {
                    env.remove(at: i)
                } else {
                    env[i] = "LD_PRELOAD=" + libraries.joined(separator: ":")
                }
            }
        }
        return (argv, env)
    }

    /// Where the shims' own code lives, as staged (`make shims`): the SQLite shim's library and
    /// the Perl shim's XS module.
    package static let sqliteLibrary = "sqlite/librevenant_sqlite.so"
    package static let perlModule = "auto/Revenant/Shim/Shim.so"

    /// Whether `path` is one of the shims' libraries (not the program's code).
    package static func isShimLibrary(_ path: String) -> Bool {
        path.hasSuffix("/" + sqliteLibrary) || path.hasSuffix("/perl/lib/" + perlModule)
    }

    /// perl, perl5.36.0 …
    package static func isPerl(_ path: String) -> Bool { ExecShims.isPerl(path) }

    /// The staged Perl shim's library folder: $REVENANT_SHIMS/perl/lib, else .build/shims/perl/lib
    /// next to this binary (where `make shims` puts it).
    package static func perlShimLibrary() -> String? {
        for c in shimFolders() {
            let lib = c + "/perl/lib"
            if access(lib + "/Revenant/Shim.pm", R_OK) == 0, access(lib + "/" + perlModule, R_OK) == 0 {
                return lib
            }
        }
        return nil
    }

    /// The staged SQLite shim: $REVENANT_SHIMS/sqlite/librevenant_sqlite.so, else next to this binary.
    package static func sqliteShimLibrary() -> String? {
        shimFolders().map { $0 + "/" + sqliteLibrary }.first { access($0, R_OK) == 0 }
    }

    /// Where staged shims may be, real paths: $REVENANT_SHIMS, then .build/shims beside the binary.
    package static func shimFolders() -> [String] {
        var candidates: [String] = []
        if let env = getenv("REVENANT_SHIMS") { candidates.append(String(cString: env)) }
        if let exe = realpath("/proc/self/exe", nil) {
            let dir = String(
                String(cString: exe).split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(
                    separator: "/"))
            free(exe)
            candidates += [dir + "/../shims", dir + "/../../shims"]
        }
        return candidates.compactMap { c in
            guard let real = realpath(c, nil) else { return nil }
            defer { free(real) }
            return String(cString: real)
        }
    }
}

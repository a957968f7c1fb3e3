// What `run` and `record` need (GuestSession, SessionOptions, CLIError…) lives in Sessions, below
// the index, so that the launcher links it without GRDB; RevenantKit's users see it as before.
@_exported import Sessions

/// RevenantKit: what the `revenant` command does, as a library. The command line parses its
/// arguments and prints; this module runs sessions (a program in the deterministic VM, recorded or
/// not: GuestSession), the Perl-level replay in both forms (PerlReplayRun, FastPerlReplay),
/// checkpoints and throw-away clone evaluation. The layers below it (Machine, Personality, Replay,
/// Regen, SQLReplay, PerlReplay) are the pieces; Docs/architecture.md draws them.
///
/// The public surface is small on purpose: `GuestSession` with `SessionOptions` runs a program as
/// `revenant run` does. Everything else is `package`: shared by the targets of this package and
/// its tests, not yet promised to anyone else (the monitor interface will be the next public one).
public enum RevenantKit {
    /// The version `record` writes into a trace's header.
    public static let version = revenantVersion
}

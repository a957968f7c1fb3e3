import ArgumentParser
import RevenantCommands
import Glibc
import Regen
import SQLReplay
import Trace
import RevenantKit

struct RegenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "regen",
        abstract: CommandAbstract.regen,
        discussion: """
            The shims log every Perl statement (and its nondeterministic results) while recording, but \
            Revenant discards those logs then; `regen` resurrects them by replaying the run, and gives \
            every record its machine position (the syscall event it precedes). It also says whether the \
            fast Perl-level replay can reproduce the run, or which input the program read outside any \
            hooked op (XS code doing its own I/O). Running it again gives the same index.

            Examples:
              revenant regen run.rvt
              revenant log run.rvt perl --limit 20
              sqlite3 run.rvt/index.sqlite 'SELECT file, count(*) FROM perl_statements GROUP BY 1'
            """
    )

    @Argument(help: "The trace directory.") var trace: String
    @Flag(help: "Replay although this host's CPU signature differs from the recording's.") var ignoreCPU = false
    @Flag(name: .shortAndLong, help: "Say nothing on success.") var quiet = false
    @Option(
        help: ArgumentHelp(
            "Debugging aid: also write the regenerated channel stream to FILE (compare with "
                + "a trace's channel.live from `record --keep-channel`); it replaces a file (or the "
                + "symlink itself) there, never a device, folder or anything in the trace.",
            valueName: "FILE"))
    var channelOut: String?

    func validate() throws { try requirePath(trace, "TRACE") }

    func run() throws {
        // A debugging aid written again and again: an existing file is replaced (force).
        let output = try channelOut.map { try outputFile($0, option: "--channel-out", force: true, trace: trace) }
        let s = try regenerate(trace, ignoreCPU: ignoreCPU, channelOut: output?.temporary)
        do { try output?.commit() } catch { throw CLIError(error.description) }
        if quiet { return }
        let seconds = Double(s.totalNanoseconds) / 1e9
        let rate = seconds > 0 ? Int(Double(s.statements) / seconds) : 0
        var what: [String] = []
        if s.statements > 0 {
            what.append("\(s.statements) Perl statements and \(s.nondeterministic) nondeterministic results")
        }
        if s.sqlStatements > 0 { what.append("\(s.sqlStatements) SQL statements") }
        let regenerated = what.isEmpty ? "nothing (no shim logged anything)" : what.joined(separator: " and ")
        let speed = s.statements > 0 ? "; \(rate) statements/s" : ""
        print(
            "regenerated \(regenerated) from \(s.events) events "
                + "in \(fmtMs(s.totalNanoseconds)) (replay \(fmtMs(s.replayNanoseconds))\(speed))"
        )
        print(
            "index: \(trace)/index.sqlite, \(s.indexBytes) bytes"
                + (s.statements > 0
                    ? String(format: " (%.1f bytes per statement)", Double(s.indexBytes) / Double(s.statements)) : ""))
        if s.statements > 0 {
            print(
                "fast Perl replay: "
                    + (s.fastReplay
                        ? "possible (every input went through a hooked op)"
                        : "not possible: \(s.fastReplayBlocker ?? "?")"))
        }
    }
}

import ArgumentParser
import RevenantKit

/// Options of the commands that evaluate the user's query or expression at many points of a
/// run (`sql --when`, `when --sql`; meant for `perl --when/--print` and `when --perl` too): one
/// evaluation running past --timeout ends the command with one line (exit 125) instead of
/// hanging it.
struct EvaluationOptions: ParsableArguments {
    @Option(
        name: .customLong("timeout"), parsing: .unconditional,
        help: ArgumentHelp(
            "Seconds one evaluation may run; past it the command ends, exit 125.",
            valueName: "SECONDS"))
    var timeout: Double = 10

    func validate() throws {
        guard timeout > 0, timeout.isFinite else { throw ValidationError("--timeout: a number of seconds above 0") }
    }

    var limit: EvaluationLimit { EvaluationLimit(seconds: timeout) }

    /// The one line for an evaluation past its time (EvaluationLimit words it).
    func timedOut(_ what: String, at position: String) -> CLIError { limit.timedOut(what, at: position) }
}

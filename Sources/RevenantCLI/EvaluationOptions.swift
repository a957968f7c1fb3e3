import ArgumentParser

/// Options of the commands that evaluate the user's query or expression at many points of a
/// run (`sql --when`, `when --sql`; meant for `perl --when/--print` and `when --perl` too): one
/// evaluation running past --timeout ends the command with one line (exit 125) instead of
/// hanging it.
struct EvaluationOptions: ParsableArguments {
    @Option(name: .customLong("timeout"), parsing: .unconditional,
            help: ArgumentHelp("Seconds one evaluation may run; past it the command ends, exit 125.",
                               valueName: "SECONDS"))
    var timeout: Double = 10

    func validate() throws {
        guard timeout > 0, timeout.isFinite else { throw ValidationError("--timeout: a number of seconds above 0") }
    }

    /// The one line for an evaluation past its time: `what` ("the --when query") at `position`
    /// ("statement #12").
    func timedOut(_ what: String, at position: String) -> CLIError {
        let seconds = timeout == timeout.rounded() && timeout < 1e15 ? String(Int64(timeout)) : String(timeout)
        return CLIError("\(what) timed out after \(seconds) s at \(position) (--timeout to allow longer)")
    }
}

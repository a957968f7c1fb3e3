import Replay

/// What a run's sandbox and machine are (`revenant run` and `record` set them from their options;
/// the fast Perl replay from the recording).
public struct SessionOptions: Equatable {
    /// Paths the guest may write, and paths it sees read-only even under a writable mount.
    public var readWrite: [String] = []
    public var readOnly: [String] = []
    public var network = false
    /// K=V entries set in the guest's environment, after the caller's (or none: clearEnvironment).
    public var environment: [String] = []
    public var clearEnvironment = false
    /// Guest memory, e.g. 512M, 4G.
    public var memory = "4G"
    /// Say which hypervisor ran and what the run cost.
    public var verbose = false
    /// Syscalls through the mailbox (PVM), else a VM exit each.
    public var mailbox = true
    /// The program's `syscall` instructions rewritten into jumps to the trapless entry (PVM, with
    /// the mailbox): Docs/machine.md "Trapless syscalls".
    public var rewriteSyscalls = true
    /// The guest's processes alive at once, the first included: a fork past it fails with EAGAIN.
    public var maxProcesses = ProcessTable.defaultLimit

    public init() {}
}

/// How long one evaluation the user supplies may run (a --when or --print, a SQL predicate).
package struct EvaluationLimit {
    package var seconds: Double = 10

    package init(seconds: Double = 10) { self.seconds = seconds }

    /// The one line for an evaluation past its time: `what` ("the --when query") at `position`
    /// ("statement #12").
    package func timedOut(_ what: String, at position: String) -> CLIError {
        let shown = seconds == seconds.rounded() && seconds < 1e15 ? String(Int64(seconds)) : String(seconds)
        return CLIError("\(what) timed out after \(shown) s at \(position) (--timeout to allow longer)")
    }
}

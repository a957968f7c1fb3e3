/// The one-line abstract of each command that `revenant-full` runs: its command reads it, and
/// so does the entry that lists it in the launcher's `revenant --help` (Docs/architecture.md
/// "Two binaries").
package enum CommandAbstract {
    package static let info =
        "Describe this host's virtualization (hypervisor, trap strategy, CPU signature)."
    package static let syscalls =
        "List the syscalls the guest may make and how each is handled."
    package static let regen =
        "Replay a trace, collect the shims' logs and write the trace's index.sqlite."
    package static let log =
        "Print what a trace recorded, without replaying it."
    package static let perl =
        "Replay a recorded Perl script statement by statement."
    package static let sql =
        "Travel in time in a recorded run's databases: rebuild one as it was after any SQL statement, "
        + "or find when a query becomes true."
    package static let when =
        "Find every position in a recorded run where a predicate becomes true, at every level."
    package static let gdb =
        "Debug a recorded run with gdb, forwards and backwards (a GDB remote-protocol server)."
    package static let monitor =
        "Replay a trace under a monitor program that subscribes to events and asks questions."
    package static let dap =
        "Serve the Perl-level replay of a trace to an editor over the Debug Adapter Protocol."
    package static let restore =
        "Restore the files a recorded run wrote as they were at any point of it."
    package static let diff =
        "Show how a file the recorded run wrote changed between two points of the run."
}

import LinuxABI
import Machine
import Personality

/// execve's loader: the personality decides what to load and resets the process, the machine's
/// Loader maps the new program as it mapped the first one. The same in run, record and replay
/// (where the files come from the trace: Replayer.loadAgain).
public enum ProgramImages {
    public static func install(
        on personality: LinuxPersonality, machine: GuestMachine,
        ids: (uid: UInt32, euid: UInt32, gid: UInt32, egid: UInt32)
    ) {
        personality.imageLoader = { [unowned machine] request, name, open in
            let loaded = try Loader.load(
                program: ProgramSpec(path: request.path, argv: request.argv, execfn: request.execfn),
                environment: request.environment,
                atRandom: request.atRandom, hwcap: machine.hwcap, ids: ids, into: machine.space,
                openFile: open, mappedName: name)
            return ExecImage(
                entry: loaded.entry, stackPointer: loaded.stackPointer, brkStart: loaded.brkStart,
                mmapTop: loaded.mmapTop)
        }
    }
}

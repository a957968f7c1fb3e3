import ArgumentParser
import RevenantCommands
import FileHistory
import Foundation
import RevenantKit
import SQLReplay

struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: CommandAbstract.restore,
        discussion: """
            Every file the run changed — in its writable mounts and its private /tmp, removed and \
            renamed ones included, folders and symbolic links too — as it was at POS: its pre-image \
            (the copy the trace kept before the run first changed it; nothing when the run made it) \
            plus the run's changes up to POS (write, pwrite, truncate, rename, unlink, mkdir, \
            symlink, chmod, utimensat...), which a replay up to POS yields, every process's in the \
            order the run made them. Files the run only read are not in the trace.

            --path FILE -o OUT writes one file (FILE: its guest path, or relative to the run's working \
            folder); --dir OUT writes every such file that exists at POS under OUT at its guest path \
            (OUT new or empty). Modes are restored, and times where the trace holds them (a pre-image's, \
            or what utimensat set); a file whose contents the trace cannot give at POS (changed through \
            a shared writable mapping, or by sendfile; or an older trace that kept no copy) is named \
            and not written.

            POS: \(RunPosition.syntax). Docs/positions.md says what each means.

            Examples:
              revenant restore run.rvt --at perl:report.pl:40 --path out/report.csv -o report-then.csv
              revenant restore run.rvt --at sql:12 --dir /tmp/then
            """)

    @Argument(help: "The trace directory.") var trace: String
    @Option(help: ArgumentHelp("The point of the run (default: its end).", valueName: "POS")) var at = "end"
    @Option(help: ArgumentHelp("One file the run wrote (its guest path).", valueName: "FILE")) var path: String?
    @Option(name: .short, help: ArgumentHelp("Where to write FILE.", valueName: "OUT")) var output: String?
    @Option(help: ArgumentHelp("Write every file the run wrote under this new folder.", valueName: "OUT"))
    var dir: String?
    @Flag(help: "With -o: replace OUT if it exists (a symlink there: the link itself).") var force = false

    func validate() throws {
        try requirePath(trace, "TRACE")
        _ = try parsePosition(at, option: "--at")
        switch (path, output, dir) {
        case (.some, .some, nil), (nil, nil, .some): break
        case (.some, nil, _): throw ValidationError("--path needs -o OUT")
        case (nil, .some, _): throw ValidationError("-o goes with --path")
        default: throw ValidationError("give --path FILE -o OUT or --dir OUT")
        }
        if path == "" || dir == "" { throw ValidationError("an empty path") }
    }

    func run() throws {
        let position = try parsePosition(at, option: "--at")
        let out = try output.map { try outputFile($0, option: "-o", force: force, trace: trace) }
        if let dir {
            do { try RestoredTree.checkEmpty(dir) } catch { throw CLIError(error.description) }
        }
        let (pid, before) = try resolvePosition(position, trace: trace)
        let snapshot = try takeSnapshot(trace, pid: pid, until: before)
        if let path, let out {
            if before != nil, !snapshot.knows(path) { try knownLater(path, trace: trace, at: position) }
            let file = try snapshot.file(path, at: position)
            do {
                try Data(file.data).write(to: URL(fileURLWithPath: out.temporary))
                try out.commit()
            } catch { throw CLIError("\(error)") }
            chmod(out.path, mode_t(file.mode))
            if let m = file.modified { RestoredTree.setTimes(out.path, file.accessed ?? m, m) }
            print("restored \(path) as it was at \(position) into \(out.path): \(file.data.count) bytes")
        } else if let dir {
            let r: RestoredTree.Written
            do { r = try RestoredTree.write(snapshot, to: dir) } catch { throw CLIError(error.description) }
            for (p, why) in r.notRestored { FileHandleStderr.write("revenant: not restored: \(p): \(why)\n") }
            print(
                "restored the run's files as they were at \(position) into \(dir): \(r.files) files, "
                    + "\(r.folders) folders, \(r.links) symbolic links, \(r.bytes) bytes; "
                    + "\(snapshot.bytesRead) bytes of events and pre-images read from the trace")
        }
    }
}

/// One replay up to the position: its failures are the replay's (a divergence is 124).
func takeSnapshot(_ trace: String, pid: Int32?, until: Int?) throws -> FileHistory.Snapshot {
    do { return try FileHistory.snapshot(trace: trace, pid: pid, until: until) } catch {
        throw CLIError(error.description, code: error.diverged ? 124 : 125)
    }
}

/// A path the tree does not know at a position: absent then when the run writes it later, else
/// never written (one more replay, to the end, tells which).
func knownLater(_ path: String, trace: String, at position: RunPosition) throws {
    if try takeSnapshot(trace, pid: nil, until: nil).knows(path) {
        throw CLIError("\(path) did not exist at \(position) (the run makes it later)", code: 1)
    }
}

extension FileHistory.Snapshot {
    /// Whether the run changed `path` before this point (or changes it later: its pre-image).
    func knows(_ path: String) -> Bool { tree.paths[FileTree.absolute(path, cwd: cwd)] != nil }

    /// The file at a guest path (relative: to the run's working folder), or one line saying why
    /// there is none (exit 1).
    func file(_ path: String, at position: RunPosition) throws -> FileTree.Node {
        let guest = FileTree.absolute(path, cwd: cwd)
        guard let known = tree.paths[guest] else {
            throw CLIError("\(path): the run never changed it (the trace holds the files a run wrote)", code: 1)
        }
        guard let node = known else { throw CLIError("\(path) did not exist at \(position)", code: 1) }
        switch node.kind {
        case .folder: throw CLIError("\(path) is a folder at \(position) (--dir restores folders)", code: 1)
        case .symlink:
            throw CLIError(
                "\(path) is a symbolic link at \(position), to \(String(decoding: node.data, as: UTF8.self))", code: 1)
        case .file: break
        }
        if let why = node.unknown {
            throw CLIError("\(path): the trace cannot give it at \(position): \(why)", code: 1)
        }
        return node
    }
}

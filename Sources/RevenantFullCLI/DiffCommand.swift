import ArgumentParser
import RevenantCommands
import FileHistory
import Foundation
import Glibc
import RevenantKit
import SQLReplay

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: CommandAbstract.diff,
        discussion: """
            A unified diff for text (diff -u), the changed byte ranges for anything else (a file \
            with a NUL byte or bytes that are not UTF-8). The file at each point is what `restore` \
            gives; a file that did not exist at one of them is compared with nothing. Exit 0 when \
            the two are the same, 1 when they differ (as diff(1)).

            POS: \(RunPosition.syntax).

            Example:
              revenant diff run.rvt --path out/report.csv --from perl:report.pl:40 --to end
            """)

    @Argument(help: "The trace directory.") var trace: String
    @Option(help: ArgumentHelp("The file (its guest path).", valueName: "FILE")) var path: String
    @Option(help: ArgumentHelp("The earlier point (default: the run's start).", valueName: "POS")) var from = "start"
    @Option(help: ArgumentHelp("The later point (default: the run's end).", valueName: "POS")) var to = "end"

    func validate() throws {
        try requirePath(trace, "TRACE")
        if path.isEmpty { throw ValidationError("--path: an empty path") }
        _ = try parsePosition(from, option: "--from")
        _ = try parsePosition(to, option: "--to")
    }

    func run() throws {
        var sides: [(label: String, data: [UInt8]?)] = []
        var ever = false
        for (text, option) in [(from, "--from"), (to, "--to")] {
            let position = try parsePosition(text, option: option)
            let (pid, before) = try resolvePosition(position, trace: trace)
            let snapshot = try takeSnapshot(trace, pid: pid, until: before)
            // A path the tree does not know at a point, or knows as removed, holds nothing there.
            if case .some(.some) = snapshot.tree.paths[FileTree.absolute(path, cwd: snapshot.cwd)] {
                sides.append(("\(path) at \(position)", try snapshot.file(path, at: position).data))
            } else {
                sides.append(("\(path) at \(position) (absent)", nil))
            }
            ever = ever || snapshot.knows(path)
        }
        guard ever else {
            try knownLater(path, trace: trace, at: try parsePosition(to, option: "--to"))
            throw CLIError("\(path): the run never changed it (the trace holds the files a run wrote)", code: 1)
        }
        let (a, b) = (sides[0], sides[1])
        if a.data == b.data {
            print("\(path): the same at \(from) and \(to)")
            return
        }
        if FileDiff.isText(a.data ?? []) && FileDiff.isText(b.data ?? []) {
            try FileDiff.unified(a.data ?? [], b.data ?? [], labels: (a.label, b.label))
        } else {
            print("--- \(a.label)\n+++ \(b.label)")
            for line in FileDiff.byteRanges(a.data ?? [], b.data ?? []) { print(line) }
        }
        Glibc.exit(1)
    }
}

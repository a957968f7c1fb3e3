import Foundation

/// `restore --at end --dir` after a corpus entry's recording: every file the run left in its
/// working folder that it wrote (it differs from what the entry started with) must come back with
/// the same contents (a symlink: the same target) and permissions, and nothing restored there may
/// be missing from the folder or differ from it.
enum RestoreChecks {
    static func afterRecord(
        revenant: URL, trace: URL, runDirectory: URL, startedWith: [String: File], scratch: URL,
        timeout: TimeInterval
    ) -> [String] {
        let run = runDirectory.resolvingSymlinksInPath()
        let now = files(under: run)
        let wrote = now.filter { path, file in startedWith[path] != file }
        guard !wrote.isEmpty else { return [] }
        let out = scratch.appendingPathComponent("restored")
        try? FileManager.default.removeItem(at: out)
        let r = ProcessRunner.run(
            executable: revenant.path, arguments: ["restore", trace.path, "--at", "end", "--dir", out.path],
            directory: scratch, environment: ProcessInfo.processInfo.environment, stdinPath: "/dev/null",
            stdoutFile: scratch.appendingPathComponent("restore.stdout"),
            stderrFile: scratch.appendingPathComponent("restore.stderr"), timeout: timeout)
        guard r.status == 0 else {
            return ["restore exited \(r.status): \(String(decoding: r.stderr.suffix(400), as: UTF8.self))"]
        }
        let restored = files(under: URL(fileURLWithPath: out.path + run.path))
        var problems: [String] = []
        for (path, file) in wrote.sorted(by: { $0.key < $1.key }) {
            guard let back = restored[path] else {
                problems.append("restore --at end lacks \(path), which the run wrote")
                continue
            }
            if back != file { problems.append("restore --at end gives \(path) as \(back), the run left \(file)") }
        }
        for (path, back) in restored where now[path] != back {
            let left = now[path].map { "\($0)" } ?? "nothing"
            problems.append("restore --at end gives \(path) as \(back); the run left \(left)")
        }
        return problems
    }

    /// A regular file's bytes or a symlink's target, and its permissions.
    struct File: Equatable, CustomStringConvertible {
        var data: Data?
        var link: String?
        var mode: Int
        var description: String {
            (link.map { "a symlink to \($0)" } ?? "\(data?.count ?? 0) bytes") + String(format: ", mode %o", mode)
        }
    }

    /// Regular files and symlinks under `root`, by path relative to it.
    static func files(under root: URL) -> [String: File] {
        var out: [String: File] = [:]
        guard let e = FileManager.default.enumerator(atPath: root.path) else { return out }
        while let rel = e.nextObject() as? String {
            let p = root.path + "/" + rel
            var st = stat()
            guard lstat(p, &st) == 0 else { continue }
            let mode = Int(st.st_mode & 0o7777)
            switch st.st_mode & S_IFMT {
            case S_IFREG: out[rel] = File(data: FileManager.default.contents(atPath: p), link: nil, mode: mode)
            case S_IFLNK:
                out[rel] = File(data: nil, link: try? FileManager.default.destinationOfSymbolicLink(atPath: p), mode: 0)
            default: break
            }
        }
        return out
    }
}

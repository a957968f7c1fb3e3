import Foundation
import Trace

/// `diff`: how a file changed between two points.
public enum FileDiff {
    /// Text: UTF-8 without a NUL byte.
    public static func isText(_ data: [UInt8]) -> Bool {
        !data.contains(0) && String(validating: data, as: UTF8.self) != nil
    }

    /// Prints a unified diff of two texts with diff(1) (`diff -u`, from diffutils).
    public static func unified(_ a: [UInt8], _ b: [UInt8], labels: (String, String)) throws {
        guard let scratch = makeScratchFolder("revenant-diff") else { throw CocoaError(.fileWriteUnknown) }
        defer { removeTree(scratch) }
        try Data(a).write(to: URL(fileURLWithPath: scratch + "/a"))
        try Data(b).write(to: URL(fileURLWithPath: scratch + "/b"))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/diff")
        p.arguments = ["-u", "--label", labels.0, "--label", labels.1, scratch + "/a", scratch + "/b"]
        try p.run()
        p.waitUntilExit()
    }

    /// The ranges of bytes that differ, one line each, and the lengths when they differ.
    public static func byteRanges(_ a: [UInt8], _ b: [UInt8], limit: Int = 100) -> [String] {
        var out: [String] = []
        var i = 0
        let common = min(a.count, b.count)
        var ranges = 0
        while i < common {
            guard a[i] != b[i] else {
                i += 1
                continue
            }
            var j = i
            while j < common && a[j] != b[j] { j += 1 }
            ranges += 1
            if ranges <= limit {
                out.append(String(format: "bytes 0x%llx-0x%llx changed (%d bytes)", i, j - 1, j - i))
            }
            i = j
        }
        if ranges > limit { out.append("... \(ranges - limit) more changed ranges") }
        if a.count != b.count { out.append("length \(a.count) -> \(b.count) bytes") }
        return out
    }
}

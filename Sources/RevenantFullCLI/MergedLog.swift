import Replay
import Trace

/// The lines of `log perl` or `log sql`. One process's are printed as they come; several
/// processes' are gathered, each entry (a statement with the lines under it) with the event it
/// precedes, and printed in the order the run made them: by the stamp of the last call before
/// that event (Docs/trace-format.md "Processes"; entries before the run's first fork first), each
/// process's in its own order. `--limit` counts entries as the lines come out.
final class MergedLog {
    private let directory: TraceDirectory
    private let merging: Bool
    private let limit: Int?
    /// Entries printed (or, merging, gathered) so far.
    private(set) var entries = 0
    private var stamps: Stamps?
    private var rank = 0
    private var groups: [(key: Int64, rank: Int, order: Int, lines: [(text: String, counts: Bool)])] = []

    init(_ directory: TraceDirectory, processes: Int, limit: Int?) {
        self.directory = directory
        merging = processes > 1
        self.limit = limit
    }

    /// The next entries are the process of stream `stream`'s.
    func process(stream: Int) throws {
        rank += 1
        if merging { stamps = try Stamps(directory, stream: stream) }
    }

    /// Whether another entry may come (false: --limit reached, when printing as they come).
    var wantsMore: Bool { merging || limit.map { entries < $0 } ?? true }

    /// An entry at `event` (a statement), its first line.
    func entry(event: Int64, _ line: String) {
        entries += 1
        guard merging else { return print(line) }
        let key = stamps?.before(event: Int(clamping: event)).map { Int64(clamping: $0) } ?? -1
        groups.append((key, rank, groups.count, [(line, true)]))
    }

    /// A line under the last entry (or at `event`, before the process's first); `counts`: an
    /// entry of its own for --limit (a Perl op's result).
    func line(_ line: String, counts: Bool = false, event: Int64) {
        if counts { entries += 1 }
        guard merging else { return print(line) }
        guard let last = groups.last, last.rank == rank else {
            let key = stamps?.before(event: Int(clamping: event)).map { Int64(clamping: $0) } ?? -1
            return groups.append((key, rank, groups.count, [(line, counts)]))
        }
        groups[groups.count - 1].lines.append((line, counts))
    }

    /// Merging: print what was gathered, in the run's order, up to --limit entries. Returns how
    /// many entries were printed.
    @discardableResult
    func finish() -> Int {
        guard merging else { return entries }
        groups.sort { ($0.key, $0.rank, $0.order) < ($1.key, $1.rank, $1.order) }
        var printed = 0
        for g in groups {
            for l in g.lines {
                if l.counts, let limit, printed >= limit { return printed }
                if l.counts { printed += 1 }
                print(l.text)
            }
        }
        return printed
    }
}

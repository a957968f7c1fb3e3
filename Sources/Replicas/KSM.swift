import Glibc

/// Merge-on-equal (Docs/replicas.md "Memory"): the kernel's same-page merging, which this host
/// has off (`/sys/kernel/mm/ksm/run` is 0, and switching it is machine-wide). `--ksm` switches it
/// on for the run and back to what it was after; replicas mark their guest memory mergeable
/// (MADV_MERGEABLE), so pages that are equal in several replicas — most of them: they run the
/// same program — are kept once. Where it is not permitted the run says so and goes on.
public final class KSM {
    static let folder = "/sys/kernel/mm/ksm/"
    private let previous: String
    private let previousScan: String?
    /// Pages scanned per wake-up while the run goes (the default, 100 every 20 ms, takes
    /// seconds to reach a replica's working set).
    static let pagesToScan = "2000"
    /// The most pages shared at once (KSM's `pages_sharing`) while the run went.
    public private(set) var peakSharing = 0

    /// Switched on, or a line saying why not.
    public static func switchOn() -> Result<KSM, KSMError> {
        guard let was = read("run") else { return .failure(KSMError("this kernel has no KSM (\(folder) is missing)")) }
        if let e = write("run", "1") {
            return .failure(KSMError("cannot switch KSM on: \(String(cString: strerror(e)))"))
        }
        let scan = read("pages_to_scan")
        _ = write("pages_to_scan", pagesToScan)
        return .success(KSM(previous: was, previousScan: scan))
    }

    private init(previous: String, previousScan: String?) {
        self.previous = previous
        self.previousScan = previousScan
    }

    /// As it was before the run.
    public func restore() {
        _ = Self.write("run", previous)
        if let previousScan { _ = Self.write("pages_to_scan", previousScan) }
    }

    public func sample() { peakSharing = max(peakSharing, Self.read("pages_sharing").flatMap { Int($0) } ?? 0) }

    /// Mark [start, start + length) mergeable (a replica's guest memory); errno when refused.
    public static func markMergeable(_ start: UnsafeMutableRawPointer, _ length: Int) -> Int32? {
        madvise(start, length, MADV_MERGEABLE) == 0 ? nil : errno
    }

    static func read(_ name: String) -> String? {
        guard let f = fopen(folder + name, "r") else { return nil }
        defer { fclose(f) }
        var line = [CChar](repeating: 0, count: 64)
        guard fgets(&line, 64, f) != nil else { return nil }
        return String(String(cString: line).filter { !$0.isWhitespace })
    }

    static func write(_ name: String, _ value: String) -> Int32? {
        guard let f = fopen(folder + name, "w") else { return errno }
        defer { fclose(f) }
        return fputs(value, f) >= 0 && fflush(f) == 0 ? nil : errno
    }
}

public struct KSMError: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}

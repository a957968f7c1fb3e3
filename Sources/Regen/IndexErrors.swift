import GRDB

extension TraceIndex {
    /// Why reading an index failed, when it did (a damaged file, or tables another revenant
    /// wrote): SQLite's own message, without the statement GRDB quotes across several lines.
    /// nil for any other error.
    public static func unreadable(_ error: Error) -> String? {
        guard let e = error as? DatabaseError else { return nil }
        return e.message ?? "SQLite error \(e.resultCode.rawValue)"
    }
}

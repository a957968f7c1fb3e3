import GuestMemory
import PerlReplay
import RevenantKit
import SQLReplay

/// What a monitor asks to be notified of (Docs/monitor-protocol.md "Subscriptions"), at each of
/// the levels a replay has: the machine's (syscalls, code, memory), Perl's and SQL's.
public enum SubscriptionKind: Equatable, Sendable {
    /// Every call matching the filter `when --syscall` takes (`write fd=1 data~ERROR`).
    case syscall(filter: String)
    /// Every Perl statement, before it runs.
    case perlStatements
    /// Every Perl statement at FILE:LINE (FILE matched as a path tail).
    case perlLine(String)
    /// Every Perl statement where the expression (the VMM's subset) becomes true.
    case perlWhen(String)
    /// Every SQL statement, before SQLite runs it.
    case sqlStatements
    /// Every SQL statement that reads or writes this table.
    case sqlTable(String)
    /// After every SQL statement that makes the query's first column true (re-executed outside
    /// the VM, as `when --sql` does): at the first event after that statement.
    case sqlWhen(String)
    /// Each arrival at a function of the program or its libraries (as `when --symbol`).
    case symbol(String)
    /// Each arrival at an address (once it is mapped executable).
    case address(UInt64)
    /// Each change of guest memory, read at every event (as `when --watch`).
    case watch(address: UInt64, length: Int)
    /// The followed process's forks (the child's pid), execs (the new program), its exit or
    /// the signal that killed it.
    case process

    /// The notification's `kind`.
    public var level: String {
        switch self {
        case .syscall: return "syscall"
        case .perlStatements, .perlLine, .perlWhen: return "perl"
        case .sqlStatements, .sqlTable, .sqlWhen: return "sql"
        case .symbol, .address: return "code"
        case .watch: return "watch"
        case .process: return "process"
        }
    }

    /// Why a watch can never show a change (it lies outside the program's memory), or nil.
    public func problem(in layout: GuestLayout) -> String? {
        guard case .watch(let address, let length) = self else { return nil }
        let (end, overflow) = address.addingReportingOverflow(UInt64(length))
        guard address < layout.programStart || overflow || end > layout.end else { return nil }
        return "not a guest address (the program's memory is "
            + "0x\(String(layout.programStart, radix: 16))–0x\(String(layout.end, radix: 16)))"
    }

    /// Stops that need the channel's records one by one (the Perl and SQL shims' statements).
    var steps: Bool {
        switch self {
        case .perlStatements, .perlLine, .perlWhen, .sqlStatements, .sqlTable: return true
        default: return false
        }
    }
}

/// A subscription refused: one line, sent back to the monitor as the request's error.
public struct SubscriptionError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A subscription as the replay checks it: the kind compiled once.
final class ActiveSubscription {
    let id: Int
    let kind: SubscriptionKind
    var predicate: SyscallPredicate?
    var line: Breakpoint?
    var expression: PerlExpression?
    /// perlWhen: the previous answer (a hit is false → true).
    var previous: Bool?
    /// sqlWhen: the events after which the query became true, with their statements, in order.
    var sqlHits: [TimeTravel.Statement] = []
    var nextSQLHit = 0
    /// watch: the bytes at the last event.
    var last: [UInt8]?
    /// code: the addresses armed for it.
    var armed: Set<UInt64> = []

    init(id: Int, kind: SubscriptionKind) throws(SubscriptionError) {
        self.id = id
        self.kind = kind
        switch kind {
        case .syscall(let filter):
            do { predicate = try SyscallPredicate(filter) } catch { throw SubscriptionError("syscall: \(error)") }
        case .perlLine(let spec):
            do { line = try Breakpoint(spec) } catch {
                throw SubscriptionError("perl line \(spec): expected FILE:LINE")
            }
        case .perlWhen(let text):
            do { expression = try PerlExpression.parse(text) } catch {
                throw SubscriptionError("perl when \(text): \(error)")
            }
        case .sqlTable(let t) where t.isEmpty: throw SubscriptionError("sql table: an empty name")
        case .symbol(let s) where s.isEmpty: throw SubscriptionError("symbol: an empty name")
        case .watch(_, let length) where length < 1 || length > 4096:
            throw SubscriptionError("watch: length \(length) is not 1–4096 bytes")
        default: break
        }
    }
}

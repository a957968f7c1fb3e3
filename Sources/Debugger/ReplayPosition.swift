/// An exact point of a replay, between two instructions, without a performance counter
/// (Docs/gdb.md "Positions"): the `returns`-th syscall return (0: the program's start, before its
/// first instruction), then each segment in turn from there. A segment is what took the program
/// from one stop to the next: a number of single steps, or the `count`-th arrival at an address
/// (the program about to run the instruction there; the address the segment starts at does not
/// count), or the end of the run. A replay is exact, so the same segments from the same return
/// reach the same point.
public struct ReplayPosition: Equatable, CustomStringConvertible, Sendable {
    public enum Segment: Equatable, Sendable {
        case arrive(UInt64, count: Int)
        case steps(Int)
        /// Where the run ends: the program's exit call, or the fault that kills it.
        case end
    }

    public var returns: Int
    public var path: [Segment]

    public init(returns: Int, path: [Segment] = []) {
        self.returns = returns
        self.path = path
    }

    /// The program's start: the first arrival at its entry point.
    public static func start(entry: UInt64) -> ReplayPosition {
        ReplayPosition(returns: 0, path: [.arrive(entry, count: 1)])
    }

    /// One more single step.
    public mutating func step() {
        if case .steps(let n)? = path.last {
            path[path.count - 1] = .steps(n + 1)
        } else {
            path.append(.steps(1))
        }
    }

    /// One single step less (nil when the last segment is no step).
    public func stepBack() -> ReplayPosition? {
        guard case .steps(let n)? = path.last else { return nil }
        var p = self
        if n == 1 { p.path.removeLast() } else { p.path[p.path.count - 1] = .steps(n - 1) }
        return p
    }

    /// `self` with n more steps.
    public func adding(steps n: Int) -> ReplayPosition {
        var p = self
        for _ in 0..<n { p.step() }
        return p
    }

    public var description: String {
        var s = "return \(returns)"
        for seg in path {
            switch seg {
            case .arrive(let a, let k): s += " > 0x\(String(a, radix: 16))#\(k)"
            case .steps(let n): s += " > \(n) step\(n == 1 ? "" : "s")"
            case .end: s += " > end"
            }
        }
        return s
    }
}

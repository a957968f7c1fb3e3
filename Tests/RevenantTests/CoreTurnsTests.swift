import Foundation
import Replicas
import XCTest

/// Replicas taking turns at the host's cores (CoreTurns, Docs/replicas.md "Turns"), in one process:
/// the board's page and its futex work between threads as between the replicas' processes.
final class CoreTurnsTests: XCTestCase {
    private static let long: UInt64 = 60_000_000_000

    /// A word of the board's shared page as a flag another thread sets (replica 15's progress).
    private func flag(_ board: ReplicaBoard) -> UInt64 { board.progress(15) }

    /// Wait (at most 10 s) until another thread set the flag.
    private func awaitFlag(_ board: ReplicaBoard, file: StaticString = #filePath, line: UInt = #line) {
        for _ in 0..<10_000 where flag(board) == 0 { usleep(1000) }
        XCTAssertNotEqual(flag(board), 0, "the other replica never got its turn", file: file, line: line)
    }

    /// Two replicas, one turn, replica 0 holding it.
    private func heldBoard(slice: UInt64, idle: UInt64, grace: UInt64 = long) -> ReplicaBoard {
        let board = ReplicaBoard(count: 2, turnSlots: 1)
        (board.turns.slice, board.turns.idle, board.turns.grace) = (slice, idle, grace)
        board.turns.enter(0)
        return board
    }

    /// Replica 1 asks for a turn on a thread of its own; once it has one, the flag is set and
    /// `then` runs there.
    private func replicaOneEnters(_ board: ReplicaBoard, then: @escaping @Sendable (CoreTurns) -> Void = { _ in }) {
        let turns = board.turns
        Thread.detachNewThread { [board] in
            turns.enter(1)
            board.setProgress(15, 1)
            then(turns)
        }
    }

    func testTurnsOnlyWhereReplicasHaveFewerThanTwoCoresEach() {
        XCTAssertEqual(CoreTurns.slots(replicas: 2, cores: 2), 1)
        XCTAssertEqual(CoreTurns.slots(replicas: 3, cores: 2), 1)
        XCTAssertEqual(CoreTurns.slots(replicas: 3, cores: 4), 2)
        XCTAssertEqual(CoreTurns.slots(replicas: 2, cores: 4), 0)
        XCTAssertEqual(CoreTurns.slots(replicas: 2, cores: 1), 1)
        // Without turns every replica may run, and nobody waits.
        let board = ReplicaBoard(count: 2, turnSlots: 0)
        board.turns.enter(0)
        board.turns.enter(1)
        XCTAssertTrue(board.turns.holds(0) && board.turns.holds(1))
    }

    /// One turn: a second replica waits while the first holds it, and gets it when it leaves.
    func testASecondReplicaWaitsUntilTheFirstLeaves() {
        let board = heldBoard(slice: Self.long, idle: Self.long)
        XCTAssertTrue(board.turns.holds(0))
        XCTAssertFalse(board.turns.holds(1))
        replicaOneEnters(board)
        usleep(50_000)
        XCTAssertEqual(flag(board), 0, "replica 1 got a turn while replica 0 held the only one")
        board.turns.enter(0)
        XCTAssertEqual(flag(board), 0, "replica 0's call within its slice gave its turn away")
        board.turns.leave(0)
        awaitFlag(board)
        XCTAssertTrue(board.turns.holds(1))
        XCTAssertFalse(board.turns.holds(0))
        XCTAssertEqual(board.turns.handOvers, 1)
    }

    /// A turn that lasted its slice goes, at its holder's next call, to the replica waiting; the
    /// holder then waits for it to come back.
    func testATurnPastItsSliceGoesToTheReplicaWaiting() {
        let board = heldBoard(slice: 0, idle: Self.long)
        replicaOneEnters(board) { turns in
            usleep(20_000)
            turns.leave(1)
        }
        usleep(50_000)
        XCTAssertEqual(flag(board), 0)
        // Replica 0's next call: its slice is over and replica 1 waits.
        board.turns.enter(0)
        XCTAssertEqual(flag(board), 1, "replica 0 kept its turn past its slice")
        XCTAssertTrue(board.turns.holds(0))
        XCTAssertEqual(board.turns.handOvers, 2)
    }

    /// A holder that makes no call for `idle`, once its turn's grace is over, loses it to a
    /// replica waiting; one the supervisor forgets (discarded, dead) loses it at once.
    func testAnIdleOrForgottenHolderLosesItsTurn() {
        let board = heldBoard(slice: Self.long, idle: 0, grace: 0)
        replicaOneEnters(board)
        awaitFlag(board)
        XCTAssertTrue(board.turns.holds(1))
        XCTAssertFalse(board.turns.holds(0))

        let other = heldBoard(slice: Self.long, idle: Self.long)
        replicaOneEnters(other)
        usleep(50_000)
        XCTAssertEqual(flag(other), 0)
        other.turns.forget(0)
        awaitFlag(other)
        XCTAssertTrue(other.turns.holds(1))
    }
}

import CHost
import Foundation
import GuestMemory
import LinuxABI
import Personality
import XCTest

/// Random syscalls with random arguments against a real guest address space: the personality must
/// answer each with a value or an outcome — never a Swift trap (which would kill this test process).
final class PersonalityFuzzTests: XCTestCase {
    static let calls = 1_000_000
    static let actOnThisProcess = Set(["setpgid", "setsid"].compactMap { SyscallNames.byName[$0] }.map(UInt64.init))

    /// A guest clock that doubles at every read: sleeps and alarms end at once, whatever they ask.
    final class RacingClock: Nondeterminism {
        var now: UInt64 = 1
        let pid: Int32 = getpid(), ppid: Int32 = getppid(), uid: UInt32 = getuid()
        func atRandom() -> [UInt8] { [UInt8](repeating: 7, count: 16) }
        func monotonicNow() -> UInt64 {
            now = now > UInt64.max / 2 ? UInt64.max : now * 2
            return now
        }
        func takeHostSignals() -> UInt64 { 0 }
    }

    func testRandomSyscallsNeverTrap() throws {
        let umaskBefore = umask(0o022)
        umask(umaskBefore)
        try preservingSIGCHLD { try fuzz() }
        // The guest's umask is the personality's: random umask calls leave this process's alone.
        let umaskAfter = umask(umaskBefore)
        XCTAssertEqual(umaskAfter, umaskBefore, "the fuzzed guest changed the test process's umask")
        // Once the address space is gone, nothing of it may be left mapped in this process (a
        // mapping outside the reservation would outlive it and break the next test's).
        let maps = (try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8)) ?? ""
        let left = maps.split(separator: "\n").filter { line in
            guard let dash = line.firstIndex(of: "-"), let lo = UInt64(line[..<dash], radix: 16) else { return false }
            return lo >= GuestLayout.base && lo < GuestLayout.base + (16 << 30)
        }
        XCTAssertEqual(left, [], "host mappings left in the guest range after the fuzz")
    }

    func fuzz() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-\(UUID().uuidString)")
            .resolvingSymlinksInPath()
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let clock = RacingClock()
        let p = try makeTestPersonality(root: root, nondeterminism: clock)
        defer { p.shutdown() }
        let space = p.memory
        let heap = space.layout.programStart
        // Some guest memory holding plausible strings and structures, so that pointers sometimes work.
        try space.write(Array("a.txt\0/etc/hostname\0sub/dir\0..\0/proc/self/exe\0".utf8), at: heap)

        // Every call is drawn, those that block too: the guest's clock races ahead (each read doubles
        // it, so any sleep or alarm is soon over), and a 1 ms interval timer, forwarded as a signal
        // from outside would be (Ctrl-C), interrupts host calls that wait (a read on an empty pipe,
        // a poll, a sleep) with EINTR.
        clock.now = 1 << 30
        // Random sizes reach fallocate, ftruncate and pwrite: no file may grow past 64 MiB (EFBIG),
        // or one call can fill the disk.
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &limit)
        var small = rlimit(rlim_cur: 64 << 20, rlim_max: limit.rlim_max)
        setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &small)
        signal(SIGXFSZ, SIG_IGN)
        _ = chost_forward_signal(SIGALRM)
        var timer = itimerval(
            it_interval: timeval(tv_sec: 0, tv_usec: 1000),
            it_value: timeval(tv_sec: 0, tv_usec: 1000))
        setitimer(__itimer_which_t(ITIMER_REAL.rawValue), &timer, nil)
        defer {
            var off = itimerval()
            setitimer(__itimer_which_t(ITIMER_REAL.rawValue), &off, nil)
            signal(SIGALRM, SIG_DFL)
            _ = chost_take_signals()
            setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &limit)
            signal(SIGXFSZ, SIG_DFL)
        }
        var rng = SystemRandomNumberGenerator()
        func arg() -> UInt64 {
            switch Int.random(in: 0..<8, using: &rng) {
            case 0: return 0
            case 1: return UInt64.random(in: 0..<16, using: &rng)
            case 2: return heap + UInt64.random(in: 0..<64, using: &rng)
            case 3: return heap + UInt64.random(in: 0..<(1 << 20), using: &rng)
            case 4: return UInt64.random(in: 0...UInt64.max, using: &rng)
            case 5: return UInt64(bitPattern: -100)  // AT_FDCWD
            case 6: return space.layout.start + UInt64.random(in: 0..<0x50000, using: &rng)  // the system area
            default: return UInt64(bitPattern: Int64.random(in: -5...5, using: &rng))
            }
        }
        var outcomes = 0
        for i in 0..<Self.calls {
            // A third from the table, a third of the numbers Linux has, a third anything at all.
            let nr: UInt64
            switch i % 3 {
            case 0: nr = UInt64(SyscallTable.entries.randomElement(using: &rng)!.number)
            case 1: nr = UInt64.random(in: 0..<600, using: &rng)
            default: nr = UInt64.random(in: 0...UInt64.max, using: &rng)
            }
            // setpgid and setsid would act on this test process (a guest's VMM is the guest's
            // process), and a kill to the group it then leads would signal it.
            if Self.actOnThisProcess.contains(nr) { continue }
            var req = SyscallRequest(number: nr, args: (arg(), arg(), arg(), arg(), arg(), arg()))
            // fallocate with FALLOC_FL_KEEP_SIZE allocates past the file size limit: kept small.
            if nr == 285 { req.args.3 %= 1 << 20 }
            switch p.handle(req) {
            case .value(let v):
                XCTAssertTrue(v >= -4095 || v >= 0 || nr == 12 || nr == 9 || nr == 25, "nr \(nr) returned \(v)")
            default: outcomes += 1
            }
        }
        // Nothing escaped the writable mount.
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/a.txt"))
        print(
            "[fuzz] \(Self.calls) random syscalls (every number drawn, a third from the whole 64-bit range), "
                + "\(outcomes) ended the process or changed the CPU, 0 traps")
    }
}

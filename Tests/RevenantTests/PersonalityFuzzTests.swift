import Foundation
import GuestMemory
import LinuxABI
import Personality
import XCTest

/// Random syscalls with random arguments against a real guest address space: the personality must
/// answer each with a value or an outcome — never a Swift trap (which would kill this test process).
final class PersonalityFuzzTests: XCTestCase {
    func testRandomSyscallsNeverTrap() throws {
        let umaskBefore = umask(0o022)
        umask(umaskBefore)
        try fuzz()
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
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-\(UUID().uuidString)").resolvingSymlinksInPath()
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let space = try AddressSpace(layout: GuestLayout(memory: 128 << 20))
        var diagnostics = 0
        let config = PersonalityConfig(mounts: [Mount(guest: "/", host: "/", writable: false),
                                                Mount(guest: ByteString(root.path), host: ByteString(root.path), writable: true)],
                                       cwd: ByteString(root.path), programPath: "/usr/bin/perl", network: false,
                                       diagnostic: { _ in diagnostics += 1 })
        let p = LinuxPersonality(memory: space, config: config)
        defer { p.shutdown() }
        p.mmapTop = space.layout.end - (8 << 20)
        p.setBreak(space.layout.programStart + (1 << 20))
        let heap = space.layout.programStart
        XCTAssertEqual(space.map(start: heap, length: 1 << 20, prot: 3, backing: .anonymous), 0)
        // Some guest memory holding plausible strings and structures, so that pointers sometimes work.
        try space.write(Array("a.txt\0/etc/hostname\0sub/dir\0..\0/proc/self/exe\0".utf8), at: heap)

        // Calls that would block, touch the test process's own state or its terminal are skipped.
        let skip: Set<String> = ["pause", "nanosleep", "clock_nanosleep", "poll", "ppoll", "select", "pselect6",
                                 "read", "readv", "pread64", "wait4", "futex", "accept", "accept4", "recvfrom",
                                 "flock", "fcntl", "kill", "tgkill", "tkill", "alarm", "setitimer", "rt_sigreturn"]
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
        for _ in 0..<100_000 {
            let nr = Bool.random(using: &rng) ? UInt64(SyscallTable.entries.randomElement(using: &rng)!.number) : UInt64.random(in: 0..<600, using: &rng)
            if let name = SyscallNames.byNumber[Int(nr)], skip.contains(name) { continue }
            let req = SyscallRequest(number: nr, args: (arg(), arg(), arg(), arg(), arg(), arg()))
            switch p.handle(req) {
            case .value(let v): XCTAssertTrue(v >= -4095 || v >= 0 || nr == 12 || nr == 9 || nr == 25, "nr \(nr) returned \(v)")
            default: outcomes += 1
            }
        }
        // Nothing escaped the writable mount.
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/a.txt"))
    }
}

import Foundation
import GuestMemory
import LinuxABI
import Personality
import XCTest

/// The personality against a real guest address space but no VM: syscalls are plain function
/// calls here (Personality never imports KVM).
final class PersonalityTests: XCTestCase {
    var space: AddressSpace!
    var personality: LinuxPersonality!
    var root: URL!  // a host directory standing in for the working directory
    var privateTmp: URL!
    var diagnostics: [String] = []
    var scratch: UInt64 { space.layout.programStart + 0x10000 }

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("pers-\(UUID().uuidString)")
            .resolvingSymlinksInPath()
        privateTmp = FileManager.default.temporaryDirectory.appendingPathComponent("pers-tmp-\(UUID().uuidString)")
            .resolvingSymlinksInPath()
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: privateTmp, withIntermediateDirectories: true)
        space = try AddressSpace(layout: GuestLayout(memory: 256 << 20))
        let mounts = [
            Mount(guest: "/", host: "/", writable: false),
            Mount(guest: "/tmp", host: ByteString(privateTmp.path), writable: true),
            Mount(guest: ByteString(root.path), host: ByteString(root.path), writable: true),
        ]
        let config = PersonalityConfig(
            mounts: mounts, cwd: ByteString(root.path), programPath: "/usr/bin/perl",
            network: false,
            diagnostic: { [unowned self] in self.diagnostics.append($0) })
        personality = LinuxPersonality(memory: space, config: config)
        personality.mmapTop = space.layout.end - (16 << 20)
        personality.setBreak(space.layout.programStart + (1 << 20))
        XCTAssertEqual(space.map(start: space.layout.programStart, length: 1 << 20, prot: 3, backing: .anonymous), 0)
        personality.fds.installStdio([0, 1, 2])
    }

    override func tearDownWithError() throws {
        personality?.shutdown()
        personality = nil
        space = nil
        try? FileManager.default.removeItem(at: root)
        try? FileManager.default.removeItem(at: privateTmp)
    }

    func call(_ name: String, _ a: UInt64...) -> Int64 {
        var args: [UInt64] = a + [UInt64](repeating: 0, count: 6 - a.count)
        args = Array(args.prefix(6))
        let req = SyscallRequest(
            number: UInt64(SyscallNames.byName[name]!), args: (args[0], args[1], args[2], args[3], args[4], args[5]))
        guard case .value(let v) = personality.handle(req) else {
            XCTFail("\(name) did not return a value")
            return 0
        }
        return v
    }

    /// Put a NUL-terminated string in guest memory; returns its address.
    func str(_ s: String, at offset: UInt64 = 0) -> UInt64 {
        let addr = scratch + offset
        try! space.write(Array(s.utf8) + [0], at: addr)
        return addr
    }

    let atFDCWD = UInt64(bitPattern: -100)

    func testGuestPointersAreChecked() {
        XCTAssertThrowsError(try space.pointer(space.layout.start, 8), "the system area is not the program's")
        XCTAssertThrowsError(try space.pointer(space.layout.end - 4, 8), "runs past the end")
        XCTAssertThrowsError(try space.pointer(0x1000, 8), "below the guest")
        XCTAssertThrowsError(try space.pointer(UInt64.max - 2, 8), "wraps around")
        XCTAssertNoThrow(try space.pointer(space.layout.programStart, 8))
        // A syscall given a bad pointer gets EFAULT, not a VMM crash.
        XCTAssertEqual(call("write", 1, space.layout.start, 16), -Int64(EFAULT))
        XCTAssertEqual(call("openat", atFDCWD, 0x10, 0), -Int64(EFAULT))
        // Nested pointers (iovecs) are checked too.
        let iov = scratch + 0x800
        try! space.store(space.layout.start + 0x100, at: iov)
        try! space.store(UInt64(8), at: iov + 8)
        XCTAssertEqual(call("writev", 1, iov, 1), -Int64(EFAULT))
    }

    func testWritesOutsideWritableMountsFailWithEROFS() {
        let flags = UInt64(O_WRONLY | O_CREAT | O_TRUNC)
        XCTAssertEqual(call("openat", atFDCWD, str("/usr/revenant-should-not-exist"), flags, 0o644), -Int64(EROFS))
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/usr/revenant-should-not-exist"))
        XCTAssertEqual(call("unlink", str("/etc/hostname")), -Int64(EROFS))
        XCTAssertEqual(call("mkdir", str("/revenant-nope"), 0o755), -Int64(EROFS))
        XCTAssertEqual(call("rename", str("/etc/hostname"), str("x", at: 0x100)), -Int64(EROFS))
        // Reading is fine, and so is writing in the working directory.
        XCTAssertGreaterThanOrEqual(call("openat", atFDCWD, str("/etc/hostname"), UInt64(O_RDONLY)), 0)
        let fd = call("openat", atFDCWD, str("out.txt"), flags, 0o644)
        XCTAssertGreaterThanOrEqual(fd, 0)
        XCTAssertEqual(call("write", UInt64(fd), str("hello"), 5), 5)
        XCTAssertEqual(try String(contentsOf: root.appendingPathComponent("out.txt"), encoding: .utf8), "hello")
    }

    func testDotDotAndSymlinksStayInsideTheGuestView() throws {
        // `..` stops at the guest root.
        let r = try personality.sandbox.resolve(Array("../../../../../../etc/hostname".utf8))
        XCTAssertEqual(r.guest, "/etc/hostname")
        XCTAssertFalse(r.writable)
        // A symlink to /tmp leads to the private /tmp, not the host's.
        try FileManager.default.createSymbolicLink(
            atPath: root.appendingPathComponent("tmplink").path, withDestinationPath: "/tmp")
        let t = try personality.sandbox.resolve(Array("tmplink/x".utf8))
        XCTAssertEqual(t.guest, "/tmp/x")
        XCTAssertEqual(t.host, ByteString(privateTmp.path + "/x"))
        // A relative symlink climbing out lands at the guest root, read-only.
        try FileManager.default.createSymbolicLink(
            atPath: root.appendingPathComponent("up").path, withDestinationPath: "../../../../../../../../etc")
        let u = try personality.sandbox.resolve(Array("up/passwd".utf8))
        XCTAssertEqual(u.guest, "/etc/passwd")
        XCTAssertEqual(call("openat", atFDCWD, str("up/evil"), UInt64(O_WRONLY | O_CREAT), 0o644), -Int64(EROFS))
        // Symlink loops end in ELOOP.
        try FileManager.default.createSymbolicLink(
            atPath: root.appendingPathComponent("loop").path, withDestinationPath: "loop")
        XCTAssertThrowsError(try personality.sandbox.resolve(Array("loop".utf8))) {
            XCTAssertEqual(($0 as? SysError)?.code, ELOOP)
        }
    }

    /// Paths resolved from their text (one openat2 that refuses symlinks, instead of a lstat per
    /// component) lead where the walk leads, and fail as it fails, whatever is on the way.
    func testPathsResolvedFromTheirTextAgreeWithTheWalk() throws {
        let fm = FileManager.default
        try fm.createDirectory(at: root.appendingPathComponent("a/b"), withIntermediateDirectories: true)
        XCTAssertTrue(fm.createFile(atPath: root.appendingPathComponent("a/b/f").path, contents: Data("x".utf8)))
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("dirlink").path, withDestinationPath: "a/b")
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("a/flink").path, withDestinationPath: "b/f")
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("tmplink").path, withDestinationPath: "/tmp")
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("dangling").path, withDestinationPath: "nowhere")
        XCTAssertTrue(fm.createFile(atPath: privateTmp.appendingPathComponent("t").path, contents: nil))
        let paths = [
            "a", "a/b", "a/b/f", "./a//b/./f", "a/b/f/", "a/b/missing", "a/missing/f", "a/b/f/g", "a/flink",
            "a/flink/", "dirlink/f", "dirlink", "tmplink/t", "tmplink", "dangling", "a/b/../b/f", "/tmp/t", "/tmp",
            "/tmp/missing", "/etc/hostname", "/usr/bin/perl", "/lib/x86_64-linux-gnu", "/proc/self/exe",
            "/proc/self/fd/1", "/dev/null", "/dev/kvm", root.path, root.path + "/a/b/f", ".", "/", "/nonexistent/x",
        ]
        var fromText = 0
        for path in paths {
            for follow in [true, false] {
                let bytes = Array(path.utf8)
                func outcome(_ text: Bool) -> String {
                    do {
                        let r = try personality.sandbox.resolve(bytes, followFinal: follow, fromText: text)
                        return "\(r.kind) \(r.guest) \(r.host) \(r.writable)"
                    } catch { return "error \(error.code)" }
                }
                XCTAssertEqual(outcome(true), outcome(false), "\(path), following: \(follow)")
            }
            if personality.sandbox.lexical(Array(path.utf8)) != nil { fromText += 1 }
        }
        XCTAssertEqual(
            fromText, 22, "all but `..`, /proc, /dev and the roots of mounts (/, /tmp, the working directory)")
        // A stat through the same shortcut: the link itself with AT_SYMLINK_NOFOLLOW, unless a slash follows.
        let buf = scratch + 0x800
        for (path, flags, mode) in [
            ("a/flink", 0, S_IFREG), ("a/flink", Int(AT_SYMLINK_NOFOLLOW), S_IFLNK),
            ("dirlink/", Int(AT_SYMLINK_NOFOLLOW), S_IFDIR),
            ("a/b/f", Int(AT_SYMLINK_NOFOLLOW), S_IFREG), ("a", 0, S_IFDIR),
        ] {
            XCTAssertEqual(call("newfstatat", atFDCWD, str(path), buf, UInt64(flags)), 0, path)
            let st = try space.load(stat.self, at: buf)
            XCTAssertEqual(st.st_mode & S_IFMT, mode, "\(path) \(flags)")
        }
        XCTAssertEqual(call("newfstatat", atFDCWD, str("a/b/f/g"), buf, 0), -Int64(ENOTDIR))
        XCTAssertEqual(call("newfstatat", atFDCWD, str("dangling"), buf, 0), -Int64(ENOENT))
        XCTAssertEqual(call("openat", atFDCWD, str("tmplink/t"), UInt64(O_RDONLY)), 3, "the private /tmp's t")
    }

    func testTheVMMsOwnProcIsHidden() throws {
        XCTAssertThrowsError(try personality.sandbox.resolve(Array("/proc/self/maps".utf8))) {
            XCTAssertEqual(($0 as? SysError)?.code, ENOENT)
        }
        XCTAssertThrowsError(try personality.sandbox.resolve(Array("/proc/\(getpid())/environ".utf8)))
        let buf = scratch + 0x400
        let n = call("readlink", str("/proc/self/exe"), buf, 256)
        XCTAssertEqual(n, 13)
        XCTAssertEqual(String(decoding: try space.bytes(at: buf, count: 13), as: UTF8.self), "/usr/bin/perl")
        XCTAssertEqual(call("openat", atFDCWD, str("/dev/kvm"), UInt64(O_RDWR)), -Int64(EACCES))
    }

    func testDescriptorsAreTheGuestsOwn() {
        let fd = call("openat", atFDCWD, str("/etc/hostname"), UInt64(O_RDONLY))
        XCTAssertEqual(fd, 3, "lowest free number, whatever the VMM has open")
        XCTAssertEqual(call("dup2", 3, 10), 10)
        XCTAssertEqual(call("close", 3), 0)
        XCTAssertEqual(call("close", 3), -Int64(EBADF))
        XCTAssertEqual(call("read", 1000, scratch, 1), -Int64(EBADF), "the VMM's descriptors are not the guest's")
        XCTAssertEqual(call("fcntl", 10, UInt64(F_DUPFD), 20), 20)
    }

    func testMmapFamily() throws {
        let a = call("mmap", 0, 3 << 20, 3, UInt64(MAP_PRIVATE | MAP_ANONYMOUS), UInt64.max, 0)
        XCTAssertGreaterThan(a, 0)
        let addr = UInt64(a)
        XCTAssertEqual(addr % 4096, 0)
        XCTAssertLessThanOrEqual(addr + (3 << 20), personality.mmapTop)
        try space.store(UInt64(0xdead_beef), at: addr + 8)
        // Growing with mremap keeps the contents.
        let b = call("mremap", addr, 3 << 20, 40 << 20, 1 /* MAYMOVE */)
        XCTAssertGreaterThan(b, 0)
        XCTAssertEqual(try space.load(UInt64.self, at: UInt64(b) + 8), 0xdead_beef)
        XCTAssertEqual(call("munmap", UInt64(b), 40 << 20), 0)
        XCTAssertNil(space.mapping(containing: UInt64(b)))
        // MAP_FIXED_NOREPLACE over an existing mapping fails.
        let c = UInt64(call("mmap", 0, 8192, 3, UInt64(MAP_PRIVATE | MAP_ANONYMOUS), UInt64.max, 0))
        XCTAssertEqual(
            call("mmap", c, 4096, 3, UInt64(MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE), UInt64.max, 0),
            -Int64(EEXIST))
        // Too big for the guest.
        XCTAssertEqual(call("mmap", 0, 1 << 40, 3, UInt64(MAP_PRIVATE | MAP_ANONYMOUS), UInt64.max, 0), -Int64(ENOMEM))
        // brk grows and shrinks.
        let start = UInt64(call("brk", 0))
        XCTAssertEqual(call("brk", start + 100_000), Int64(start + 100_000))
        try space.store(UInt8(7), at: start + 99_999)
        XCTAssertEqual(call("brk", start), Int64(start))
    }

    func testUnsupportedSyscallIsENOSYSWithOneDiagnostic() {
        let req = SyscallRequest(number: 101 /* ptrace */, args: (0, 0, 0, 0, 0, 0))
        XCTAssertEqual(personality.handle(req), .value(-Int64(ENOSYS)))
        XCTAssertEqual(personality.handle(req), .value(-Int64(ENOSYS)))
        XCTAssertEqual(diagnostics.count, 1, "one line per unsupported call, not per use")
        XCTAssertTrue(diagnostics.first?.contains("unsupported syscall ptrace (101)") ?? false, diagnostics.first ?? "")
        // A thread (pthread_create's clone flags) is unsupported too, saying why.
        XCTAssertEqual(
            personality.handle(SyscallRequest(number: 56 /* clone */, args: (0x3d_0f00, 0, 0, 0, 0, 0))),
            .value(-Int64(ENOSYS)))
        XCTAssertTrue(diagnostics.last?.contains("clone (56): threads") ?? false, diagnostics.last ?? "")
    }

    func testNoNetworkWithoutNet() {
        XCTAssertEqual(call("socket", UInt64(AF_INET), UInt64(SOCK_STREAM.rawValue), 0), -Int64(EACCES))
    }

    func testExitAndSelfSignals() {
        let exitReq = SyscallRequest(number: 231, args: (3, 0, 0, 0, 0, 0))
        XCTAssertEqual(personality.handle(exitReq), .exit(3))
        let pid = UInt64(personality.nondeterminism.pid)
        guard case .killed(let sig, _) = personality.handle(SyscallRequest(number: 62, args: (pid, 15, 0, 0, 0, 0)))
        else {
            return XCTFail("SIGTERM with the default action kills")
        }
        XCTAssertEqual(sig, 15)
        XCTAssertEqual(personality.handle(SyscallRequest(number: 62, args: (pid, 0, 0, 0, 0, 0))), .value(0))
    }
}

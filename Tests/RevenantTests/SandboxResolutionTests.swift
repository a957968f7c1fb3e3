import Foundation
import LinuxABI
import Personality
import XCTest

/// Sandbox.resolve asks the kernel (one openat2 with RESOLVE_NO_SYMLINKS) where it can, and walks
/// the guest's view component by component where it cannot: both must give the same answer.
final class SandboxResolutionTests: XCTestCase {
    var root: String!

    override func setUpWithError() throws {
        // Symlink-free, as the guest's working directory is (getcwd's answer).
        root =
            URL(fileURLWithPath: NSTemporaryDirectory()).resolvingSymlinksInPath()
            .appendingPathComponent("sandbox-resolution-\(UUID().uuidString)").path
        let fm = FileManager.default
        try fm.createDirectory(atPath: root + "/d/sub", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: root + "/private", withIntermediateDirectories: true)
        for f in ["/d/f", "/d/sub/g", "/file", "/private/p"] {
            XCTAssertTrue(fm.createFile(atPath: root + f, contents: Data("x".utf8)))
        }
        try fm.createSymbolicLink(atPath: root + "/link_d", withDestinationPath: "d")
        try fm.createSymbolicLink(atPath: root + "/link_f", withDestinationPath: "d/f")
        try fm.createSymbolicLink(atPath: root + "/d/up", withDestinationPath: "../file")
        try fm.createSymbolicLink(atPath: root + "/abs", withDestinationPath: "/etc")
        try fm.createSymbolicLink(atPath: root + "/dangling", withDestinationPath: "nowhere")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: root) }

    private func sandbox(direct: Bool) -> Sandbox {
        let s = Sandbox(
            mounts: [
                Mount(guest: "/", host: "/", writable: false),
                Mount(guest: ByteString(root), host: ByteString(root), writable: true),
                Mount(guest: "/srv/private", host: ByteString(root + "/private"), writable: true),
            ], cwd: ByteString(root), programPath: "/usr/bin/perl")
        s.resolvesDirectly = direct
        return s
    }

    private func answer(_ s: Sandbox, _ path: String, follow: Bool, base: ByteString?) -> String {
        do {
            return "\(try s.resolve(Array(path.utf8), base: base, followFinal: follow))"
        } catch { return "errno \(error.code)" }
    }

    func testTheKernelsAnswerIsTheWalks() throws {
        let paths = [
            "d/f", "d/sub/g", "d//sub/g", "d/sub", "d/sub/", "d/missing", "d/missing/x", "file/x", "file",
            "nonexistent",
            "link_d/f", "link_d", "link_f", "d/up", "abs", "abs/passwd", "dangling", "d/./f", "d/../file",
            "/etc/passwd",
            "/etc", "/", "/dev/null", "/dev/kvm", "/dev/stdin", "/proc/self/exe", "/proc/self/fd/1", "/proc/cpuinfo",
            "/srv/private/p", "/srv/private", "/srv/private/none", root + "/d/f", root + "/link_d/sub/g",
            "/nonexistent-\(UUID().uuidString)/x",
        ]
        let direct = sandbox(direct: true), walk = sandbox(direct: false)
        for base in [nil, ByteString(root + "/d")] {
            for p in paths {
                for follow in [true, false] {
                    XCTAssertEqual(
                        answer(direct, p, follow: follow, base: base), answer(walk, p, follow: follow, base: base),
                        "\(p), follow \(follow), base \(base?.description ?? "cwd")")
                }
            }
        }
        // The kernel answered where it can: plain paths under identity mounts, with or without
        // their last component; not through a symlink, a mount elsewhere, `..` or /proc.
        for (p, kernel) in [
            ("d/sub/g", true), ("d/missing", true), ("/etc/passwd", true), ("link_d/f", false),
            ("/srv/private/p", false), ("d/../file", false), ("/proc/cpuinfo", false), ("d/missing/x", false),
        ] {
            let guest = try XCTUnwrap(direct.plainPath(Array(p.utf8), base: nil) ?? Optional([]))
            let answered = guest.isEmpty ? nil : try direct.resolveDirectly(guest, followFinal: true)
            XCTAssertEqual(answered != nil, kernel, p)
        }
    }
}

import Glibc
import XCTest

import FileHistory
import Replay
import SQLReplay

/// The parts of restore that need no VM: the position syntax, the pre-image attributes' bytes,
/// and how the tree applies changes.
final class FileHistoryTests: XCTestCase {
    func testPositionSyntax() throws {
        let good: [(String, RunPosition)] = [
            ("start", RunPosition(.start)), ("end", RunPosition(.end)),
            ("event:41", RunPosition(.afterEvent(41))), ("sql:3", RunPosition(.afterSQL(3))),
            ("perl:t.pl:12", RunPosition(.perl(file: "t.pl", line: 12, execution: 1))),
            ("perl:lib/A.pm:7:3", RunPosition(.perl(file: "lib/A.pm", line: 7, execution: 3))),
            ("perl:c:/x.pl:7", RunPosition(.perl(file: "c:/x.pl", line: 7, execution: 1))),
            ("4242/event:0", RunPosition(pid: 4242, .afterEvent(0))),
            ("event:9@0x401136:2", RunPosition(.afterEvent(9), inside: [.arrive(0x401136, 2)])),
            (
                "event:9@0x401136:1+3@0x40113a:1",
                RunPosition(.afterEvent(9), inside: [.arrive(0x401136, 1), .steps(3), .arrive(0x40113a, 1)])
            ),
            ("event:0+1", RunPosition(.afterEvent(0), inside: [.steps(1)])),
        ]
        for (text, want) in good {
            XCTAssertEqual(try RunPosition(parsing: text), want, text)
            XCTAssertEqual(try RunPosition(parsing: text).description, text, "printed as it is written")
        }
        XCTAssertEqual(try RunPosition(parsing: "7", bareNumberIsSQL: true), RunPosition(.afterSQL(7)))
        XCTAssertEqual(try RunPosition(parsing: "event:9@401136:2").inside, [.arrive(0x401136, 2)], "0x optional")
        for bad in [
            "", "7", "event:", "event:-1", "sql:x", "perl:t.pl", "perl::3", "perl:t.pl:0", "perl:t.pl:3:0", "later",
            "event:9@", "event:9@0x40:0", "event:9@zz:1", "event:9@0x40", "event:9+0", "event:9+", "event:@0x40:1",
        ] {
            XCTAssertThrowsError(try RunPosition(parsing: bad), bad)
        }
    }

    /// The `pre-image attributes` payload (Docs/trace-format.md): five varints.
    func testPreImageAttributesBytes() {
        let a = PreImageAttributes(
            mode: 0o100640, accessed: FileTime(seconds: 1, nanoseconds: 2),
            modified: FileTime(seconds: -1, nanoseconds: 999_999_999))
        XCTAssertEqual(a.encoded(), [0xa0, 0x83, 0x02, 0x02, 0x02, 0x01, 0xff, 0x93, 0xeb, 0xdc, 0x03])
        XCTAssertEqual(PreImageAttributes.decode(a.encoded()), a)
        XCTAssertNil(PreImageAttributes.decode(a.encoded() + [0]), "nothing may follow")
        XCTAssertNil(PreImageAttributes.decode([0x01, 0x00, 0x80, 0x94, 0xeb, 0xdc, 0x03, 0x00, 0x00]), "ns < 1e9")
        let p = PreImage(digest: String(repeating: "ab", count: 32), path: "/w/x")
        XCTAssertEqual(PreImage.decode(p.encoded()), p)
    }

    func change(_ k: FileChange.Kind) -> FileChange { FileChange(stamp: -1, event: 0, kind: k) }

    func tree(_ originals: [String: String] = [:], missing: String? = nil) -> FileTree {
        FileTree(
            original: { p, _ in originals[p].map { FileTree.Original(data: Array($0.utf8), attributes: nil) } },
            missing: { _, _ in missing })
    }

    func text(_ t: FileTree, _ p: String) -> String? {
        t.paths[p].flatMap { $0 }.map { String(decoding: $0.data, as: UTF8.self) }
    }

    /// Offsets belong to open file descriptions; O_APPEND writes at the end; a renamed folder
    /// takes what the tree knows under it; RENAME_EXCHANGE swaps; a hard link keeps the file.
    func testChangesApply() {
        let t = tree(["/w/a": "0123456789"])
        let (wronly, rdwr) = (Int32(O_WRONLY), Int32(O_RDWR))
        t.apply(change(.open(description: 1, path: "/w/a", flags: rdwr, mode: 0)), stream: 0)
        t.apply(change(.advance(description: 1, count: 4)), stream: 0)
        t.apply(change(.write(description: 1, data: Array("xy".utf8))), stream: 0)
        t.apply(change(.writeAt(description: 1, offset: 0, data: Array("P".utf8))), stream: 0)
        t.apply(change(.write(description: 1, data: Array("z".utf8))), stream: 0)
        XCTAssertEqual(text(t, "/w/a"), "P123xyz789")
        t.apply(
            change(.open(description: 2, path: "/w/d/n", flags: wronly | O_CREAT | O_APPEND, mode: 0o644)), stream: 0)
        t.apply(change(.write(description: 2, data: Array("one".utf8))), stream: 0)
        t.apply(change(.seek(description: 2, offset: 0)), stream: 0)
        t.apply(change(.write(description: 2, data: Array("two".utf8))), stream: 0)
        XCTAssertEqual(text(t, "/w/d/n"), "onetwo", "O_APPEND")
        XCTAssertEqual(t.paths["/w/d/n"]!!.mode, 0o644, "the mode it was made with")
        t.apply(change(.rename(from: "/w/d", to: "/w/e", flags: 0)), stream: 0)
        XCTAssertNil(t.paths["/w/d/n"]!, "moved away")
        XCTAssertEqual(text(t, "/w/e/n"), "onetwo")
        t.apply(change(.write(description: 2, data: Array("!".utf8))), stream: 0)
        XCTAssertEqual(text(t, "/w/e/n"), "onetwo!", "a descriptor follows its file")
        t.apply(change(.rename(from: "/w/a", to: "/w/e/n", flags: 2)), stream: 0)
        XCTAssertEqual(text(t, "/w/a"), "onetwo!")
        XCTAssertEqual(text(t, "/w/e/n"), "P123xyz789")
        t.apply(change(.truncatePath(path: "/w/a", length: 3)), stream: 0)
        t.apply(change(.link(from: "/w/a", to: "/w/b")), stream: 0)
        t.apply(change(.unlink(path: "/w/a")), stream: 0)
        XCTAssertEqual(text(t, "/w/b"), "one", "a hard link keeps the file")
    }

    /// A path with no pre-image: absent (version 6), or unknown (an older trace), and named.
    func testMissingPreImages() {
        let t = tree(missing: "recorded with events version 5")
        t.apply(change(.open(description: 1, path: "/w/new", flags: Int32(O_WRONLY | O_CREAT), mode: 0o600)), stream: 0)
        XCTAssertNil(t.paths["/w/new"]!!.unknown, "an open for writing always had a pre-image")
        t.apply(change(.chmodPath(path: "/w/old", mode: 0o600)), stream: 0)
        XCTAssertEqual(t.paths["/w/old"]!!.unknown, "recorded with events version 5")
        let lost = tree()
        lost.apply(change(.open(description: 1, path: "/w/m", flags: Int32(O_RDWR | O_CREAT), mode: 0o600)), stream: 0)
        lost.apply(change(.lost(description: 1, path: nil, why: "a shared writable mmap")), stream: 0)
        XCTAssertTrue(lost.paths["/w/m"]!!.unknown?.contains("a shared writable mmap") == true)
    }
}

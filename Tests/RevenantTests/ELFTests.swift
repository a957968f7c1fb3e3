import Foundation
import Machine
import XCTest
import LinuxABI

final class ELFTests: XCTestCase {
    func testPerlIsAPIEWithAnInterpreter() throws {
        let fd = open("/usr/bin/perl", O_RDONLY)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        let elf = try ELFFile.read(fd: fd)
        XCTAssertEqual(elf.type, ELFFile.etDyn)
        XCTAssertEqual(elf.interpreter, "/lib64/ld-linux-x86-64.so.2")
        XCTAssertFalse(elf.loads.isEmpty)
        XCTAssertLessThan(elf.span.low, elf.span.high)
    }

    func testRejectsNonELFAndTruncated() {
        XCTAssertThrowsError(try ELFFile(bytes: Array("#!/bin/sh\necho hi\n".utf8))) {
            XCTAssertEqual($0 as? ELFFile.ParseError, .notELF)
        }
        var header = [UInt8](repeating: 0, count: 64)
        header[0...3] = [0x7f, 0x45, 0x4c, 0x46]
        header[4] = 2
        header[5] = 1
        header[16] = 3
        header[18] = 62
        header[32] = 0xff  // program headers far past the end
        header[54] = 56
        header[56] = 4
        XCTAssertThrowsError(try ELFFile(bytes: header)) { XCTAssertEqual($0 as? ELFFile.ParseError, .truncated) }
        header[18] = 40  // ARM
        XCTAssertThrowsError(try ELFFile(bytes: header)) { error in
            guard case .unsupported? = error as? ELFFile.ParseError else { return XCTFail("\(error)") }
        }
    }

    /// A PT_INTERP whose offset is near 2^64 is a truncated file, not an overflow trap (the
    /// rewriter parses ELF headers the program mapped, and replay parses a trace's blobs).
    func testAnInterpreterOffsetNear2To64IsTruncated() {
        var bytes = [UInt8](repeating: 0, count: 64 + 56)
        bytes[0...3] = [0x7f, 0x45, 0x4c, 0x46]
        bytes[4] = 2
        bytes[5] = 1
        bytes[16] = 3
        bytes[18] = 62
        bytes[32] = 64  // one program header, just after the ELF header
        bytes[54] = 56
        bytes[56] = 1
        bytes[64] = 3  // PT_INTERP
        for i in 0..<8 { bytes[64 + 8 + i] = 0xff }  // p_offset = 2^64 - 1
        bytes[64 + 32] = 16  // p_filesz
        var asked = false
        XCTAssertThrowsError(
            try ELFFile(bytes: bytes) { _, _ in
                asked = true
                return nil
            }
        ) { XCTAssertEqual($0 as? ELFFile.ParseError, .truncated) }
        XCTAssertTrue(asked, "beyond the bytes given, the reader is asked")
    }

    func testSymbolizerNamesAFunctionInLibc() throws {
        let libc = "/lib/x86_64-linux-gnu/libc.so.6"
        // getpid's address from nm, turned into a file offset through libc's PT_LOADs.
        let nm = Process()
        nm.executableURL = URL(fileURLWithPath: "/usr/bin/nm")
        nm.arguments = ["-D", "--defined-only", libc]
        let pipe = Pipe()
        nm.standardOutput = pipe
        try nm.run()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        nm.waitUntilExit()
        guard
            let line = out.split(separator: "\n").first(where: { $0.hasSuffix(" getpid") || $0.contains(" getpid@") }),
            let vaddr = UInt64(line.split(separator: " ")[0], radix: 16)
        else { return XCTFail("no getpid in libc") }
        let fd = open(libc, O_RDONLY)
        defer { close(fd) }
        let elf = try ELFFile.read(fd: fd)
        guard let seg = elf.loads.first(where: { vaddr >= $0.vaddr && vaddr < $0.vaddr + $0.filesz }) else {
            return XCTFail("no segment")
        }
        let name = Symbolizer.symbol(inFile: libc, fileOffset: vaddr - seg.vaddr + seg.offset + 3)
        XCTAssertTrue(name?.hasSuffix("getpid+0x3") ?? false, "\(name ?? "nil")")  // getpid or its alias __getpid
    }

    func testProgramLookupFollowsPathAndShebang() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lookup-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let script = dir.appendingPathComponent("hello.pl")
        try "#!/usr/bin/perl -w\nprint 1;\n".write(to: script, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(
            try ProgramSpec.locate(ByteString(script.path), arguments: [], pathVariable: nil, cwd: "/")
        ) {
            XCTAssertEqual(($0 as? LaunchError)?.exitCode, 126)
        }
        chmod(script.path, 0o755)
        let spec = try ProgramSpec.locate(
            "hello.pl", arguments: ["a"], pathVariable: ByteString(dir.path),
            cwd: "/")
        XCTAssertEqual(spec.path, "/usr/bin/perl")
        XCTAssertEqual(spec.argv, ["/usr/bin/perl", "-w", ByteString(script.path), "a"])
        XCTAssertThrowsError(
            try ProgramSpec.locate(
                "no-such-program-xyz", arguments: [],
                pathVariable: ByteString(dir.path), cwd: "/")
        ) {
            XCTAssertEqual(($0 as? LaunchError)?.exitCode, 127)
        }
        XCTAssertEqual(
            try ProgramSpec.locate("perl", arguments: [], pathVariable: "/nonexistent:/usr/bin", cwd: "/").path,
            "/usr/bin/perl")
    }
}

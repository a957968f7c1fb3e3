import Glibc
import LinuxABI

/// vFile: gdb reads the program and its libraries through the server (its default sysroot for a
/// remote target is `target:`), and gets exactly what ran: the trace's blobs, by the path the
/// program opened them by. Nothing else on the host is served.
extension GDBServer {
    /// The recorded program's path (qXfer:exec-file).
    var programPath: [UInt8] { programOverride ?? session?.header.program.bytes ?? [] }

    /// The blob of the file the recording mapped from `path`, if any.
    func blob(recordedAt path: String) -> String? {
        guard let session else { return nil }
        if let file = session.header.files?.first(where: { $0.path.description == path }),
            let blob = try? session.directory.blobFile(file.blob)
        {
            return blob
        }
        return session.machine.displayNames.first { $0.value == path }?.key
    }

    func hostFile(_ p: String) {
        let body = p.dropFirst("vFile:".count)
        guard let colon = body.firstIndex(of: ":") else { return connection.send("F-1,16") }
        let op = body[..<colon]
        let args = body[body.index(after: colon)...].split(separator: ",", omittingEmptySubsequences: false)
        func fail(_ e: Int32) { connection.send("F-1," + String(e, radix: 16)) }
        switch op {
        case "setfs": connection.send("F0")
        case "open":
            guard args.count >= 2, let name = RemoteConnection.bytes(fromHex: args[0]),
                let flags = Int(args[1], radix: 16)
            else { return fail(EINVAL) }
            guard flags == 0 else { return fail(EACCES) }  // read-only: the recording is not changed
            guard let host = blob(recordedAt: String(decoding: name, as: UTF8.self)) else { return fail(ENOENT) }
            let fd = open(host, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return fail(errno) }
            var handle: Int32 = 1
            while openFiles[handle] != nil { handle += 1 }
            openFiles[handle] = (fd, host)
            connection.send("F" + String(handle, radix: 16))
        case "pread":
            guard args.count == 3, let h = Int32(args[0], radix: 16), let fd = openFiles[h]?.fd,
                let count = Int(args[1], radix: 16), let offset = Int(args[2], radix: 16)
            else { return fail(EBADF) }
            var data = [UInt8](repeating: 0, count: min(count, 16384))
            let n = data.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) }
            guard n >= 0 else { return fail(errno) }
            connection.send(Array("F\(String(n, radix: 16));".utf8) + data[0..<n])
        case "close":
            guard let h = args.first.flatMap({ Int32($0, radix: 16) }), let fd = openFiles.removeValue(forKey: h)?.fd
            else {
                return fail(EBADF)
            }
            close(fd)
            connection.send("F0")
        case "fstat":
            guard let h = args.first.flatMap({ Int32($0, radix: 16) }), let fd = openFiles[h]?.fd else {
                return fail(EBADF)
            }
            var st = stat()
            guard fstat(fd, &st) == 0 else { return fail(errno) }
            // gdb's struct fio_stat: big-endian fields.
            var out: [UInt8] = []
            func be(_ v: UInt64, _ n: Int) {
                for i in (0..<n).reversed() { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
            }
            be(UInt64(st.st_dev), 4)
            be(UInt64(st.st_ino), 4)
            be(UInt64(st.st_mode), 4)
            be(UInt64(st.st_nlink), 4)
            be(0, 4)
            be(0, 4)
            be(0, 4)
            be(UInt64(st.st_size), 8)
            be(UInt64(st.st_blksize), 8)
            be(UInt64(st.st_blocks), 8)
            be(UInt64(st.st_atim.tv_sec), 4)
            be(UInt64(st.st_mtim.tv_sec), 4)
            be(UInt64(st.st_ctim.tv_sec), 4)
            connection.send(Array("F\(String(out.count, radix: 16));".utf8) + out)
        default:
            fail(ENOSYS)
        }
    }
}

import CHost
import Glibc
import LinuxABI

/// A trace on disk: `header`, `events`, `blobs/` (content-addressed by SHA-256), and later
/// `index.sqlite` (written by `regen`, never by `record`).
public struct TraceDirectory {
    public let path: String
    public var headerPath: String { path + "/header" }
    public var eventsPath: String { path + "/events" }
    /// A child process's stream (the first process's is `events`, stream 0): numbered in the
    /// order the run's processes forked (pids are reused; the stream says which pid it was).
    public func eventsPath(stream: Int) -> String { stream == 0 ? eventsPath : eventsPath + "." + String(stream) }

    /// The child processes' streams here, in ascending order.
    public var childStreams: [Int] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var streams: [Int] = []
        while let e = readdir(dir) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasPrefix("events."), let n = Int(name.dropFirst(7)), n > 0, n <= UInt32.max { streams.append(n) }
        }
        return streams.sorted()
    }
    public var blobsPath: String { path + "/blobs" }
    /// `record --keep-channel`: the shims' channel as the live run handed it over.
    public var liveChannelPath: String { path + "/channel.live" }
    /// Written by `regen`, never by `record`; safe to delete. In the trace when it can take it;
    /// for a trace that cannot (a read-only copy, someone else's folder) in the user's cache,
    /// `$XDG_CACHE_HOME/revenant/` (default ~/.cache), named by the SHA-256 of the trace's header,
    /// which no two traces share.
    public var indexPath: String {
        let own = path + "/index.sqlite"
        if access(own, F_OK) == 0 || access(path, W_OK) == 0 { return own }
        return cachedIndexPath ?? own
    }

    /// The index of the child process whose stream is `events.N` (`index.N.sqlite`, beside the
    /// first process's); stream 0 is the first process's.
    public func indexPath(stream: Int) -> String {
        let first = indexPath
        guard stream != 0, first.hasSuffix(".sqlite") else { return first }
        return String(first.dropLast(".sqlite".count)) + "." + String(stream) + ".sqlite"
    }

    /// Where the index of a trace that cannot take one goes (nil without a header to name it).
    var cachedIndexPath: String? {
        guard let header = readWholeFile(headerPath) else { return nil }
        let cache =
            getenv("XDG_CACHE_HOME").map { String(cString: $0) }.flatMap { $0.hasPrefix("/") ? $0 : nil }
            ?? (getenv("HOME").map { String(cString: $0) + "/.cache" } ?? "/tmp")
        return cache + "/revenant/" + SHA256.hex(header) + ".index.sqlite"
    }

    /// `indexPath(stream:)`, its folder made when it is the cache's.
    public func indexPathForWriting(stream: Int = 0) throws(TraceError) -> String {
        let out = indexPath(stream: stream)
        let folder = String(out[..<(out.lastIndex(of: "/") ?? out.endIndex)])
        if folder != path {
            var prefix = ""
            for c in folder.split(separator: "/") {
                prefix += "/" + c
                if mkdir(prefix, 0o700) != 0 && errno != EEXIST { throw .io(path: prefix, errno: errno) }
            }
        }
        return out
    }

    public init(path: String) { self.path = path }

    /// The blob file for `digest` (for naming a mapping); its name checked like every blob read.
    public func blobFile(_ digest: String) throws(TraceError) -> String { try blobPath(digest) }

    /// Make a new trace directory; an existing one is refused unless `force` (then it is replaced).
    public static func create(_ path: String, force: Bool) throws(TraceError) -> TraceDirectory {
        if access(path, F_OK) == 0 {
            guard force else { throw .exists(path: path) }
            let old = TraceDirectory(path: path)
            guard old.looksLikeTrace || isEmptyDirectory(path) else {
                throw .notATrace(path: path, why: "--force replaces only a trace, and this is something else")
            }
            removeTree(path)
        }
        guard mkdir(path, 0o755) == 0 else { throw .io(path: path, errno: errno) }
        guard mkdir(path + "/blobs", 0o755) == 0 else { throw .io(path: path + "/blobs", errno: errno) }
        return TraceDirectory(path: path)
    }

    /// Open an existing trace for reading; a directory that is not a trace gets a clear error.
    public static func open(
        _ path: String, following follow: Follow? = nil
    ) throws(TraceError) -> (
        TraceDirectory, TraceHeader
    ) {
        // A recorder being followed may not have written its header yet.
        let dir = TraceDirectory(path: path)
        if let follow {
            _ = try follow.wait(for: dir.eventsPath) { () throws(TraceError) -> Bool in
                access(dir.headerPath, F_OK) == 0
            }
        }
        var st = stat()
        guard stat(path, &st) == 0 else { throw .io(path: path, errno: errno) }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { throw .notATrace(path: path, why: "not a directory") }
        guard access(dir.headerPath, F_OK) == 0 else { throw .notATrace(path: path, why: "it has no header file") }
        return (dir, try TraceHeader.decode(try readRegularFile(dir.headerPath), path: dir.headerPath))
    }

    public var looksLikeTrace: Bool { access(headerPath, F_OK) == 0 && access(eventsPath, F_OK) == 0 }

    /// Written whole under another name, then renamed: a follower never reads half a header.
    public func writeHeader(_ h: TraceHeader) throws {
        let bytes = try h.encoded()
        let tmp = headerPath + ".partial"
        if let e = writeWholeFile(tmp, bytes) { throw TraceError.io(path: headerPath, errno: e) }
        guard rename(tmp, headerPath) == 0 else { throw TraceError.io(path: headerPath, errno: errno) }
    }

    /// `record --keep-channel`: store the live channel (written once, at the end of the run).
    public func writeLiveChannel(_ bytes: [UInt8]) throws(TraceError) {
        if let e = writeWholeFile(liveChannelPath, bytes) { throw .io(path: liveChannelPath, errno: e) }
    }

    /// The live channel, if the trace kept one.
    public func readLiveChannel() -> [UInt8]? { readWholeFile(liveChannelPath) }

    // MARK: Blobs

    /// Store `bytes` under their SHA-256 (once); returns the hex digest.
    @discardableResult
    public func storeBlob(_ bytes: [UInt8]) throws(TraceError) -> String {
        try bytes.withUnsafeBufferPointer { b throws(TraceError) in try storeBlob(b).digest }
    }

    /// The same from memory the caller holds (a file's read-only mapping: no copy of ours);
    /// `written`: this call made the blob (it was not there).
    func storeBlob(_ bytes: UnsafeBufferPointer<UInt8>) throws(TraceError) -> (digest: String, written: Bool) {
        let digest = SHA256.hex(bytes)
        let final = blobsPath + "/" + digest
        if access(final, F_OK) == 0 { return (digest, false) }
        // Each process of a run stores blobs: its own temporary name, then an atomic rename.
        let tmp = final + ".partial." + String(getpid())
        let fd = Glibc.open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o444)
        guard fd >= 0 else { throw .io(path: tmp, errno: errno) }
        let ok = writeAll(fd, UnsafeRawBufferPointer(bytes))
        close(fd)
        guard ok, rename(tmp, final) == 0 else { throw .io(path: final, errno: errno) }
        return (digest, true)
    }

    /// Store the regular file open at `fd` as a blob without reading it into memory of our own:
    /// hashed and written from a read-only mapping of it, so that recording perl's 7.7 MB of
    /// libraries allocates and zeroes no buffer for them (that buffer's first touches were page
    /// faults, each an exit to the outer hypervisor under PVM). nil when the file is empty, cannot
    /// be mapped, or changed while stored (its size or times): the caller reads it whole instead.
    public func storeBlob(file fd: Int32) throws(TraceError) -> String? {
        var before = stat()
        guard fstat(fd, &before) == 0, (before.st_mode & S_IFMT) == S_IFREG, before.st_size > 0,
            let map = mmap(nil, Int(before.st_size), PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED
        else { return nil }
        defer { munmap(map, Int(before.st_size)) }
        let (digest, written) = try storeBlob(
            UnsafeBufferPointer(start: map.assumingMemoryBound(to: UInt8.self), count: Int(before.st_size)))
        var after = stat()
        guard fstat(fd, &after) == 0, after.st_size == before.st_size,
            after.st_mtim.tv_sec == before.st_mtim.tv_sec, after.st_mtim.tv_nsec == before.st_mtim.tv_nsec,
            after.st_ctim.tv_sec == before.st_ctim.tv_sec, after.st_ctim.tv_nsec == before.st_ctim.tv_nsec
        else {
            // What this call stored may mix two versions of the file: not under this name.
            if written { unlink(blobsPath + "/" + digest) }
            return nil
        }
        return digest
    }

    /// A blob's bytes, checked against its name.
    public func blob(_ digest: String) throws(TraceError) -> [UInt8] {
        let path = try blobPath(digest)
        guard access(path, F_OK) == 0 else { throw .missingBlob(digest) }
        let bytes = try readRegularFile(path)
        guard SHA256.hex(bytes) == digest else {
            throw .corruptBlob(digest, why: "its contents do not match its name")
        }
        return bytes
    }

    /// A blob opened for mapping (the caller closes it), its contents checked against its name
    /// once per trace: a blob mapped again is not hashed again.
    public func openBlob(_ digest: String) throws(TraceError) -> Int32 {
        let path = try blobPath(digest)
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW)
        guard fd >= 0 else { throw errno == ENOENT ? .missingBlob(digest) : .io(path: path, errno: errno) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw .notRegular(path: path)
        }
        let identity = [
            UInt64(st.st_dev), UInt64(st.st_ino), UInt64(st.st_size), UInt64(st.st_mtim.tv_sec),
            UInt64(st.st_mtim.tv_nsec),
        ]
        if verified.identities[digest] == identity { return fd }
        let hash = SHA256()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else {
                close(fd)
                throw .io(path: path, errno: errno)
            }
            if n == 0 { break }
            hash.update(buffer[0..<n])
            offset += n
        }
        guard Hex.string(hash.finish()) == digest else {
            close(fd)
            throw .corruptBlob(digest, why: "its contents do not match its name")
        }
        verified.identities[digest] = identity
        return fd
    }

    /// Blob names are SHA-256 digests in lowercase hex, nothing else: a name from the trace never
    /// leads outside `blobs/`.
    func blobPath(_ digest: String) throws(TraceError) -> String {
        guard digest.utf8.count == 64,
            digest.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) })
        else {
            throw .corruptBlob(digest, why: "a blob's name must be 64 lowercase hex digits")
        }
        return blobsPath + "/" + digest
    }

    /// The blobs checked so far, by the identity of the file that was hashed.
    final class VerifiedBlobs: @unchecked Sendable {
        var identities: [String: [UInt64]] = [:]
    }
    let verified = VerifiedBlobs()

    public var blobNames: [String] {
        guard let d = opendir(blobsPath) else { return [] }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafePointer(to: e.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name.count == 64 { names.append(name) }
        }
        return names.sorted()
    }
}

func isEmptyDirectory(_ path: String) -> Bool {
    guard let d = opendir(path) else { return false }
    defer { closedir(d) }
    var n = 0
    while readdir(d) != nil { n += 1 }
    return n <= 2
}

/// rm -rf, without following symlinks.
public func removeTree(_ path: String) { _ = chost_remove_tree(path) }

/// A new folder of ours, `/tmp/PREFIX-XXXXXX` (mkdtemp); nil when the host refuses (errno says
/// why).
public func makeScratchFolder(_ prefix: String) -> String? {
    var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
    guard mkdtemp(&template) != nil else { return nil }
    return template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}

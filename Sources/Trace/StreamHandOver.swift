import Glibc

/// Where an event stream is cut when another writer takes it over (a backup of `run --replicas`
/// that becomes the primary, Docs/replicas.md "Taking over"): event `event` and all after it are
/// dropped; the file is cut at `offset`, the start of the chunk that held `event` (whose first
/// event is `first`), and the new writer writes that chunk's events before `event` again.
public struct StreamCut: Equatable, Sendable {
    public var offset: Int
    public var first: UInt64
    public var event: UInt64
    public init(offset: Int, first: UInt64, event: UInt64) {
        self.offset = offset
        self.first = first
        self.event = event
    }
}

extension EventReader {
    /// The cut before event `event` (at most the events read so far), and the events of its
    /// chunk before it.
    public func cut(atEvent event: UInt64) throws(TraceError) -> (StreamCut, [Event]) {
        var walker = self
        try walker.seek(toEvent: event, limit: offset)
        // Past every chunk read (no chunk decoded): the cut is where the next chunk goes.
        guard !walker.pending.isEmpty else { return (StreamCut(offset: walker.offset, first: event, event: event), []) }
        let first = event - UInt64(walker.pendingIndex)
        return (
            StreamCut(offset: walker.chunkStart, first: first, event: event),
            Array(walker.pending[0..<walker.pendingIndex])
        )
    }

    /// Go back to event `event` (at most `cut.event`) of a stream that was cut at `cut` and is
    /// being written again: what was read past the cut is forgotten.
    public mutating func rewind(toEvent event: UInt64, cut: StreamCut) throws(TraceError) {
        precondition(event <= cut.event)
        if bytes.count > cut.offset { bytes.removeSubrange(cut.offset...) }
        try seek(toEvent: event, limit: bytes.count)
    }

    /// Forget what was read past the chunk being replayed, and that chunk's bytes too: the next
    /// chunk is read again from the file, entered at the same event. A copy of a checkpoint of
    /// `run --replicas` does this: the log may have been cut and written again since the
    /// checkpoint read it (only the events before its own are the same).
    public mutating func forgetReadAhead() throws(TraceError) {
        let at = position
        if bytes.count > chunkStart { bytes.removeSubrange(chunkStart...) }
        try seek(toEvent: at, limit: bytes.count)
    }

    /// Read again from the start, skipping whole chunks by their headers (they were checked when
    /// first read), up to the chunk holding `event`, and within it up to `event`; `limit`: the
    /// chunks end there. Past the last chunk, the next chunk read is the one that holds it.
    private mutating func seek(toEvent event: UInt64, limit: Int) throws(TraceError) {
        offset = EventStreamFormat.preambleSize
        eventsRead = 0
        pending = []
        skipOnNextChunk = 0
        pendingIndex = 0
        chunkStart = offset
        while offset + EventStreamFormat.chunkHeaderSize <= limit {
            let count = UInt64(readLE32(bytes, offset + 16))
            let packed = Int(readLE32(bytes, offset + 24))
            if eventsRead + count > event {
                guard try readChunk() else { break }
                pendingIndex = Int(event - (eventsRead))
                eventsRead = event
                return
            }
            offset += EventStreamFormat.chunkHeaderSize + packed
            eventsRead += count
        }
        // Past the chunks there: the next chunk read (the new writer's, which writes the cut
        // chunk's events before the cut again) is entered at `event`.
        skipOnNextChunk = event - eventsRead
    }
}

extension EventWriter {
    /// Take over the stream at `path` where `cut` says, its old writer gone: the file is cut
    /// there and locked as a writer locks it, and `prefix` (the events of the cut chunk before
    /// the cut) is written again first. Waits up to 5 s for the old writer's lock.
    public static func continuing(
        _ path: String, at cut: StreamCut, prefix: [Event]
    ) throws(TraceError)
        -> EventWriter
    {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(path: path, errno: errno) }
        var tries = 0
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            tries += 1
            guard errno == EWOULDBLOCK || errno == EINTR, tries < 5000 else {
                let e = errno
                Glibc.close(fd)
                throw .io(path: path, errno: e)
            }
            usleep(1000)
        }
        guard ftruncate(fd, off_t(cut.offset)) == 0, lseek(fd, off_t(cut.offset), SEEK_SET) >= 0 else {
            let e = errno
            Glibc.close(fd)
            throw .io(path: path, errno: e)
        }
        let writer = EventWriter(continuing: fd, path: path, eventCount: cut.first)
        for e in prefix { try writer.append(e) }
        return writer
    }
}

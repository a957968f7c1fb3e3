import CGuestStub
import Glibc
import GuestMemory

/// The VMM's end of the channel (GuestAgents/include/revenant_channel.h, Docs/channel-format.md):
/// a shim registers its buffer with the reserved syscall number and hands it over when full.
/// While recording (or running) the VMM discards what it is handed; when regenerating, or with
/// `record --keep-channel`, it collects it. FLUSH's result never depends on the mode. REGISTER
/// tells a version 3 shim when the VMM discards (`quiet`), and the Perl shim then leaves out its
/// statement records, and only them: what the program can see is the same in both modes, so a
/// quiet recording regenerates with every statement (Docs/channel-format.md "Quiet").
/// The calls are not events: the recorder does not log them and the replayer does not expect them.
public final class ChannelPort {
    /// The contract, from GuestAgents/include/revenant_channel.h (the shims include it too).
    public static let number = UInt64(REVENANT_NR_CHANNEL)
    public static let register = UInt64(REVENANT_CHANNEL_REGISTER)
    public static let flush = UInt64(REVENANT_CHANNEL_FLUSH)
    public static let magic = UInt32(REVENANT_CHANNEL_MAGIC)
    public static let quiet = UInt32(REVENANT_CHANNEL_QUIET)
    public static let version = UInt32(REVENANT_CHANNEL_VERSION)
    /// The first struct version that understands the QUIET answer (older shims, in older traces,
    /// get the magic: they write every record, as they did when recorded).
    static let quietVersion: UInt32 = 3
    /// Offsets in `struct revenant_channel`, as the C compiler lays it out. Version 1 (traces
    /// recorded before `watch`) has its data at 32; version 2 adds `watch` and `introspect`.
    static let capacityOffset = offset(\.capacity), usedOffset = offset(\.used), flushedOffset = offset(\.flushed)
    static let watchOffset = offset(\.watch), introspectOffset = offset(\.introspect)
    static func dataOffset(_ version: UInt32) -> UInt64 { version == 1 ? 32 : UInt64(headerSize) }
    static let headerSize = MemoryLayout<revenant_channel>.size
    private static func offset(_ field: PartialKeyPath<revenant_channel>) -> UInt64 {
        UInt64(MemoryLayout<revenant_channel>.offset(of: field)!)
    }

    public enum Mode { case discard, collect }
    /// Set before the guest runs: a shim learns it when it registers.
    public var mode: Mode = .discard
    /// Whether the last REGISTER was answered QUIET (`run -v`, `record -v`, tests).
    public private(set) var registeredQuiet = false
    /// Bytes the shims handed over in this process, collected or not (`-v`).
    public private(set) var handedOver: UInt64 = 0
    /// The stream handed over so far (collect mode).
    public private(set) var collected: [UInt8] = []
    /// The registered `struct revenant_channel`, once a shim has registered one.
    public private(set) var address: UInt64?
    /// The registered struct's version (1 has no `watch`: such a run cannot be stepped).
    public private(set) var registeredVersion: UInt32 = 0
    /// Every version registered in the run (a program execve started may register its own).
    public private(set) var versionsRegistered: Set<UInt32> = []
    /// Where each program's records start in `collected` (a program execve started registers a
    /// buffer of its own, and its shims number their ids afresh: readers start over there).
    public private(set) var programStarts: [Int] = []
    /// The stream offset where the registered buffer's records start (its `flushed` counts from 0).
    private var programBase: UInt64 = 0
    /// Called after each FLUSH has been taken (collect mode), the guest paused inside the call:
    /// a stepping replay inspects the guest here and sets the next `watch`.
    public var onFlush: (() -> Void)?
    /// What the next FLUSH returns instead of 0: only a throw-away clone sets it (to
    /// REVENANT_CHANNEL_EVAL_REQUEST, with `putRequest`).
    public var answerNextFlush: Int64?
    public static let evalRequest = Int64(REVENANT_CHANNEL_EVAL_REQUEST)
    public let memory: AddressSpace

    init(memory: AddressSpace) { self.memory = memory }

    /// Serve one channel call; the result is the syscall's return value.
    func handle(_ op: UInt64, _ addr: UInt64) -> Int64 {
        guard let header = try? memory.bytes(at: addr, count: 32) else { return -Int64(EFAULT) }
        let version = u32(header, 4)
        guard u32(header, 0) == Self.magic, (1...Self.version).contains(version) else { return -Int64(EINVAL) }
        switch op {
        case Self.register:
            address = addr
            registeredVersion = version
            versionsRegistered.insert(version)
            programBase = UInt64(collected.count)
            programStarts.append(collected.count)
            registeredQuiet = mode == .discard && version >= Self.quietVersion
            return Int64(registeredQuiet ? Self.quiet : Self.magic)
        case Self.flush:
            // Usually the registered buffer; a record too big for it comes in a struct of its own.
            guard address != nil else { return -Int64(EINVAL) }
            handedOver &+= u64(header, Int(Self.usedOffset))
            if mode == .collect {
                take(header, version: version, at: addr)
                onFlush?()
            }
            if let answer = answerNextFlush {
                answerNextFlush = nil
                return answer
            }
            return 0
        default:
            return -Int64(EINVAL)
        }
    }

    /// The stream offset the shim has written up to (where its program's records start, plus
    /// flushed + used, read from guest memory).
    public func position() -> UInt64? {
        guard let a = address, let used = try? memory.load(UInt64.self, at: a + Self.usedOffset),
            let flushed = try? memory.load(UInt64.self, at: a + Self.flushedOffset)
        else { return nil }
        return programBase &+ flushed &+ used
    }

    /// At the end of the run: what is still in the buffer (the process may have died before its
    /// shim flushed).
    public func collectTail() {
        guard mode == .collect, let a = address, let header = try? memory.bytes(at: a, count: 32) else { return }
        take(header, version: registeredVersion, at: a)
    }

    /// execve: the registered buffer goes with the old program (what it still held is collected
    /// first); a shim in the new program registers its own.
    public func programReplaced() {
        collectTail()
        address = nil
        registeredVersion = 0
    }

    /// fork, in the child: its stream starts as its parent's up to the fork — what the parent had
    /// handed over, and the records still in the buffer it inherits, taken now — so that the
    /// child's own records can name the files, contexts, connections and statements its parent
    /// defined. The shims go on in a forked child (pthread_atfork): they leave those unflushed
    /// records to the parent, moving `flushed` past them, so positions go on from here. (Shims of
    /// older traces stop in a forked child: its stream is then the inherited part alone.)
    public func processForked() {
        collectTail()
        inherited = Int(position() ?? UInt64(collected.count))
    }

    /// How much of the stream a forked child inherited from its parent (0 for the first process):
    /// its own records start there.
    public private(set) var inherited = 0

    /// Ask the shim to flush right after the record that makes `used` exceed `limit`: 0 stops
    /// after the next record, `nil` never (the shim's own default, `capacity`). Only a version 2
    /// struct has the field; the shim reads it after every record, so the guest stops at a record
    /// boundary with nothing else changed (a flush is not an event). Returns false when the run's
    /// shim cannot be stepped.
    @discardableResult
    public func setWatch(_ limit: UInt64?) -> Bool {
        guard let a = address, registeredVersion >= 2,
            let capacity = try? memory.load(UInt64.self, at: a + Self.capacityOffset)
        else { return false }
        return (try? memory.store(limit ?? capacity, at: a + Self.watchOffset)) != nil
    }

    /// The records written since the last flush, still in the guest's buffer (read, not taken).
    public func unflushed() -> [UInt8]? {
        guard let a = address, let used = try? memory.load(UInt64.self, at: a + Self.usedOffset),
            let capacity = try? memory.load(UInt64.self, at: a + Self.capacityOffset)
        else { return nil }
        return try? memory.bytes(at: a + Self.dataOffset(registeredVersion), count: Int(min(used, capacity, 1 << 30)))
    }

    /// Leave a request (u32 length, then the bytes) in the registered buffer, for the shim to
    /// read after this FLUSH returns (a clone only: it overwrites records already taken).
    public func putRequest(_ bytes: [UInt8]) -> Bool {
        guard let a = address, registeredVersion >= 2,
            let capacity = try? memory.load(UInt64.self, at: a + Self.capacityOffset),
            UInt64(bytes.count) + 4 <= capacity
        else { return false }
        let n = UInt32(bytes.count)
        return
            (try? memory.write(
                withUnsafeBytes(of: n.littleEndian) { Array($0) } + bytes, at: a + Self.dataOffset(registeredVersion)))
            != nil
    }

    /// The Perl shim's introspection block (revenant_perl_introspect.h), if it published one.
    public func introspectAddress() -> UInt64? {
        guard let a = address, registeredVersion >= 2,
            let v = try? memory.load(UInt64.self, at: a + Self.introspectOffset), v != 0
        else { return nil }
        return v
    }

    /// Collect the records of the struct at `addr` that `collected` does not hold yet: they sit at
    /// stream offset `programBase + flushed`, and a forked child of an older shim (which stops
    /// without moving `flushed`) still has in its buffer what was taken at the fork.
    private func take(_ header: [UInt8], version: UInt32, at addr: UInt64) {
        let capacity = u64(header, Int(Self.capacityOffset)), used = u64(header, Int(Self.usedOffset))
        let n = Int(min(used, capacity, 1 << 30))
        let start = programBase &+ u64(header, Int(Self.flushedOffset))
        let held = start < UInt64(collected.count) ? min(n, collected.count - Int(start)) : 0
        guard n > held,
            let data = try? memory.bytes(at: addr + Self.dataOffset(version) + UInt64(held), count: n - held)
        else { return }
        collected += data
    }

    private func u32(_ b: [UInt8], _ o: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[o + $1]) << (8 * $1) } }
    private func u64(_ b: [UInt8], _ o: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(b[o + $1]) << (8 * $1) } }
}

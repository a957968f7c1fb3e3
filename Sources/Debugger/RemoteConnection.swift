import Glibc
import LinuxABI

/// The GDB remote protocol's framing (Docs/gdb.md "Protocol"): `$payload#xx`, xx the payload's
/// byte sum mod 256 in hex; `+`/`-` acknowledge a packet until QStartNoAckMode turns that off;
/// a lone 0x03 byte asks a running target to stop. Binary payloads escape `#`, `$`, `}` and `*` as
/// `}` then the byte xor 0x20.
public final class RemoteConnection {
    let input: Int32, output: Int32
    private var buffer: [UInt8] = []
    private var position = 0
    /// After QStartNoAckMode: no `+` sent or expected.
    public var acknowledging = true
    /// Every packet in and out, for `--log` (nil: not kept).
    public var log: ((String) -> Void)?

    public init(input: Int32, output: Int32) {
        self.input = input
        self.output = output
    }

    /// A byte from the peer; nil at its end.
    private func byte() -> UInt8? {
        if position == buffer.count {
            var chunk = [UInt8](repeating: 0, count: 4096)
            var n: Int
            repeat {
                n = chunk.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            } while n < 0
                && errno == EINTR
            guard n > 0 else { return nil }
            buffer = Array(chunk[0..<n])
            position = 0
        }
        defer { position += 1 }
        return buffer[position]
    }

    /// The next packet's payload (checksum verified and acknowledged); `[0x03]` for an interrupt;
    /// nil when the peer has gone.
    public func receive() -> [UInt8]? {
        while true {
            guard var c = byte() else { return nil }
            if c == 0x03 { return [0x03] }
            guard c == UInt8(ascii: "$") else { continue }  // acks, noise between packets
            var payload: [UInt8] = []
            while true {
                guard let b = byte() else { return nil }
                if b == UInt8(ascii: "#") { break }
                payload.append(b)
            }
            guard let h = byte(), let l = byte() else { return nil }
            c = RemoteConnection.checksum(payload)
            let sent = RemoteConnection.hexValue(h).flatMap { hi in RemoteConnection.hexValue(l).map { hi << 4 | $0 } }
            if acknowledging {
                guard sent == c else {
                    write([UInt8(ascii: "-")])
                    continue
                }
                write([UInt8(ascii: "+")])
            }
            log?("<- " + String(decoding: payload, as: UTF8.self))
            return payload
        }
    }

    /// Send a packet (its payload escaped where the protocol needs it) and, while acknowledging,
    /// wait for the peer's `+` (a `-` sends it again).
    public func send(_ payload: [UInt8]) {
        var framed: [UInt8] = [UInt8(ascii: "$")]
        for b in payload {
            if b == UInt8(ascii: "#") || b == UInt8(ascii: "$") || b == UInt8(ascii: "}") || b == UInt8(ascii: "*") {
                framed += [UInt8(ascii: "}"), b ^ 0x20]
            } else {
                framed.append(b)
            }
        }
        let sum = RemoteConnection.checksum(Array(framed.dropFirst()))
        framed += [UInt8(ascii: "#")] + Array(RemoteConnection.hex2(sum).utf8)
        log?("-> " + String(decoding: payload.prefix(200), as: UTF8.self))
        resend: while true {
            write(framed)
            guard acknowledging else { return }
            while let b = byte() {
                if b == UInt8(ascii: "+") { return }
                if b == UInt8(ascii: "-") { continue resend }
            }
            return
        }
    }

    public func send(_ text: String) { send(Array(text.utf8)) }

    /// While the program runs: whether gdb asked it to stop (Ctrl-C, a lone 0x03), without
    /// waiting. Anything else gdb sent stays for `receive`.
    public func interruptRequested() -> Bool {
        _ = readAvailable()
        guard let i = buffer[position...].firstIndex(of: 0x03) else { return false }
        buffer.remove(at: i)
        return true
    }

    /// Whether gdb has gone (its end closed), looked at now and then while a long replay runs
    /// without it; what it sent meanwhile is kept for `receive`.
    public func peerGone() -> Bool { !readAvailable() }

    /// Reads what has arrived without waiting; false at the end of the input (or an error).
    private func readAvailable() -> Bool {
        var p = pollfd(fd: input, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, 0) == 1 else { return true }
        guard p.revents & Int16(POLLIN) != 0 else { return p.revents & Int16(POLLHUP | POLLERR) == 0 }
        var chunk = [UInt8](repeating: 0, count: 4096)
        let n = chunk.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
        buffer = Array(buffer[position...]) + chunk[0..<max(n, 0)]
        position = 0
        return n > 0
    }

    /// Bytes received and not yet read (what a checkpoint taking over the connection must get).
    var unread: [UInt8] {
        get { position < buffer.count ? Array(buffer[position...]) : [] }
        set {
            buffer = newValue
            position = 0
        }
    }

    private func write(_ bytes: [UInt8]) { bytes.withUnsafeBytes { _ = writeAll(output, $0) } }

    public static func checksum(_ bytes: [UInt8]) -> UInt8 { bytes.reduce(0) { $0 &+ $1 } }

    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    public static func hex2(_ b: UInt8) -> String { hex([b]) }

    /// Bytes as hex pairs (memory and register replies).
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out += [digits[Int(b >> 4)], digits[Int(b & 15)]] }
        return String(decoding: out, as: UTF8.self)
    }

    /// Hex pairs back to bytes; nil when malformed.
    public static func bytes(fromHex text: Substring) -> [UInt8]? {
        let u = Array(text.utf8)
        guard u.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        var i = 0
        while i < u.count {
            guard let h = hexValue(u[i]), let l = hexValue(u[i + 1]) else { return nil }
            out.append(h << 4 | l)
            i += 2
        }
        return out
    }
}

extension RemoteConnection {
    /// `--listen HOST:PORT`: one connection accepted on a loopback address (gdb's `target remote
    /// HOST:PORT`); `announce` is called once listening, with the port (0 asks for any free one).
    public static func accept(
        listen spec: String, announce: (UInt16) -> Void
    ) throws(ListenError) -> RemoteConnection {
        let parts = spec.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let port = UInt16(parts[1]) else { throw ListenError("\(spec): give HOST:PORT") }
        var address = in_addr()
        guard inet_pton(AF_INET, String(parts[0]), &address) == 1 else {
            throw ListenError("\(spec): \(parts[0]) is not an IPv4 address")
        }
        // Loopback only: the server hands out the recorded program's memory and files.
        guard UInt32(bigEndian: address.s_addr) >> 24 == 127 else {
            throw ListenError("\(spec): only a loopback address (127.x.x.x) is served")
        }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ListenError("socket: \(String(cString: strerror(errno)))") }
        var on: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        sa.sin_addr = address
        let bound = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 1) == 0 else {
            let e = String(cString: strerror(errno))
            close(fd)
            throw ListenError("\(spec): \(e)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        announce(UInt16(bigEndian: sa.sin_port))
        var client: Int32
        repeat { client = Glibc.accept(fd, nil, nil) } while client < 0 && errno == EINTR
        close(fd)
        guard client >= 0 else { throw ListenError("accept: \(String(cString: strerror(errno)))") }
        _ = fcntl(client, F_SETFD, FD_CLOEXEC)
        setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
        return RemoteConnection(input: client, output: client)
    }
}

/// A `--listen` that cannot be served, in one line.
public struct ListenError: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}

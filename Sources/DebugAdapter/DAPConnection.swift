import Glibc
import LinuxABI
import Monitor
import RevenantKit

/// The Debug Adapter Protocol's base protocol on stdin and stdout: each message a
/// `Content-Length: N` header, an empty line, then N bytes of JSON.
final class DAPConnection {
    private let input: Int32, output: Int32
    private var buffer: [UInt8] = []
    private var sequence = 1

    init(input: Int32 = 0, output: Int32 = 1) {
        self.input = input
        self.output = output
    }

    /// The client's next message; nil when it closed the connection.
    func receive() throws -> JSONValue? {
        while true {
            if let end = headerEnd() {
                let header = String(decoding: buffer[..<end], as: UTF8.self)
                guard
                    let line = header.split(separator: "\r\n").first(where: {
                        $0.lowercased().hasPrefix("content-length:")
                    }),
                    let length = Int(line.dropFirst(15).trimmingCharacters(in: " ")), length >= 0,
                    length <= 64 << 20
                else { throw CLIError("dap: a message without a valid Content-Length header") }
                if buffer.count >= end + 4 + length {
                    let body = String(decoding: buffer[(end + 4)..<(end + 4 + length)], as: UTF8.self)
                    buffer.removeSubrange(..<(end + 4 + length))
                    do { return try JSONValue(parsing: body) } catch {
                        throw CLIError("dap: a message that is not JSON (\(error))")
                    }
                }
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return nil }
            buffer += chunk[0..<n]
        }
    }

    private func headerEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for i in 0...(buffer.count - 4)
        where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
            return i
        }
        return nil
    }

    func respond(to request: JSONValue, body: [String: JSONValue] = [:], error: String? = nil) {
        var m: [String: JSONValue] = [
            "type": .string("response"), "request_seq": request["seq"] ?? .int(0),
            "command": request["command"] ?? .string("?"), "success": .bool(error == nil),
        ]
        if let error { m["message"] = .string(error) }
        if !body.isEmpty || error == nil { m["body"] = .sorted(body) }
        send(m)
    }

    func event(_ name: String, _ body: [String: JSONValue] = [:]) {
        send(["type": .string("event"), "event": .string(name), "body": .sorted(body)])
    }

    private func send(_ message: [String: JSONValue]) {
        var m = message
        m["seq"] = .int(Int64(sequence))
        sequence += 1
        let body = Array(JSONValue.sorted(m).text.utf8)
        let bytes = Array("Content-Length: \(body.count)\r\n\r\n".utf8) + body
        // A client that is gone: the next read says so.
        bytes.withUnsafeBytes { writeAll(output, $0) }
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> Substring {
        var s = self
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return s
    }
}

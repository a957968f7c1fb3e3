import CHost
import Glibc
import LinuxABI

package let revenantVersion = "0.2.0"

package func isoNow() -> String {
    var t = time(nil)
    var tmv = tm()
    gmtime_r(&t, &tmv)
    var buf = [CChar](repeating: 0, count: 32)
    strftime(&buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tmv)
    return buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}

package func fmtMs(_ ns: UInt64) -> String {
    let ms = Double(ns) / 1e6
    return ms < 10 ? "\(Double(Int(ms * 1000)) / 1000) ms" : "\(Double(Int(ms * 10)) / 10) ms"
}

package func monotonicNanos() -> UInt64 { chost_monotonic_ns() }

package func parseSize(_ s: String) -> UInt64? {
    guard let last = s.last else { return nil }
    let mult: UInt64
    var digits = Substring(s)
    switch last {
    case "K", "k": mult = 1 << 10
    case "M", "m": mult = 1 << 20
    case "G", "g": mult = 1 << 30
    default: mult = 1
    }
    if mult != 1 { digits = digits.dropLast() }
    guard let v = UInt64(digits), v > 0 else { return nil }
    let (r, o) = v.multipliedReportingOverflow(by: mult)
    return o ? nil : r
}

/// The caller's environment as is, bytes and order kept, then --clear-env and --env.
package func guestEnvironment(_ o: SessionOptions) throws -> [ByteString] {
    var env: [ByteString] = []
    if !o.clearEnvironment {
        var p = environ
        while let s = p.pointee {
            env.append(ByteString(cString: s))
            p += 1
        }
    }
    for kv in o.environment {
        guard let eq = kv.firstIndex(of: "="), eq != kv.startIndex else { throw CLIError("--env \(kv): expected K=V") }
        let key = ByteString(String(kv[..<eq]) + "=")
        if let i = env.firstIndex(where: { $0.hasPrefix(key) }) {
            env[i] = ByteString(kv)
        } else {
            env.append(ByteString(kv))
        }
    }
    return env
}

package func environmentValue(_ name: String) -> String? {
    guard let v = getenv(name) else { return nil }
    return String(cString: v)
}

package func currentDirectory() -> ByteString {
    var buf = [CChar](repeating: 0, count: 4096)
    guard getcwd(&buf, buf.count) != nil else { return "/" }
    return buf.withUnsafeBufferPointer { ByteString(cString: $0.baseAddress!) }
}

/// mkdir -p.
package func makeDirectories(_ path: ByteString) {
    var prefix: ByteString = ""
    for c in path.split(separator: UInt8(ascii: "/")) {
        prefix += "/" + c
        _ = prefix.withCString { mkdir($0, 0o755) }
    }
}

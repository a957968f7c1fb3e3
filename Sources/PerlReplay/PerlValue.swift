import Foundation

/// A scalar read from the paused interpreter, with Perl's conversions: numeric and string views
/// follow the SV's flags (IOK/NOK/POK/ROK) the way perl's own `SvNV`/`SvPV` would.
public struct PerlScalar: Equatable, Sendable {
    public var int: Int64?
    public var uint: UInt64?
    public var double: Double?
    public var bytes: [UInt8]?
    /// A reference: what it points to, for printing and dereferencing.
    public var reference: Reference?

    public struct Reference: Equatable, Sendable {
        public var kind: String  // SCALAR, ARRAY, HASH, CODE, GLOB, REF, Regexp...
        public var address: UInt64  // the referent SV
        public var blessed: String?
    }

    public static let undef = PerlScalar()
    public init(
        int: Int64? = nil, uint: UInt64? = nil, double: Double? = nil, bytes: [UInt8]? = nil,
        reference: Reference? = nil
    ) {
        self.int = int
        self.uint = uint
        self.double = double
        self.bytes = bytes
        self.reference = reference
    }
    public init(_ s: String) { bytes = Array(s.utf8) }
    public init(_ d: Double) { double = d }
    public init(_ i: Int64) { int = i }
    public init(_ b: Bool) { if b { int = 1 } else { bytes = [] } }

    public var isUndef: Bool { int == nil && uint == nil && double == nil && bytes == nil && reference == nil }

    /// Perl's truth: undef, "", "0" and 0 are false.
    public var truth: Bool {
        if reference != nil { return true }
        if let b = bytes { return !(b.isEmpty || b == [0x30]) }
        if let i = int { return i != 0 }
        if let u = uint { return u != 0 }
        if let d = double { return d != 0 }
        return false
    }

    public var number: Double {
        if let i = int { return Double(i) }
        if let u = uint { return Double(u) }
        if let d = double { return d }
        if let r = reference { return Double(r.address) }
        if let b = bytes { return PerlScalar.numericPrefix(b) }
        return 0
    }

    /// An exact integer view when the value is one (for == on big integers).
    var integer: Int64? {
        if let i = int { return i }
        if double == nil, uint == nil, reference == nil, let b = bytes,
            let s = String(bytes: b, encoding: .utf8)?.trimmingCharacters(in: .whitespaces), let i = Int64(s)
        {
            return i
        }
        return nil
    }

    public var string: String {
        if let b = bytes { return String(decoding: b, as: UTF8.self) }
        if let r = reference {
            return (r.blessed.map { $0 + "=" } ?? "") + "\(r.kind)(0x\(String(r.address, radix: 16)))"
        }
        if let i = int { return String(i) }
        if let u = uint { return String(u) }
        if let d = double { return PerlScalar.format(d) }
        return ""
    }

    /// perl's "%.15g" (NV_DIG on x86-64), with its spellings of the infinities and NaN.
    static func format(_ d: Double) -> String {
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d < 0 ? "-Inf" : "Inf" }
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        return String(format: "%.15g", d)
    }

    /// The number at the start of a string, as perl reads it ("12abc" is 12, "abc" is 0).
    static func numericPrefix(_ b: [UInt8]) -> Double {
        let s = String(decoding: b, as: UTF8.self).drop { $0 == " " || $0 == "\t" || $0 == "\n" }
        var end = s.startIndex, best: Double = 0
        while end < s.endIndex {
            end = s.index(after: end)
            if let d = Double(s[s.startIndex..<end]) {
                best = d
            } else if !"+-.eE".contains(s[s.index(before: end)]) {
                break
            }
        }
        return best
    }
}

/// What `--print` shows: a scalar, or an aggregate read to a bounded depth.
public indirect enum PerlValue: Equatable {
    case scalar(PerlScalar)
    /// A reference, with what it points to when it was read (nil beyond the depth limit).
    case reference(PerlScalar.Reference, PerlValue?)
    case array([PerlValue], truncated: Bool)
    case hash([(String, PerlValue)], truncated: Bool)
    case unavailable(String)

    public static func == (a: PerlValue, b: PerlValue) -> Bool { a.rendered == b.rendered }

    /// One line, Data::Dumper-like: `5`, `'abc'`, `[1, 2]`, `{a => 1}` (hash keys sorted).
    public var rendered: String {
        switch self {
        case .scalar(let s):
            if s.isUndef { return "undef" }
            // Data::Dumper's rule: integers bare, every other string quoted.
            if s.bytes != nil, s.string.wholeMatch(of: /-?(0|[1-9][0-9]{0,14})/) == nil {
                return PerlValue.quote(s.string)
            }
            return s.string
        case .reference(let r, let target):
            let bless = r.blessed.map { "bless(" + $0 + ") " } ?? ""
            guard let target else { return bless + "\(r.kind)(0x\(String(r.address, radix: 16)))" }
            switch target {
            case .array, .hash: return bless + target.rendered
            default: return bless + "\\" + target.rendered
            }
        case .array(let items, let t):
            return "[" + items.map(\.rendered).joined(separator: ", ") + (t ? ", ..." : "") + "]"
        case .hash(let pairs, let t):
            let body = pairs.sorted { $0.0 < $1.0 }.map { PerlValue.key($0.0) + " => " + $0.1.rendered }
            return "{" + body.joined(separator: ", ") + (t ? ", ..." : "") + "}"
        case .unavailable(let why): return "<\(why)>"
        }
    }

    /// As `--print` shows a named variable: `@a = (1, 2)`, `%h = (a => 1)`.
    public func rendered(as name: String) -> String {
        switch (name.first, self) {
        case ("@", .array(let items, let t)):
            return "\(name) = (" + items.map(\.rendered).joined(separator: ", ") + (t ? ", ..." : "") + ")"
        case ("%", .hash(let pairs, let t)):
            let body = pairs.sorted { $0.0 < $1.0 }.map { PerlValue.key($0.0) + " => " + $0.1.rendered }
            return "\(name) = (" + body.joined(separator: ", ") + (t ? ", ..." : "") + ")"
        default:
            return "\(name) = \(rendered)"
        }
    }

    static func quote(_ s: String) -> String {
        var out = "'"
        for u in s.unicodeScalars {
            switch u {
            case "'": out += "\\'"
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default: out += u.value < 0x20 ? String(format: "\\x%02x", u.value) : String(u)
            }
        }
        return out + "'"
    }

    static func key(_ k: String) -> String {
        k.first.map { $0.isLetter || $0 == "_" } == true && k.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" })
            ? k : quote(k)
    }
}

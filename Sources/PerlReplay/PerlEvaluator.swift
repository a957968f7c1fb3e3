import Foundation

/// Evaluates a PerlExpression against the paused interpreter, with Perl's semantics for the
/// supported subset (numeric/string contexts, truth, undef). A variable not in scope reads as
/// undef, as a non-strict perl would; `--print` says so instead.
public struct PerlEvaluator {
    let vmi: PerlIntrospector
    /// The package of the statement stopped at (unqualified package variables live there).
    let package: String

    public init(_ vmi: PerlIntrospector, package: String) {
        self.vmi = vmi
        self.package = package
    }

    enum Value {
        case scalar(PerlScalar)
        case sv(UInt64)
        case av(UInt64)
        case hv(UInt64)
        case missing(String)
    }

    func evaluate(_ e: PerlExpression) throws(PerlIntrospectionError) -> Value {
        switch e {
        case .number(let d): return .scalar(d == d.rounded() && abs(d) < 9e18 ? PerlScalar(Int64(d)) : PerlScalar(d))
        case .string(let s): return .scalar(PerlScalar(s))
        case .scalarVar(let n): return try vmi.variable(n, package: package).map { .sv($0) } ?? .missing(n)
        case .arrayVar(let n): return try vmi.variable(n, package: package).map { .av($0) } ?? .missing(n)
        case .hashVar(let n): return try vmi.variable(n, package: package).map { .hv($0) } ?? .missing(n)
        case .derefArray(let x):
            let v = try evaluate(x)
            if case .av = v { return v }
            if let r = try scalar(v).reference, r.kind == "ARRAY" { return .av(r.address) }
            return .missing("an array reference")
        case .derefHash(let x):
            let v = try evaluate(x)
            if case .hv = v { return v }
            if let r = try scalar(v).reference, r.kind == "HASH" { return .hv(r.address) }
            return .missing("a hash reference")
        case .derefScalar(let x):
            if let r = try scalar(try evaluate(x)).reference, r.kind == "SCALAR" || r.kind == "REF" {
                return .sv(r.address)
            }
            return .missing("a scalar reference")
        case .element(let a, let i):
            guard case .av(let av) = try evaluate(a) else { return .scalar(.undef) }
            let elements = try vmi.arrayElements(av)
            var k = Int(try scalar(try evaluate(i)).number)
            if k < 0 { k += elements.count }
            guard k >= 0, k < elements.count, elements[k] != 0 else { return .scalar(.undef) }
            return .sv(elements[k])
        case .member(let h, let k):
            guard case .hv(let hv) = try evaluate(h) else { return .scalar(.undef) }
            let key = try scalar(try evaluate(k)).string
            guard let sv = try vmi.hashEntries(hv).first(where: { $0.key == key })?.sv else { return .scalar(.undef) }
            return .sv(sv)
        case .lastIndex(let a):
            guard case .av(let av) = try evaluate(a) else { return .scalar(PerlScalar(Int64(-1))) }
            return .scalar(PerlScalar(try vmi.arrayCount(av) - 1))
        case .unary(let op, let x):
            let v = try scalar(try evaluate(x))
            switch op {
            case "!": return .scalar(PerlScalar(!v.truth))
            default: return .scalar(number(-v.number, exact: v.integer.map { 0 &- $0 }))
            }
        case .call(let f, let x):
            return .scalar(try call(f, x))
        case .conditional(let c, let a, let b):
            return try scalar(try evaluate(c)).truth ? try evaluate(a) : try evaluate(b)
        case .match(let x, let re, let negated):
            let s = try scalar(try evaluate(x)).string
            let hit = re.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil
            return .scalar(PerlScalar(hit != negated))
        case .binary(let op, let l, let r):
            return try binary(op, l, r)
        }
    }

    /// Scalar context: an array gives its length, a hash its key count.
    func scalar(_ v: Value) throws(PerlIntrospectionError) -> PerlScalar {
        switch v {
        case .scalar(let s): return s
        case .sv(let a): return try vmi.scalar(a)
        case .av(let a): return PerlScalar(try vmi.arrayCount(a))
        case .hv(let a): return PerlScalar(Int64(try vmi.hashEntries(a).count))
        case .missing: return .undef
        }
    }

    func number(_ d: Double, exact: Int64?) -> PerlScalar { exact.map { PerlScalar($0) } ?? PerlScalar(d) }

    func call(_ f: String, _ x: PerlExpression) throws(PerlIntrospectionError) -> PerlScalar {
        if f == "undef" { return .undef }
        if f == "exists" {
            guard case .member(let h, let k) = x else { return PerlScalar(!(try scalar(try evaluate(x))).isUndef) }
            guard case .hv(let hv) = try evaluate(h) else { return PerlScalar(false) }
            let key = try scalar(try evaluate(k)).string
            return PerlScalar(try vmi.hashEntries(hv).contains { $0.key == key })
        }
        let v = try evaluate(x)
        switch f {
        case "defined":
            switch v {
            case .missing: return PerlScalar(false)
            case .av(let a): return PerlScalar(try vmi.arrayCount(a) > 0)
            case .hv: return PerlScalar(true)
            default: return PerlScalar(!(try scalar(v)).isUndef)
            }
        case "scalar": return try scalar(v)
        default: break
        }
        let s = try scalar(v)
        switch f {
        case "length": return s.isUndef ? .undef : PerlScalar(Int64(s.string.count))
        case "ref": return PerlScalar(s.reference.map { $0.blessed ?? $0.kind } ?? "")
        case "abs": return number(abs(s.number), exact: s.integer.map { $0 == Int64.min ? $0 : abs($0) })
        case "int": return PerlScalar(Int64(exactly: s.number.rounded(.towardZero)) ?? 0)
        case "lc": return PerlScalar(s.string.lowercased())
        case "uc": return PerlScalar(s.string.uppercased())
        default: return .undef
        }
    }

    func binary(_ op: String, _ l: PerlExpression, _ r: PerlExpression) throws(PerlIntrospectionError) -> Value {
        switch op {
        case "&&":
            let a = try evaluate(l)
            return try scalar(a).truth ? try evaluate(r) : a
        case "||":
            let a = try evaluate(l)
            return try scalar(a).truth ? a : try evaluate(r)
        case "//":
            let a = try evaluate(l)
            return try scalar(a).isUndef ? try evaluate(r) : a
        default: break
        }
        let a = try scalar(try evaluate(l)), b = try scalar(try evaluate(r))
        func cmpNumbers() -> Int {
            if let x = a.integer, let y = b.integer { return x < y ? -1 : x > y ? 1 : 0 }
            let x = a.number, y = b.number
            return x < y ? -1 : x > y ? 1 : 0
        }
        func cmpStrings() -> Int {
            let x = Array(a.string.utf8), y = Array(b.string.utf8)
            return x.lexicographicallyPrecedes(y) ? -1 : x == y ? 0 : 1
        }
        switch op {
        case "==": return .scalar(PerlScalar(cmpNumbers() == 0))
        case "!=": return .scalar(PerlScalar(cmpNumbers() != 0))
        case "<": return .scalar(PerlScalar(cmpNumbers() < 0))
        case ">": return .scalar(PerlScalar(cmpNumbers() > 0))
        case "<=": return .scalar(PerlScalar(cmpNumbers() <= 0))
        case ">=": return .scalar(PerlScalar(cmpNumbers() >= 0))
        case "<=>": return .scalar(PerlScalar(Int64(cmpNumbers())))
        case "eq": return .scalar(PerlScalar(cmpStrings() == 0))
        case "ne": return .scalar(PerlScalar(cmpStrings() != 0))
        case "lt": return .scalar(PerlScalar(cmpStrings() < 0))
        case "gt": return .scalar(PerlScalar(cmpStrings() > 0))
        case "le": return .scalar(PerlScalar(cmpStrings() <= 0))
        case "ge": return .scalar(PerlScalar(cmpStrings() >= 0))
        case "cmp": return .scalar(PerlScalar(Int64(cmpStrings())))
        case ".": return .scalar(PerlScalar(a.string + b.string))
        case "+":
            return .scalar(
                number(
                    a.number + b.number,
                    exact: a.integer.flatMap { x in
                        b.integer.flatMap { y in x.addingReportingOverflow(y).overflow ? nil : x + y }
                    }))
        case "-":
            return .scalar(
                number(
                    a.number - b.number,
                    exact: a.integer.flatMap { x in
                        b.integer.flatMap { y in x.subtractingReportingOverflow(y).overflow ? nil : x - y }
                    }))
        case "*":
            return .scalar(
                number(
                    a.number * b.number,
                    exact: a.integer.flatMap { x in
                        b.integer.flatMap { y in x.multipliedReportingOverflow(by: y).overflow ? nil : x * y }
                    }))
        case "/":
            guard b.number != 0 else { return .scalar(.undef) }
            let q = a.number / b.number
            return .scalar(number(q, exact: q == q.rounded() && abs(q) < 9e18 ? Int64(q) : nil))
        case "%":
            guard let x = a.integer ?? Int64(exactly: a.number.rounded(.towardZero)),
                let y = b.integer ?? Int64(exactly: b.number.rounded(.towardZero)), y != 0
            else { return .scalar(.undef) }
            let m = x % y
            return .scalar(PerlScalar(m != 0 && (m < 0) != (y < 0) ? m + y : m))
        default: return .scalar(.undef)
        }
    }

    /// Scalar context: the value `--when` tests.
    public func truth(_ e: PerlExpression) throws(PerlIntrospectionError) -> Bool { try scalar(try evaluate(e)).truth }

    /// The truth where every variable the expression names is visible (a lexical in scope or an
    /// existing package variable), nil elsewhere: inside a module's code `$balance` means
    /// nothing, and `--when` keeps its previous answer there instead of flickering to false.
    public func truthInScope(_ e: PerlExpression) throws(PerlIntrospectionError) -> Bool? {
        for name in Set(e.variables) where try vmi.variable(name, package: package) == nil { return nil }
        return try truth(e)
    }

    /// What `--print` shows for one expression.
    public func printable(_ e: PerlExpression) -> PerlValue {
        do {
            switch try evaluate(e) {
            case .scalar(let s): return .scalar(s)
            case .sv(let a), .av(let a), .hv(let a): return vmi.value(a)
            case .missing(let n): return .unavailable("\(n): not in scope")
            }
        } catch { return .unavailable(error.description) }
    }
}

import Foundation

/// The Perl expressions the VMM evaluates itself at every statement (`--when`, `--print`,
/// `when --perl`) by reading the paused interpreter's memory: variables (lexical or package,
/// with element access `$a[1]`, `$h{k}`, `$r->{k}[0]`, `$#a`, `@$r`, `%$r`, `$$r`), number and
/// string literals, arithmetic, `.`, numeric and string comparisons, `=~ /re/` (ICU syntax, which
/// covers the common Perl forms), `&& || // ! and or not ?:`, and `defined length scalar exists
/// ref abs int lc uc`. Anything else is refused when parsed, never guessed.
public indirect enum PerlExpression {
    case number(Double)
    case string(String)
    case scalarVar(String)  // $x, $Foo::x
    case arrayVar(String)  // @x (name with its sigil)
    case hashVar(String)  // %x
    case lastIndex(PerlExpression)  // $#x, $#{$r}
    case element(PerlExpression, PerlExpression)  // array-ish [index]
    case member(PerlExpression, PerlExpression)  // hash-ish {key}
    case derefScalar(PerlExpression), derefArray(PerlExpression), derefHash(PerlExpression)
    case unary(String, PerlExpression)
    case binary(String, PerlExpression, PerlExpression)
    case match(PerlExpression, NSRegularExpression, negated: Bool)
    case conditional(PerlExpression, PerlExpression, PerlExpression)
    case call(String, PerlExpression)

    /// The variables named in the expression (for `--print` and error messages).
    public var variables: [String] {
        switch self {
        case .number, .string: return []
        case .scalarVar(let n), .arrayVar(let n), .hashVar(let n): return [n]
        case .lastIndex(let e), .derefScalar(let e), .derefArray(let e), .derefHash(let e), .unary(_, let e),
            .call(_, let e), .match(let e, _, _):
            return e.variables
        case .element(let a, let b), .member(let a, let b), .binary(_, let a, let b): return a.variables + b.variables
        case .conditional(let a, let b, let c): return a.variables + b.variables + c.variables
        }
    }

    public static func parse(_ text: String) throws(PerlExpressionError) -> PerlExpression {
        var p = Parser(Array(text.unicodeScalars))
        let e = try p.expression()
        p.skip()
        guard p.at >= p.s.count else {
            throw p.error("unexpected \"\(String(String.UnicodeScalarView(p.s[p.at...])))\"")
        }
        return e
    }

    /// A comma-separated list of expressions (`--print '$x, @y, $h{k}'`), each with its text.
    public static func parseList(
        _ text: String
    ) throws(PerlExpressionError) -> [(text: String, expression: PerlExpression)] {
        var p = Parser(Array(text.unicodeScalars))
        var out: [(String, PerlExpression)] = []
        repeat {
            p.skip()
            let start = p.at
            let e = try p.expression()
            out.append((String(String.UnicodeScalarView(p.s[start..<p.at])).trimmingCharacters(in: .whitespaces), e))
            p.skip()
        } while p.eat(",")
        guard p.at >= p.s.count else {
            throw p.error("unexpected \"\(String(String.UnicodeScalarView(p.s[p.at...])))\"")
        }
        return out
    }
}

public struct PerlExpressionError: Error, CustomStringConvertible {
    public let description: String
}

private struct Parser {
    let s: [Unicode.Scalar]
    var at = 0
    /// How deep the tree built so far nests: parsing and evaluating recurse once per level, so an
    /// expression nested thousands deep would overflow the stack instead of getting an answer.
    var depth = 0
    static let maxDepth = 256
    init(_ s: [Unicode.Scalar]) { self.s = s }

    /// One level deeper (`extra` more for a chain of binary operators, which nests to the left).
    mutating func deeper(_ extra: Int = 0) throws(PerlExpressionError) {
        guard depth + extra < Parser.maxDepth else {
            throw error("the expression nests more than \(Parser.maxDepth) levels deep")
        }
        if extra == 0 { depth += 1 }
    }

    func error(_ why: String) -> PerlExpressionError { PerlExpressionError(description: "at column \(at + 1): \(why)") }
    var peek: Unicode.Scalar? { at < s.count ? s[at] : nil }
    mutating func skip() { while let c = peek, c == " " || c == "\t" || c == "\n" { at += 1 } }
    func looking(_ t: String) -> Bool {
        let u = Array(t.unicodeScalars)
        return at + u.count <= s.count && Array(s[at..<at + u.count]) == u
    }
    mutating func eat(_ t: String) -> Bool {
        skip()
        guard looking(t) else { return false }
        // a word operator must end at a word boundary
        if t.unicodeScalars.last.map({ CharacterSet.letters.contains($0) }) == true,
            at + t.unicodeScalars.count < s.count,
            isWord(s[at + t.unicodeScalars.count])
        {
            return false
        }
        at += t.unicodeScalars.count
        return true
    }
    func isWord(_ c: Unicode.Scalar) -> Bool { CharacterSet.alphanumerics.contains(c) || c == "_" }

    mutating func expression() throws(PerlExpressionError) -> PerlExpression {
        try deeper()
        defer { depth -= 1 }
        return try lowOr()
    }

    mutating func lowOr() throws(PerlExpressionError) -> PerlExpression {
        var e = try lowAnd(), chain = 0
        while eat("or") {
            chain += 1
            try deeper(chain)
            e = .binary("||", e, try lowAnd())
        }
        return e
    }
    mutating func lowAnd() throws(PerlExpressionError) -> PerlExpression {
        var e = try lowNot(), chain = 0
        while eat("and") {
            chain += 1
            try deeper(chain)
            e = .binary("&&", e, try lowNot())
        }
        return e
    }
    mutating func lowNot() throws(PerlExpressionError) -> PerlExpression {
        guard eat("not") else { return try conditional() }
        try deeper()
        defer { depth -= 1 }
        return .unary("!", try lowNot())
    }
    mutating func conditional() throws(PerlExpressionError) -> PerlExpression {
        let c = try orOr()
        guard eat("?") else { return c }
        try deeper()
        defer { depth -= 1 }
        let a = try conditional()
        guard eat(":") else { throw error("expected : in ?:") }
        return .conditional(c, a, try conditional())
    }
    mutating func orOr() throws(PerlExpressionError) -> PerlExpression {
        var e = try andAnd(), chain = 0
        while true {
            chain += 1
            try deeper(chain)
            if eat("||") {
                e = .binary("||", e, try andAnd())
            } else if eat("//") {
                e = .binary("//", e, try andAnd())
            } else {
                return e
            }
        }
    }
    mutating func andAnd() throws(PerlExpressionError) -> PerlExpression {
        var e = try equality(), chain = 0
        while eat("&&") {
            chain += 1
            try deeper(chain)
            e = .binary("&&", e, try equality())
        }
        return e
    }
    mutating func equality() throws(PerlExpressionError) -> PerlExpression {
        let e = try relational()
        for op in ["==", "!=", "<=>", "eq", "ne", "cmp"] where eat(op) { return .binary(op, e, try relational()) }
        return e
    }
    mutating func relational() throws(PerlExpressionError) -> PerlExpression {
        let e = try additive()
        for op in ["<=", ">=", "<", ">", "lt", "gt", "le", "ge"] {
            if op == "<", looking("<=>") { continue }
            if eat(op) { return .binary(op, e, try additive()) }
        }
        return e
    }
    mutating func additive() throws(PerlExpressionError) -> PerlExpression {
        var e = try multiplicative(), chain = 0
        while true {
            chain += 1
            try deeper(chain)
            skip()
            if looking("+") {
                at += 1
                e = .binary("+", e, try multiplicative())
            } else if looking("-") {
                at += 1
                e = .binary("-", e, try multiplicative())
            } else if looking("."), !(at + 1 < s.count && s[at + 1].properties.numericType != nil) {
                at += 1
                e = .binary(".", e, try multiplicative())
            } else {
                return e
            }
        }
    }
    mutating func multiplicative() throws(PerlExpressionError) -> PerlExpression {
        var e = try binding(), chain = 0
        while true {
            chain += 1
            try deeper(chain)
            skip()
            if looking("*") {
                at += 1
                e = .binary("*", e, try binding())
            } else if looking("/"), !looking("//") {
                at += 1
                e = .binary("/", e, try binding())
            } else if looking("%") {
                at += 1
                e = .binary("%", e, try binding())
            } else {
                return e
            }
        }
    }
    mutating func binding() throws(PerlExpressionError) -> PerlExpression {
        let e = try unary()
        let negated: Bool
        if eat("=~") { negated = false } else if eat("!~") { negated = true } else { return e }
        skip()
        if looking("m") { at += 1 }
        guard eat("/") else { throw error("expected /regex/ after =~") }
        var pattern = ""
        while let c = peek, c != "/" {
            if c == "\\", at + 1 < s.count {
                pattern.unicodeScalars.append(c)
                at += 1
            }
            pattern.unicodeScalars.append(s[at])
            at += 1
        }
        guard eat("/") else { throw error("unterminated regex") }
        var options: NSRegularExpression.Options = []
        while let c = peek, isWord(c) {
            switch c {
            case "i": options.insert(.caseInsensitive)
            case "m": options.insert(.anchorsMatchLines)
            case "s": options.insert(.dotMatchesLineSeparators)
            case "x": options.insert(.allowCommentsAndWhitespace)
            default: throw error("regex flag \(c) is not supported")
            }
            at += 1
        }
        guard let re = try? NSRegularExpression(pattern: pattern, options: options) else {
            throw error("bad regex /\(pattern)/")
        }
        return .match(e, re, negated: negated)
    }
    mutating func unary() throws(PerlExpressionError) -> PerlExpression {
        if eat("!") { return .unary("!", try operand()) }
        skip()
        if looking("-"), !(at + 1 < s.count && s[at + 1] == "-") {
            at += 1
            return .unary("neg", try operand())
        }
        for f in ["defined", "length", "scalar", "exists", "ref", "abs", "int", "lc", "uc"] where eat(f) {
            return .call(f, try operand())
        }
        return try postfix()
    }
    /// The operand of a prefix operator: a level deeper.
    mutating func operand() throws(PerlExpressionError) -> PerlExpression {
        try deeper()
        defer { depth -= 1 }
        return try unary()
    }
    mutating func postfix() throws(PerlExpressionError) -> PerlExpression {
        var e = try primary(), chain = 0
        while true {
            chain += 1
            try deeper(chain)
            skip()
            if looking("->") {
                at += 2
                skip()
                if looking("[") {
                    e = .element(.derefArray(e), try bracketed("[", "]"))
                } else if looking("{") {
                    e = .member(.derefHash(e), try bracketed("{", "}"))
                } else {
                    throw error("only ->[ ] and ->{ } are supported after ->")
                }
            } else if looking("["), isElementBase(e) {
                e = .element(.derefArray(e), try bracketed("[", "]"))
            } else if looking("{"), isElementBase(e) {
                e = .member(.derefHash(e), try bracketed("{", "}"))
            } else {
                return e
            }
        }
    }
    /// After an element, a further subscript implies an arrow ($h{a}{b}).
    func isElementBase(_ e: PerlExpression) -> Bool {
        if case .element = e { return true }
        if case .member = e { return true }
        return false
    }
    mutating func bracketed(_ open: String, _ close: String) throws(PerlExpressionError) -> PerlExpression {
        guard eat(open) else { throw error("expected \(open)") }
        skip()
        // a bareword hash key: {name}
        if open == "{" {
            let save = at
            var word = ""
            while let c = peek, isWord(c) {
                word.unicodeScalars.append(c)
                at += 1
            }
            if !word.isEmpty, eat(close) { return .string(word) }
            at = save
        }
        let e = try expression()
        guard eat(close) else { throw error("expected \(close)") }
        return e
    }
    mutating func name() throws(PerlExpressionError) -> String {
        var n = ""
        if let c = peek, !isWord(c), c != ":" {
            // punctuation variables: $_, $0, $@, $!, $/ ...
            at += 1
            return String(c)
        }
        while let c = peek, isWord(c) || c == ":" {
            n.unicodeScalars.append(c)
            at += 1
        }
        guard !n.isEmpty else { throw error("expected a variable name") }
        return n
    }
    mutating func primary() throws(PerlExpressionError) -> PerlExpression {
        skip()
        guard let c = peek else { throw error("unexpected end of expression") }
        switch c {
        case "(":
            at += 1
            let e = try expression()
            guard eat(")") else { throw error("expected )") }
            return e
        case "'", "\"":
            at += 1
            var out = ""
            while let d = peek, d != c {
                if d == "\\", at + 1 < s.count {
                    at += 1
                    let e = s[at]
                    if c == "\"" {
                        switch e {
                        case "n": out += "\n"
                        case "t": out += "\t"
                        case "0": out += "\0"
                        default: out.unicodeScalars.append(e)
                        }
                    } else {
                        if e != "'" && e != "\\" { out += "\\" }
                        out.unicodeScalars.append(e)
                    }
                } else {
                    if c == "\"", d == "$" || d == "@" {
                        throw error("interpolation in \"...\" is not supported: use '...' and .")
                    }
                    out.unicodeScalars.append(d)
                }
                at += 1
            }
            guard eat(String(c)) else { throw error("unterminated string") }
            return .string(out)
        case "$":
            at += 1
            if looking("#") {
                at += 1
                if looking("{") {
                    at += 1
                    let e = try expression()
                    guard eat("}") else { throw error("expected }") }
                    return .lastIndex(.derefArray(e))
                }
                if looking("$") {
                    at += 1
                    return .lastIndex(.derefArray(.scalarVar("$" + (try name()))))
                }
                return .lastIndex(.arrayVar("@" + (try name())))
            }
            if looking("$") {
                at += 1
                return .derefScalar(.scalarVar("$" + (try name())))
            }
            if looking("{") {
                at += 1
                let e = try expression()
                guard eat("}") else { throw error("expected }") }
                return .derefScalar(e)
            }
            let n = try name()
            skip()
            if looking("[") { return .element(.arrayVar("@" + n), try bracketed("[", "]")) }
            if looking("{") { return .member(.hashVar("%" + n), try bracketed("{", "}")) }
            return .scalarVar("$" + n)
        case "@":
            at += 1
            if looking("$") {
                at += 1
                return .derefArray(.scalarVar("$" + (try name())))
            }
            if looking("{") {
                at += 1
                let e = try expression()
                guard eat("}") else { throw error("expected }") }
                return .derefArray(e)
            }
            return .arrayVar("@" + (try name()))
        case "%":
            at += 1
            if looking("$") {
                at += 1
                return .derefHash(.scalarVar("$" + (try name())))
            }
            if looking("{") {
                at += 1
                let e = try expression()
                guard eat("}") else { throw error("expected }") }
                return .derefHash(e)
            }
            return .hashVar("%" + (try name()))
        default:
            if c.properties.numericType != nil
                || (c == "." && at + 1 < s.count && s[at + 1].properties.numericType != nil)
            {
                var t = ""
                while let d = peek,
                    d.properties.numericType != nil || d == "." || d == "_" || d == "e" || d == "E" || d == "x"
                        || (("a"..."f").contains(d) && t.hasPrefix("0x"))
                {
                    if d != "_" { t.unicodeScalars.append(d) }
                    at += 1
                    if (d == "e" || d == "E"), let sign = peek, sign == "-" || sign == "+" {
                        t.unicodeScalars.append(sign)
                        at += 1
                    }
                }
                if t.hasPrefix("0x"), let v = UInt64(t.dropFirst(2), radix: 16) { return .number(Double(v)) }
                guard let v = Double(t) else { throw error("bad number \(t)") }
                return .number(v)
            }
            var word = ""
            while let d = peek, isWord(d) {
                word.unicodeScalars.append(d)
                at += 1
            }
            if word == "undef" { return .call("undef", .number(0)) }
            throw error(
                word.isEmpty
                    ? "unexpected \"\(c)\""
                    : "\(word) is not supported here "
                        + "(variables, literals, operators and defined/length/scalar/exists/ref/abs/int/lc/uc)"
            )
        }
    }
}

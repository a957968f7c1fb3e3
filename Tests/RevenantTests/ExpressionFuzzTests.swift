import PerlReplay
import XCTest

/// The expression parser of `--when`, `--print` and `when --perl` takes what the user types: any
/// text gets an expression or one error, never a crash — nesting thousands deep included (it
/// recursed once per level and overflowed the stack).
final class ExpressionFuzzTests: XCTestCase {
    func testDeepNestingIsAnErrorNotACrash() {
        let n = 4000
        let deep = [
            String(repeating: "(", count: n) + "1" + String(repeating: ")", count: n),
            String(repeating: "!", count: n) + "1",
            String(repeating: "- ", count: n) + "1",
            String(repeating: "not ", count: n) + "1",
            String(repeating: "1 + ", count: n) + "1",
            String(repeating: "1 * ", count: n) + "1",
            String(repeating: "1 && ", count: n) + "1",
            String(repeating: "1 || ", count: n) + "1",
            String(repeating: "1 or ", count: n) + "1",
            String(repeating: "1 ? ", count: n) + "1" + String(repeating: " : 0", count: n),
            "$x" + String(repeating: "->[0]", count: n),
            "$h" + String(repeating: "{a}", count: n),
            "$a[" + String(repeating: "$a[", count: n) + "0" + String(repeating: "]", count: n + 1),
            String(repeating: "defined ", count: n) + "$x",
        ]
        for text in deep {
            XCTAssertThrowsError(try PerlExpression.parse(text), String(text.prefix(20))) { e in
                XCTAssertTrue("\(e)".contains("nests more than"), "\(e)")
            }
            XCTAssertThrowsError(try PerlExpression.parseList(text + ", 1"))
        }
        // What people write still parses.
        XCTAssertNoThrow(
            try PerlExpression.parse("$h{a}{b}[1] > 3 && !defined($x) || (1 + 2) * 3 == 9 ? 'y' : 'n'"))
        XCTAssertNoThrow(
            try PerlExpression.parse(
                String(repeating: "(", count: 100) + "1"
                    + String(repeating: ")", count: 100)))
    }

    func testRandomTextNeverCrashes() {
        let pieces = [
            "$", "@", "%", "x", "i", "_", "{", "}", "[", "]", "(", ")", "->", "+", "-", "*", "/", "%",
            ".", "=~", "!~", "/", "m", "'", "\"", "\\", "?", ":", "!", "&&", "||", "//", "and", "or",
            "not", "==", "<=>", "eq", " ",
            "1", "0x", "e", "defined", "scalar", "exists", "ref", ",", "\n", "#", "é", "\u{0}",
        ]
        var rng = SystemRandomNumberGenerator()
        var parsed = 0, refused = 0
        for _ in 0..<Self.count {
            let text = (0..<Int.random(in: 0...40, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }
                .joined()
            if let e = try? PerlExpression.parse(text) {
                _ = e.variables
                parsed += 1
            } else {
                refused += 1
            }
            _ = try? PerlExpression.parseList(text)
        }
        print(
            "[fuzz] \(Self.count) random expressions: \(parsed) parsed, "
                + "\(refused) refused with an error, 0 crashes")
        XCTAssertEqual(parsed + refused, Self.count)
    }
    static let count = 200_000
}

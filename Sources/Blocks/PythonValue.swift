import Engine
import JSON

/// The values blocks pass along, with Python's semantics: the seed's `output.value` is the
/// Python repr of a dict of them, and errors read like Python's last traceback line.
package enum PythonValue: Equatable {
    case int(Int)
    case float(Double)
    case str(String)
    case bool(Bool)
    case none

    /// JSON as blocks exchange it: `"40"` is a str, `40` an int, `40.0` a float.
    package init(_ json: JSON) {
        switch json {
        case let .string(text): self = .str(text)
        case let .bool(flag): self = .bool(flag)
        case let .number(text):
            if let integer = Int(text) { self = .int(integer) } else { self = .float(Double(text) ?? .nan) }
        default: self = .none
        }
    }

    /// Back to JSON for storage; floats keep their point (`5.0`) so they stay floats.
    var json: JSON {
        switch self {
        case let .int(value): return .number(value)
        case let .float(value): return value.isFinite ? .number(PythonValue.floatRepr(value)) : .string(PythonValue.floatRepr(value))
        case let .str(text): return .string(text)
        case let .bool(flag): return .bool(flag)
        case .none: return .null
        }
    }

    var repr: String {
        switch self {
        case let .int(value): return String(value)
        case let .float(value): return PythonValue.floatRepr(value)
        case let .str(text): return PythonValue.stringRepr(text)
        case let .bool(flag): return flag ? "True" : "False"
        case .none: return "None"
        }
    }

    /// `{'output': 70}`: how the seed shows a block's outputs.
    package static func dictRepr(_ items: [(String, PythonValue)]) -> String {
        "{" + items.map { "\(stringRepr($0.0)): \($0.1.repr)" }.joined(separator: ", ") + "}"
    }

    static func floatRepr(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value < 0 ? "-inf" : "inf" }
        // Swift's shortest round-trip digits match Python's repr, and both write 5.0 for 5.
        return String(value)
    }

    static func stringRepr(_ text: String) -> String { PythonRepr.string(text) }
}

/// A Python exception, rendered as its traceback's last line.
package struct PythonError: Error, Equatable {
    let type: String
    let message: String
    package var line: String { "\(type): \(message)" }
}

extension PythonValue {
    /// Python's `int(x)`.
    func toInt() throws(PythonError) -> Int {
        switch self {
        case let .int(value): return value
        case let .bool(flag): return flag ? 1 : 0
        case let .float(value):
            if value.isNaN { throw PythonError(type: "ValueError", message: "cannot convert float NaN to integer") }
            guard value.isFinite else { throw PythonError(type: "OverflowError", message: "cannot convert float infinity to integer") }
            guard let truncated = Int(exactly: value.rounded(.towardZero)) else { throw PythonValue.tooLarge }
            return truncated
        case let .str(text):
            guard let value = PythonValue.parseIntLiteral(text) else {
                throw PythonError(type: "ValueError", message: "invalid literal for int() with base 10: \(PythonValue.stringRepr(text))")
            }
            return value
        case .none:
            throw PythonError(
                type: "TypeError",
                message: "int() argument must be a string, a bytes-like object or a real number, not 'NoneType'")
        }
    }

    /// Flowgate keeps integers in 64 bits; Python would not overflow.
    static let tooLarge = PythonError(type: "OverflowError", message: "integer does not fit in 64 bits")

    /// Surrounding whitespace, an optional sign, digits with single underscores between them.
    static func parseIntLiteral(_ text: String) -> Int? {
        let trimmed = text.unicodeScalars.drop(while: \.properties.isWhitespace)
        var body = String(String.UnicodeScalarView(trimmed))
        while let last = body.unicodeScalars.last, last.properties.isWhitespace { body.unicodeScalars.removeLast() }
        var negative = false
        if body.first == "+" || body.first == "-" {
            negative = body.first == "-"
            body.removeFirst()
        }
        guard let first = body.first, first.isASCII, first.isNumber, body.last != "_", !body.contains("__") else { return nil }
        let digits = body.filter { $0 != "_" }
        guard digits.allSatisfy({ $0.isASCII && $0.isNumber }), let magnitude = Int(digits) else { return nil }
        return negative ? -magnitude : magnitude
    }
}

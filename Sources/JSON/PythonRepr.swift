/// JSON written the way Python's `repr` prints the decoded value. Blocks shows block outputs
/// this way (`{'output': 70}`), and Scale's schema errors read like Python's jsonschema
/// (`'name' is a required property`).
public enum PythonRepr {
    public static func of(_ value: JSON) -> String {
        switch value {
        case .null: return "None"
        case let .bool(flag): return flag ? "True" : "False"
        case let .number(text): return text
        case let .string(text): return string(text)
        case let .array(items): return "[" + items.map(of).joined(separator: ", ") + "]"
        case let .object(members): return "{" + members.map { string($0.0) + ": " + of($0.1) }.joined(separator: ", ") + "}"
        }
    }

    /// Single quotes unless the text has one and no double quote, as Python picks.
    public static func string(_ text: String) -> String {
        let quote: Unicode.Scalar = text.contains("'") && !text.contains("\"") ? "\"" : "'"
        var out = String(quote)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case quote: out += "\\" + String(quote)
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16)
                out += "\\x" + (hex.count < 2 ? "0" : "") + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + String(quote)
    }
}

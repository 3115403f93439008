/// Rows of a statement's result, copied out of libpq (text format) so the PGresult can be freed
/// at once. Columns are addressed by position, as the named statements define them.
public struct QueryResult: Sendable {
    public let columns: [String]
    public let rows: [Row]
    public let affectedRows: Int

    public var first: Row? { rows.first }
    public var isEmpty: Bool { rows.isEmpty }
}

public struct Row: Sendable {
    public let values: [String?]

    public init(values: [String?]) {
        self.values = values
    }

    public subscript(index: Int) -> String? { values[index] }
    public func string(_ index: Int) -> String { values[index] ?? "" }
    public func int(_ index: Int) -> Int? { values[index].flatMap { Int($0) } }
    public func int64(_ index: Int) -> Int64? { values[index].flatMap { Int64($0) } }
    public func double(_ index: Int) -> Double? { values[index].flatMap { Double($0) } }
    public func bool(_ index: Int) -> Bool { values[index] == "t" }
    public func isNull(_ index: Int) -> Bool { values[index] == nil }
}

/// A statement parameter in text format; `nil` is SQL NULL.
public protocol PostgresParameter {
    var postgresText: String? { get }
}

extension String: PostgresParameter { public var postgresText: String? { self } }
extension Int: PostgresParameter { public var postgresText: String? { String(self) } }
extension Int64: PostgresParameter { public var postgresText: String? { String(self) } }
extension Double: PostgresParameter { public var postgresText: String? { String(self) } }
extension Bool: PostgresParameter { public var postgresText: String? { self ? "t" : "f" } }
extension Optional: PostgresParameter where Wrapped: PostgresParameter {
    public var postgresText: String? { self?.postgresText }
}

/// Arrays go as PostgreSQL array literals (`{"a","b"}`), for `= ANY($1::text[])`.
extension Array: PostgresParameter where Element == String {
    public var postgresText: String? {
        var literal = "{"
        for (i, element) in enumerated() {
            if i > 0 { literal += "," }
            literal += "\""
            for character in element {
                if character == "\"" || character == "\\" { literal += "\\" }
                literal.append(character)
            }
            literal += "\""
        }
        return literal + "}"
    }
}

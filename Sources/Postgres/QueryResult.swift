/// Rows of a statement's result, copied out of libpq (text format) so the PGresult can be freed
/// at once. Columns are read by name (checked) or by position.
public struct QueryResult: Sendable {
    public let columns: [String]
    public let rows: [Row]
    public let affectedRows: Int

    public var first: Row? { rows.first }
    public var isEmpty: Bool { rows.isEmpty }
}

public struct Row: Sendable {
    public let values: [String?]
    /// Column name to position, shared by the rows of one result.
    let columns: ColumnIndex

    public init(values: [String?], columns: [String] = []) {
        self.values = values
        self.columns = ColumnIndex(columns)
    }

    init(values: [String?], index: ColumnIndex) {
        self.values = values
        self.columns = index
    }

    public subscript(index: Int) -> String? { values[index] }
    public func string(_ index: Int) -> String { values[index] ?? "" }
    public func int(_ index: Int) -> Int? { values[index].flatMap { Int($0) } }
    public func int64(_ index: Int) -> Int64? { values[index].flatMap { Int64($0) } }
    public func double(_ index: Int) -> Double? { values[index].flatMap { Double($0) } }
    public func bool(_ index: Int) -> Bool { values[index] == "t" }
    public func isNull(_ index: Int) -> Bool { values[index] == nil }
}

final class ColumnIndex: Sendable {
    let positions: [String: Int]

    init(_ names: [String]) {
        // A repeated name keeps its first position, as `SELECT a.x, b.x` reads it in psql.
        positions = Dictionary(names.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
    }
}

/// A row that does not read as its query declares: a column missing, NULL where a value must
/// be, or text that is not of the declared type. A bug or a corrupt row, never a client's fault.
public struct RowReadError: Error, CustomStringConvertible {
    public let column: String
    public let reason: String

    public init(column: String, reason: String) {
        self.column = column
        self.reason = reason
    }
    public var description: String { "column \(column): \(reason)" }
}

/// A column type read from PostgreSQL's text format.
public protocol PostgresValue {
    init?(postgresText: String)
}

extension String: PostgresValue { public init?(postgresText: String) { self = postgresText } }
extension Int: PostgresValue { public init?(postgresText: String) { self.init(postgresText) } }
extension Int64: PostgresValue { public init?(postgresText: String) { self.init(postgresText) } }
extension Double: PostgresValue { public init?(postgresText: String) { self.init(postgresText) } }
extension Bool: PostgresValue {
    public init?(postgresText: String) {
        switch postgresText {
        case "t": self = true
        case "f": self = false
        default: return nil
        }
    }
}

extension Row {
    /// The text in the named column, or nil for SQL NULL; throws when there is no such column.
    public func text(_ column: String) throws(RowReadError) -> String? {
        guard let position = columns.positions[column] else { throw RowReadError(column: column, reason: "not in the result") }
        return values[position]
    }

    /// The named column's value; throws on NULL or text that is not a `T`.
    public func value<T: PostgresValue>(_ column: String, as type: T.Type = T.self) throws(RowReadError) -> T {
        guard let value = try optional(column, as: type) else { throw RowReadError(column: column, reason: "NULL") }
        return value
    }

    /// The named column's value, nil for SQL NULL; throws on text that is not a `T`.
    public func optional<T: PostgresValue>(_ column: String, as type: T.Type = T.self) throws(RowReadError) -> T? {
        guard let text = try text(column) else { return nil }
        guard let value = T(postgresText: text) else { throw RowReadError(column: column, reason: "\(text.prefix(40)) is no \(T.self)") }
        return value
    }
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

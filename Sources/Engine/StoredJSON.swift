import JSON
import Postgres

/// JSON the database sent that does not parse: a corrupt row or a bug, never a client's fault
/// (it answers 500 and is logged), and never silently read as `{}`.
public struct StoredJSONError: Error, CustomStringConvertible {
    public let column: String
    public let reason: String
    public var description: String { "column \(column) holds no valid JSON: \(reason)" }
}

extension Row {
    /// The JSON in column `index`.
    package func json(_ index: Int) throws -> JSON {
        guard let text = self[index] else { throw StoredJSONError(column: "\(index)", reason: "NULL") }
        return try Row.parse(text, column: "\(index)")
    }

    /// The JSON in the named column.
    package func json(_ column: String) throws -> JSON {
        guard let text = try text(column) else { throw StoredJSONError(column: column, reason: "NULL") }
        return try Row.parse(text, column: column)
    }

    /// The JSON in the named column, or nil for SQL NULL.
    package func optionalJSON(_ column: String) throws -> JSON? {
        try text(column).map { try Row.parse($0, column: column) }
    }

    private static func parse(_ text: String, column: String) throws -> JSON {
        do {
            return try JSON.parse(text)
        } catch {
            throw StoredJSONError(column: column, reason: "\(error)")
        }
    }

    /// The JSON in column `index`, or nil for SQL NULL.
    package func optionalJSON(_ index: Int) throws -> JSON? {
        // Not `cond ? nil : …`: JSON is nil-literal-expressible, and that would be JSON.null.
        guard !isNull(index) else { return Optional<JSON>.none }
        return try json(index)
    }
}

extension TaskStatus: PostgresValue, PostgresParameter {
    public init?(postgresText: String) { self.init(rawValue: postgresText) }
    public var postgresText: String? { rawValue }
}

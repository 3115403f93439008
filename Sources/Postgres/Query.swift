/// A named statement with the Swift types of its parameters and how one row of its result
/// reads, in the spirit of postgres-nio's `PostgresPreparedStatement`: a call site cannot pass
/// the wrong number or types of bindings, and a row that does not read as declared throws
/// instead of turning into defaults.
public struct Query<each Parameter: PostgresParameter, Output>: Sendable {
    public let statement: Statement
    let read: @Sendable (Row) throws -> Output

    public var sql: String { statement.sql }

    public init(
        _ name: String, _ sql: String, binding: repeat (each Parameter).Type, plannedPerCall: Bool = false,
        reading read: @escaping @Sendable (Row) throws -> Output
    ) {
        statement = Statement(name, sql, plannedPerCall: plannedPerCall)
        self.read = read
    }
}

extension Query where Output == Void {
    /// A statement whose rows, if any, are not read.
    public init(_ name: String, _ sql: String, binding: repeat (each Parameter).Type) {
        self.init(name, sql, binding: repeat (each Parameter).self) { _ in }
    }
}

extension Connection {
    /// Every row of the result, read as the query declares.
    public func rows<each Parameter: PostgresParameter, Output>(
        _ query: Query<repeat each Parameter, Output>, _ values: repeat each Parameter
    ) throws -> [Output] {
        try execute(query.statement, parameters(repeat each values)).rows.map(query.read)
    }

    /// The first row of the result, or nil when there is none.
    public func first<each Parameter: PostgresParameter, Output>(
        _ query: Query<repeat each Parameter, Output>, _ values: repeat each Parameter
    ) throws -> Output? {
        try execute(query.statement, parameters(repeat each values)).first.map(query.read)
    }

    /// Runs it and returns how many rows it changed.
    @discardableResult
    public func run<each Parameter: PostgresParameter>(
        _ query: Query<repeat each Parameter, Void>, _ values: repeat each Parameter
    ) throws(PostgresError) -> Int {
        try execute(query.statement, parameters(repeat each values)).affectedRows
    }

    private func parameters<each Parameter: PostgresParameter>(_ values: repeat each Parameter) -> [any PostgresParameter] {
        var parameters: [any PostgresParameter] = []
        for value in repeat each values { parameters.append(value) }
        return parameters
    }
}

/// Statements a module runs, listed so that one test can prepare each against the migrated
/// schema: a typo in a rarely taken path fails there, not in production.
package protocol StatementCatalog {
    static var statements: [Statement] { get }
}

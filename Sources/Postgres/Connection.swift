import CLibPQ
import Glibc

/// A named SQL statement. It is prepared once per connection, on first use, under its name.
public struct Statement: Sendable, Hashable {
    public let name: String
    public let sql: String
    /// Planned with its values at every call rather than prepared once. For statements whose
    /// optional filters (`$1 IS NULL OR …`) decide which index serves them: the plan a prepared
    /// statement settles on after five calls cannot use any of those indexes.
    public let plannedPerCall: Bool

    public init(_ name: String, _ sql: String, plannedPerCall: Bool = false) {
        self.name = name
        self.sql = sql
        self.plannedPerCall = plannedPerCall
    }
}

/// One libpq connection. Not thread-safe by design: each worker or runner thread opens its own
/// and keeps it to itself, so no locking is needed anywhere in this layer.
public final class Connection {
    private var handle: OpaquePointer?
    private var prepared: Set<String> = []
    private let conninfo: String
    public private(set) var inTransaction = false

    /// Opens a connection. `conninfo` is a libpq keyword string or a `postgresql://` URL.
    public init(conninfo: String) throws(PostgresError) {
        self.conninfo = conninfo
        try connect()
    }

    /// A connection that opens on the first `reconnectIfNeeded()`, so that a worker can start
    /// while the database is down and answer 503s until it is back.
    public init(connectingLater conninfo: String) {
        self.conninfo = conninfo
    }

    deinit { close() }

    private func connect() throws(PostgresError) {
        let connection = PQconnectdb(conninfo)
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = connection.map { String(cString: PQerrorMessage($0)) } ?? "out of memory"
            PQfinish(connection)
            throw PostgresError(sqlState: nil, message: Connection.trimmed(message), connectionLost: true)
        }
        // libpq would print NOTICEs ("… already exists, skipping") on stderr, outside our log
        // format; nothing Flowgate runs relies on them.
        PQsetNoticeProcessor(connection, { _, _ in }, nil)
        handle = connection
        prepared = []
        inTransaction = false
    }

    public func close() {
        if let handle { PQfinish(handle) }
        handle = nil
    }

    /// False once the server went away; `reconnectIfNeeded` then opens a fresh connection.
    public var isHealthy: Bool { handle.map { PQstatus($0) == CONNECTION_OK } ?? false }

    /// Reconnects when the server went away. An idle connection has nothing to read unless the
    /// server closed it (restart, admin shutdown), so a zero-timeout poll finds that out without
    /// a round trip, and the request is served on a fresh connection instead of failing.
    public func reconnectIfNeeded() throws(PostgresError) {
        if let handle, !inTransaction {
            // The server's FATAL message and the EOF behind it can take more than one read.
            var descriptor = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
            var reads = 0
            while reads < 4, PQstatus(handle) == CONNECTION_OK, poll(&descriptor, 1, 0) > 0 {
                if PQconsumeInput(handle) == 0 { break }
                reads += 1
            }
        }
        if isHealthy { return }
        close()
        try connect()
    }

    /// Prepares a named statement on this connection unless it already is: the server parses
    /// and plans it, so unknown columns and type errors show here.
    public func prepare(_ statement: Statement) throws(PostgresError) {
        guard !prepared.contains(statement.name) else { return }
        let connection = try liveHandle()
        _ = try consume(PQprepare(connection, statement.name, statement.sql, 0, nil), connection: connection)
        prepared.insert(statement.name)
    }

    /// Runs a named statement with text parameters, preparing it on first use.
    @discardableResult
    public func execute(_ statement: Statement, _ parameters: [any PostgresParameter] = []) throws(PostgresError) -> QueryResult {
        if statement.plannedPerCall { return try execute(sql: statement.sql, parameters) }
        try prepare(statement)
        let connection = try liveHandle()
        let texts = parameters.map { $0.postgresText }
        let result = Connection.withCStrings(texts) { pointers in
            PQexecPrepared(connection, statement.name, Int32(pointers.count), pointers, nil, nil, 0)
        }
        return try consume(result, connection: connection)
    }

    /// Runs SQL that is assembled from fixed fragments (an ORDER BY chosen from a whitelist) with
    /// text parameters, unprepared: preparing every combination would grow without bound.
    @discardableResult
    public func execute(sql: String, _ parameters: [any PostgresParameter] = []) throws(PostgresError) -> QueryResult {
        let connection = try liveHandle()
        let texts = parameters.map { $0.postgresText }
        let result = Connection.withCStrings(texts) { pointers in
            PQexecParams(connection, sql, Int32(pointers.count), nil, pointers, nil, nil, 0)
        }
        return try consume(result, connection: connection)
    }

    /// Runs one or more statements without parameters (migrations, BEGIN/COMMIT, LISTEN).
    @discardableResult
    public func run(_ sql: String) throws(PostgresError) -> QueryResult {
        let connection = try liveHandle()
        return try consume(PQexec(connection, sql), connection: connection)
    }

    /// Runs `body` in a transaction. Serialization failures and deadlocks roll back and run it
    /// again, up to `retries` more times; any other error rolls back and is rethrown.
    @discardableResult
    public func transaction<T>(
        retries: Int = 3, isolation: String = "READ COMMITTED",
        _ body: (Connection) throws -> T
    ) throws -> T {
        var attempt = 0
        while true {
            do {
                try run("BEGIN ISOLATION LEVEL \(isolation)")
                inTransaction = true
                let value = try body(self)
                try run("COMMIT")
                inTransaction = false
                return value
            } catch let error as PostgresError {
                rollbackQuietly()
                if error.isRetryable, attempt < retries {
                    attempt += 1
                    usleep(UInt32.random(in: 1_000...(5_000 * UInt32(attempt))))
                    continue
                }
                throw error
            } catch {
                rollbackQuietly()
                throw error
            }
        }
    }

    private func rollbackQuietly() {
        if inTransaction, isHealthy { _ = try? run("ROLLBACK") }
        inTransaction = false
    }

    // MARK: LISTEN/NOTIFY

    /// The socket to `poll` while waiting for notifications.
    public var socket: Int32 { handle.map { PQsocket($0) } ?? -1 }

    /// Reads what arrived on the socket and returns the notifications since the last call, in
    /// the order their transactions committed.
    @discardableResult
    public func drainNotifications() throws(PostgresError) -> [PostgresNotification] {
        let connection = try liveHandle()
        guard PQconsumeInput(connection) == 1 else {
            throw PostgresError(
                sqlState: nil, message: Connection.trimmed(String(cString: PQerrorMessage(connection))),
                connectionLost: true)
        }
        var notifications: [PostgresNotification] = []
        while let notification = PQnotifies(connection) {
            notifications.append(
                PostgresNotification(
                    channel: String(cString: notification.pointee.relname), payload: String(cString: notification.pointee.extra)))
            PQfreemem(notification)
        }
        return notifications
    }

    // MARK: Internals

    private func liveHandle() throws(PostgresError) -> OpaquePointer {
        guard let handle, PQstatus(handle) == CONNECTION_OK else {
            throw PostgresError(sqlState: nil, message: "connection to the database is not open", connectionLost: true)
        }
        return handle
    }

    private func consume(_ result: OpaquePointer?, connection: OpaquePointer) throws(PostgresError) -> QueryResult {
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        switch status {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return Connection.copy(result)
        default:
            throw error(from: result, connection: connection)
        }
    }

    private func error(from result: OpaquePointer?, connection: OpaquePointer) -> PostgresError {
        func field(_ code: Int32) -> String? {
            guard let result, let value = PQresultErrorField(result, code) else { return nil }
            return String(cString: value)
        }
        let lost = PQstatus(connection) != CONNECTION_OK
        let message = field(Int32(UInt8(ascii: "M"))) ?? Connection.trimmed(String(cString: PQerrorMessage(connection)))
        return PostgresError(
            sqlState: field(Int32(UInt8(ascii: "C"))), message: message,
            detail: field(Int32(UInt8(ascii: "D"))), constraint: field(Int32(UInt8(ascii: "n"))),
            connectionLost: lost)
    }

    private static func copy(_ result: OpaquePointer?) -> QueryResult {
        guard let result else { return QueryResult(columns: [], rows: [], affectedRows: 0) }
        let rowCount = Int(PQntuples(result))
        let columnCount = Int(PQnfields(result))
        let columns = (0..<columnCount).map { String(cString: PQfname(result, Int32($0))) }
        let index = ColumnIndex(columns)
        var rows: [Row] = []
        rows.reserveCapacity(rowCount)
        for r in 0..<rowCount {
            var values: [String?] = []
            values.reserveCapacity(columnCount)
            for c in 0..<columnCount {
                if PQgetisnull(result, Int32(r), Int32(c)) == 1 {
                    values.append(nil)
                } else {
                    values.append(String(cString: PQgetvalue(result, Int32(r), Int32(c))))
                }
            }
            rows.append(Row(values: values, index: index))
        }
        let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
        return QueryResult(columns: columns, rows: rows, affectedRows: affected)
    }

    private static func withCStrings<R>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
        let owned = strings.map { $0.map { strdup($0) } ?? nil }
        defer { owned.forEach { free($0) } }
        return body(owned.map { UnsafePointer($0) })
    }

    private static func trimmed(_ message: String) -> String {
        var text = message
        while text.last == "\n" || text.last == " " { text.removeLast() }
        return text
    }
}

import CLibPQ
import CoreMetrics
import Glibc
import Logging

/// A named SQL statement. It is prepared once per connection, on first use, under its name.
public struct Statement: Sendable, Hashable {
    public let name: String
    public let sql: String
    /// Planned with its values at every call rather than prepared once. For statements whose
    /// optional filters (`$1 IS NULL OR …`) decide which index serves them: the plan a prepared
    /// statement settles on after five calls cannot use any of those indexes.
    public let plannedPerCall: Bool
    /// Reads and writes nothing (`Statement.readsOnly`): safe to run again after a lost connection.
    public let readsOnly: Bool

    public init(_ name: String, _ sql: String, plannedPerCall: Bool = false) {
        self.name = name
        self.sql = sql
        self.plannedPerCall = plannedPerCall
        readsOnly = Statement.readsOnly(sql)
    }

    /// Words that make a statement write, lock, notify or call a function that writes. A
    /// statement is read-only when it starts with SELECT or WITH and has none of them as a word;
    /// a false "writes" only costs a retry, so the list errs that way.
    static let writingWords: Set<String> = [
        "insert", "update", "delete", "merge", "truncate", "into", "nextval", "setval", "lock", "notify", "listen", "unlisten",
        "copy", "call", "do", "record_job_events", "job_events_ensure_partitions", "pg_notify", "set_config",
        "pg_advisory_lock", "pg_advisory_xact_lock", "pg_try_advisory_lock", "pg_try_advisory_xact_lock", "pg_terminate_backend",
        "pg_cancel_backend", "lo_import", "lo_export", "lo_create", "lo_unlink",
    ]

    /// Byte by byte: SQL assembled per request (the searches) is classed on every call, and
    /// Character-wise splitting cost a job-types page 7 % of its CPU (1.7 % after). Words are
    /// ASCII letters, digits and `_`; any other byte separates them, which can only find a
    /// writing word more often than letters of every script would.
    public static func readsOnly(_ sql: String) -> Bool {
        var sawFirst = false
        var word: [UInt8] = []
        word.reserveCapacity(32)
        /// Ends the word read so far; false when it shows that the statement may write.
        func endWord() -> Bool {
            guard !word.isEmpty else { return true }
            defer { word.removeAll(keepingCapacity: true) }
            let text = String(decoding: word, as: UTF8.self)
            if sawFirst { return !writingWords.contains(text) }
            sawFirst = true
            return text == "select" || text == "with"
        }
        for byte in sql.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"): word.append(byte)
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): word.append(byte + 32)
            default: guard endWord() else { return false }
            }
        }
        return endWord() && sawFirst
    }
}

/// One libpq connection. Not thread-safe by design: each worker or runner thread opens its own
/// and keeps it to itself, so no locking is needed anywhere in this layer.
public final class Connection {
    private var handle: OpaquePointer?
    private var prepared: Set<String> = []
    private let conninfo: String
    public private(set) var inTransaction = false
    /// Whether the open transaction ran a statement that may write (so it has something to lose
    /// if its COMMIT goes unanswered).
    private var transactionMayWrite = false
    /// Statements run again after every reconnect (a LISTEN), so the session survives them.
    private var setUp: [String] = []
    /// How long a call waits, reconnecting with backoff, for a database that went away (a killed
    /// backend, a restart) before it fails; its transaction then runs again on the new connection.
    public var patience = Connection.defaultPatience
    /// `patience` of new connections: set once at start-up, before any thread opens one.
    public nonisolated(unsafe) static var defaultPatience = 5.0
    /// Where reconnects and retries are told; a request hands its own down (its id).
    public var logger = Connection.logger
    public static let logger = Logger(label: "flowgate.postgres")
    /// Set once a connection was open: a later connect is a reconnect.
    private var wasConnected = false

    /// Counted faults, by the names README lists.
    enum Faults {
        static let reconnects = Counter(label: "flowgate_database_reconnects_total")
        static let conflictRetries = Counter(label: "flowgate_database_transaction_retries_total", dimensions: [("cause", "conflict")])
        static let connectionRetries = Counter(
            label: "flowgate_database_transaction_retries_total", dimensions: [("cause", "connection")])
        static let readRetries = Counter(label: "flowgate_database_read_retries_total")
        /// Made with the first connection, so that a scrape shows them at 0 before any fault.
        static let declared: Void = _ = (reconnects, conflictRetries, connectionRetries, readRetries)
    }

    /// Opens a connection. `conninfo` is a libpq keyword string or a `postgresql://` URL.
    public init(conninfo: String) throws(PostgresError) {
        self.conninfo = conninfo
        Faults.declared
        try connect()
    }

    /// A connection that opens on the first `reconnectIfNeeded()`, so that a worker can start
    /// while the database is down and answer 503s until it is back.
    public init(connectingLater conninfo: String) {
        self.conninfo = conninfo
        Faults.declared
    }

    deinit { close() }

    /// Runs `sql` now and again after every reconnect.
    public func keep(_ sql: String) throws(PostgresError) {
        try run(sql)
        setUp.append(sql)
    }

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
        wasConnected = true
        prepared = []
        inTransaction = false
        for sql in setUp { try runOnce(sql) }
    }

    /// Connects again, retrying with backoff until `deadline` (a `Connection.now()` value).
    private func reconnect(until deadline: UInt64) throws(PostgresError) {
        var pause: UInt64 = 20_000_000
        while true {
            close()
            do {
                let reopening = wasConnected
                try connect()
                if reopening {
                    Faults.reconnects.increment()
                    logger.info("database connection reopened")
                }
                return
            } catch {
                guard Connection.now() + pause < deadline else { throw error }
                usleep(UInt32(pause / 1000))
                pause = min(pause * 2, 500_000_000)
            }
        }
    }

    /// A monotonic clock in nanoseconds.
    static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    private func deadline() -> UInt64 { Connection.now() + UInt64(max(0, patience) * 1e9) }

    public func close() {
        if let handle { PQfinish(handle) }
        handle = nil
    }

    /// False once the server went away; `reconnectIfNeeded` then opens a fresh connection.
    public var isHealthy: Bool { handle.map { PQstatus($0) == CONNECTION_OK } ?? false }

    /// Reconnects when the server went away. An idle connection has nothing to read unless the
    /// server closed it (restart, admin shutdown), so a zero-timeout poll finds that out without
    /// a round trip, and the request is served on a fresh connection instead of failing. A
    /// patient call waits for a restarting server (see `patience`); an impatient one tries once.
    public func reconnectIfNeeded(patiently: Bool = true) throws(PostgresError) {
        try reconnectIfNeeded(until: patiently ? deadline() : 0)
    }

    private func reconnectIfNeeded(until deadline: UInt64) throws(PostgresError) {
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
        try reconnect(until: deadline)
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
        try atomically(statement.readsOnly) { () throws(PostgresError) in
            statement.plannedPerCall ? try executeOnce(sql: statement.sql, parameters) : try executeOnce(statement, parameters)
        }
    }

    private func executeOnce(_ statement: Statement, _ parameters: [any PostgresParameter]) throws(PostgresError) -> QueryResult {
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
        try atomically(Statement.readsOnly(sql)) { () throws(PostgresError) in try executeOnce(sql: sql, parameters) }
    }

    private func executeOnce(sql: String, _ parameters: [any PostgresParameter]) throws(PostgresError) -> QueryResult {
        let connection = try liveHandle()
        let texts = parameters.map { $0.postgresText }
        let result = Connection.withCStrings(texts) { pointers in
            PQexecParams(connection, sql, Int32(pointers.count), nil, pointers, nil, nil, 0)
        }
        return try consume(result, connection: connection)
    }

    /// Runs one or more statements without parameters (migrations, LISTEN, DDL that may not run
    /// in a transaction block) as they are: only a read-only one is run again after a lost
    /// connection.
    @discardableResult
    public func run(_ sql: String) throws(PostgresError) -> QueryResult {
        try retryingIfReadOnly(Statement.readsOnly(sql)) { () throws(PostgresError) in try runOnce(sql) }
    }

    private func runOnce(_ sql: String) throws(PostgresError) -> QueryResult {
        let connection = try liveHandle()
        return try consume(PQexec(connection, sql), connection: connection)
    }

    /// Runs a statement that may write outside a transaction as a transaction of its own, so a
    /// lost connection costs a retry and never leaves the write in doubt (see `transaction`).
    private func atomically(_ readsOnly: Bool, _ call: () throws(PostgresError) -> QueryResult) throws(PostgresError) -> QueryResult {
        guard !readsOnly, !inTransaction else { return try retryingIfReadOnly(readsOnly, call) }
        do {
            return try transaction { _ in try retryingIfReadOnly(false, call) }
        } catch let error as PostgresError {
            throw error
        } catch {
            throw PostgresError(sqlState: nil, message: "\(error)")
        }
    }

    /// Runs a statement; outside a transaction, a read-only one whose connection was lost runs
    /// again on a new connection (twice at most). Inside one, it notes whether the transaction
    /// may write.
    private func retryingIfReadOnly(
        _ readsOnly: Bool, _ call: () throws(PostgresError) -> QueryResult
    ) throws(PostgresError) -> QueryResult {
        if inTransaction {
            if !readsOnly { transactionMayWrite = true }
            return try call()
        }
        var until: UInt64?
        var attempt = 0
        while true {
            do {
                return try call()
            } catch {
                guard readsOnly, error.connectionLost, attempt < 2 else { throw error }
                attempt += 1
                Faults.readRetries.increment()
                logger.info("read runs again after a lost connection", metadata: ["error": "\(error.message)"])
                until = until ?? deadline()
                try reconnect(until: until ?? 0)
            }
        }
    }

    /// Runs `body` in a transaction. Serialization failures and deadlocks roll back and run it
    /// again, up to `retries` more times, and so does a connection lost before COMMIT (on a new
    /// connection, waiting up to `patience` for the server). A connection lost during COMMIT is
    /// settled by asking the server what became of the transaction id: committed is success,
    /// aborted runs it again, and only a server that does not answer leaves it unknown
    /// (`commitUncertain`). Any other error rolls back and is rethrown. Called inside a
    /// transaction, `body` joins it: the outer call's retries cover both.
    @discardableResult
    public func transaction<T>(
        retries: Int = 3, isolation: String = "READ COMMITTED",
        _ body: (Connection) throws -> T
    ) throws -> T {
        if inTransaction { return try body(self) }
        let until = deadline()
        var attempt = 0
        while true {
            do {
                try reconnectIfNeeded(until: until)
                try runOnce("BEGIN ISOLATION LEVEL \(isolation)")
                inTransaction = true
                transactionMayWrite = false
                let value = try body(self)
                try commit(until: until)
                return value
            } catch let error as PostgresError {
                rollbackQuietly()
                guard error.isRetryable || (error.connectionLost && !error.commitUncertain), attempt < retries else { throw error }
                attempt += 1
                (error.isRetryable ? Faults.conflictRetries : Faults.connectionRetries).increment()
                logger.info(
                    "transaction runs again", metadata: ["attempt": "\(attempt + 1)", "sqlstate": "\(error.sqlState ?? "-")"])
                if error.isRetryable { usleep(UInt32.random(in: 1_000...(5_000 * UInt32(attempt)))) }
            } catch {
                rollbackQuietly()
                throw error
            }
        }
    }

    /// COMMIT, and if its answer is lost, what became of the transaction. A transaction that
    /// may have written reads its id first (one round trip; read-only ones have nothing to lose).
    private func commit(until deadline: UInt64) throws(PostgresError) {
        let id = transactionMayWrite ? try runOnce("SELECT pg_current_xact_id_if_assigned()::text").first?.values[0] : nil
        do {
            try runOnce("COMMIT")
            inTransaction = false
        } catch {
            inTransaction = false
            guard error.connectionLost, let id else { throw error }
            if try committed(id, until: deadline) { return }
            throw error
        }
    }

    /// Whether transaction `id` committed (true) or aborted (false), asked on a new connection;
    /// `commitUncertain` when the server does not say by `deadline`.
    private func committed(_ id: String, until deadline: UInt64) throws(PostgresError) -> Bool {
        let uncertain = PostgresError(
            sqlState: nil, message: "the connection was lost during COMMIT; whether the transaction committed is unknown",
            connectionLost: true, commitUncertain: true)
        while true {
            do {
                try reconnectIfNeeded(until: deadline)
                let status = try executeOnce(sql: "SELECT pg_xact_status($1::xid8)", [id]).first?.values[0]
                if status == "committed" { return true }
                if status == "aborted" { return false }
            } catch {
                guard Connection.now() < deadline else { throw uncertain }
            }
            // In progress: the backend that lost us has not finished dying yet.
            guard Connection.now() + 10_000_000 < deadline else { throw uncertain }
            usleep(10_000)
        }
    }

    private func rollbackQuietly() {
        if inTransaction, isHealthy { _ = try? runOnce("ROLLBACK") }
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
            let error = error(from: result, connection: connection)
            // A session the server ended is not used again: the next call reconnects.
            if error.connectionLost { close() }
            throw error
        }
    }

    private func error(from result: OpaquePointer?, connection: OpaquePointer) -> PostgresError {
        func field(_ code: Int32) -> String? {
            guard let result, let value = PQresultErrorField(result, code) else { return nil }
            return String(cString: value)
        }
        let sqlState = field(Int32(UInt8(ascii: "C")))
        // A terminated backend's FATAL (57P01 and kin, class 08) arrives before libpq has seen
        // the connection close: it is lost all the same.
        let lost = PQstatus(connection) != CONNECTION_OK || sqlState.map(Connection.endsTheSession) ?? false
        let message = field(Int32(UInt8(ascii: "M"))) ?? Connection.trimmed(String(cString: PQerrorMessage(connection)))
        return PostgresError(
            sqlState: sqlState, message: message,
            detail: field(Int32(UInt8(ascii: "D"))), constraint: field(Int32(UInt8(ascii: "n"))),
            connectionLost: lost)
    }

    /// SQLSTATEs after which the server closes the session: admin shutdown (a terminated
    /// backend, a fast shutdown), crash shutdown, cannot connect now, and connection exceptions.
    package static func endsTheSession(_ sqlState: String) -> Bool {
        ["57P01", "57P02", "57P03"].contains(sqlState) || sqlState.hasPrefix("08")
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

import Postgres

/// The engine as one thread sees it: a private PostgreSQL connection and the core's services
/// that use it (each vendor's domain module adds its own, in an extension). A FastCGI worker or
/// runner thread creates one and never shares it.
public final class Session {
    public let connection: Connection
    public let accounts: Accounts
    public let jobs: Jobs
    public let files: Files
    /// How each surface's jobs move on, for services that finish tasks.
    public let surfaces: SurfaceRegistry

    /// Connects now (CLI commands, tests).
    public convenience init(conninfo: String, surfaces: SurfaceRegistry = SurfaceRegistry([])) throws {
        self.init(try Connection(conninfo: conninfo), surfaces: surfaces)
    }

    /// Connects before its first request (FastCGI workers, which must start without the database).
    public convenience init(connectingLater conninfo: String, surfaces: SurfaceRegistry) {
        self.init(Connection(connectingLater: conninfo), surfaces: surfaces)
    }

    init(_ connection: Connection, surfaces: SurfaceRegistry) {
        self.connection = connection
        self.surfaces = surfaces
        accounts = Accounts(connection)
        jobs = Jobs(connection: connection, surfaces: surfaces)
        files = Files(connection: connection)
    }

    /// Reopens the connection if the server went away since the last request.
    public func reconnectIfNeeded() throws {
        try connection.reconnectIfNeeded()
    }

    private var lastDatabaseContact: UInt64 = 0
    private static let ping = Query("ping", "SELECT 1")

    /// True when the database answered within the last second, or answers now. Caching keeps
    /// the health route from costing a round trip per request.
    public func databaseIsReachable(now: UInt64) -> Bool {
        if now &- lastDatabaseContact < 1_000_000_000, connection.isHealthy { return true }
        do {
            try connection.reconnectIfNeeded(patiently: false)
            try connection.run(Session.ping)
            lastDatabaseContact = now
            return true
        } catch {
            return false
        }
    }
}

extension Session: StatementCatalog {
    package static var statements: [Statement] { [ping.statement] }
}

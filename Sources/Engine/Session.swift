import Postgres

/// The engine as one thread sees it: a private PostgreSQL connection and the services that use
/// it. A FastCGI worker or runner thread creates one and never shares it.
public final class Session {
    public let connection: Connection
    public let accounts: Accounts
    public let jobs: Jobs
    public let files: Files
    public let workspaces: Workspaces
    public let jobTypes: JobTypes
    public let scaleJobs: ScaleJobs
    public let scaleCounts: ScaleCounts
    public let workflowItems: WorkflowItems
    public let stepJobs: StepJobs
    public let community: Community
    public let itentialWorkflows: ItentialWorkflows
    public let itentialJobs: ItentialJobs
    public let itentialManualTasks: ItentialManualTasks

    /// Connects now (CLI commands, tests).
    public convenience init(conninfo: String, flows: FlowRegistry = FlowRegistry([:])) throws {
        self.init(try Connection(conninfo: conninfo), flows: flows)
    }

    /// Connects before its first request (FastCGI workers, which must start without the database).
    public convenience init(connectingLater conninfo: String, flows: FlowRegistry) {
        self.init(Connection(connectingLater: conninfo), flows: flows)
    }

    init(_ connection: Connection, flows: FlowRegistry) {
        self.connection = connection
        accounts = Accounts(connection)
        jobs = Jobs(connection: connection, flows: flows)
        files = Files(connection: connection)
        workspaces = Workspaces(connection: connection)
        jobTypes = JobTypes(connection: connection)
        scaleJobs = ScaleJobs(connection: connection, jobs: jobs)
        scaleCounts = ScaleCounts(connection: connection)
        workflowItems = WorkflowItems(connection: connection)
        stepJobs = StepJobs(connection: connection, items: workflowItems)
        community = Community(connection: connection)
        itentialWorkflows = ItentialWorkflows(connection: connection)
        itentialJobs = ItentialJobs(connection: connection, jobs: jobs)
        itentialManualTasks = ItentialManualTasks(connection: connection, flows: flows)
    }

    /// Reopens the connection if the server went away since the last request.
    public func reconnectIfNeeded() throws {
        try connection.reconnectIfNeeded()
    }

    private var lastDatabaseContact: UInt64 = 0
    private static let ping = Statement("ping", "SELECT 1")

    /// True when the database answered within the last second, or answers now. Caching keeps
    /// the health route from costing a round trip per request.
    public func databaseIsReachable(now: UInt64) -> Bool {
        if now &- lastDatabaseContact < 1_000_000_000, connection.isHealthy { return true }
        do {
            try connection.reconnectIfNeeded()
            try connection.execute(Session.ping)
            lastDatabaseContact = now
            return true
        } catch {
            return false
        }
    }
}

import Postgres

/// The state of the work, as the metrics route reads it at each scrape: jobs per surface and
/// status, and the runners' ready queue. Every instance sees the same numbers (they come from
/// the database).
public struct WorkGauges: Sendable {
    public struct JobCount: Sendable, Hashable {
        public let surface: String
        public let status: String
        public let count: Int
    }

    public let jobs: [JobCount]
    public let queue: RunnerQueue

    public static func read(_ connection: Connection) throws -> WorkGauges {
        WorkGauges(jobs: try connection.rows(jobCounts), queue: try RunnerQueue.read(connection))
    }

    static let jobCounts = Query(
        "work_gauges_jobs", "SELECT surface, status, count(*) AS jobs FROM jobs GROUP BY surface, status",
        reading: { row in
            JobCount(
                surface: try row.value("surface", as: String.self), status: try row.value("status", as: String.self),
                count: try row.value("jobs", as: Int.self))
        })
}

/// How the runners keep up: the automatic tasks a runner may
/// take now and how long the oldest has waited, and the running tasks whose lease lapsed more
/// than `grace` ago and that no runner took over (a lease that just lapsed is taken over at
/// the next poll).
public struct RunnerQueue: Sendable {
    public let readyTasks: Int
    public let oldestReadySeconds: Double
    public let abandonedTasks: Int

    public static let grace = 60.0

    /// Keeping up: nothing waited or lay abandoned longer than `grace`.
    public var keepsUp: Bool { oldestReadySeconds <= Self.grace && abandonedTasks == 0 }

    public static func read(_ connection: Connection) throws -> RunnerQueue {
        try connection.first(query, grace) ?? RunnerQueue(readyTasks: 0, oldestReadySeconds: 0, abandonedTasks: 0)
    }

    static let query = Query(
        "runner_queue",
        """
        SELECT ready.count AS ready, coalesce(extract(epoch FROM now() - ready.oldest), 0)::float8 AS oldest,
               (SELECT count(*) FROM tasks WHERE automatic AND status = 'running'
                  AND lease_expires_at < now() - make_interval(secs => $1)) AS abandoned
        FROM (SELECT count(*), min(ready_at) AS oldest FROM tasks WHERE automatic AND status = 'ready' AND ready_at <= now()) ready
        """, binding: Double.self,
        reading: { row in
            RunnerQueue(
                readyTasks: try row.value("ready", as: Int.self), oldestReadySeconds: try row.value("oldest", as: Double.self),
                abandonedTasks: try row.value("abandoned", as: Int.self))
        })
}

extension WorkGauges: StatementCatalog {
    package static var statements: [Statement] { [jobCounts.statement, RunnerQueue.query.statement] }
}

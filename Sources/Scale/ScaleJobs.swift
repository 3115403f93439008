import Engine
import JSON
import Postgres

/// A Scale error (built-in, or declared by a job type's manifest).
public struct ErrorRecord: Sendable {
    public let id: Int64
    public let name: String
    public let title: String?
    public let description: String?
    public let jobTypeName: String?
    public let category: String
    public let isBuiltin: Bool
    public let shouldBeRetried: Bool
    public let created: String
    public let lastModified: String
}

/// A job of a job type, as Scale shows it.
public struct ScaleJobRecord: Sendable {
    public let id: Int
    public let jobType: JobTypeRecord
    public let status: String
    public let input: JSON
    public let created: String
    public let queued: String?
    public let started: String?
    public let ended: String?
    public let lastStatusChange: String
    public let error: ErrorRecord?
}

public struct ScaleJobFilter: Sendable {
    public var statuses: [String] = []
    public var jobTypeIds: [Int64] = []
    public var jobTypeNames: [String] = []
    /// ISO-8601 bounds on `last_status_change`.
    public var started: String?
    public var ended: String?

    public init() {}
}

/// Jobs of job types in the shared jobs table: queued by a client, claimed and reported on by
/// workers, counted by the status routes. Every status change goes through `StateMachine`.
public struct ScaleJobs {
    let connection: Connection
    let jobs: Jobs

    public func queue(jobTypeId: Int64, input: JSON, by user: User) throws -> Int {
        guard let jobType = try connection.first(ScaleJobQueries.jobTypeState, jobTypeId) else {
            throw EngineError(.notFound, "Job type \(jobTypeId) does not exist")
        }
        guard jobType.isActive else { throw EngineError(.invalid, "Job type \(jobTypeId) is deprecated") }
        guard !jobType.isPaused else { throw EngineError(.invalid, "Job type \(jobTypeId) is paused") }
        // One transaction: the job and its queue time (jobs.create joins it).
        return try connection.transaction { tx in
            let job = try jobs.create(
                NewJob(
                    surface: .scale, name: jobType.name, status: "QUEUED", owner: user, jobTypeId: jobTypeId,
                    document: ["input": input], tasks: []), actor: .user(user))
            try tx.run(ScaleJobQueries.markQueued, job.id)
            return Int(job.publicId) ?? 0
        }
    }

    public func find(id: Int) throws -> ScaleJobRecord? {
        try connection.first(ScaleJobQueries.byId, String(id))
    }

    /// Newest status change first.
    public func list(_ filter: ScaleJobFilter, limit: Int, offset: Int) throws -> (count: Int, items: [ScaleJobRecord]) {
        let rows = try connection.rows(
            ScaleJobQueries.list, filter.statuses.isEmpty ? nil : filter.statuses,
            filter.jobTypeIds.isEmpty ? nil : "{" + filter.jobTypeIds.map(String.init).joined(separator: ",") + "}",
            filter.jobTypeNames.isEmpty ? nil : filter.jobTypeNames, filter.started, filter.ended, limit, offset)
        return (rows.first?.total ?? 0, rows.map(\.job))
    }

    /// Moves a job to `status` (cancel, requeue, a worker's report), with an error name on FAILED;
    /// `from`, when given, is the only statuses it may leave.
    @discardableResult
    public func move(id: Int, to status: String, from: Set<String>? = nil, errorName: String? = nil, actor: Actor) throws
        -> ScaleJobRecord
    {
        try connection.transaction { tx in
            let machine = StateMachine(tx, surfaces: jobs.surfaces)
            /// The job as the move left it.
            func current() throws -> ScaleJobRecord {
                guard let record = try tx.first(ScaleJobQueries.byId, String(id)) else {
                    throw EngineError(.notFound, "Job \(id) does not exist")
                }
                return record
            }
            guard let jobId = try tx.first(ScaleJobQueries.internalId, String(id)),
                let job = try machine.lockJob(id: jobId)
            else { throw EngineError(.notFound, "Job \(id) does not exist") }
            if let from, !from.contains(job.status) {
                throw EngineError(.conflict, "Job \(id) cannot go from \(job.status) to \(status)")
            }
            if status == "RUNNING", job.status == "RUNNING" {
                // A running worker's heartbeat: its claim lasts another timeout, with no history row.
                try tx.run(ScaleJobQueries.renewClaim, jobId)
                return try current()
            }
            var errorId: Int64?
            if status == "FAILED" {
                guard let name = errorName, let found = try tx.first(ScaleJobQueries.errorByName, jobId, name) else {
                    throw EngineError(.invalid, "Unknown error name \(errorName ?? "(none)") for this job type")
                }
                errorId = found
            }
            try machine.changeJobStatus(job, to: status, actor: actor, detail: errorName.map { ["error": .string($0)] } ?? [:])
            try tx.run(ScaleJobQueries.setStatusColumns, jobId, status, errorId, status == "QUEUED")
            return try current()
        }
    }

    /// Handles up to `limit` claims whose lease lapsed (their worker stopped reporting), each in
    /// its own transaction under the job's lock, exactly once across instances: back to QUEUED
    /// while the job has tries left, else FAILED with `system-timeout`. Returns how many.
    @discardableResult
    public func expireLapsedClaims(by owner: String, limit: Int = 100) throws -> Int {
        var handled = 0
        while handled < limit {
            let expired = try connection.transaction { tx -> Bool in
                guard let lapsed = try tx.first(ScaleJobQueries.lapsedClaim) else { return false }
                let machine = StateMachine(tx, surfaces: jobs.surfaces)
                guard let job = try machine.lockJob(id: lapsed.id) else { return false }
                let retry = lapsed.tries < lapsed.maxTries
                let status = retry ? "QUEUED" : "FAILED"
                var detail: JSON = ["lease_expired": true, "tries": .number(lapsed.tries)]
                var errorId: Int64?
                if !retry {
                    errorId = try tx.first(ScaleJobQueries.errorByName, lapsed.id, "system-timeout")
                    detail = detail.setting("error", to: "system-timeout")
                }
                try machine.changeJobStatus(job, to: status, actor: .system(owner), detail: detail)
                try tx.run(ScaleJobQueries.setStatusColumns, lapsed.id, status, errorId, false)
                return true
            }
            guard expired else { break }
            handled += 1
        }
        return handled
    }

    /// Takes the oldest queued job of an active, unpaused job type below its `max_scheduled`,
    /// skipping rows other claims hold, and marks it RUNNING with its history row: one statement.
    public func claim(by worker: String) throws -> ScaleJobRecord? {
        try connection.first(ScaleJobQueries.claim, worker)
    }

    /// From `ScaleJobQueries.errorColumns`.
    static func error(_ row: Row) throws -> ErrorRecord {
        ErrorRecord(
            id: try row.value("error_id"), name: try row.value("error_name"), title: try row.optional("error_title"),
            description: try row.optional("error_description"), jobTypeName: try row.optional("error_job_type_name"),
            category: try row.value("error_category"), isBuiltin: try row.value("error_is_builtin"),
            shouldBeRetried: try row.value("error_should_be_retried"), created: try row.value("error_created"),
            lastModified: try row.value("error_last_modified"))
    }

    /// From `ScaleJobQueries.columns`.
    @Sendable static func record(_ row: Row) throws -> ScaleJobRecord {
        ScaleJobRecord(
            id: try row.value("job_number"), jobType: try JobTypes.record(row), status: try row.value("job_status"),
            input: try row.optionalJSON("input") ?? .null, created: try row.value("job_created"), queued: try row.optional("queued"),
            started: try row.optional("started"), ended: try row.optional("ended"), lastStatusChange: try row.value("last_status_change"),
            error: try row.optional("error_id", as: Int64.self) == nil ? nil : try ScaleJobs.error(row))
    }
}

package enum ScaleJobQueries {
    /// An error of alias `e`, named apart from the job type columns it follows.
    static let errorColumns = """
        e.id AS error_id, e.name AS error_name, e.title AS error_title, e.description AS error_description,
        e.job_type_name AS error_job_type_name, e.category AS error_category, e.is_builtin AS error_is_builtin,
        e.should_be_retried AS error_should_be_retried, iso_utc(e.created) AS error_created,
        iso_utc(e.last_modified) AS error_last_modified
        """

    /// The job type's columns, the job's, and its error's (NULL when it has none).
    static let columns = """
        \(JobTypeQueries.listColumns), j.public_id AS job_number, j.status AS job_status, j.document -> 'input' AS input,
        iso_utc(j.created_at) AS job_created, iso_utc(j.queued_at) AS queued, iso_utc(j.started_at) AS started,
        iso_utc(coalesce(j.finished_at, CASE WHEN j.status IN ('FAILED', 'CANCELED') THEN j.last_status_change END)) AS ended,
        iso_utc(j.last_status_change) AS last_status_change, \(errorColumns)
        """
    static let source = "jobs j JOIN job_types jt ON jt.id = j.job_type_id LEFT JOIN errors e ON e.id = j.error_id"

    static let byId = Query(
        "scale_job_by_id", "SELECT \(columns) FROM \(source) WHERE j.surface = 'scale' AND j.public_id = $1", binding: String.self,
        reading: ScaleJobs.record)

    /// The jobs `list` finds: $1 statuses, $2 job type ids, $3 job type names, $4/$5 the
    /// last status change from and to (a time, or an ISO duration back from now). Planned per
    /// call, so the absent filters fold away; one status is an equality, which `jobs_status`
    /// reads in the list's order (`= ANY` of one status it cannot); job type names become ids
    /// once, which an index reads (an IN subquery under the OR would be a filter on every row).
    /// Every Scale job has its job type (migration 0026 checks it), so the count needs no join
    /// and is read from an index alone.
    static let listed = """
        j.surface = 'scale'
          AND ($1::text[] IS NULL OR CASE WHEN cardinality($1::text[]) = 1 THEN j.status = ($1::text[])[1] ELSE j.status = ANY($1::text[]) END)
          AND ($2::bigint[] IS NULL OR j.job_type_id = ANY($2::bigint[]))
          AND ($3::text[] IS NULL OR j.job_type_id = ANY(ARRAY(SELECT id FROM job_types WHERE name = ANY($3::text[]))))
          AND ($4::text IS NULL OR j.last_status_change >= \(ScaleCountQueries.bound("$4")))
          AND ($5::text IS NULL OR j.last_status_change <= \(ScaleCountQueries.bound("$5")))
        """

    /// A page, newest change first, and the count of all it found: counted apart, so that the
    /// page reads no more rows than it shows.
    static let list = Query(
        "scale_job_list",
        """
        SELECT \(columns), (SELECT count(*) FROM jobs j WHERE \(listed)) AS total
        FROM \(source) WHERE \(listed)
        ORDER BY j.last_status_change DESC, j.id DESC LIMIT $6 OFFSET $7
        """, binding: [String]?.self, String?.self, [String]?.self, String?.self, String?.self, Int.self, Int.self,
        plannedPerCall: true, reading: { (job: try ScaleJobs.record($0), total: try $0.value("total", as: Int.self)) })

    static let jobTypeState = Query(
        "scale_job_type_state", "SELECT is_active, is_paused, name FROM job_types WHERE id = $1", binding: Int64.self,
        reading: { row in
            (
                isActive: try row.value("is_active", as: Bool.self), isPaused: try row.value("is_paused", as: Bool.self),
                name: try row.value("name", as: String.self)
            )
        })

    /// A queued Scale job has not started: it starts when a worker claims it.
    static let markQueued = Query(
        "scale_job_mark_queued", "UPDATE jobs SET queued_at = now(), started_at = NULL WHERE id = $1", binding: Int64.self)

    static let internalId = Query(
        "scale_job_internal_id", "SELECT id FROM jobs WHERE surface = 'scale' AND public_id = $1", binding: String.self,
        reading: { try $0.value("id", as: Int64.self) })

    /// The job type's own error of that name, else a built-in one.
    static let errorByName = Query(
        "scale_error_by_name",
        """
        SELECT e.id FROM errors e, jobs j JOIN job_types jt ON jt.id = j.job_type_id
        WHERE j.id = $1 AND e.name = $2 AND (e.job_type_name = jt.name OR e.job_type_name IS NULL)
        ORDER BY e.job_type_name NULLS LAST LIMIT 1
        """, binding: Int64.self, String.self, reading: { try $0.value("id", as: Int64.self) })

    /// The status's own timestamps; a FAILED job keeps its error, a requeued one loses it. A
    /// RUNNING job holds a lease; any other has none. `$4`: a requeue by a user, which gives the
    /// job its type's `max_tries` again (as Scale raises its limit), where a lapsed claim's
    /// return to the queue keeps the tries it used.
    static let setStatusColumns = Query(
        "scale_job_status_columns",
        """
        UPDATE jobs SET error_id = CASE WHEN $2 = 'FAILED' THEN $3::bigint END,
            queued_at = CASE WHEN $2 = 'QUEUED' THEN now() ELSE queued_at END,
            started_at = CASE WHEN $2 = 'RUNNING' THEN now() WHEN $2 = 'QUEUED' THEN NULL ELSE started_at END,
            scale_tries = CASE WHEN $4 THEN 0 ELSE scale_tries END + CASE WHEN $2 = 'RUNNING' THEN 1 ELSE 0 END,
            scale_lease_expires_at = CASE WHEN $2 = 'RUNNING' THEN now() + \(leaseOf("jobs.job_type_id")) END
        WHERE id = $1
        """, binding: Int64.self, String.self, Int64?.self, Bool.self)

    /// How long a claim of a job of type `jobType` (an SQL expression) lasts: the manifest's
    /// `timeout` in seconds, 3600 without one, within 1 s … a year.
    static func leaseOf(_ jobType: String) -> String {
        """
        make_interval(secs => (SELECT least(greatest(1, coalesce((t.manifest #>> '{job,timeout}')::numeric, 3600)), 31536000)
                               FROM job_types t WHERE t.id = \(jobType)))
        """
    }

    /// A worker's RUNNING report on its running job: the lease starts again.
    static let renewClaim = Query(
        "scale_job_renew_claim", "UPDATE jobs SET scale_lease_expires_at = now() + \(leaseOf("jobs.job_type_id")) WHERE id = $1",
        binding: Int64.self)

    /// A running job whose lease lapsed (its worker is gone), locked, with its tries and limit.
    static let lapsedClaim = Query(
        "scale_job_lapsed_claim",
        """
        SELECT j.id, j.scale_tries, jt.max_tries FROM jobs j JOIN job_types jt ON jt.id = j.job_type_id
        WHERE j.surface = 'scale' AND j.status = 'RUNNING' AND j.scale_lease_expires_at < now()
        ORDER BY j.scale_lease_expires_at LIMIT 1 FOR UPDATE OF j SKIP LOCKED
        """,
        reading: { row in
            (
                id: try row.value("id", as: Int64.self), tries: try row.value("scale_tries", as: Int.self),
                maxTries: try row.value("max_tries", as: Int.self)
            )
        })

    package static let claim = Query(
        "scale_job_claim",
        """
        WITH next AS (
            SELECT j.id FROM jobs j JOIN job_types jt ON jt.id = j.job_type_id
            WHERE j.surface = 'scale' AND j.status = 'QUEUED' AND NOT j.scale_held AND jt.is_active AND NOT jt.is_paused
              AND (jt.max_scheduled IS NULL OR jt.max_scheduled >
                   (SELECT count(*) FROM jobs r WHERE r.job_type_id = jt.id AND r.surface = 'scale' AND r.status = 'RUNNING'))
            ORDER BY j.last_status_change, j.id
            LIMIT 1
            FOR UPDATE OF j SKIP LOCKED),
        claimed AS (
            UPDATE jobs j SET status = 'RUNNING', started_at = now(), last_status_change = now(), scale_tries = j.scale_tries + 1,
                scale_lease_expires_at = now() + \(leaseOf("j.job_type_id"))
            FROM next WHERE j.id = next.id
            RETURNING j.*),
        recorded AS (
            SELECT record_job_events(jsonb_agg(jsonb_build_object(
                'job_id', id, 'event', 'job_status_changed', 'actor', $1::text, 'from_status', 'QUEUED', 'to_status', 'RUNNING',
                'detail', '{"claimed": true}'::jsonb))) AS events
            FROM claimed)
        SELECT \(columns) FROM claimed j JOIN job_types jt ON jt.id = j.job_type_id LEFT JOIN errors e ON e.id = j.error_id
        CROSS JOIN recorded
        """, binding: String.self, reading: ScaleJobs.record)
}

extension ScaleJobQueries: StatementCatalog {
    package static var statements: [Statement] {
        [
            byId.statement, list.statement, jobTypeState.statement, markQueued.statement, internalId.statement, errorByName.statement,
            setStatusColumns.statement, claim.statement, renewClaim.statement, lapsedClaim.statement,
        ]
    }
}

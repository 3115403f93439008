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
        guard let row = try connection.execute(ScaleJobQueries.jobTypeState, [jobTypeId]).first else {
            throw EngineError(.notFound, "Job type \(jobTypeId) does not exist")
        }
        guard row.bool(0) else { throw EngineError(.invalid, "Job type \(jobTypeId) is deprecated") }
        guard !row.bool(1) else { throw EngineError(.invalid, "Job type \(jobTypeId) is paused") }
        let job = try jobs.create(
            NewJob(
                surface: .scale, name: row.string(2), status: "QUEUED", owner: user, jobTypeId: jobTypeId,
                document: ["input": input], tasks: []), actor: .user(user))
        try connection.execute(ScaleJobQueries.markQueued, [job.id])
        return Int(job.publicId) ?? 0
    }

    public func find(id: Int) throws -> ScaleJobRecord? {
        try connection.execute(ScaleJobQueries.byId, [String(id)]).first.map(ScaleJobs.record)
    }

    /// Newest status change first.
    public func list(_ filter: ScaleJobFilter, limit: Int, offset: Int) throws -> (count: Int, items: [ScaleJobRecord]) {
        let result = try connection.execute(
            ScaleJobQueries.list,
            [
                filter.statuses.isEmpty ? nil : filter.statuses,
                filter.jobTypeIds.isEmpty ? nil : "{" + filter.jobTypeIds.map(String.init).joined(separator: ",") + "}",
                filter.jobTypeNames.isEmpty ? nil : filter.jobTypeNames, filter.started, filter.ended, limit, offset,
            ])
        return (result.first?.int(37) ?? 0, try result.rows.map(ScaleJobs.record))
    }

    /// Moves a job to `status` (cancel, requeue, a worker's report), with an error name on FAILED.
    @discardableResult
    public func move(id: Int, to status: String, errorName: String? = nil, actor: Actor) throws -> ScaleJobRecord {
        try connection.transaction { tx in
            let machine = StateMachine(tx, surfaces: jobs.surfaces)
            guard let jobId = try tx.execute(ScaleJobQueries.internalId, [String(id)]).first?.int64(0),
                let job = try machine.lockJob(id: jobId)
            else { throw EngineError(.notFound, "Job \(id) does not exist") }
            var errorId: Int64?
            if status == "FAILED" {
                guard let name = errorName, let found = try tx.execute(ScaleJobQueries.errorByName, [jobId, name]).first?.int64(0) else {
                    throw EngineError(.invalid, "Unknown error name \(errorName ?? "(none)") for this job type")
                }
                errorId = found
            }
            try machine.changeJobStatus(job, to: status, actor: actor, detail: errorName.map { ["error": .string($0)] } ?? [:])
            try tx.execute(ScaleJobQueries.setStatusColumns, [jobId, status, errorId])
            guard let record = try tx.execute(ScaleJobQueries.byId, [String(id)]).first.map(ScaleJobs.record) else {
                throw EngineError(.notFound, "Job \(id) does not exist")
            }
            return record
        }
    }

    /// Takes the oldest queued job of an active, unpaused job type below its `max_scheduled`,
    /// skipping rows other claims hold, and marks it RUNNING with its history row: one statement.
    public func claim(by worker: String) throws -> ScaleJobRecord? {
        try connection.execute(ScaleJobQueries.claim, [worker]).first.map(ScaleJobs.record)
    }

    static func error(_ row: Row, from first: Int) -> ErrorRecord {
        ErrorRecord(
            id: row.int64(first) ?? 0, name: row.string(first + 1), title: row[first + 2], description: row[first + 3],
            jobTypeName: row[first + 4], category: row.string(first + 5), isBuiltin: row.bool(first + 6),
            shouldBeRetried: row.bool(first + 7), created: row.string(first + 8), lastModified: row.string(first + 9))
    }

    static func record(_ row: Row) throws -> ScaleJobRecord {
        let error = row.isNull(27) ? nil : ScaleJobs.error(row, from: 27)
        return ScaleJobRecord(
            id: Int(row.string(19)) ?? 0, jobType: try JobTypes.record(row), status: row.string(20),
            input: try row.optionalJSON(21) ?? .null, created: row.string(22), queued: row[23],
            started: row[24], ended: row[25], lastStatusChange: row.string(26), error: error)
    }
}

package enum ScaleJobQueries {
    static let errorColumns = """
        e.id, e.name, e.title, e.description, e.job_type_name, e.category, e.is_builtin, e.should_be_retried,
        iso_utc(e.created), iso_utc(e.last_modified)
        """

    /// Job type columns (0–18), job columns (19–26), error columns (27–36).
    static let columns = """
        \(JobTypeQueries.listColumns), j.public_id, j.status, j.document -> 'input', iso_utc(j.created_at), iso_utc(j.queued_at),
        iso_utc(j.started_at),
        iso_utc(coalesce(j.finished_at, CASE WHEN j.status IN ('FAILED', 'CANCELED') THEN j.last_status_change END)),
        iso_utc(j.last_status_change), \(errorColumns)
        """
    static let source = "jobs j JOIN job_types jt ON jt.id = j.job_type_id LEFT JOIN errors e ON e.id = j.error_id"

    static let byId = Statement("scale_job_by_id", "SELECT \(columns) FROM \(source) WHERE j.surface = 'scale' AND j.public_id = $1")

    static let list = Statement(
        "scale_job_list",
        """
        SELECT \(columns), count(*) OVER () FROM \(source)
        WHERE j.surface = 'scale'
          AND ($1::text[] IS NULL OR j.status = ANY($1::text[]))
          AND ($2::bigint[] IS NULL OR j.job_type_id = ANY($2::bigint[]))
          AND ($3::text[] IS NULL OR jt.name = ANY($3::text[]))
          AND ($4::text IS NULL OR j.last_status_change >= \(ScaleCountQueries.bound("$4")))
          AND ($5::text IS NULL OR j.last_status_change <= \(ScaleCountQueries.bound("$5")))
        ORDER BY j.last_status_change DESC, j.id DESC LIMIT $6 OFFSET $7
        """)

    static let jobTypeState = Statement("scale_job_type_state", "SELECT is_active, is_paused, name FROM job_types WHERE id = $1")

    /// A queued Scale job has not started: it starts when a worker claims it.
    static let markQueued = Statement("scale_job_mark_queued", "UPDATE jobs SET queued_at = now(), started_at = NULL WHERE id = $1")

    static let internalId = Statement("scale_job_internal_id", "SELECT id FROM jobs WHERE surface = 'scale' AND public_id = $1")

    /// The job type's own error of that name, else a built-in one.
    static let errorByName = Statement(
        "scale_error_by_name",
        """
        SELECT e.id FROM errors e, jobs j JOIN job_types jt ON jt.id = j.job_type_id
        WHERE j.id = $1 AND e.name = $2 AND (e.job_type_name = jt.name OR e.job_type_name IS NULL)
        ORDER BY e.job_type_name NULLS LAST LIMIT 1
        """)

    /// The status's own timestamps; a FAILED job keeps its error, a requeued one loses it.
    static let setStatusColumns = Statement(
        "scale_job_status_columns",
        """
        UPDATE jobs SET error_id = CASE WHEN $2 = 'FAILED' THEN $3::bigint END,
            queued_at = CASE WHEN $2 = 'QUEUED' THEN now() ELSE queued_at END,
            started_at = CASE WHEN $2 = 'RUNNING' THEN now() WHEN $2 = 'QUEUED' THEN NULL ELSE started_at END
        WHERE id = $1
        """)

    package static let claim = Statement(
        "scale_job_claim",
        """
        WITH next AS (
            SELECT j.id FROM jobs j JOIN job_types jt ON jt.id = j.job_type_id
            WHERE j.surface = 'scale' AND j.status = 'QUEUED' AND jt.is_active AND NOT jt.is_paused
              AND (jt.max_scheduled IS NULL OR jt.max_scheduled >
                   (SELECT count(*) FROM jobs r WHERE r.job_type_id = jt.id AND r.surface = 'scale' AND r.status = 'RUNNING'))
            ORDER BY j.last_status_change, j.id
            LIMIT 1
            FOR UPDATE OF j SKIP LOCKED),
        claimed AS (
            UPDATE jobs j SET status = 'RUNNING', started_at = now(), last_status_change = now()
            FROM next WHERE j.id = next.id
            RETURNING j.*),
        recorded AS (
            SELECT record_job_events(jsonb_agg(jsonb_build_object(
                'job_id', id, 'event', 'job_status_changed', 'actor', $1::text, 'from_status', 'QUEUED', 'to_status', 'RUNNING',
                'detail', '{"claimed": true}'::jsonb))) AS events
            FROM claimed)
        SELECT \(columns) FROM claimed j JOIN job_types jt ON jt.id = j.job_type_id LEFT JOIN errors e ON e.id = j.error_id
        CROSS JOIN recorded
        """)
}

extension ScaleJobQueries: StatementCatalog {
    package static var statements: [Statement] { [byId, list, jobTypeState, markQueued, internalId, errorByName, setStatusColumns, claim] }
}

import Engine
import Postgres

/// What the four counting routes report (spec §5), from real rows of the jobs table.
public struct ScaleCounts {
    let connection: Connection

    public struct StatusCount: Sendable {
        public let status: String
        public let count: Int
        public let mostRecent: String
        public let category: String?
    }

    /// Every job type (optionally only active ones), oldest change first, with its job counts:
    /// RUNNING jobs whatever their time, others only inside [started, ended].
    /// `started`/`ended` are ISO-8601 times or `P…` durations before now.
    public func status(isActive: Bool?, started: String, ended: String?, limit: Int, offset: Int)
        throws -> (count: Int, items: [(JobTypeRecord, [StatusCount])])
    {
        if let ended, try connection.first(ScaleCountQueries.outOfOrder, started, ended) == true {
            throw EngineError(.invalid, "Start time must come before end time")
        }
        let page = try connection.rows(ScaleCountQueries.jobTypePage, isActive, limit, offset)
        let ids = "{" + page.map { String($0.jobType.id) }.joined(separator: ",") + "}"
        var counts: [Int64: [StatusCount]] = [:]
        for (jobTypeId, count) in try connection.rows(ScaleCountQueries.statusCounts, ids, started, ended) {
            counts[jobTypeId, default: []].append(count)
        }
        return (page.first?.total ?? 0, page.map { ($0.jobType, counts[$0.jobType.id] ?? []) })
    }

    /// Job types with jobs in `status` (PENDING or RUNNING): count and the oldest change.
    public func waiting(in status: String, limit: Int, offset: Int) throws -> (count: Int, items: [(JobTypeRecord, Int, String)]) {
        let rows = try connection.rows(ScaleCountQueries.waiting, status, limit, offset)
        return (rows.first?.total ?? 0, rows.map { ($0.jobType, $0.jobs, $0.oldest) })
    }

    /// FAILED jobs with SYSTEM errors, per job type and error, most recent first.
    public func systemFailures(limit: Int, offset: Int) throws -> (count: Int, items: [(JobTypeRecord, ErrorRecord, Int, String, String)]) {
        let rows = try connection.rows(ScaleCountQueries.systemFailures, limit, offset)
        return (rows.first?.total ?? 0, rows.map { ($0.jobType, $0.error, $0.jobs, $0.firstSeen, $0.lastSeen) })
    }
}

package enum ScaleCountQueries {
    static let jobTypePage = Query(
        "scale_count_job_types",
        """
        SELECT \(JobTypeQueries.listColumns), count(*) OVER () AS total FROM job_types jt
        WHERE $1::boolean IS NULL OR jt.is_active = $1 ORDER BY jt.last_modified, jt.id LIMIT $2 OFFSET $3
        """, binding: Bool?.self, Int.self, Int.self,
        reading: { (jobType: try JobTypes.record($0), total: try $0.value("total", as: Int.self)) })

    /// A bound is an ISO-8601 time, or a `P…` duration meaning that long before now.
    static func bound(_ parameter: String) -> String {
        "CASE WHEN \(parameter)::text LIKE 'P%' THEN now() - \(parameter)::text::interval ELSE \(parameter)::text::timestamptz END"
    }

    static let outOfOrder = Query(
        "scale_count_out_of_order", "SELECT \(bound("$1")) > \(bound("$2")) AS out_of_order", binding: String.self, String.self,
        reading: { try $0.value("out_of_order", as: Bool.self) })

    /// RUNNING jobs and the others inside the window apart: each part is then read from an
    /// index alone (migration 0026), where one condition with an OR visited every job's row.
    static let statusCounts = Query(
        "scale_count_status",
        """
        SELECT j.job_type_id, j.status, e.category, count(*) AS jobs, iso_utc(max(j.last_status_change)) AS most_recent
        FROM (SELECT job_type_id, status, error_id, last_status_change FROM jobs
              WHERE surface = 'scale' AND job_type_id = ANY($1::bigint[]) AND status = 'RUNNING'
              UNION ALL
              SELECT job_type_id, status, error_id, last_status_change FROM jobs
              WHERE surface = 'scale' AND job_type_id = ANY($1::bigint[]) AND status <> 'RUNNING'
                AND last_status_change >= \(bound("$2")) AND ($3::text IS NULL OR last_status_change <= \(bound("$3")))) j
        LEFT JOIN errors e ON e.id = j.error_id
        GROUP BY j.job_type_id, j.status, e.category
        ORDER BY j.job_type_id,
                 array_position(ARRAY['PENDING', 'BLOCKED', 'QUEUED', 'RUNNING', 'FAILED', 'COMPLETED', 'CANCELED'], j.status),
                 e.category NULLS FIRST
        """, binding: String.self, String.self, String?.self, plannedPerCall: true,
        reading: { row in
            (
                jobTypeId: try row.value("job_type_id", as: Int64.self),
                ScaleCounts.StatusCount(
                    status: try row.value("status"), count: try row.value("jobs"), mostRecent: try row.value("most_recent"),
                    category: try row.optional("category"))
            )
        })

    static let waiting = Query(
        "scale_count_waiting",
        """
        SELECT \(JobTypeQueries.listColumns), count(*) AS jobs, iso_utc(min(j.last_status_change)) AS oldest, count(*) OVER () AS total
        FROM jobs j JOIN job_types jt ON jt.id = j.job_type_id
        WHERE j.surface = 'scale' AND j.status = $1
        GROUP BY jt.id ORDER BY min(j.last_status_change), jt.id LIMIT $2 OFFSET $3
        """, binding: String.self, Int.self, Int.self,
        reading: { row in
            (
                jobType: try JobTypes.record(row), jobs: try row.value("jobs", as: Int.self),
                oldest: try row.value("oldest", as: String.self),
                total: try row.value("total", as: Int.self)
            )
        })

    /// Counted per job type and error from an index alone (migration 0026), then joined.
    static let systemFailures = Query(
        "scale_count_system_failures",
        """
        SELECT \(JobTypeQueries.listColumns), \(ScaleJobQueries.errorColumns), f.jobs,
               iso_utc(f.first_seen) AS first_seen, iso_utc(f.last_seen) AS last_seen, count(*) OVER () AS total
        FROM (SELECT job_type_id, error_id, count(*) AS jobs, min(last_status_change) AS first_seen, max(last_status_change) AS last_seen
              FROM jobs WHERE surface = 'scale' AND status = 'FAILED' AND error_id IN (SELECT id FROM errors WHERE category = 'SYSTEM')
              GROUP BY job_type_id, error_id) f
        JOIN job_types jt ON jt.id = f.job_type_id JOIN errors e ON e.id = f.error_id
        ORDER BY f.last_seen DESC, jt.id, e.id LIMIT $1 OFFSET $2
        """, binding: Int.self, Int.self,
        reading: { row in
            (
                jobType: try JobTypes.record(row), error: try ScaleJobs.error(row), jobs: try row.value("jobs", as: Int.self),
                firstSeen: try row.value("first_seen", as: String.self), lastSeen: try row.value("last_seen", as: String.self),
                total: try row.value("total", as: Int.self)
            )
        })
}

extension ScaleCountQueries: StatementCatalog {
    package static var statements: [Statement] {
        [jobTypePage.statement, outOfOrder.statement, statusCounts.statement, waiting.statement, systemFailures.statement]
    }
}

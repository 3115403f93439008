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
        if let ended, try connection.execute(ScaleCountQueries.outOfOrder, [started, ended]).first?.bool(0) == true {
            throw EngineError(.invalid, "Start time must come before end time")
        }
        let page = try connection.execute(ScaleCountQueries.jobTypePage, [isActive, limit, offset])
        let jobTypes = try page.rows.map(JobTypes.record)
        let ids = "{" + jobTypes.map { String($0.id) }.joined(separator: ",") + "}"
        var counts: [Int64: [StatusCount]] = [:]
        for row in try connection.execute(ScaleCountQueries.statusCounts, [ids, started, ended]).rows {
            counts[row.int64(0) ?? 0, default: []].append(
                StatusCount(status: row.string(1), count: row.int(3) ?? 0, mostRecent: row.string(4), category: row[2]))
        }
        return (page.first?.int(19) ?? 0, jobTypes.map { ($0, counts[$0.id] ?? []) })
    }

    /// Job types with jobs in `status` (PENDING or RUNNING): count and the oldest change.
    public func waiting(in status: String, limit: Int, offset: Int) throws -> (count: Int, items: [(JobTypeRecord, Int, String)]) {
        let result = try connection.execute(ScaleCountQueries.waiting, [status, limit, offset])
        return (result.first?.int(21) ?? 0, try result.rows.map { (try JobTypes.record($0), $0.int(19) ?? 0, $0.string(20)) })
    }

    /// FAILED jobs with SYSTEM errors, per job type and error, most recent first.
    public func systemFailures(limit: Int, offset: Int) throws -> (count: Int, items: [(JobTypeRecord, ErrorRecord, Int, String, String)]) {
        let result = try connection.execute(ScaleCountQueries.systemFailures, [limit, offset])
        return (
            result.first?.int(32) ?? 0,
            try result.rows.map {
                (try JobTypes.record($0), ScaleJobs.error($0, from: 19), $0.int(29) ?? 0, $0.string(30), $0.string(31))
            }
        )
    }
}

package enum ScaleCountQueries {
    static let jobTypePage = Statement(
        "scale_count_job_types",
        """
        SELECT \(JobTypeQueries.listColumns), count(*) OVER () FROM job_types jt
        WHERE $1::boolean IS NULL OR jt.is_active = $1 ORDER BY jt.last_modified, jt.id LIMIT $2 OFFSET $3
        """)

    /// A bound is an ISO-8601 time, or a `P…` duration meaning that long before now.
    static func bound(_ parameter: String) -> String {
        "CASE WHEN \(parameter)::text LIKE 'P%' THEN now() - \(parameter)::text::interval ELSE \(parameter)::text::timestamptz END"
    }

    static let outOfOrder = Statement("scale_count_out_of_order", "SELECT \(bound("$1")) > \(bound("$2"))")

    static let statusCounts = Statement(
        "scale_count_status",
        """
        SELECT j.job_type_id, j.status, e.category, count(*), iso_utc(max(j.last_status_change))
        FROM jobs j LEFT JOIN errors e ON e.id = j.error_id
        WHERE j.surface = 'scale' AND j.job_type_id = ANY($1::bigint[])
          AND (j.status = 'RUNNING'
               OR (j.last_status_change >= \(bound("$2")) AND ($3::text IS NULL OR j.last_status_change <= \(bound("$3")))))
        GROUP BY j.job_type_id, j.status, e.category
        ORDER BY j.job_type_id,
                 array_position(ARRAY['PENDING', 'BLOCKED', 'QUEUED', 'RUNNING', 'FAILED', 'COMPLETED', 'CANCELED'], j.status),
                 e.category NULLS FIRST
        """)

    static let waiting = Statement(
        "scale_count_waiting",
        """
        SELECT \(JobTypeQueries.listColumns), count(*), iso_utc(min(j.last_status_change)), count(*) OVER ()
        FROM jobs j JOIN job_types jt ON jt.id = j.job_type_id
        WHERE j.surface = 'scale' AND j.status = $1
        GROUP BY jt.id ORDER BY min(j.last_status_change), jt.id LIMIT $2 OFFSET $3
        """)

    static let systemFailures = Statement(
        "scale_count_system_failures",
        """
        SELECT \(JobTypeQueries.listColumns), \(ScaleJobQueries.errorColumns), count(*), iso_utc(min(j.last_status_change)),
               iso_utc(max(j.last_status_change)), count(*) OVER ()
        FROM jobs j JOIN job_types jt ON jt.id = j.job_type_id JOIN errors e ON e.id = j.error_id
        WHERE j.surface = 'scale' AND j.status = 'FAILED' AND e.category = 'SYSTEM'
        GROUP BY jt.id, e.id ORDER BY max(j.last_status_change) DESC, jt.id, e.id LIMIT $1 OFFSET $2
        """)
}

extension ScaleCountQueries: StatementCatalog {
    package static var statements: [Statement] { [jobTypePage, outOfOrder, statusCounts, waiting, systemFailures] }
}

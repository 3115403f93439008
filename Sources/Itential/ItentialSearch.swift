import Engine
import JSON
import Postgres

/// A search of Itential jobs or task iterations in the Operations Manager grammar (spec §4.5):
/// filters on dotted paths of the documents the routes show, a sort, a page. The surface parses
/// the query; this builds SQL from it, with every path and value travelling as a parameter.
public struct ItentialSearch: Sendable {
    public enum Operator: String, Sendable, CaseIterable {
        case equals
        case notEquals = "not-equals"
        case contains
        case startsWith = "starts-with"
        case endsWith = "ends-with"
        case
            isIn = "in"
        case notIn = "not-in"
        case gt, gte, lt, lte, exists
    }

    public struct Filter: Sendable {
        public let op: Operator
        public let path: [String]
        public let value: String
        /// The value as a number (a date is given as epoch milliseconds), for comparisons.
        public let number: Double?

        public init(_ op: Operator, path: [String], value: String, number: Double?) {
            self.op = op
            self.path = path
            self.value = value
            self.number = number
        }
    }

    public var filters: [Filter]
    public var sortPath: [String]
    public var descending: Bool
    /// At least 1: the surface caps every page.
    public var limit: Int
    public var skip: Int
    /// Only jobs without `groups` or with one of these (ids or names); nil: every job.
    public var visibleGroups: [String]?

    public init(filters: [Filter], sortPath: [String], descending: Bool, limit: Int, skip: Int, visibleGroups: [String]? = nil) {
        self.filters = filters
        self.sortPath = sortPath
        self.descending = descending
        self.limit = limit
        self.skip = skip
        self.visibleGroups = visibleGroups
    }

    /// One page of matches and the number of all matches.
    public struct Page<Item: Sendable>: Sendable {
        public let items: [Item]
        public let total: Int
    }

    /// Runs the search over `documents`, a query yielding `key`, `doc` (jsonb) and the job's
    /// `groups` per item; returns the page's keys in order and the total.
    func run(_ documents: String, on connection: Connection) throws -> Page<String> {
        var parameters: [any PostgresParameter] = []
        func parameter(_ value: any PostgresParameter) -> String {
            parameters.append(value)
            return "$\(parameters.count)"
        }
        var conditions = filters.map { condition($0, parameter) }
        if let visibleGroups {
            conditions.append("(coalesce(groups, '[]') = '[]' OR groups ?| \(parameter(visibleGroups))::text[])")
        }
        let matched =
            "SELECT key, id, doc, groups FROM (\(documents)) found WHERE \(conditions.isEmpty ? "true" : conditions.joined(separator: " AND "))"
        let order = descending ? "DESC" : "ASC"
        let sort = parameter(sortPath)
        let page = """
            SELECT key, count(*) OVER () AS total FROM (\(matched)) matched
            ORDER BY doc #> \(sort)::text[] \(order) NULLS LAST, id \(order)
            LIMIT \(parameter(limit)) OFFSET \(parameter(skip))
            """
        let rows = try connection.execute(sql: page, parameters).rows
        if let first = rows.first { return Page(items: try rows.map { try $0.value("key") }, total: try first.value("total")) }
        // A page past the end still reports how many there are.
        parameters.removeLast(3)
        let total = try connection.execute(sql: "SELECT count(*) AS total FROM (\(matched)) matched", parameters).first?.value("total") ?? 0
        return Page(items: [], total: total)
    }

    /// The SQL of one filter; a path that is absent matches nothing but `not-…` and `exists=false`.
    private func condition(_ filter: Filter, _ parameter: (any PostgresParameter) -> String) -> String {
        let node = "(doc #> \(parameter(filter.path))::text[])"
        let text = "(\(node) #>> '{}')"
        let value = parameter(filter.value)
        let equals = "coalesce(\(text) = \(value) OR (jsonb_typeof(\(node)) = 'array' AND \(node) ? \(value)), false)"
        let inList = "coalesce(\(text) = ANY(string_to_array(\(value), ',')), false)"
        switch filter.op {
        case .equals: return equals
        case .notEquals: return "NOT \(equals)"
        case .contains: return "coalesce(strpos(lower(\(text)), lower(\(value))) > 0, false)"
        case .startsWith: return "coalesce(starts_with(\(text), \(value)), false)"
        case .endsWith: return "coalesce(right(\(text), length(\(value))) = \(value), false)"
        case .isIn: return inList
        case .notIn: return "NOT \(inList)"
        case .exists: return "((\(node) IS NOT NULL) = (lower(\(value)) NOT IN ('false', '0')))"
        case .gt, .gte, .lt, .lte:
            let op = [.gt: ">", .gte: ">=", .lt: "<", .lte: "<="][filter.op] ?? "="
            let number = parameter(filter.number)
            return """
                coalesce(CASE jsonb_typeof(\(node)) WHEN 'number' THEN (\(text))::float8 \(op) \(number)::float8
                                                     WHEN 'string' THEN \(text) \(op) \(value) END, false)
                """
        }
    }
}

/// Itential's words for the engine's task statuses: an activated task is `running` (a manual
/// one waits there for a person); a dead-path task stays `incomplete`.
public enum ItentialTaskStatus {
    public static func name(_ status: TaskStatus) -> String {
        switch status {
        case .pending, .skipped: "incomplete"
        case .ready, .running, .waiting: "running"
        case .paused: "paused"
        case .succeeded: "complete"
        case .failed: "error"
        case .canceled: "canceled"
        }
    }

    /// The same mapping over a `tasks` status column, for searches.
    static func sql(_ column: String) -> String {
        "CASE \(column) " + TaskStatus.allCases.map { "WHEN '\($0.rawValue)' THEN '\(name($0))' " }.joined() + "END"
    }
}

extension ItentialJobs {
    /// Jobs as their documents show them: the snapshot with the fields of its row (`rowFields`),
    /// the metrics merged. (Task states and `metrics.progress` are rendered, not searched.)
    static let searchDocuments = """
        SELECT j.public_id AS key, j.id,
               j.document || f.fields
                   || jsonb_build_object('metrics', coalesce(j.document->'metrics', '{}') || (f.fields->'metrics')) AS doc,
               j.document->'groups' AS groups
        FROM jobs j LEFT JOIN users claimer ON claimer.id = j.claimed_by CROSS JOIN LATERAL (SELECT \(rowFields) AS fields) f
        WHERE j.surface = 'itential'
        """

    /// A page of jobs matching the search, in its order.
    public func search(_ search: ItentialSearch) throws -> ItentialSearch.Page<ItentialJob> {
        let page = try search.run(Self.searchDocuments, on: connection)
        let found = try jobs(ids: page.items)
        return ItentialSearch.Page(items: page.items.compactMap { id in found.first { $0.id == id } }, total: page.total)
    }
}

extension ItentialManualTasks {
    /// Activated task iterations as `/operations-manager/tasks/{id}` shows them.
    static let searchDocuments = """
        SELECT t.iteration_id::text AS key, t.id, t.input::jsonb || jsonb_build_object(
                   '_id', t.iteration_id, 'status', \(ItentialTaskStatus.sql("t.status")),
                   'job', jsonb_build_object('_id', j.public_id, 'task', t.key, 'name', j.name,
                                             'description', j.document->'description', 'ancestors', j.document->'ancestors'),
                   'metrics', jsonb_build_object(
                       'start_time', round(extract(epoch FROM t.ready_at) * 1000),
                       'end_time', round(extract(epoch FROM t.finished_at) * 1000),
                       'claim_time', round(extract(epoch FROM t.claimed_at) * 1000),
                       'finish_state', t.finish_state,
                       'owner', CASE WHEN t.automatic THEN 'Pronghorn' ELSE coalesce(owner.account_id, '') END)) AS doc,
               j.document->'groups' AS groups
        FROM tasks t JOIN jobs j ON j.id = t.job_id LEFT JOIN users owner ON owner.id = t.claimed_by
        WHERE j.surface = 'itential' AND t.iteration_id IS NOT NULL
        """

    /// A page of task iterations matching the search, in its order.
    public func search(_ search: ItentialSearch) throws -> ItentialSearch.Page<ItentialIteration> {
        let page = try search.run(Self.searchDocuments, on: connection)
        let found = try connection.rows(Self.byIterations, page.items)
        return ItentialSearch.Page(items: page.items.compactMap { id in found.first { $0.id == id } }, total: page.total)
    }
}

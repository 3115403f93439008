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

    /// A filter or sort that no index serves reads each row's document, so it looks only at the
    /// newest this many rows of history (by id, all surfaces) instead of all of it.
    public static let unindexedWindow = 100_000

    /// The SQL of the search over `documents` and its parameters: one row with `total` (every
    /// match) and `keys` (the page's keys in order, as a JSON array).
    package func sql(over documents: Documents) -> (sql: String, parameters: [any PostgresParameter]) {
        let bind = Binder()
        var conditions = [documents.scope]
        var everyPartIndexed = true
        for filter in filters {
            if let indexed = documents.indexed(filter, bind) {
                conditions.append(indexed)
            } else {
                conditions.append(Self.condition(filter, node: documents.node(filter.path, bind), bind))
                everyPartIndexed = false
            }
        }
        if let visibleGroups {
            conditions.append("(coalesce(\(documents.groups), '[]') = '[]' OR \(documents.groups) ?| \(bind(visibleGroups))::text[])")
        }
        let ordering = documents.ordering(sortPath) ?? Ordering(expression: documents.node(sortPath, bind), nullable: true)
        if documents.ordering(sortPath) == nil { everyPartIndexed = false }
        if !everyPartIndexed {
            conditions.append("\(documents.id) > (SELECT coalesce(max(id), 0) FROM \(documents.table)) - \(Self.unindexedWindow)")
        }
        let conditionText = conditions.joined(separator: " AND ")
        // Each statement joins only what it reads: an unused join costs the count its index-only
        // scan (PostgreSQL drops the join, but not the columns it would have read).
        func source(_ reading: String) -> String {
            // Later joins may read earlier ones: walk them backwards, adding what each needs.
            var reading = reading
            var needed: [Join] = []
            for join in documents.joins.reversed() where reading.contains(join.alias + ".") {
                needed.insert(join, at: 0)
                reading += join.sql
            }
            return ([documents.table + " " + documents.alias] + needed.map(\.sql)).joined(separator: " ")
        }
        let counted = "FROM \(source(conditionText)) WHERE \(conditionText)"
        let paged = "FROM \(source(conditionText + ordering.expression + documents.key)) WHERE \(conditionText)"
        let direction = descending ? "DESC" : "ASC"
        // NULLS LAST only where the column can be null, so that an index on a NOT NULL column serves
        // both directions.
        let sortedBy = "\(direction)\(ordering.nullable ? " NULLS LAST" : ""), "
        let sql = """
            SELECT (SELECT count(*) \(counted)) AS total,
                   (SELECT json_agg(page.key ORDER BY page.sort_value \(sortedBy)page.id \(direction)) FROM (
                        SELECT \(documents.key) AS key, \(ordering.expression) AS sort_value, \(documents.id) AS id \(paged)
                        ORDER BY \(ordering.expression) \(sortedBy)\(documents.id) \(direction)
                        LIMIT \(bind(limit)) OFFSET \(bind(skip))) page) AS keys
            """
        return (sql, bind.values)
    }

    /// Runs the search over `documents`; returns the page's keys in order and the total.
    package func run(over documents: Documents, on connection: Connection) throws -> Page<String> {
        let (sql, parameters) = sql(over: documents)
        guard let row = try connection.execute(sql: sql, parameters).rows.first else { return Page(items: [], total: 0) }
        let keys = try row.optionalJSON("keys")?.arrayValue?.compactMap(\.stringValue) ?? []
        return Page(items: keys, total: try row.value("total"))
    }

    /// Collects a statement's parameters as its SQL is written.
    package final class Binder {
        private(set) var values: [any PostgresParameter] = []

        func callAsFunction(_ value: any PostgresParameter) -> String {
            values.append(value)
            return "$\(values.count)"
        }
    }

    /// A sort key an index keeps in order.
    package struct Ordering: Sendable {
        let expression: String
        let nullable: Bool
    }

    /// A table joined to the searched rows, under its alias.
    package struct Join: Sendable {
        let alias: String
        let sql: String
    }

    /// What a search runs over: rows of `table` (as `alias`) with the `joins` their fields need,
    /// and for each dotted path of their documents how the field is reached. Paths an index
    /// serves map to columns; any other reads the document (`node`).
    package struct Documents: Sendable {
        let table: String
        let alias: String
        let joins: [Join]
        let scope: String
        let key: String
        let id: String
        let groups: String
        /// The document's field at a path, as jsonb.
        let node: @Sendable ([String], Binder) -> String
        /// A condition equal to the filter that an index serves, or nil.
        let indexed: @Sendable (Filter, Binder) -> String?
        /// A column that an index keeps in the order of the field at a path, or nil.
        let ordering: @Sendable ([String]) -> Ordering?

        /// The same documents with every field read from the document itself: what the indexed
        /// conditions must agree with (the tests compare the two).
        package var unindexed: Documents {
            Documents(
                table: table, alias: alias, joins: joins, scope: scope, key: key, id: id, groups: groups, node: node,
                indexed: { _, _ in nil },
                ordering: { _ in nil })
        }
    }

    /// The SQL of one filter on a document's field; a path that is absent matches nothing but
    /// `not-…` and `exists=false`.
    static func condition(_ filter: Filter, node: String, _ bind: Binder) -> String {
        let node = "(\(node))"
        let text = "(\(node) #>> '{}')"
        let value = bind(filter.value)
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
            let number = bind(filter.number)
            return """
                coalesce(CASE jsonb_typeof(\(node)) WHEN 'number' THEN (\(text))::float8 \(filter.op.sql) \(number)::float8
                                                     WHEN 'string' THEN \(text) \(filter.op.sql) \(value) END, false)
                """
        }
    }

    /// A text column's filter as an index (btree or trigram) serves it: the same matches as
    /// `condition` over `to_jsonb(column)`, for a column that is never null.
    static func textCondition(_ filter: Filter, column: String, _ bind: Binder) -> String? {
        switch filter.op {
        case .equals: return "\(column) = \(bind(filter.value))"
        case .notEquals: return "\(column) <> \(bind(filter.value))"
        case .isIn: return "\(column) = ANY(string_to_array(\(bind(filter.value)), ','))"
        case .notIn: return "\(column) <> ALL(string_to_array(\(bind(filter.value)), ','))"
        // LIKE patterns, so that the trigram index serves them (strpos and starts_with it cannot).
        case .contains: return "\(column) ILIKE '%' || \(bind(likeEscaped(filter.value))) || '%'"
        case .startsWith: return "\(column) LIKE \(bind(likeEscaped(filter.value))) || '%'"
        case .endsWith: return "\(column) LIKE '%' || \(bind(likeEscaped(filter.value)))"
        case .exists: return filter.value.lowercased() == "false" || filter.value == "0" ? "false" : "true"
        case .gt, .gte, .lt, .lte: return nil
        }
    }

    /// A value matched literally inside a LIKE pattern.
    static func likeEscaped(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
            .replacingOccurrences(of: "_", with: "\\_")
    }

    /// `equals` on a field under a jsonb column with a GIN index, as containments. Exact by
    /// themselves: the field is the string, an array holding it, or the boolean it spells; a
    /// number, object or array it spells finds candidates whose text the document's own
    /// condition on `node` then checks (5.0 contains 5); `node` binds its path only then. Nil
    /// for array positions.
    static func containmentCondition(
        _ filter: Filter, column: String, under path: [String], node: @autoclosure () -> String, _ bind: Binder
    ) -> String? {
        guard !path.contains(where: { $0.allSatisfy(\.isNumber) }) else { return nil }
        func contains(_ value: JSON) -> String {
            let nested = path.reversed().reduce(value) { inner, key in JSON.object([(key, inner)]) }
            return "\(column) @> \(bind(nested.serialized))::jsonb"
        }
        var alternatives = [contains(.string(filter.value)), contains([.string(filter.value)])]
        switch try? JSON.parse(filter.value) {
        case let .bool(value)?: alternatives.append(contains(.bool(value)))
        case nil, .null?, .string?: break
        case let spelled?: alternatives.append("(\(contains(spelled)) AND \(condition(filter, node: node(), bind)))")
        }
        return "(\(alternatives.joined(separator: " OR ")))"
    }

    /// A comparison of a field shown as epoch milliseconds, `round(extract(epoch FROM column) *
    /// 1000)`, as a comparison of the timestamp column itself, which an index serves. A value
    /// that is no number matches nothing, as it does on the document.
    static func millisecondsCondition(_ filter: Filter, column: String, _ bind: Binder) -> String? {
        guard [.gt, .gte, .lt, .lte].contains(filter.op) else { return nil }
        guard let number = filter.number else { return "false" }
        // Beyond any timestamp PostgreSQL holds: everything is below it, or nothing.
        guard abs(number) < 1e15 else { return (number > 0) == [.lt, .lte].contains(filter.op) ? "true" : "false" }
        // round(x) > n ⟺ x ≥ ⌊n⌋ + ½;  round(x) ≥ n ⟺ x ≥ ⌈n⌉ − ½;  < and ≤ likewise, in µs.
        let (bound, op): (Double, String) =
            switch filter.op {
            case .gt: (number.rounded(.down) + 0.5, ">=")
            case .gte: (number.rounded(.up) - 0.5, ">=")
            case .lt: (number.rounded(.up) - 0.5, "<")
            default: (number.rounded(.down) + 0.5, "<")
            }
        return "\(column) \(op) timestamptz 'epoch' + \(bind(Int64(bound * 1000))) * interval '1 microsecond'"
    }
}

extension ItentialSearch.Operator {
    /// The SQL comparison of `gt`, `gte`, `lt` and `lte`.
    var sql: String {
        switch self {
        case .gt: ">"
        case .gte: ">="
        case .lt: "<"
        case .lte: "<="
        default: "="
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
    /// The document a read shows, from its row: the snapshot with the fields of its row
    /// (`rowFields`), the metrics merged. (Task states and `metrics.progress` are rendered only.)
    static let searchedDocument = """
        (j.document || from_row.fields
         || jsonb_build_object('metrics', coalesce(j.document->'metrics', '{}') || (from_row.fields->'metrics')))
        """
    static let startMilliseconds = "round(extract(epoch FROM j.created_at) * 1000)"

    /// Jobs as searches see them. Their row gives `_id`, `status`, `name` (a job's row and its
    /// document both carry its workflow's name) and the metrics, which the indexes of migration
    /// 0015 serve; `variables` has a GIN index for equality.
    package static let searchDocuments = ItentialSearch.Documents(
        table: "jobs", alias: "j",
        joins: [
            ItentialSearch.Join(alias: "claimer", sql: "LEFT JOIN users claimer ON claimer.id = j.claimed_by"),
            // The row's fields once per row, though the document reads them twice.
            ItentialSearch.Join(alias: "from_row", sql: "CROSS JOIN LATERAL (SELECT \(rowFields) AS fields) from_row"),
        ],
        scope: "j.surface = 'itential'",
        key: "j.public_id", id: "j.id", groups: "j.document->'groups'",
        node: { path, bind in
            switch path {
            case ["_id"]: return "to_jsonb(j.public_id)"
            case ["status"]: return "to_jsonb(j.status)"
            case ["metrics", "start_time"]: return "to_jsonb(\(startMilliseconds))"
            case ["metrics", "owner"]: return "coalesce(to_jsonb(claimer.account_id), j.document #> '{metrics,owner}')"
            default:
                let fromRow = path.first.map { ["_id", "status", "metrics"].contains($0) } ?? true
                return "\(fromRow ? searchedDocument : "j.document") #> \(bind(path))::text[]"
            }
        },
        indexed: { filter, bind in
            switch filter.path {
            case ["status"], ["_id"]:
                return [.contains, .startsWith, .endsWith].contains(filter.op)
                    ? nil : ItentialSearch.textCondition(filter, column: filter.path == ["_id"] ? "j.public_id" : "j.status", bind)
            case ["name"]: return ItentialSearch.textCondition(filter, column: "j.name", bind)
            case ["metrics", "start_time"]: return ItentialSearch.millisecondsCondition(filter, column: "j.created_at", bind)
            case ["metrics", "end_time"]:
                return ItentialSearch.millisecondsCondition(filter, column: "j.finished_at", bind).map {
                    "j.status IN ('complete', 'canceled') AND \($0)"
                }
            case ["metrics", "owner"] where filter.op == .equals:
                // A claim is the only owner a job's document has.
                return "j.claimed_by IN (SELECT id FROM users WHERE account_id = \(bind(filter.value)))"
            case let path where path.first == "variables" && path.count > 1 && filter.op == .equals:
                return ItentialSearch.containmentCondition(
                    filter, column: "j.document->'variables'", under: Array(path.dropFirst()), node: "j.document #> \(bind(path))::text[]",
                    bind)
            default: return nil
            }
        },
        ordering: { path in
            switch path {
            case ["metrics", "start_time"]: ItentialSearch.Ordering(expression: "j.created_at", nullable: false)
            case ["name"]: ItentialSearch.Ordering(expression: "j.name", nullable: false)
            case ["_id"]: ItentialSearch.Ordering(expression: "j.public_id", nullable: false)
            default: nil
            }
        })

    /// A page of jobs matching the search, in its order.
    public func search(_ search: ItentialSearch) throws -> ItentialSearch.Page<ItentialJob> {
        let page = try search.run(over: Self.searchDocuments, on: connection)
        let found = try jobs(ids: page.items)
        return ItentialSearch.Page(items: page.items.compactMap { id in found.first { $0.id == id } }, total: page.total)
    }
}

extension ItentialManualTasks {
    static let startMilliseconds = "round(extract(epoch FROM t.ready_at) * 1000)"

    /// An activated task iteration as `/operations-manager/tasks/{id}` shows it.
    static let searchedDocument = """
        (t.input::jsonb || jsonb_build_object(
            '_id', t.iteration_id, 'status', \(ItentialTaskStatus.sql("t.status")),
            'job', jsonb_build_object('_id', j.public_id, 'task', t.key, 'name', j.name,
                                      'description', j.document->'description', 'ancestors', j.document->'ancestors'),
            'metrics', jsonb_build_object(
                'start_time', \(startMilliseconds),
                'end_time', round(extract(epoch FROM t.finished_at) * 1000),
                'claim_time', round(extract(epoch FROM t.claimed_at) * 1000),
                'finish_state', t.finish_state,
                'owner', CASE WHEN t.automatic THEN 'Pronghorn' ELSE coalesce(owner.account_id, '') END)))
        """

    /// Task iterations as searches see them: Itential's tasks are those of its kinds; `status`,
    /// `name`, `metrics.owner` and `metrics.start_time` come from indexed columns (an iteration
    /// always has its `ready_at`).
    package static let searchDocuments = ItentialSearch.Documents(
        table: "tasks", alias: "t",
        joins: [
            ItentialSearch.Join(alias: "j", sql: "JOIN jobs j ON j.id = t.job_id"),
            ItentialSearch.Join(alias: "owner", sql: "LEFT JOIN users owner ON owner.id = t.claimed_by"),
        ],
        scope: "t.kind LIKE '\(ItentialTasks.prefix)%' AND t.iteration_id IS NOT NULL", key: "t.iteration_id::text", id: "t.id",
        groups: "j.document->'groups'",
        node: { path, bind in
            switch path {
            case ["_id"]: return "to_jsonb(t.iteration_id::text)"
            case ["status"]: return "to_jsonb(\(ItentialTaskStatus.sql("t.status")))"
            case ["metrics", "start_time"]: return "to_jsonb(\(startMilliseconds))"
            // Not in the document: what the legacy queryTasksBrief filters on (running jobs).
            case ["job", "status"]: return "to_jsonb(j.status)"
            default:
                let fromRow = path.first.map { ["_id", "status", "job", "metrics"].contains($0) } ?? true
                return "\(fromRow ? searchedDocument : "t.input::jsonb") #> \(bind(path))::text[]"
            }
        },
        indexed: { filter, bind in
            switch (filter.path, filter.op) {
            case (["status"], .equals), (["status"], .notEquals):
                let statuses = TaskStatus.allCases.filter { ItentialTaskStatus.name($0) == filter.value }.map(\.rawValue)
                return "\(filter.op == .equals ? "" : "NOT ")t.status = ANY(\(bind(statuses))::text[])"
            case (["metrics", "start_time"], _): return ItentialSearch.millisecondsCondition(filter, column: "t.ready_at", bind)
            case (["job", "status"], .equals): return "j.status = \(bind(filter.value))"
            // Only matches that need a name: `search_name` is NULL unless the name is text.
            case (["name"], .equals), (["name"], .contains), (["name"], .startsWith), (["name"], .endsWith):
                return ItentialSearch.textCondition(filter, column: "t.search_name", bind)
            case (["metrics", "owner"], .equals) where !filter.value.isEmpty:
                // Automatic tasks show the platform's own name as their owner.
                let claimed = "(NOT t.automatic AND t.claimed_by IN (SELECT id FROM users WHERE account_id = \(bind(filter.value))))"
                return filter.value == "Pronghorn" ? "(t.automatic OR \(claimed))" : claimed
            default: return nil
            }
        },
        ordering: { path in
            path == ["metrics", "start_time"] ? ItentialSearch.Ordering(expression: "t.ready_at", nullable: false) : nil
        })

    /// A page of task iterations matching the search, in its order.
    public func search(_ search: ItentialSearch) throws -> ItentialSearch.Page<ItentialIteration> {
        let page = try search.run(over: Self.searchDocuments, on: connection)
        let found = try connection.rows(Self.byIterations, page.items)
        return ItentialSearch.Page(items: page.items.compactMap { id in found.first { $0.id == id } }, total: page.total)
    }
}

import Engine
import JSON
import Postgres

/// A job field a search may filter, sort and return. Each maps to one fixed SQL expression;
/// values always travel as parameters.
public enum JobField: String, Sendable, CaseIterable {
    case jobId, jobName, closed, priority, jobStatus, ownedBy, createdBy, description, notes, jobTemplateId,
        jobTemplateName, diagramId, diagramName, startDate, dueDate, endDate, createdDate, percentComplete,
        assignedType, assignedTo, currentStep

    public enum Kind: String, Sendable {
        case string = "String"
        case integer = "Integer"
        case dateTime = "DateTime"
        case double = "Double"
    }

    public var kind: Kind {
        switch self {
        case .closed: .integer
        case .percentComplete: .double
        case .startDate, .dueDate, .endDate, .createdDate: .dateTime
        default: .string
        }
    }

    /// Several values per job (one per current step).
    var isList: Bool { self == .assignedType || self == .assignedTo || self == .currentStep }

    var sql: String {
        switch self {
        case .jobId: "j.public_id"
        case .jobName: "j.name"
        case .closed: "(CASE WHEN j.status = 'closed' THEN 1 ELSE 0 END)"
        case .ownedBy: "(SELECT username FROM users WHERE id = j.owner_id)"
        case .createdDate: "to_char(j.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
        case .endDate: "to_char(j.finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
        case .percentComplete: "(j.document->>'percentComplete')::numeric"
        case .assignedType:
            currentSteps(
                "CASE WHEN t.assignee_id IS NOT NULL THEN 'User' WHEN t.assignee_group_id IS NOT NULL THEN 'Group' ELSE 'Unassigned' END")
        case .assignedTo:
            currentSteps(
                "coalesce((SELECT username FROM users WHERE id = t.assignee_id), (SELECT name FROM groups WHERE id = t.assignee_group_id))")
        case .currentStep:
            currentSteps(
                "coalesce((SELECT s->>'name' FROM json_array_elements(w.document->'steps') s WHERE s->>'id' = t.key LIMIT 1), t.key)")
        default: "(j.document->>'\(rawValue)')"
        }
    }

    /// What a sort on the field orders by: the timestamp itself where its text sorts the same
    /// way (so that an index serves it; jobs within one second then keep their creation order),
    /// else the text the field shows.
    var orderSQL: String {
        switch self {
        case .createdDate: "j.created_at"
        case .endDate: "j.finished_at"
        default: isList ? "array_to_string(\(sql), ', ')" : sql
        }
    }

    private func currentSteps(_ value: String) -> String {
        "ARRAY(SELECT \(value) FROM tasks t WHERE t.job_id = j.id AND t.is_current AND j.status = 'open' ORDER BY t.position)"
    }
}

public enum Comparison: String, Sendable, CaseIterable {
    case equal = "="
    case notEqual = "<>"
    case less = "<"
    case lessOrEqual = "<="
    case greater = ">"
    case greaterOrEqual = ">="
    case like = "LIKE"
}

/// A parsed search condition (the surface parses `q`; this only builds SQL from it).
public indirect enum JobCondition: Sendable, Equatable {
    case compare(JobField, Comparison, String)
    case isNull(JobField, negated: Bool)
    case isIn(JobField, [String], negated: Bool)
    case and(JobCondition, JobCondition)
    case or(JobCondition, JobCondition)
    case not(JobCondition)
    /// Free text in the job's id, name or description.
    case text(String)
}

public struct JobSearch: Sendable {
    public var condition: JobCondition?
    public var fields: [JobField]
    public var sort: [(JobField, ascending: Bool)]
    public var start: Int
    public var num: Int

    public init(condition: JobCondition?, fields: [JobField], sort: [(JobField, ascending: Bool)], start: Int, num: Int) {
        self.condition = condition
        self.fields = fields
        self.sort = sort
        self.start = start
        self.num = num
    }
}

public struct JobSearchResult: Sendable {
    /// One row per job, values in the order of `fields` (lists joined with ", ").
    public let rows: [[String?]]
    public let hasMore: Bool
}

/// How many jobs a statistics request matched, and per value of its grouping field.
public struct JobStatistics: Sendable {
    public let total: Int
    public let groups: [(value: String?, count: Int)]

    /// Groups beyond this many (the least frequent) are left out.
    public static let maxGroups = 1000
}

extension StepJobs {
    public func search(item: Int64, _ search: JobSearch) throws -> JobSearchResult {
        let (filter, parameters) = try Self.filter(item: item, search.condition)
        let columns = search.fields.map { field in
            field.isList ? "array_to_string(\(field.sql), ', ')" : "\(field.sql)::text"
        }
        let order = (search.sort.map { "\($0.0.orderSQL) \($0.ascending ? "ASC" : "DESC")" } + ["j.id"]).joined(separator: ", ")
        let text = """
            SELECT \((columns.isEmpty ? ["j.public_id"] : columns).joined(separator: ", "))
            FROM jobs j JOIN workflows w ON w.id = j.workflow_id
            WHERE \(filter)
            ORDER BY \(order) OFFSET \(max(0, search.start)) LIMIT \(max(0, search.num) + 1)
            """
        let rows = try connection.execute(sql: text, parameters).rows
        let width = search.fields.count
        let values = rows.prefix(max(0, search.num)).map { row in (0..<width).map { row[$0] } }
        return JobSearchResult(rows: Array(values), hasMore: rows.count > search.num)
    }

    /// The jobs matching `condition`, counted, and by value of `groupBy` (each value of a list
    /// field, such as the current steps' assignees, counts the job once).
    public func statistics(item: Int64, _ condition: JobCondition?, groupBy: JobField?) throws -> JobStatistics {
        let (filter, parameters) = try Self.filter(item: item, condition)
        let from = "FROM jobs j JOIN workflows w ON w.id = j.workflow_id"
        let total = try connection.execute(sql: "SELECT count(*) \(from) WHERE \(filter)", parameters).rows.first?[0].flatMap { Int($0) }
        guard let groupBy else { return JobStatistics(total: total ?? 0, groups: []) }
        let (value, source) =
            groupBy.isList
            ? ("v.value", "\(from) CROSS JOIN LATERAL unnest(\(groupBy.sql)) AS v(value)") : ("\(groupBy.sql)::text", from)
        let rows = try connection.execute(
            sql: """
                SELECT \(value) AS value, count(*) \(source) WHERE \(filter)
                GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT \(JobStatistics.maxGroups)
                """, parameters
        ).rows
        return JobStatistics(total: total ?? 0, groups: rows.map { (value: $0[0], count: $0[1].flatMap { Int($0) } ?? 0) })
    }

    /// A number PostgreSQL's numeric reads: digits with an optional sign, point and exponent
    /// (Swift's Double would also take `nan`, `inf` and hexadecimal).
    static func isDecimal(_ text: String) -> Bool {
        Double(text) != nil && !text.isEmpty && text.unicodeScalars.allSatisfy { "0123456789+-.eE".unicodeScalars.contains($0) }
    }

    /// The WHERE clause of the item's jobs that match `condition`, with its parameters.
    static func filter(item: Int64, _ condition: JobCondition?) throws -> (String, [any PostgresParameter]) {
        var parameters: [any PostgresParameter] = [item]

        func bind(_ value: String) -> String {
            parameters.append(value)
            return "$\(parameters.count)"
        }
        func sql(_ condition: JobCondition) throws -> String {
            switch condition {
            case let .compare(field, comparison, value):
                if field.isList {
                    guard comparison == .equal || comparison == .notEqual || comparison == .like else {
                        throw EngineError(.invalid, "\(field.rawValue) can only be compared with =, <> or LIKE")
                    }
                    let test =
                        comparison == .like
                        ? "EXISTS (SELECT 1 FROM unnest(\(field.sql)) v WHERE v LIKE \(bind(value)))"
                        : "\(bind(value)) = ANY(\(field.sql))"
                    return comparison == .notEqual ? "NOT (\(test))" : test
                }
                // `closed` is the job's status; compared as such, an index serves it.
                if field == .closed, comparison == .equal || comparison == .notEqual, value == "0" || value == "1" {
                    return "j.status \(comparison.rawValue) '\(value == "1" ? "closed" : "open")'"
                }
                if field.kind == .integer || field.kind == .double {
                    guard comparison != .like, Self.isDecimal(value) else {
                        throw EngineError(.invalid, "\(field.rawValue) must be compared with a number")
                    }
                    return "\(field.sql) \(comparison.rawValue) \(bind(value))::numeric"
                }
                return "\(field.sql) \(comparison.rawValue) \(bind(value))::text"
            case let .isNull(field, negated):
                let test = field.isList ? "cardinality(\(field.sql)) = 0" : "\(field.sql) IS NULL"
                return negated ? "NOT (\(test))" : test
            case let .isIn(field, values, negated):
                guard !values.isEmpty, values.count <= 1000 else { throw EngineError(.invalid, "IN takes 1 to 1000 values") }
                if field.kind == .integer || field.kind == .double, !values.allSatisfy(Self.isDecimal) {
                    throw EngineError(.invalid, "\(field.rawValue) must be compared with numbers")
                }
                let list = values.map { field.kind == .integer || field.kind == .double ? "\(bind($0))::numeric" : "\(bind($0))::text" }
                    .joined(separator: ", ")
                let test = field.isList ? "\(field.sql) && ARRAY[\(list)]" : "\(field.sql) IN (\(list))"
                return negated ? "NOT (\(test))" : test
            case let .and(left, right): return "(\(try sql(left)) AND \(try sql(right)))"
            case let .or(left, right): return "(\(try sql(left)) OR \(try sql(right)))"
            case let .not(inner): return "NOT (\(try sql(inner)))"
            case let .text(text):
                let pattern = bind("%" + text.replacingLikeWildcards() + "%")
                return "(j.public_id ILIKE \(pattern) OR j.name ILIKE \(pattern) OR (j.document->>'description') ILIKE \(pattern))"
            }
        }
        let filter = try condition.map { "AND \(try sql($0))" } ?? ""
        return ("j.item_id = $1 AND j.surface = 'workflow_manager' \(filter)", parameters)
    }
}

extension String {
    /// Escapes LIKE's wildcards so that free text matches literally.
    func replacingLikeWildcards() -> String {
        var escaped = ""
        for character in self {
            if character == "%" || character == "_" || character == "\\" { escaped.append("\\") }
            escaped.append(character)
        }
        return escaped
    }
}

import Engine
import JSON
import Postgres

/// Operations Manager's list grammar for automations and triggers (not the bracket grammar of
/// jobs and tasks), which WorkFlowEngine's metrics share: one `equals`/`equalsField`,
/// `contains`/`containsField` and `startsWith`/`startsWithField` each, on a (dotted) member of
/// the document; `sort`, `order`, `skip`, `limit`. The documents are rendered in SQL by the
/// statement's rows, whose `$1` is the caller's groups.
public struct ItentialCatalogQuery: Sendable {
    public typealias Match = (field: String, value: String)
    public var equals: Match?
    public var contains: Match?
    public var startsWith: Match?
    /// Members the documents must contain as given (a trigger's `enabled`, `actionId`).
    public var required: JSON = [:]
    public var sort = "name"
    public var descending = false
    public var limit = 25
    public var skip = 0
    /// The caller's groups; nil for an admin (sees everything).
    public var visibleGroups: [String]?

    public init() {}

    typealias Page = Query<
        [String]?, String?, String?, String?, String?, String?, String?, String, String, Bool, Int, Int, (document: JSON, total: Int)
    >
    typealias Count = Query<[String]?, String?, String?, String?, String?, String?, String?, String, Int>

    /// One page of the documents `page` renders, and the number of all that match.
    func run(_ page: Page, _ count: Count, on connection: Connection) throws -> ItentialSearch.Page<JSON> {
        let matches = (equals, contains, startsWith)
        let rows = try connection.rows(
            page, visibleGroups, matches.0?.field, matches.0?.value, matches.1?.field, matches.1?.value, matches.2?.field,
            matches.2?.value, required.serialized, sort, descending, limit, skip)
        // Past the last page there is no row to carry the total.
        let total =
            try rows.first?.total
            ?? connection.first(
                count, visibleGroups, matches.0?.field, matches.0?.value, matches.1?.field, matches.1?.value, matches.2?.field,
                matches.2?.value, required.serialized) ?? 0
        return .init(items: rows.map(\.document), total: total)
    }

    /// The member at the dotted path in parameter `n` (`name`, `workflow.name`), as text.
    static func member(_ n: Int) -> String { "d.document #>> string_to_array($\(n), '.')" }

    /// `$2`–`$7`: three (dotted path, value) pairs; `$8`: the members required.
    static let filters = """
        ($2::text IS NULL OR \(member(2)) = $3) AND ($4::text IS NULL OR strpos(\(member(4)), $5) > 0)
        AND ($6::text IS NULL OR starts_with(\(member(6)), $7)) AND d.document @> $8::jsonb
        """

    static func page(_ name: String, rows: String) -> Page {
        Query(
            name,
            """
            SELECT d.document, count(*) OVER () AS total FROM (\(rows)) d WHERE \(filters)
            ORDER BY CASE WHEN $10 THEN \(member(9)) END DESC, CASE WHEN NOT $10 THEN \(member(9)) END, d.id LIMIT $11 OFFSET $12
            """, binding: [String]?.self, String?.self, String?.self, String?.self, String?.self, String?.self, String?.self, String.self,
            String.self, Bool.self, Int.self, Int.self,
            reading: { row in (document: try row.json("document"), total: try row.value("total", as: Int.self)) })
    }

    static func count(_ name: String, rows: String) -> Count {
        Query(
            name, "SELECT count(*) AS total FROM (\(rows)) d WHERE \(filters)", binding: [String]?.self, String?.self, String?.self,
            String?.self, String?.self, String?.self, String?.self, String.self, reading: { try $0.value("total", as: Int.self) })
    }

    /// ISO-8601 with milliseconds and `Z`, as the platform's audit fields.
    static func iso(_ column: String) -> String {
        "to_char(\(column) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
    }
}

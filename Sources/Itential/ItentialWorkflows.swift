import Engine
import JSON
import Postgres

/// Itential workflows (Automation Studio automations), stored as `workflows` rows whose
/// document is the workflow as sent plus the fields the platform adds: `_id`, audit fields,
/// the validation `errors`/`warnings`, and `outputSchema` extended with `_id` and `initiator`.
public struct ItentialWorkflows {
    let connection: Connection

    public struct Page: Sendable {
        public let items: [JSON]
        public let total: Int
    }

    /// Filters of the workflow list; nil means no filter.
    public struct Filter: Sendable {
        public var name: String?
        public var id: String?
        public var nameContains: String?
        public var nameStartsWith: String?

        public init() {}
    }

    /// Stores a new workflow; a taken name is `.conflict` with Itential's message.
    public func create(_ workflow: JSON, by user: User) throws -> JSON {
        try importAll([workflow], by: user)[0]
    }

    /// Stores several workflows in one transaction: all or none.
    public func importAll(_ workflows: [JSON], by user: User) throws -> [JSON] {
        let names = try workflows.map(Self.name)
        if let duplicate = names.enumerated().first(where: { names.firstIndex(of: $0.element) != $0.offset }) {
            throw EngineError(.conflict, "workflow with name `\(duplicate.element)` already exists")
        }
        return try connection.transaction { tx in
            try workflows.map { workflow in
                let name = try Self.name(workflow)
                guard let id = try tx.first(Self.newId) else { throw EngineError(.conflict, "No id") }
                let now = Timestamp.formatMilliseconds(WallClock.now)
                let document = Self.stored(workflow, id: id, created: (now, user.accountId), updated: (now, user.accountId))
                do {
                    try tx.run(Self.insert, id, name, document.serialized, user.id)
                } catch let error as PostgresError where error.isUniqueViolation {
                    throw EngineError(.conflict, "workflow with name `\(name)` already exists")
                }
                return document
            }
        }
    }

    /// Replaces a workflow's definition, keeping its id and creation fields; nil if unknown.
    public func update(id: String, _ workflow: JSON, by user: User) throws -> JSON? {
        let name = try Self.name(workflow)
        do {
            return try connection.transaction { tx in
                guard let current = try tx.first(Self.lockById, id) else { return nil }
                let created = (current["created"]?.stringValue ?? "", current["created_by"]?.stringValue ?? "")
                let document = Self.stored(
                    workflow, id: id, created: created,
                    updated: (Timestamp.formatMilliseconds(WallClock.now), user.accountId))
                try tx.run(Self.replace, id, name, document.serialized)
                return document
            }
        } catch let error as PostgresError where error.isUniqueViolation {
            throw EngineError(.conflict, "workflow with name `\(name)` already exists")
        }
    }

    public func find(name: String) throws -> JSON? {
        try findRecord(name: name)?.document
    }

    /// The workflow's row (jobs refer to it) and document.
    public func findRecord(name: String) throws -> (rowId: Int64, document: JSON)? {
        try connection.first(Self.byName, name)
    }

    public func list(_ filter: Filter, limit: Int, skip: Int) throws -> Page {
        let rows = try connection.rows(Self.page, filter.name, filter.id, filter.nameContains, filter.nameStartsWith, limit, skip)
        // Past the last page there is no row to carry the total.
        let total =
            try rows.first?.total ?? connection.first(Self.count, filter.name, filter.id, filter.nameContains, filter.nameStartsWith) ?? 0
        return Page(items: rows.map(\.document), total: total)
    }

    /// Deletes by name and returns the deleted workflow; nil if there was none. Jobs keep
    /// their own snapshot.
    public func delete(name: String) throws -> JSON? {
        try connection.first(Self.deleteByName, name)
    }

    // MARK: Documents

    static func name(_ workflow: JSON) throws -> String {
        guard case .object = workflow else { throw EngineError(.invalid, "A workflow must be a JSON object") }
        guard let name = workflow["name"]?.stringValue, !name.isEmpty, name.utf8.count <= 500 else {
            throw EngineError(.invalid, "A workflow needs a name of 1 to 500 characters")
        }
        guard workflow["tasks"]?.objectValue != nil, workflow["transitions"]?.objectValue != nil else {
            throw EngineError(.invalid, "A workflow needs tasks and transitions objects")
        }
        return name
    }

    /// The workflow as sent, with the platform's fields set (sent values for them are replaced).
    static func stored(_ workflow: JSON, id: String, created: (String, String), updated: (String, String)) -> JSON {
        let platformFields: Set<String> = ["_id", "created", "created_by", "last_updated", "last_updated_by", "errors", "warnings"]
        var fields: [(String, JSON)] = [("_id", .string(id))]
        fields += (workflow.objectValue ?? []).filter { !platformFields.contains($0.0) }
        if fields.first(where: { $0.0 == "type" }) == nil { fields.append(("type", "automation")) }
        let graph = WorkflowGraph(workflow)
        fields += [
            ("created", .string(created.0)), ("created_by", .string(created.1)),
            ("last_updated", .string(updated.0)), ("last_updated_by", .string(updated.1)),
            ("errors", .array(graph.errors.map { ["task": .string($0.task), "message": .string($0.message)] })),
            ("warnings", []),
        ]
        var document = JSON.object(fields)
        let output = workflow["outputSchema"] ?? ["type": "object", "properties": [:]]
        let properties = (output["properties"] ?? [:])
            .setting("_id", to: ["type": "string", "pattern": "^[0-9a-f]{24}$"])
            .setting("initiator", to: ["type": "string"])
        document = document.setting("outputSchema", to: output.setting("properties", to: properties))
        return document
    }

    // MARK: Statements

    static let newId = Query(
        "itential_workflow_new_id", "SELECT gen_random_uuid()::text AS id", reading: { try $0.value("id", as: String.self) })
    static let insert = Query(
        "itential_workflow_insert",
        """
        INSERT INTO workflows (surface, public_id, name, document, created_by) VALUES ('itential', $1, $2, $3::json, $4)
        """, binding: String.self, String.self, String.self, Int64.self)
    static let lockById = Query(
        "itential_workflow_lock",
        """
        SELECT document FROM workflows WHERE surface = 'itential' AND public_id = $1 FOR UPDATE
        """, binding: String.self, reading: { try $0.json("document") })
    static let replace = Query(
        "itential_workflow_replace",
        """
        UPDATE workflows SET name = $2, document = $3::json, updated_at = now() WHERE surface = 'itential' AND public_id = $1
        """, binding: String.self, String.self, String.self)
    package static let byName = Query(
        "itential_workflow_by_name",
        "SELECT document, id FROM workflows WHERE surface = 'itential' AND name = $1", binding: String.self,
        reading: { row in (rowId: try row.value("id", as: Int64.self), document: try row.json("document")) })
    static let filter = """
        surface = 'itential' AND ($1::text IS NULL OR name = $1) AND ($2::text IS NULL OR public_id = $2)
          AND ($3::text IS NULL OR strpos(name, $3) > 0) AND ($4::text IS NULL OR starts_with(name, $4))
        """
    /// Each row carries the total of the filtered set.
    static let page = Query(
        "itential_workflow_page",
        "SELECT document, count(*) OVER () AS total FROM workflows WHERE \(filter) ORDER BY name LIMIT $5 OFFSET $6", binding: String?.self,
        String?.self, String?.self, String?.self, Int.self, Int.self,
        reading: { row in (document: try row.json("document"), total: try row.value("total", as: Int.self)) })
    static let count = Query(
        "itential_workflow_count", "SELECT count(*) AS total FROM workflows WHERE \(filter)", binding: String?.self, String?.self,
        String?.self, String?.self, reading: { try $0.value("total", as: Int.self) })
    static let deleteByName = Query(
        "itential_workflow_delete",
        "DELETE FROM workflows WHERE surface = 'itential' AND name = $1 RETURNING document", binding: String.self,
        reading: { try $0.json("document") })
}

extension ItentialWorkflows: StatementCatalog {
    package static var statements: [Statement] {
        [
            newId.statement, insert.statement, lockById.statement, replace.statement, byName.statement, page.statement, count.statement,
            deleteByName.statement,
        ]
    }
}

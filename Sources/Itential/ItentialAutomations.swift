import Engine
import JSON
import Postgres

/// Operations Manager automations: a workflow offered to operators under a name of its own,
/// run on request or by its triggers (`ItentialTriggers`). `gbac.write` lists the groups that
/// may change it, `gbac.read` those that may see and run it; with neither, everyone may.
public struct ItentialAutomations {
    let connection: Connection

    /// A stored automation and the groups its access rules name.
    public struct Automation: Sendable {
        public let rowId: Int64
        public let document: JSON
        public let writeGroups: [String]
        public let readGroups: [String]

        /// Whether a caller in `groups` (nil: an admin) may see it and run its triggers.
        public func isVisible(to groups: [String]?) -> Bool {
            guard let groups else { return true }
            let named = writeGroups + readGroups
            return named.isEmpty || !Set(named).isDisjoint(with: groups)
        }

        /// Whether a caller in `groups` (nil: an admin) may change it or its triggers.
        public func isWritable(by groups: [String]?) -> Bool {
            guard let groups else { return true }
            return writeGroups.isEmpty || !Set(writeGroups).isDisjoint(with: groups)
        }
    }

    /// `{name, description, componentType, componentId | componentName, gbac}`; nil members of
    /// an update keep their value.
    struct Fields {
        var name: String?
        var description: String?
        var workflowId: String??
        var workflowName: String?
        var gbac: (write: [String], read: [String])?

        static let members: Set<String> = ["name", "description", "componentType", "componentId", "componentName", "gbac"]
        /// What the platform adds; an exported automation sent back carries them.
        static let platformMembers: Set<String> = ["_id", "created", "createdBy", "lastUpdated", "lastUpdatedBy", "triggers"]

        init(_ body: JSON, creating: Bool) throws {
            guard let members = body.objectValue else { throw EngineError(.invalid, "The body must be a JSON object") }
            if let unknown = members.map(\.0).first(where: { !Self.members.contains($0) && !Self.platformMembers.contains($0) }) {
                throw EngineError(.invalid, "body must NOT have additional properties: \(unknown)")
            }
            if let name = body["name"] {
                guard let text = name.stringValue, !text.isEmpty, text.utf8.count <= 500 else {
                    throw EngineError(.invalid, "name must be a string of 1 to 500 characters")
                }
                self.name = text
            } else if creating {
                throw EngineError(.invalid, "name is required")
            }
            if let description = body["description"], !description.isNull {
                guard let text = description.stringValue, text.utf8.count <= 10_000 else {
                    throw EngineError(.invalid, "description must be a string of at most 10000 characters")
                }
                self.description = text
            }
            if let type = body["componentType"], type.stringValue != "workflows" {
                throw EngineError(.invalid, "componentType must be workflows: Flowgate runs workflows only")
            }
            if let id = body["componentId"] {
                guard id.isNull || id.stringValue != nil else { throw EngineError(.invalid, "componentId must be a workflow id or null") }
                workflowId = .some(id.stringValue)
            }
            if let name = body["componentName"], !name.isNull {
                guard let text = name.stringValue else { throw EngineError(.invalid, "componentName must be a workflow name") }
                workflowName = text
            }
            if let gbac = body["gbac"] {
                guard let write = Self.groupIds(gbac["write"] ?? []), let read = Self.groupIds(gbac["read"] ?? []) else {
                    throw EngineError(.invalid, "gbac must be {\"write\": [group ids], \"read\": [group ids]}")
                }
                self.gbac = (write, read)
            }
        }

        static func groupIds(_ value: JSON) -> [String]? {
            guard let list = value.arrayValue, list.count <= 100 else { return nil }
            let ids = list.compactMap(\.stringValue)
            return ids.count == list.count && ids.allSatisfy { $0.utf8.count == 24 } ? ids : nil
        }
    }

    public func create(_ body: JSON, by user: User) throws -> JSON {
        try connection.transaction { tx in try Self.create(body, by: user, on: tx) }
    }

    /// Automations as exported (each with its `triggers`), all or none: each gets a new id,
    /// which its triggers then name.
    public func importAll(_ automations: [JSON], by user: User) throws -> [JSON] {
        guard automations.count <= Self.importLimit else { throw EngineError(.invalid, "At most \(Self.importLimit) automations at once") }
        return try connection.transaction { tx in
            try automations.enumerated().map { index, exported in
                try ItentialTriggers.naming("automations[\(index)]") {
                    let created = try Self.create(exported, by: user, on: tx)
                    let triggers = exported["triggers"]?.arrayValue ?? []
                    guard triggers.count <= Self.importLimit else { throw EngineError(.invalid, "At most \(Self.importLimit) triggers") }
                    let made = try triggers.map { trigger in
                        try ItentialTriggers.create(
                            trigger.setting("actionId", to: created["_id"] ?? .null), by: user, mayWrite: { _ in true }, on: tx)
                    }
                    return created.setting("triggers", to: .array(made))
                }
            }
        }
    }

    static let importLimit = 100

    static func create(_ body: JSON, by user: User, on tx: Connection) throws -> JSON {
        let fields = try Fields(body, creating: true)
        let workflow = try Self.workflowRow(fields, on: tx)
        let groups = fields.gbac ?? ([], [])
        try Self.requireGroups(groups.write + groups.read, on: tx)
        let id = ItentialNewJob.objectId()
        try Self.uniquelyNamed(fields.name) {
            try tx.run(Self.insert, id, fields.name ?? "", fields.description ?? "", workflow ?? nil, groups.write, groups.read, user.id)
        }
        guard let created = try tx.first(Self.byId, id) else { throw EngineError(.conflict, "Automation \(id) could not be read back") }
        return created.document
    }

    public func automation(id: String) throws -> Automation? {
        try connection.first(Self.byId, id)
    }

    /// Changes the members `body` names; nil when there is no such automation. `mayWrite`
    /// decides on the automation as it is, under its row lock.
    public func update(id: String, _ body: JSON, by user: User, mayWrite: (Automation) -> Bool) throws -> JSON? {
        let fields = try Fields(body, creating: false)
        return try connection.transaction { tx in
            guard let current = try tx.first(Self.lock, id) else { return nil }
            guard mayWrite(current) else { throw EngineError(.forbidden, "Not in a group that may change automation \(id)") }
            let workflow = try Self.workflowRow(fields, on: tx)
            if let groups = fields.gbac { try Self.requireGroups(groups.write + groups.read, on: tx) }
            try Self.uniquelyNamed(fields.name) {
                try tx.run(
                    Self.update, current.rowId, fields.name, fields.description, workflow != nil, workflow ?? nil, fields.gbac?.write,
                    fields.gbac?.read, user.id)
            }
            return try tx.first(Self.byId, id)?.document
        }
    }

    /// Deletes the automation and its triggers (their firings stay in history); false when
    /// there is none.
    public func delete(id: String, mayWrite: (Automation) -> Bool) throws -> Bool {
        try connection.transaction { tx in
            guard let current = try tx.first(Self.lock, id) else { return false }
            guard mayWrite(current) else { throw EngineError(.forbidden, "Not in a group that may change automation \(id)") }
            try tx.run(Self.deleteRow, current.rowId)
            return true
        }
    }

    public func list(_ query: ItentialCatalogQuery) throws -> ItentialSearch.Page<JSON> {
        try query.run(Self.page, Self.count, on: connection)
    }

    /// A taken name as the conflict it is.
    static func uniquelyNamed(_ name: String?, _ write: () throws -> Void) throws {
        do {
            try write()
        } catch let error as PostgresError where error.isUniqueViolation {
            throw EngineError(.conflict, "An automation named \(name ?? "") already exists")
        }
    }

    /// The workflow row the fields choose: `.some(nil)` to clear it, nil to keep it.
    static func workflowRow(_ fields: Fields, on tx: Connection) throws -> Int64?? {
        if let name = fields.workflowName, fields.workflowId == nil {
            guard let row = try tx.first(Self.workflowByName, name) else { throw EngineError(.invalid, "Workflow \(name) not found") }
            return .some(row)
        }
        guard let choice = fields.workflowId else { return nil }
        guard let id = choice else { return .some(nil) }
        guard let row = try tx.first(Self.workflowById, id) else { throw EngineError(.invalid, "Workflow \(id) not found") }
        return .some(row)
    }

    static func requireGroups(_ ids: [String], on tx: Connection) throws {
        guard !ids.isEmpty else { return }
        let known = Set(try tx.rows(Self.knownGroups, ids))
        if let unknown = ids.first(where: { !known.contains($0) }) { throw EngineError(.invalid, "No group has the id \(unknown)") }
    }

    // MARK: Statements

    static let decode: @Sendable (Row) throws -> Automation = { row in try decode(row, id: "id", document: "document") }

    static func decode(_ row: Row, id: String, document: String) throws -> Automation {
        Automation(
            rowId: try row.value(id), document: try row.json(document),
            writeGroups: try row.json("gbac_write").arrayValue?.compactMap(\.stringValue) ?? [],
            readGroups: try row.json("gbac_read").arrayValue?.compactMap(\.stringValue) ?? [])
    }

    /// The automation as the platform shows it; `componentName` only with a workflow.
    static let document = """
        jsonb_build_object(
            '_id', a.public_id, 'name', a.name, 'description', a.description, 'componentType', a.component_type,
            'componentId', w.public_id, 'gbac', jsonb_build_object('write', to_jsonb(a.gbac_write), 'read', to_jsonb(a.gbac_read)),
            'created', \(ItentialCatalogQuery.iso("a.created_at")), 'createdBy', cu.account_id,
            'lastUpdated', \(ItentialCatalogQuery.iso("a.updated_at")), 'lastUpdatedBy', uu.account_id)
        || CASE WHEN w.id IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('componentName', w.name) END
        """
    static let from = """
        itential_automations a LEFT JOIN workflows w ON w.id = a.workflow_id
        LEFT JOIN users cu ON cu.id = a.created_by LEFT JOIN users uu ON uu.id = a.updated_by
        """
    static let byId = Query(
        "itential_automation_by_id",
        "SELECT a.id, \(document) AS document, to_jsonb(a.gbac_write) AS gbac_write, to_jsonb(a.gbac_read) AS gbac_read FROM \(from) WHERE a.public_id = $1",
        binding: String.self, reading: decode)
    static let lock = Query(
        "itential_automation_lock",
        """
        SELECT a.id, \(document) AS document, to_jsonb(a.gbac_write) AS gbac_write, to_jsonb(a.gbac_read) AS gbac_read
        FROM \(from) WHERE a.public_id = $1 FOR UPDATE OF a
        """, binding: String.self, reading: decode)
    static let insert = Query(
        "itential_automation_insert",
        """
        INSERT INTO itential_automations (public_id, name, description, workflow_id, gbac_write, gbac_read, created_by, updated_by)
        VALUES ($1, $2, $3, $4, $5::text[], $6::text[], $7, $7)
        """, binding: String.self, String.self, String.self, Int64?.self, [String].self, [String].self, Int64.self)
    /// NULL parameters keep a column; `$4` says whether the workflow changes (to `$5`, maybe NULL).
    static let update = Query(
        "itential_automation_update",
        """
        UPDATE itential_automations SET name = coalesce($2, name), description = coalesce($3, description),
            workflow_id = CASE WHEN $4 THEN $5 ELSE workflow_id END, gbac_write = coalesce($6::text[], gbac_write),
            gbac_read = coalesce($7::text[], gbac_read), updated_by = $8, updated_at = now()
        WHERE id = $1
        """, binding: Int64.self, String?.self, String?.self, Bool.self, Int64?.self, [String]?.self, [String]?.self, Int64.self)
    static let deleteRow = Query("itential_automation_delete", "DELETE FROM itential_automations WHERE id = $1", binding: Int64.self)
    static let workflowById = Query(
        "itential_automation_workflow_by_id", "SELECT id FROM workflows WHERE surface = 'itential' AND public_id = $1",
        binding: String.self, reading: { try $0.value("id", as: Int64.self) })
    static let workflowByName = Query(
        "itential_automation_workflow_by_name", "SELECT id FROM workflows WHERE surface = 'itential' AND name = $1",
        binding: String.self, reading: { try $0.value("id", as: Int64.self) })
    static let knownGroups = Query(
        "itential_automation_known_groups", "SELECT account_id::text AS id FROM groups WHERE account_id = ANY($1::text[])",
        binding: [String].self, reading: { try $0.value("id", as: String.self) })
    static let visible = """
        ($1::text[] IS NULL OR (a.gbac_write || a.gbac_read) = '{}' OR (a.gbac_write || a.gbac_read) && $1::text[])
        """
    static let rows = "SELECT a.id, \(document) AS document FROM \(from) WHERE \(visible)"
    static let page = ItentialCatalogQuery.page("itential_automation_page", rows: rows)
    static let count = ItentialCatalogQuery.count("itential_automation_count", rows: rows)
}

extension ItentialAutomations: StatementCatalog {
    package static var statements: [Statement] {
        [
            byId.statement, lock.statement, insert.statement, update.statement, deleteRow.statement, workflowById.statement,
            workflowByName.statement, knownGroups.statement, page.statement, count.statement,
        ]
    }
}

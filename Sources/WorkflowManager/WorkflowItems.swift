import Engine
import JSON
import Postgres

public struct WorkflowItem: Sendable {
    /// The engine's key, passed back to every other call.
    public let key: Int64
    public let orgId: String
    public let itemId: String
    public let name: String
    public let createdAt: Double
}

public struct StoredDiagram: Sendable {
    public let id: String
    public let version: Int
    public let diagram: Diagram

    public init(id: String, version: Int, diagram: Diagram) {
        self.id = id
        self.version = version
        self.diagram = diagram
    }
}

public struct JobTemplate: Sendable {
    public let id: String
    public let name: String
    public let diagramId: String
    public let state: String
    /// The other fields as sent (defaults for new jobs).
    public let document: JSON
    public let updatedBy: String?
    public let updatedAt: Double
}

/// Workflow items and what belongs to one: diagrams (stored as `workflows` rows) and job templates.
public struct WorkflowItems {
    let connection: Connection

    public static let templateStates = ["Draft", "Active", "Automated", "Retired"]

    // MARK: Items

    /// Creates an item; a taken id is `.conflict`.
    public func create(orgId: String, itemId: String?, name: String, by user: User) throws -> WorkflowItem {
        do {
            guard let item = try connection.first(Self.insertItem, orgId, itemId, name, user.id) else {
                throw EngineError(.conflict, "The workflow item could not be created")
            }
            return item
        } catch let error as PostgresError where error.isUniqueViolation {
            throw EngineError(.conflict, "Workflow item \(itemId ?? "") already exists")
        }
    }

    public func item(orgId: String, itemId: String) throws -> WorkflowItem? {
        try connection.first(Self.itemById, orgId, itemId)
    }

    public func items(orgId: String) throws -> [WorkflowItem] {
        try connection.rows(Self.itemsOfOrg, orgId)
    }

    // MARK: Diagrams

    public func createDiagram(item: Int64, _ document: JSON, by user: User) throws -> StoredDiagram {
        let diagram = try Diagram(document)
        guard let stored = try connection.first(Self.insertDiagram, item, diagram.name, document.serialized, user.id) else {
            throw EngineError(.conflict, "The diagram could not be created")
        }
        return StoredDiagram(id: stored.id, version: stored.version, diagram: diagram)
    }

    /// The latest version, or the one asked for.
    public func diagram(item: Int64, id: String, version: Int? = nil) throws -> StoredDiagram? {
        try connection.first(Self.diagramById, item, id, version)
    }

    /// The latest version of every diagram of the item.
    public func diagrams(item: Int64) throws -> [StoredDiagram] {
        try connection.rows(Self.diagramsOfItem, item)
    }

    // MARK: Job templates

    public func createTemplate(
        item: Int64, name: String, diagramId: String, state: String, document: JSON,
        by user: User
    ) throws -> JobTemplate {
        guard WorkflowItems.templateStates.contains(state) else {
            throw EngineError(.invalid, "state must be one of \(WorkflowItems.templateStates.joined(separator: ", "))")
        }
        guard try diagram(item: item, id: diagramId) != nil else {
            throw EngineError(.invalid, "Diagram \(diagramId) does not exist")
        }
        guard let template = try connection.first(Self.insertTemplate, item, name, diagramId, state, document.serialized, user.id) else {
            throw EngineError(.conflict, "The job template could not be created")
        }
        return template
    }

    /// Changes the given columns (nil keeps one) and merges `document` into the template's.
    /// Returns nil when there is no such template.
    public func updateTemplate(
        item: Int64, id: String, name: String?, diagramId: String?, state: String?, document: JSON, by user: User
    ) throws -> JobTemplate? {
        if let state, !WorkflowItems.templateStates.contains(state) {
            throw EngineError(.invalid, "state must be one of \(WorkflowItems.templateStates.joined(separator: ", "))")
        }
        if let diagramId, try diagram(item: item, id: diagramId) == nil {
            throw EngineError(.invalid, "Diagram \(diagramId) does not exist")
        }
        return try connection.first(Self.updateTemplateRow, item, id, name, diagramId, state, document.serialized, user.id)
    }

    /// Deletes a template no job was made from; false when there is no such template.
    public func deleteTemplate(item: Int64, id: String) throws -> Bool {
        if try connection.first(Self.deleteUnusedTemplate, item, id) != nil { return true }
        guard try template(item: item, id: id) != nil else { return false }
        throw EngineError(.conflict, "Job template \(id) is used by jobs and cannot be deleted")
    }

    public func template(item: Int64, id: String) throws -> JobTemplate? {
        try connection.first(Self.templateById, item, id)
    }

    public func templates(item: Int64) throws -> [JobTemplate] {
        try connection.rows(Self.templatesOfItem, item)
    }

    // MARK: Rows

    @Sendable static func item(_ row: Row) throws -> WorkflowItem {
        WorkflowItem(
            key: try row.value("id"), orgId: try row.value("org_id"), itemId: try row.value("item_id"), name: try row.value("name"),
            createdAt: try row.value("created_at"))
    }

    @Sendable static func storedDiagram(_ row: Row) throws -> StoredDiagram {
        StoredDiagram(id: try row.value("public_id"), version: try row.value("version"), diagram: try Diagram(try row.json("document")))
    }

    @Sendable static func template(_ row: Row) throws -> JobTemplate {
        JobTemplate(
            id: try row.value("public_id"), name: try row.value("name"), diagramId: try row.value("diagram_id"),
            state: try row.value("state"), document: try row.json("document"), updatedBy: try row.optional("updated_by"),
            updatedAt: try row.value("updated_at"))
    }

    static let itemColumns = "id, org_id, item_id, name, extract(epoch FROM created_at) AS created_at"

    static let insertItem = Query(
        "wm_item_insert",
        """
        INSERT INTO wm_items (org_id, item_id, name, created_by)
        VALUES ($1, coalesce($2, encode(gen_random_bytes(16), 'hex')), $3, $4)
        RETURNING \(itemColumns)
        """, binding: String.self, String?.self, String.self, Int64.self, reading: item)
    package static let itemById = Query(
        "wm_item_get", "SELECT \(itemColumns) FROM wm_items WHERE org_id = $1 AND item_id = $2", binding: String.self, String.self,
        reading: item)
    static let itemsOfOrg = Query(
        "wm_items_of_org", "SELECT \(itemColumns) FROM wm_items WHERE org_id = $1 ORDER BY id", binding: String.self, reading: item)

    static let insertDiagram = Query(
        "wm_diagram_insert",
        """
        INSERT INTO workflows (surface, public_id, name, version, document, created_by, item_id)
        VALUES ('workflow_manager', translate(encode(gen_random_bytes(15), 'base64'), '+/', '-_'), $2, 1, $3::json, $4, $1)
        RETURNING public_id, version
        """, binding: Int64.self, String.self, String.self, Int64.self,
        reading: { row in (id: try row.value("public_id", as: String.self), version: try row.value("version", as: Int.self)) })
    static let diagramById = Query(
        "wm_diagram_get",
        """
        SELECT public_id, version, document FROM workflows
        WHERE surface = 'workflow_manager' AND item_id = $1 AND public_id = $2 AND ($3::integer IS NULL OR version = $3)
        ORDER BY version DESC LIMIT 1
        """, binding: Int64.self, String.self, Int?.self, reading: storedDiagram)
    static let diagramsOfItem = Query(
        "wm_diagrams_of_item",
        """
        SELECT DISTINCT ON (public_id) public_id, version, document FROM workflows
        WHERE surface = 'workflow_manager' AND item_id = $1 ORDER BY public_id, version DESC
        """, binding: Int64.self, reading: storedDiagram)

    static let templateColumns = """
        t.public_id, t.name, t.diagram_id, t.state, t.document, u.username AS updated_by, extract(epoch FROM t.updated_at) AS updated_at
        """
    static let insertTemplate = Query(
        "wm_template_insert",
        """
        WITH t AS (
            INSERT INTO wm_job_templates (item_id, name, diagram_id, state, document, created_by, updated_by)
            VALUES ($1, $2, $3, $4, $5::jsonb, $6, $6) RETURNING *)
        SELECT \(templateColumns) FROM t LEFT JOIN users u ON u.id = t.updated_by
        """, binding: Int64.self, String.self, String.self, String.self, String.self, Int64.self, reading: template)
    static let updateTemplateRow = Query(
        "wm_template_update",
        """
        WITH t AS (
            UPDATE wm_job_templates SET name = coalesce($3, name), diagram_id = coalesce($4, diagram_id), state = coalesce($5, state),
                                        document = document || $6::jsonb, updated_by = $7, updated_at = now()
            WHERE item_id = $1 AND public_id = $2 RETURNING *)
        SELECT \(templateColumns) FROM t LEFT JOIN users u ON u.id = t.updated_by
        """, binding: Int64.self, String.self, String?.self, String?.self, String?.self, String.self, Int64.self, reading: template)
    static let deleteUnusedTemplate = Query(
        "wm_template_delete",
        """
        DELETE FROM wm_job_templates t WHERE t.item_id = $1 AND t.public_id = $2 AND NOT EXISTS (
            SELECT 1 FROM jobs j WHERE j.item_id = t.item_id AND j.surface = 'workflow_manager' AND j.document->>'jobTemplateId' = t.public_id)
        RETURNING t.id
        """, binding: Int64.self, String.self, reading: { try $0.value("id", as: Int64.self) })
    static let templateById = Query(
        "wm_template_get",
        """
        SELECT \(templateColumns) FROM wm_job_templates t LEFT JOIN users u ON u.id = t.updated_by
        WHERE t.item_id = $1 AND t.public_id = $2
        """, binding: Int64.self, String.self, reading: template)
    static let templatesOfItem = Query(
        "wm_templates_of_item",
        """
        SELECT \(templateColumns) FROM wm_job_templates t LEFT JOIN users u ON u.id = t.updated_by
        WHERE t.item_id = $1 ORDER BY t.id
        """, binding: Int64.self, reading: template)
}

extension WorkflowItems: StatementCatalog {
    package static var statements: [Statement] {
        [
            insertItem.statement, itemById.statement, itemsOfOrg.statement, insertDiagram.statement, diagramById.statement,
            diagramsOfItem.statement, insertTemplate.statement, templateById.statement, templatesOfItem.statement,
            updateTemplateRow.statement,
            deleteUnusedTemplate.statement,
        ]
    }
}

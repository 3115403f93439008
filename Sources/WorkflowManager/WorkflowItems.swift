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
            guard let row = try connection.execute(Self.insertItem, [orgId, itemId, name, user.id]).first else {
                throw EngineError(.conflict, "The workflow item could not be created")
            }
            return Self.item(row)
        } catch let error as PostgresError where error.isUniqueViolation {
            throw EngineError(.conflict, "Workflow item \(itemId ?? "") already exists")
        }
    }

    public func item(orgId: String, itemId: String) throws -> WorkflowItem? {
        try connection.execute(Self.itemById, [orgId, itemId]).first.map(Self.item)
    }

    public func items(orgId: String) throws -> [WorkflowItem] {
        try connection.execute(Self.itemsOfOrg, [orgId]).rows.map(Self.item)
    }

    // MARK: Diagrams

    public func createDiagram(item: Int64, _ document: JSON, by user: User) throws -> StoredDiagram {
        let diagram = try Diagram(document)
        guard let row = try connection.execute(Self.insertDiagram, [item, diagram.name, document.serialized, user.id]).first else {
            throw EngineError(.conflict, "The diagram could not be created")
        }
        return StoredDiagram(id: row.string(0), version: row.int(1) ?? 1, diagram: diagram)
    }

    /// The latest version, or the one asked for.
    public func diagram(item: Int64, id: String, version: Int? = nil) throws -> StoredDiagram? {
        try connection.execute(Self.diagramById, [item, id, version]).first.map(Self.storedDiagram)
    }

    /// The latest version of every diagram of the item.
    public func diagrams(item: Int64) throws -> [StoredDiagram] {
        try connection.execute(Self.diagramsOfItem, [item]).rows.map(Self.storedDiagram)
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
        guard let row = try connection.execute(Self.insertTemplate, [item, name, diagramId, state, document.serialized, user.id]).first
        else {
            throw EngineError(.conflict, "The job template could not be created")
        }
        return try Self.template(row)
    }

    public func template(item: Int64, id: String) throws -> JobTemplate? {
        try connection.execute(Self.templateById, [item, id]).first.map(Self.template)
    }

    public func templates(item: Int64) throws -> [JobTemplate] {
        try connection.execute(Self.templatesOfItem, [item]).rows.map(Self.template)
    }

    // MARK: Rows

    static func item(_ row: Row) -> WorkflowItem {
        WorkflowItem(
            key: row.int64(0) ?? 0, orgId: row.string(1), itemId: row.string(2), name: row.string(3),
            createdAt: row.double(4) ?? 0)
    }

    static func storedDiagram(_ row: Row) throws -> StoredDiagram {
        StoredDiagram(id: row.string(0), version: row.int(1) ?? 1, diagram: try Diagram(try row.json(2)))
    }

    static func template(_ row: Row) throws -> JobTemplate {
        JobTemplate(
            id: row.string(0), name: row.string(1), diagramId: row.string(2), state: row.string(3),
            document: try row.json(4), updatedBy: row[5], updatedAt: row.double(6) ?? 0)
    }

    static let itemColumns = "id, org_id, item_id, name, extract(epoch FROM created_at)"

    static let insertItem = Statement(
        "wm_item_insert",
        """
        INSERT INTO wm_items (org_id, item_id, name, created_by)
        VALUES ($1, coalesce($2, encode(gen_random_bytes(16), 'hex')), $3, $4)
        RETURNING \(itemColumns)
        """)
    package static let itemById = Statement("wm_item_get", "SELECT \(itemColumns) FROM wm_items WHERE org_id = $1 AND item_id = $2")
    static let itemsOfOrg = Statement("wm_items_of_org", "SELECT \(itemColumns) FROM wm_items WHERE org_id = $1 ORDER BY id")

    static let insertDiagram = Statement(
        "wm_diagram_insert",
        """
        INSERT INTO workflows (surface, public_id, name, version, document, created_by, item_id)
        VALUES ('workflow_manager', translate(encode(gen_random_bytes(15), 'base64'), '+/', '-_'), $2, 1, $3::json, $4, $1)
        RETURNING public_id, version
        """)
    static let diagramById = Statement(
        "wm_diagram_get",
        """
        SELECT public_id, version, document FROM workflows
        WHERE surface = 'workflow_manager' AND item_id = $1 AND public_id = $2 AND ($3::integer IS NULL OR version = $3)
        ORDER BY version DESC LIMIT 1
        """)
    static let diagramsOfItem = Statement(
        "wm_diagrams_of_item",
        """
        SELECT DISTINCT ON (public_id) public_id, version, document FROM workflows
        WHERE surface = 'workflow_manager' AND item_id = $1 ORDER BY public_id, version DESC
        """)

    static let templateColumns = """
        t.public_id, t.name, t.diagram_id, t.state, t.document, u.username, extract(epoch FROM t.updated_at)
        """
    static let insertTemplate = Statement(
        "wm_template_insert",
        """
        WITH t AS (
            INSERT INTO wm_job_templates (item_id, name, diagram_id, state, document, created_by, updated_by)
            VALUES ($1, $2, $3, $4, $5::jsonb, $6, $6) RETURNING *)
        SELECT \(templateColumns) FROM t LEFT JOIN users u ON u.id = t.updated_by
        """)
    static let templateById = Statement(
        "wm_template_get",
        """
        SELECT \(templateColumns) FROM wm_job_templates t LEFT JOIN users u ON u.id = t.updated_by
        WHERE t.item_id = $1 AND t.public_id = $2
        """)
    static let templatesOfItem = Statement(
        "wm_templates_of_item",
        """
        SELECT \(templateColumns) FROM wm_job_templates t LEFT JOIN users u ON u.id = t.updated_by
        WHERE t.item_id = $1 ORDER BY t.id
        """)
}

extension WorkflowItems: StatementCatalog {
    package static var statements: [Statement] {
        [insertItem, itemById, itemsOfOrg, insertDiagram, diagramById, diagramsOfItem, insertTemplate, templateById, templatesOfItem]
    }
}

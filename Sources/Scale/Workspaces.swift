import Engine
import JSON
import Postgres

/// A Scale workspace (where job outputs are stored).
public struct Workspace: Sendable {
    public let id: Int64
    public let name: String
    public let title: String?
    public let description: String?
    public let baseURL: String?
    public let isActive: Bool
    public let jsonConfig: JSON
    public let created: String
    public let deprecated: String?
    public let lastModified: String
}

/// Fields to set on a workspace; nil leaves a field as it is (title etc. may be set to null
/// explicitly with `.some(nil)`).
public struct WorkspaceChanges: Sendable {
    public var name: String?
    public var title: String??
    public var description: String??
    public var baseURL: String??
    public var isActive: Bool?
    public var jsonConfig: JSON?
    /// Broker credentials, stored apart and never returned; nil keeps the stored ones.
    public var credentials: JSON?

    public init() {}
}

/// The `workspaces` table.
public struct Workspaces {
    let connection: Connection

    public func create(_ fields: WorkspaceChanges) throws -> Workspace {
        guard let name = fields.name else { throw EngineError(.invalid, "Missing required parameter: \"name\"") }
        do {
            return try connection.transaction { tx in
                let created = try found(
                    tx.first(
                        WorkspaceQueries.insert, name, fields.title ?? nil, fields.description ?? nil, fields.baseURL ?? nil,
                        fields.isActive ?? true, (fields.jsonConfig ?? [:]).serialized))
                try storeCredentials(fields.credentials, of: created.id, on: tx)
                return created
            }
        } catch let error as PostgresError where error.isUniqueViolation {
            throw EngineError(.conflict, "A workspace named \(name) already exists")
        }
    }

    /// Applies the changes under a row lock; `deprecated` follows `is_active`.
    public func update(id: Int64, _ changes: WorkspaceChanges) throws -> Workspace? {
        do {
            return try connection.transaction { tx in
                guard try tx.first(WorkspaceQueries.lock, id) != nil else { return nil }
                try storeCredentials(changes.credentials, of: id, on: tx)
                return try found(
                    tx.first(
                        WorkspaceQueries.update, id, changes.name, changes.title != nil, changes.title ?? nil, changes.description != nil,
                        changes.description ?? nil, changes.baseURL != nil, changes.baseURL ?? nil, changes.isActive,
                        changes.jsonConfig?.serialized))
            }
        } catch let error as PostgresError where error.isUniqueViolation {
            throw EngineError(.conflict, "A workspace of that name already exists")
        }
    }

    private func storeCredentials(_ credentials: JSON?, of id: Int64, on tx: Connection) throws {
        guard let credentials else { return }
        try tx.run(WorkspaceQueries.storeCredentials, id, credentials.serialized)
    }

    public func find(id: Int64) throws -> Workspace? {
        try connection.first(WorkspaceQueries.byId, id)
    }

    /// One page, by name, with the total count (0 past the last page, which has no row to carry it).
    public func list(limit: Int, offset: Int) throws -> (count: Int, items: [Workspace]) {
        let rows = try connection.rows(WorkspaceQueries.page, limit, offset)
        return (rows.first?.total ?? 0, rows.map(\.workspace))
    }

    /// Whether each named workspace exists and is active (absent names are missing).
    public func activity(names: [String]) throws -> [String: Bool] {
        var states: [String: Bool] = [:]
        for (name, isActive) in try connection.rows(WorkspaceQueries.activity, names) { states[name] = isActive }
        return states
    }

    private func found(_ workspace: Workspace?) throws -> Workspace {
        guard let workspace else { throw EngineError(.notFound, "Workspace not found") }
        return workspace
    }

    @Sendable static func workspace(_ row: Row) throws -> Workspace {
        Workspace(
            id: try row.value("id"), name: try row.value("name"), title: try row.optional("title"),
            description: try row.optional("description"), baseURL: try row.optional("base_url"), isActive: try row.value("is_active"),
            jsonConfig: try row.json("json_config"), created: try row.value("created"), deprecated: try row.optional("deprecated"),
            lastModified: try row.value("last_modified"))
    }
}

package enum WorkspaceQueries {
    static let columns = """
        id, name, title, description, base_url, is_active, json_config, iso_utc(created) AS created,
        iso_utc(deprecated) AS deprecated, iso_utc(last_modified) AS last_modified
        """

    static let insert = Query(
        "workspace_insert",
        """
        INSERT INTO workspaces (name, title, description, base_url, is_active, json_config, deprecated)
        VALUES ($1, $2, $3, $4, $5, $6::jsonb, CASE WHEN $5 THEN NULL ELSE now() END)
        RETURNING \(columns)
        """, binding: String.self, String?.self, String?.self, String?.self, Bool.self, String.self, reading: Workspaces.workspace)

    static let lock = Query(
        "workspace_lock", "SELECT id FROM workspaces WHERE id = $1 FOR UPDATE", binding: Int64.self,
        reading: { try $0.value("id", as: Int64.self) })

    /// $3, $5, $7 say whether title, description, base_url were given (they may be set to NULL).
    static let update = Query(
        "workspace_update",
        """
        UPDATE workspaces SET
            name = coalesce($2, name),
            title = CASE WHEN $3 THEN $4 ELSE title END,
            description = CASE WHEN $5 THEN $6 ELSE description END,
            base_url = CASE WHEN $7 THEN $8 ELSE base_url END,
            deprecated = CASE WHEN $9::boolean IS NULL OR $9 = is_active THEN deprecated
                              WHEN $9 THEN NULL ELSE now() END,
            is_active = coalesce($9, is_active),
            json_config = coalesce($10::jsonb, json_config),
            last_modified = now()
        WHERE id = $1
        RETURNING \(columns)
        """, binding: Int64.self, String?.self, Bool.self, String?.self, Bool.self, String?.self, Bool.self, String?.self, Bool?.self,
        String?.self, reading: Workspaces.workspace)

    static let storeCredentials = Query(
        "workspace_store_credentials",
        """
        INSERT INTO workspace_secrets (workspace_id, credentials) VALUES ($1, $2::jsonb)
        ON CONFLICT (workspace_id) DO UPDATE SET credentials = EXCLUDED.credentials
        """, binding: Int64.self, String.self)

    static let byId = Query(
        "workspace_by_id", "SELECT \(columns) FROM workspaces WHERE id = $1", binding: Int64.self, reading: Workspaces.workspace)

    static let page = Query(
        "workspace_page",
        "SELECT \(columns), count(*) OVER () AS total FROM workspaces ORDER BY name LIMIT $1 OFFSET $2", binding: Int.self, Int.self,
        reading: { (workspace: try Workspaces.workspace($0), total: try $0.value("total", as: Int.self)) })

    static let activity = Query(
        "workspace_activity", "SELECT name, is_active FROM workspaces WHERE name = ANY($1::text[])", binding: [String].self,
        reading: { row in (name: try row.value("name", as: String.self), isActive: try row.value("is_active", as: Bool.self)) })
}

extension WorkspaceQueries: StatementCatalog {
    package static var statements: [Statement] {
        [
            insert.statement, lock.statement, update.statement, storeCredentials.statement, byId.statement, page.statement,
            activity.statement,
        ]
    }
}

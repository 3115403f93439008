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
                let created = try workspace(
                    try tx.execute(
                        WorkspaceQueries.insert,
                        [
                            name, fields.title ?? nil, fields.description ?? nil, fields.baseURL ?? nil, fields.isActive ?? true,
                            (fields.jsonConfig ?? [:]).serialized,
                        ]))
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
                guard try !tx.execute(WorkspaceQueries.lock, [id]).isEmpty else { return nil }
                try storeCredentials(changes.credentials, of: id, on: tx)
                return try workspace(
                    try tx.execute(
                        WorkspaceQueries.update,
                        [
                            id, changes.name, changes.title != nil, changes.title ?? nil, changes.description != nil,
                            changes.description ?? nil, changes.baseURL != nil, changes.baseURL ?? nil, changes.isActive,
                            changes.jsonConfig?.serialized,
                        ]))
            }
        } catch let error as PostgresError where error.isUniqueViolation {
            throw EngineError(.conflict, "A workspace of that name already exists")
        }
    }

    private func storeCredentials(_ credentials: JSON?, of id: Int64, on tx: Connection) throws {
        guard let credentials else { return }
        try tx.execute(WorkspaceQueries.storeCredentials, [id, credentials.serialized])
    }

    public func find(id: Int64) throws -> Workspace? {
        let result = try connection.execute(WorkspaceQueries.byId, [id])
        return result.isEmpty ? nil : try workspace(result)
    }

    /// One page, by name, with the total count (0 past the last page, which has no row to carry it).
    public func list(limit: Int, offset: Int) throws -> (count: Int, items: [Workspace]) {
        let result = try connection.execute(WorkspaceQueries.page, [limit, offset])
        return (result.first?.int(10) ?? 0, try result.rows.map(Workspaces.workspace))
    }

    /// Whether each named workspace exists and is active (absent names are missing).
    public func activity(names: [String]) throws -> [String: Bool] {
        var states: [String: Bool] = [:]
        for row in try connection.execute(WorkspaceQueries.activity, [names]).rows { states[row.string(0)] = row.bool(1) }
        return states
    }

    private func workspace(_ result: QueryResult) throws -> Workspace {
        guard let row = result.first else { throw EngineError(.notFound, "Workspace not found") }
        return try Workspaces.workspace(row)
    }

    static func workspace(_ row: Row) throws -> Workspace {
        Workspace(
            id: row.int64(0) ?? 0, name: row.string(1), title: row[2], description: row[3], baseURL: row[4],
            isActive: row.bool(5), jsonConfig: try row.optionalJSON(6) ?? [:], created: row.string(7),
            deprecated: row[8], lastModified: row.string(9))
    }
}

package enum WorkspaceQueries {
    static let columns = """
        id, name, title, description, base_url, is_active, json_config, iso_utc(created), iso_utc(deprecated), iso_utc(last_modified)
        """

    static let insert = Statement(
        "workspace_insert",
        """
        INSERT INTO workspaces (name, title, description, base_url, is_active, json_config, deprecated)
        VALUES ($1, $2, $3, $4, $5, $6::jsonb, CASE WHEN $5 THEN NULL ELSE now() END)
        RETURNING \(columns)
        """)

    static let lock = Statement("workspace_lock", "SELECT id FROM workspaces WHERE id = $1 FOR UPDATE")

    /// $3, $5, $7 say whether title, description, base_url were given (they may be set to NULL).
    static let update = Statement(
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
        """)

    static let storeCredentials = Statement(
        "workspace_store_credentials",
        """
        INSERT INTO workspace_secrets (workspace_id, credentials) VALUES ($1, $2::jsonb)
        ON CONFLICT (workspace_id) DO UPDATE SET credentials = EXCLUDED.credentials
        """)

    static let byId = Statement("workspace_by_id", "SELECT \(columns) FROM workspaces WHERE id = $1")

    static let page = Statement(
        "workspace_page",
        "SELECT \(columns), count(*) OVER () FROM workspaces ORDER BY name LIMIT $1 OFFSET $2")

    static let activity = Statement("workspace_activity", "SELECT name, is_active FROM workspaces WHERE name = ANY($1::text[])")
}

extension WorkspaceQueries: StatementCatalog {
    package static var statements: [Statement] { [insert, lock, update, storeCredentials, byId, page, activity] }
}

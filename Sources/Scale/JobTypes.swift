import Engine
import JSON
import Postgres

/// A job type (name + version) as stored.
public struct JobTypeRecord: Sendable {
    public let id: Int64
    public let name: String
    public let version: String
    public let isActive: Bool
    public let isSystem: Bool
    public let isPaused: Bool
    public let isPublished: Bool
    public let iconCode: String?
    public let unmetResources: String?
    public let maxScheduled: Int?
    public let maxTries: Int
    public let revisionNum: Int
    public let dockerImage: String
    public let created: String
    public let deprecated: String?
    public let paused: String?
    public let lastModified: String
    public let manifest: JSON
    public let configuration: JSON
}

public struct JobTypeRevision: Sendable {
    public let id: Int64
    public let revisionNum: Int
    public let dockerImage: String
    public let created: String
    public let manifest: JSON
}

/// What a create or an edit sets. Optionals left nil keep the stored value; `maxScheduled` and
/// `iconCode` may be cleared with `.some(nil)`.
public struct JobTypeChanges: Sendable {
    /// A validated manifest with defaults filled; giving one makes a new revision.
    public var manifest: JSON?
    public var versionKey: String?
    public var tags: [String]?
    public var dockerImage: String?
    /// The configuration to store (secret values already taken out) and the secret values.
    public var configuration: JSON?
    public var secrets: [(String, String)]?
    public var iconCode: String??
    public var isPublished: Bool?
    public var maxScheduled: Int??
    public var isActive: Bool?
    public var isPaused: Bool?

    public init() {}
}

/// Filters of the job type lists.
public struct JobTypeFilter: Sendable {
    public var keywords: [String] = []
    public var ids: [Int64] = []
    public var isActive: Bool?
    public var isSystem: Bool?

    public init() {}

    /// $1–$4 of `JobTypeQueries.filter` (NULL for no filter), then $5 limit and $6 offset.
    func parameters(limit: Int, offset: Int) -> [any PostgresParameter] {
        [
            keywords.isEmpty ? nil : keywords, ids.isEmpty ? nil : "{" + ids.map(String.init).joined(separator: ",") + "}", isActive,
            isSystem, limit, offset,
        ]
    }
}

/// The `job_types`, `job_type_revisions`, `job_type_tags` and `job_type_secrets` tables.
public struct JobTypes {
    let connection: Connection

    public enum Saved: Sendable, Equatable {
        case created(Int64)
        case edited(Int64)
    }

    /// Creates the (name, version), or, when it exists, edits it as a new revision. The insert
    /// is `ON CONFLICT DO NOTHING` followed by a row lock, so two clients creating the same new
    /// pair at once get revision 1 and revision 2, never two rows.
    public func createOrEdit(name: String, version: String, _ changes: JobTypeChanges) throws -> Saved {
        try connection.transaction { tx in
            if let id = try tx.first(
                JobTypeQueries.insert, name, version, changes.versionKey ?? "", (changes.manifest ?? [:]).serialized,
                (changes.configuration ?? [:]).serialized, changes.dockerImage ?? "", changes.iconCode ?? nil,
                changes.isPublished ?? false, changes.maxScheduled ?? nil, changes.isActive ?? true, changes.isPaused ?? false)
            {
                try tx.run(JobTypeQueries.insertRevision, id)
                try replaceTagsAndSecrets(id, changes, on: tx)
                return .created(id)
            }
            guard let id = try tx.first(JobTypeQueries.lock, name, version) else {
                throw EngineError(.conflict, "Job type \(name) \(version) changed concurrently; try again")
            }
            try apply(changes, to: id, on: tx)
            return .edited(id)
        }
    }

    /// Edits an existing job type under its row lock; nil when it does not exist.
    public func edit(name: String, version: String, _ changes: JobTypeChanges) throws -> Int64? {
        try connection.transaction { tx in
            guard let id = try tx.first(JobTypeQueries.lock, name, version) else { return nil }
            try apply(changes, to: id, on: tx)
            return id
        }
    }

    private func apply(_ changes: JobTypeChanges, to id: Int64, on tx: Connection) throws {
        let isSystem = try tx.first(JobTypeQueries.isSystem, id) ?? false
        if isSystem,
            changes.manifest != nil || changes.configuration != nil || changes.iconCode != nil || changes.isActive != nil
                || changes.maxScheduled != nil || changes.dockerImage != nil || changes.isPublished != nil
        {
            throw EngineError(.invalid, "You can only modify the is_paused field for a System Job")
        }
        try tx.run(
            JobTypeQueries.update, id, changes.manifest?.serialized, changes.dockerImage, changes.configuration?.serialized,
            changes.iconCode != nil, changes.iconCode ?? nil, changes.isPublished, changes.maxScheduled != nil,
            changes.maxScheduled ?? nil, changes.isActive, changes.isPaused)
        if changes.manifest != nil { try tx.run(JobTypeQueries.insertRevision, id) }
        try replaceTagsAndSecrets(id, changes, on: tx)
    }

    private func replaceTagsAndSecrets(_ id: Int64, _ changes: JobTypeChanges, on tx: Connection) throws {
        if let manifest = changes.manifest { try tx.run(JobTypeQueries.upsertErrors, manifest.serialized, id) }
        if let tags = changes.tags {
            try tx.run(JobTypeQueries.clearTags, id)
            try tx.run(JobTypeQueries.addTags, id, Array(Set(tags)))
        }
        if let secrets = changes.secrets {
            try tx.run(JobTypeQueries.clearSecrets, id)
            for (name, value) in secrets { try tx.run(JobTypeQueries.addSecret, id, name, value) }
        }
    }

    // MARK: Reading

    public func find(name: String, version: String) throws -> JobTypeRecord? {
        try connection.first(JobTypeQueries.byNameVersion, name, version)
    }

    /// Rows matching the filter in the given order (fixed SQL fragments only), with the total.
    /// A sort key of the job type list: a field of `orderableFields`, ascending or not.
    public struct Order: Sendable {
        public let field: String
        public let descending: Bool

        public init(field: String, descending: Bool) {
            self.field = field
            self.descending = descending
        }
    }

    /// Each orderable field and its SQL (names case-insensitively, versions by SemVer precedence).
    static let orderColumns: [String: [String]] = [
        "id": ["jt.id"], "name": ["lower(jt.name)", "jt.name"], "version": ["jt.version_key COLLATE \"C\""],
        "title": ["lower(jt.manifest #>> '{job,title}')"], "is_active": ["jt.is_active"], "is_paused": ["jt.is_paused"],
        "is_system": ["jt.is_system"], "is_published": ["jt.is_published"], "max_scheduled": ["jt.max_scheduled"],
        "revision_num": ["jt.revision_num"], "docker_image": ["jt.docker_image"], "created": ["jt.created_at"],
        "deprecated": ["jt.deprecated_at"], "paused": ["jt.paused_at"], "last_modified": ["jt.last_modified"],
    ]

    public static var orderableFields: [String] { orderColumns.keys.sorted() }
    public static let defaultOrder = [Order(field: "name", descending: false), Order(field: "version", descending: false)]

    /// Rows matching the filter, sorted by `order` (default name, version), with the total.
    public func list(_ filter: JobTypeFilter, order: [Order], limit: Int, offset: Int) throws -> (count: Int, items: [JobTypeRecord]) {
        let rows = try connection.execute(
            sql: try JobTypes.listSQL(order: order.isEmpty ? JobTypes.defaultOrder : order), filter.parameters(limit: limit, offset: offset)
        ).rows
        return (try rows.first?.value("total") ?? 0, try rows.map(JobTypes.record))
    }

    /// Fixed SQL fragments only; $1–$4 the filter (see `JobTypeQueries.filter`), $5 limit, $6 offset.
    package static func listSQL(order: [Order]) throws -> String {
        """
        SELECT \(JobTypeQueries.listColumns), count(*) OVER () AS total FROM job_types jt
        WHERE \(JobTypeQueries.filter) ORDER BY \(try orderBy(order)) LIMIT $5 OFFSET $6
        """
    }

    /// The names list's SQL: rows are each name's latest version, sorted by `order` (default name).
    package static func namesSQL(order: [Order]) throws -> String {
        JobTypeQueries.names(orderBy: try orderBy(order.isEmpty ? [Order(field: "name", descending: false)] : order))
    }

    /// The ORDER BY of `order`, ties broken by id.
    static func orderBy(_ order: [Order]) throws -> String {
        let keys = try order.flatMap { key -> [String] in
            guard let columns = orderColumns[key.field] else { throw EngineError(.invalid, "Unknown order field \(key.field)") }
            return columns.map { key.descending ? "\($0) DESC" : $0 }
        }
        return (keys + ["jt.id"]).joined(separator: ", ")
    }

    /// The versions of one name, highest SemVer first.
    public func versions(name: String, isActive: Bool?, limit: Int, offset: Int) throws -> (count: Int, items: [JobTypeRecord]) {
        let rows = try connection.rows(JobTypeQueries.versions, name, isActive, limit, offset)
        return (rows.first?.total ?? 0, rows.map(\.0))
    }

    /// One row per name matching the filter: the highest version of that name, and all its
    /// versions, sorted by `order` (default name).
    public func names(_ filter: JobTypeFilter, order: [Order], limit: Int, offset: Int) throws -> (
        count: Int, items: [(JobTypeRecord, [String])]
    ) {
        let rows = try connection.execute(sql: try JobTypes.namesSQL(order: order), filter.parameters(limit: limit, offset: offset)).rows
        let items = try rows.map { row in
            (try JobTypes.record(row), try row.json("versions").arrayValue?.compactMap(\.stringValue) ?? [])
        }
        return (try rows.first?.value("total") ?? 0, items)
    }

    public func revisions(jobTypeId: Int64, limit: Int, offset: Int) throws -> (count: Int, items: [JobTypeRevision]) {
        let rows = try connection.rows(JobTypeQueries.revisions, jobTypeId, limit, offset)
        return (rows.first?.total ?? 0, rows.map(\.0))
    }

    public func revision(jobTypeId: Int64, number: Int) throws -> JobTypeRevision? {
        try connection.first(JobTypeQueries.revision, jobTypeId, number)
    }

    // MARK: Rows

    @Sendable static func record(_ row: Row) throws -> JobTypeRecord {
        JobTypeRecord(
            id: try row.value("id"), name: try row.value("name"), version: try row.value("version"), isActive: try row.value("is_active"),
            isSystem: try row.value("is_system"), isPaused: try row.value("is_paused"), isPublished: try row.value("is_published"),
            iconCode: try row.optional("icon_code"), unmetResources: try row.optional("unmet_resources"),
            maxScheduled: try row.optional("max_scheduled"), maxTries: try row.value("max_tries"),
            revisionNum: try row.value("revision_num"),
            dockerImage: try row.value("docker_image"), created: try row.value("created"), deprecated: try row.optional("deprecated"),
            paused: try row.optional("paused"), lastModified: try row.value("last_modified"), manifest: try row.json("manifest"),
            configuration: try row.json("configuration"))
    }

    @Sendable static func revision(_ row: Row) throws -> JobTypeRevision {
        JobTypeRevision(
            id: try row.value("id"), revisionNum: try row.value("revision_num"), dockerImage: try row.value("docker_image"),
            created: try row.value("created"), manifest: try row.json("manifest"))
    }
}

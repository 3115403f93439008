import Engine
import JSON
import Postgres

/// A named set of privileges (a Workflow Manager "role"), granted to groups.
public struct PrivilegeSet: Sendable, Equatable {
    public let name: String
    public let description: String
    public let privileges: [String]

    public init(name: String, description: String, privileges: [String]) {
        self.name = name
        self.description = description
        self.privileges = privileges
    }
}

public struct GroupRecord: Sendable {
    public let name: String
    public let members: [String]
    public let privilegeSets: [String]
}

/// Groups, their members and the privilege sets granted to them.
public struct Community {
    let connection: Connection

    public func privilegeSets() throws -> [PrivilegeSet] {
        try connection.rows(Self.allSets)
    }

    public func privilegeSet(named name: String) throws -> PrivilegeSet? {
        try connection.first(Self.setByName, name)
    }

    /// Creates or replaces a set; unknown privilege names are `.invalid`.
    public func savePrivilegeSet(_ set: PrivilegeSet) throws {
        try Accounts.validate(roles: [], privileges: set.privileges)
        guard !set.name.isEmpty else { throw EngineError(.invalid, "The role name must not be empty") }
        try connection.run(Self.upsertSet, set.name, set.description, Array(Set(set.privileges)).sorted())
    }

    /// False if there was no such set.
    public func deletePrivilegeSet(named name: String) throws -> Bool {
        try connection.run(Self.deleteSet, name) == 1
    }

    public func users() throws -> [User] {
        try Accounts(connection).listUsers()
    }

    public func groups() throws -> [GroupRecord] {
        try connection.rows(Self.allGroups)
    }

    public func group(named name: String) throws -> GroupRecord? {
        try connection.first(Self.groupByName, name)
    }

    /// Creates the group if needed and replaces the member list and/or the granted sets (nil
    /// leaves one as it is), in one transaction. Unknown users or sets are `.invalid`.
    public func saveGroup(named name: String, members: [String]?, privilegeSets: [String]?) throws -> GroupRecord {
        guard !name.isEmpty, name.utf8.count <= 200 else { throw EngineError(.invalid, "The group id must be 1 to 200 characters") }
        return try connection.transaction { tx in
            guard let groupId = try tx.first(Self.ensureGroup, name) else {
                throw EngineError(.conflict, "Group \(name) could not be saved")
            }
            if let members {
                let known = Set(try tx.rows(Self.knownUsers, members))
                if let unknown = members.first(where: { !known.contains($0) }) {
                    throw EngineError(.invalid, "User \(unknown) does not exist")
                }
                try tx.run(Self.clearMembers, groupId)
                try tx.run(Self.addMembers, groupId, members)
            }
            if let privilegeSets {
                let known = Set(try tx.rows(Self.knownSets, privilegeSets))
                if let unknown = privilegeSets.first(where: { !known.contains($0) }) {
                    throw EngineError(.invalid, "Role \(unknown) does not exist")
                }
                try tx.run(Self.clearSets, groupId)
                try tx.run(Self.addSets, groupId, privilegeSets)
            }
            guard let group = try tx.first(Self.groupByName, name) else { throw EngineError(.notFound, "Group \(name) not found") }
            return group
        }
    }

    /// Grants `adding` and withdraws `removing` (Workflow Manager's group update), in one
    /// transaction; a group that does not exist is nil, an unknown role `.invalid`.
    public func changeGroupRoles(named name: String, adding: [String], removing: [String]) throws -> GroupRecord? {
        try connection.transaction { tx in
            guard try tx.first(Self.lockGroup, name) != nil else { return nil }
            let known = Set(try tx.rows(Self.knownSets, adding))
            if let unknown = adding.first(where: { !known.contains($0) }) { throw EngineError(.invalid, "Role \(unknown) does not exist") }
            guard let groupId = try tx.first(Self.ensureGroup, name) else { return nil }
            try tx.run(Self.removeSets, groupId, removing)
            try tx.run(Self.addSets, groupId, adding)
            return try tx.first(Self.groupByName, name)
        }
    }

    @Sendable static func privilegeSet(_ row: Row) throws -> PrivilegeSet {
        PrivilegeSet(name: try row.value("name"), description: try row.value("description"), privileges: try names(row, "privileges"))
    }

    @Sendable static func group(_ row: Row) throws -> GroupRecord {
        GroupRecord(name: try row.value("name"), members: try names(row, "members"), privilegeSets: try names(row, "privilege_sets"))
    }

    /// A JSON array of names in the column.
    private static func names(_ row: Row, _ column: String) throws -> [String] {
        try row.json(column).arrayValue?.compactMap(\.stringValue) ?? []
    }

    static let setColumns = "name, description, array_to_json(privileges) AS privileges"
    static let allSets = Query("community_sets", "SELECT \(setColumns) FROM privilege_sets ORDER BY name", reading: privilegeSet)
    static let setByName = Query(
        "community_set", "SELECT \(setColumns) FROM privilege_sets WHERE name = $1", binding: String.self, reading: privilegeSet)
    static let upsertSet = Query(
        "community_set_save",
        """
        INSERT INTO privilege_sets (name, description, privileges) VALUES ($1, $2, $3::text[])
        ON CONFLICT (name) DO UPDATE SET description = excluded.description, privileges = excluded.privileges
        """, binding: String.self, String.self, [String].self)
    static let deleteSet = Query("community_set_delete", "DELETE FROM privilege_sets WHERE name = $1", binding: String.self)

    static let groupColumns = """
        g.name,
        coalesce((SELECT json_agg(u.username ORDER BY u.username) FROM group_members m JOIN users u ON u.id = m.user_id
                  WHERE m.group_id = g.id), '[]') AS members,
        coalesce((SELECT json_agg(s.set_name ORDER BY s.set_name) FROM group_privilege_sets s WHERE s.group_id = g.id), '[]')
            AS privilege_sets
        """
    static let allGroups = Query("community_groups", "SELECT \(groupColumns) FROM groups g ORDER BY g.name", reading: group)
    static let groupByName = Query(
        "community_group", "SELECT \(groupColumns) FROM groups g WHERE g.name = $1", binding: String.self, reading: group)
    static let ensureGroup = Query(
        "community_group_ensure",
        """
        INSERT INTO groups (name) VALUES ($1) ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id
        """, binding: String.self, reading: { try $0.value("id", as: Int64.self) })
    static let knownUsers = Query(
        "community_known_users", "SELECT username FROM users WHERE username = ANY($1::text[])", binding: [String].self,
        reading: { try $0.value("username", as: String.self) })
    static let knownSets = Query(
        "community_known_sets", "SELECT name FROM privilege_sets WHERE name = ANY($1::text[])", binding: [String].self,
        reading: { try $0.value("name", as: String.self) })
    static let clearMembers = Query("community_clear_members", "DELETE FROM group_members WHERE group_id = $1", binding: Int64.self)
    static let addMembers = Query(
        "community_add_members",
        """
        INSERT INTO group_members (group_id, user_id) SELECT $1, id FROM users WHERE username = ANY($2::text[])
        """, binding: Int64.self, [String].self)
    static let lockGroup = Query(
        "community_group_lock", "SELECT id FROM groups WHERE name = $1 FOR UPDATE", binding: String.self,
        reading: { try $0.value("id", as: Int64.self) })
    static let removeSets = Query(
        "community_remove_sets", "DELETE FROM group_privilege_sets WHERE group_id = $1 AND set_name = ANY($2::text[])",
        binding: Int64.self, [String].self)
    static let clearSets = Query("community_clear_sets", "DELETE FROM group_privilege_sets WHERE group_id = $1", binding: Int64.self)
    static let addSets = Query(
        "community_add_sets",
        """
        INSERT INTO group_privilege_sets (group_id, set_name) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING
        """, binding: Int64.self, [String].self)
}

extension Community: StatementCatalog {
    package static var statements: [Statement] {
        [
            allSets.statement, setByName.statement, upsertSet.statement, deleteSet.statement, allGroups.statement, groupByName.statement,
            ensureGroup.statement, knownUsers.statement, knownSets.statement, clearMembers.statement, addMembers.statement,
            clearSets.statement, addSets.statement, lockGroup.statement, removeSets.statement,
        ]
    }
}

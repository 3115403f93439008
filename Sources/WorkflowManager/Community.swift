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
        try connection.execute(Self.allSets).rows.map(Self.privilegeSet)
    }

    public func privilegeSet(named name: String) throws -> PrivilegeSet? {
        try connection.execute(Self.setByName, [name]).first.map(Self.privilegeSet)
    }

    /// Creates or replaces a set; unknown privilege names are `.invalid`.
    public func savePrivilegeSet(_ set: PrivilegeSet) throws {
        try Accounts.validate(roles: [], privileges: set.privileges)
        guard !set.name.isEmpty else { throw EngineError(.invalid, "The role name must not be empty") }
        try connection.execute(Self.upsertSet, [set.name, set.description, Array(Set(set.privileges)).sorted()])
    }

    /// False if there was no such set.
    public func deletePrivilegeSet(named name: String) throws -> Bool {
        try connection.execute(Self.deleteSet, [name]).affectedRows == 1
    }

    public func users() throws -> [User] {
        try Accounts(connection).listUsers()
    }

    public func groups() throws -> [GroupRecord] {
        try connection.execute(Self.allGroups).rows.map(Self.group)
    }

    public func group(named name: String) throws -> GroupRecord? {
        try connection.execute(Self.groupByName, [name]).first.map(Self.group)
    }

    /// Creates the group if needed and replaces the member list and/or the granted sets (nil
    /// leaves one as it is), in one transaction. Unknown users or sets are `.invalid`.
    public func saveGroup(named name: String, members: [String]?, privilegeSets: [String]?) throws -> GroupRecord {
        guard !name.isEmpty, name.utf8.count <= 200 else { throw EngineError(.invalid, "The group id must be 1 to 200 characters") }
        return try connection.transaction { tx in
            guard let groupId = try tx.execute(Self.ensureGroup, [name]).first?.int64(0) else {
                throw EngineError(.conflict, "Group \(name) could not be saved")
            }
            if let members {
                let known = Set(try tx.execute(Self.knownUsers, [members]).rows.map { $0.string(0) })
                if let unknown = members.first(where: { !known.contains($0) }) {
                    throw EngineError(.invalid, "User \(unknown) does not exist")
                }
                try tx.execute(Self.clearMembers, [groupId])
                try tx.execute(Self.addMembers, [groupId, members])
            }
            if let privilegeSets {
                let known = Set(try tx.execute(Self.knownSets, [privilegeSets]).rows.map { $0.string(0) })
                if let unknown = privilegeSets.first(where: { !known.contains($0) }) {
                    throw EngineError(.invalid, "Role \(unknown) does not exist")
                }
                try tx.execute(Self.clearSets, [groupId])
                try tx.execute(Self.addSets, [groupId, privilegeSets])
            }
            guard let row = try tx.execute(Self.groupByName, [name]).first else { throw EngineError(.notFound, "Group \(name) not found") }
            return try Self.group(row)
        }
    }

    static func privilegeSet(_ row: Row) throws -> PrivilegeSet {
        PrivilegeSet(
            name: row.string(0), description: row.string(1),
            privileges: try row.optionalJSON(2)?.arrayValue?.compactMap(\.stringValue) ?? [])
    }

    static func group(_ row: Row) throws -> GroupRecord {
        func list(_ index: Int) throws -> [String] { try row.optionalJSON(index)?.arrayValue?.compactMap(\.stringValue) ?? [] }
        return GroupRecord(name: row.string(0), members: try list(1), privilegeSets: try list(2))
    }

    static let setColumns = "name, description, array_to_json(privileges)"
    static let allSets = Statement("community_sets", "SELECT \(setColumns) FROM privilege_sets ORDER BY name")
    static let setByName = Statement("community_set", "SELECT \(setColumns) FROM privilege_sets WHERE name = $1")
    static let upsertSet = Statement(
        "community_set_save",
        """
        INSERT INTO privilege_sets (name, description, privileges) VALUES ($1, $2, $3::text[])
        ON CONFLICT (name) DO UPDATE SET description = excluded.description, privileges = excluded.privileges
        """)
    static let deleteSet = Statement("community_set_delete", "DELETE FROM privilege_sets WHERE name = $1")

    static let groupColumns = """
        g.name,
        coalesce((SELECT json_agg(u.username ORDER BY u.username) FROM group_members m JOIN users u ON u.id = m.user_id
                  WHERE m.group_id = g.id), '[]'),
        coalesce((SELECT json_agg(s.set_name ORDER BY s.set_name) FROM group_privilege_sets s WHERE s.group_id = g.id), '[]')
        """
    static let allGroups = Statement("community_groups", "SELECT \(groupColumns) FROM groups g ORDER BY g.name")
    static let groupByName = Statement("community_group", "SELECT \(groupColumns) FROM groups g WHERE g.name = $1")
    static let ensureGroup = Statement(
        "community_group_ensure",
        """
        INSERT INTO groups (name) VALUES ($1) ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id
        """)
    static let knownUsers = Statement("community_known_users", "SELECT username FROM users WHERE username = ANY($1::text[])")
    static let knownSets = Statement("community_known_sets", "SELECT name FROM privilege_sets WHERE name = ANY($1::text[])")
    static let clearMembers = Statement("community_clear_members", "DELETE FROM group_members WHERE group_id = $1")
    static let addMembers = Statement(
        "community_add_members",
        """
        INSERT INTO group_members (group_id, user_id) SELECT $1, id FROM users WHERE username = ANY($2::text[])
        """)
    static let clearSets = Statement("community_clear_sets", "DELETE FROM group_privilege_sets WHERE group_id = $1")
    static let addSets = Statement(
        "community_add_sets",
        """
        INSERT INTO group_privilege_sets (group_id, set_name) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING
        """)
}

extension Community: StatementCatalog {
    package static var statements: [Statement] {
        [
            allSets, setByName, upsertSet, deleteSet, allGroups, groupByName, ensureGroup, knownUsers, knownSets, clearMembers, addMembers,
            clearSets, addSets,
        ]
    }
}

import JSON

/// A Flowgate user as every surface sees it. The password hash never leaves the database.
public struct User: Sendable, Equatable {

    public let id: Int64
    public let username: String
    public let email: String?
    /// A name to show instead of the login (Blocks users sign in with their email).
    public let displayName: String?
    /// 24-hex id used in Itential documents.
    public let accountId: String
    public let active: Bool
    public let roles: [String]
    public let privileges: [String]
    public let groups: [String]
    /// The 24-hex account ids of the user's groups (Itential group ids), by group name.
    public let groupAccounts: [GroupRef]
    public let createdAt: String

    public func hasRole(_ role: String) -> Bool { roles.contains(role) }

    /// Registered through Blocks and given nothing since: such a user reaches only Blocks.
    public var isBlocksOnly: Bool {
        roles == [AccessNames.blocksRole] && privileges.isEmpty && groups.isEmpty
    }

    /// What other surfaces answer them (403).
    public static let blocksOnlyMessage = "This account was registered through Blocks and may use only the Blocks API"

    /// Decodes the JSON object built by `AccountQueries.userColumns`.
    init?(_ json: JSON) {
        guard let id = json["id"]?.intValue, let username = json["username"]?.stringValue,
            let accountId = json["account_id"]?.stringValue
        else { return nil }
        self.id = Int64(id)
        self.username = username
        email = json["email"]?.stringValue
        displayName = json["display_name"]?.stringValue
        self.accountId = accountId
        active = json["active"]?.boolValue ?? false
        roles = json["roles"]?.arrayValue?.compactMap(\.stringValue) ?? []
        privileges = json["privileges"]?.arrayValue?.compactMap(\.stringValue) ?? []
        groups = json["groups"]?.arrayValue?.compactMap(\.stringValue) ?? []
        groupAccounts =
            json["group_accounts"]?.arrayValue?.compactMap { group in
                guard let name = group["name"]?.stringValue, let id = group["id"]?.stringValue else { return nil }
                return GroupRef(name: name, id: id)
            } ?? []
        createdAt = json["created_at"]?.stringValue ?? ""
    }
}

public struct GroupRef: Sendable, Equatable {
    public let name: String
    public let id: String
}

/// The names the schema accepts, so that a bad name is a 400 before any write.
public enum AccessNames {
    public static let roles = ["admin", "engineering", "support", "apiwrite", "apiread", "operations"]
    /// The role of users who registered themselves through Blocks (see `User.isBlocksOnly`).
    public static let blocksRole = "blocks"
    public static let privileges = [
        "adminAdvanced", "adminBasic", "jobAssignAny", "jobAssignGroup", "jobAssignIndividual", "jobClose",
        "jobCreate", "jobDelete", "jobForceStop", "jobReopenClosed", "jobUpdateAttachments", "jobUpdateDate",
        "jobUpdateDescription", "jobUpdateExtendedProperties", "jobUpdateHolds", "jobUpdateLocation",
        "jobUpdateName", "jobUpdateNotes", "jobUpdateOwner", "jobUpdateParentJob", "jobUpdatePercentComplete",
        "jobUpdatePriority", "jobUpdateStatus", "jobUpgrade", "workflowSetStepCurrent",
    ]
}

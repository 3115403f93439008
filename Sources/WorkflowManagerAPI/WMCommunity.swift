import Engine
import HTTP
import JSON
import WorkflowManager

/// Users, groups (members and roles) and roles (privilege sets). Writes need adminAdvanced.
enum WMCommunity {
    static let routes: [Route<Session>] = [
        WorkflowManagerAPI.underItem("GET", "/community/users", users),
        WorkflowManagerAPI.underItem("GET", "/community/groups", groups),
        WorkflowManagerAPI.underItem("GET", "/community/groups/{groupId}", group),
        WorkflowManagerAPI.underItem("POST", "/community/groups/{groupId}", saveGroup),
        WorkflowManagerAPI.underItem("GET", "/community/roles", roles),
        WorkflowManagerAPI.underItem("GET", "/community/roles/{roleName}", role),
        WorkflowManagerAPI.underItem("POST", "/community/roles/{roleName}", saveRole),
        WorkflowManagerAPI.underItem("DELETE", "/community/roles/{roleName}", deleteRole),
    ]

    static func users(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        let users = try session.community.users().filter(\.active)
        return .json([
            "users": .array(
                users.map { user in
                    [
                        "username": .string(user.username), "fullName": .string(user.displayName ?? user.username),
                        "email": .string(user.email), "groups": .array(user.groups.map(JSON.string)),
                        "privileges": .array(user.privileges.map(JSON.string)),
                        "isAssignable": .bool(isAssignable(user, by: caller.user)),
                    ]
                })
        ])
    }

    static func groups(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        return .json(["groups": .array(try session.community.groups().map(render))])
    }

    static func group(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        let id = request.parameter("groupId")
        guard let group = try session.community.group(named: id) else { throw HTTPError.badRequest("Group '\(id)' does not exist.") }
        return .json(render(group))
    }

    /// Workflow Manager's body `{"adds": {"roles": [...]}, "deletes": {"roles": [...]}}` changes
    /// the roles of a group that exists. Without a Portal to make groups, Flowgate also takes
    /// `{"members"?: [username], "roles"?: [roleName]}`, whose lists replace the old ones and
    /// which creates the group.
    static func saveGroup(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        let user = caller.user
        try WorkflowManagerAPI.require(user, anyOf: ["adminAdvanced"])
        let body = try WorkflowManagerAPI.objectBody(request)
        try body.requireKnownKeys(["adds", "deletes", "members", "roles"])
        let name = request.parameter("groupId")
        guard body["adds"] != nil || body["deletes"] != nil else {
            let members = try body.optionalStringList("members")
            let roles = try body.optionalStringList("roles")
            let group = try WorkflowManagerAPI.translate {
                try session.community.saveGroup(named: name, members: members, privilegeSets: roles)
            }
            return .json(render(group))
        }
        guard body["members"] == nil, body["roles"] == nil else {
            throw HTTPError.badRequest("Send adds/deletes or members/roles, not both.")
        }
        func roles(_ key: String) throws -> [String] {
            guard let change = body[key], !change.isNull else { return [] }
            try change.requireKnownKeys(["roles"])
            return try change.optionalStringList("roles") ?? []
        }
        let group = try WorkflowManagerAPI.translate {
            try session.community.changeGroupRoles(named: name, adding: try roles("adds"), removing: try roles("deletes"))
        }
        guard group != nil else { throw HTTPError.badRequest("Group '\(name)' does not exist.") }
        return .json(WorkflowManagerAPI.success)
    }

    /// A group can be assigned work once it holds a role.
    static func render(_ group: GroupRecord) -> JSON {
        [
            "id": .string(group.name), "name": .string(group.name), "members": .array(group.members.map(JSON.string)),
            "roles": .array(group.privilegeSets.map(JSON.string)), "isAssignable": .bool(!group.privilegeSets.isEmpty),
        ]
    }

    /// Whether `caller` may assign work to `user`: anyone with jobAssignAny, a group-mate with
    /// jobAssignGroup, oneself with jobAssignIndividual.
    static func isAssignable(_ user: User, by caller: User) -> Bool {
        caller.privileges.contains("jobAssignAny")
            || (caller.privileges.contains("jobAssignGroup") && !Set(caller.groups).isDisjoint(with: user.groups))
            || (caller.privileges.contains("jobAssignIndividual") && caller.id == user.id)
    }

    static func roles(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        return .json(["roles": .array(try session.community.privilegeSets().map(render))])
    }

    static func role(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        let name = request.parameter("roleName")
        guard let set = try session.community.privilegeSet(named: name) else {
            throw HTTPError.badRequest("Role '\(name)' does not exist.")
        }
        return .json(render(set))
    }

    static func saveRole(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        let user = caller.user
        try WorkflowManagerAPI.require(user, anyOf: ["adminAdvanced"])
        let body = try WorkflowManagerAPI.objectBody(request)
        let name = request.parameter("roleName")
        if let bodyName = try body.optionalString("roleName"), bodyName != name {
            throw HTTPError.badRequest("roleName in the body must match the URL.")
        }
        guard let privileges = try body.optionalStringList("privileges") else {
            throw HTTPError.badRequest("privileges must be an array of privilege names.")
        }
        let description = try body.optionalString("description") ?? ""
        try WorkflowManagerAPI.translate {
            try session.community.savePrivilegeSet(PrivilegeSet(name: name, description: description, privileges: privileges))
        }
        return .json(WorkflowManagerAPI.success)
    }

    static func deleteRole(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        let user = caller.user
        try WorkflowManagerAPI.require(user, anyOf: ["adminAdvanced"])
        let name = request.parameter("roleName")
        guard try session.community.deletePrivilegeSet(named: name) else { throw HTTPError.badRequest("Role '\(name)' does not exist.") }
        return .json(WorkflowManagerAPI.success)
    }

    static func render(_ set: PrivilegeSet) -> JSON {
        ["roleName": .string(set.name), "description": .string(set.description), "privileges": .array(set.privileges.map(JSON.string))]
    }
}

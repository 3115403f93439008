import Engine
import HTTP
import JSON
import Scale

/// `/v6/workspaces/`: the registry configuration validation checks output workspaces against.
struct ScaleWorkspaces: Sendable {
    static let fields = ["name", "title", "description", "base_url", "is_active", "json_config"]

    func list(_ request: Request, _ session: Session, _ caller: User) throws -> Response {
        return try Pagination(request).page(
            request, fetch: { try session.workspaces.list(limit: $0, offset: $1) },
            render: { Self.render($0, details: false) })
    }

    func create(_ request: Request, _ session: Session, _ caller: User) throws -> Response {
        let body = try ScaleAPI.objectBody(request)
        try ScaleAPI.refuseUnknownFields(body, allowed: Self.fields)
        guard body["name"] != nil else { throw HTTPError.badRequest("Missing required parameter: \"name\"") }
        let workspace = try ScaleEngineCall.run { try session.workspaces.create(try Self.changes(body)) }
        var response = Response.json(Self.render(workspace, details: true), status: 201)
        response.headers.append(("Location", "\(request.origin)/v6/workspaces/\(workspace.id)/"))
        return response
    }

    func details(_ request: Request, _ session: Session, _ caller: User) throws -> Response {
        guard let id = Int64(request.parameter("id")), let workspace = try session.workspaces.find(id: id) else {
            throw ScaleAPI.notFound
        }
        return .json(Self.render(workspace, details: true))
    }

    func edit(_ request: Request, _ session: Session, _ caller: User) throws -> Response {
        guard let id = Int64(request.parameter("id")) else { throw ScaleAPI.notFound }
        let body = try ScaleAPI.objectBody(request)
        try ScaleAPI.refuseUnknownFields(body, allowed: Self.fields)
        let changes = try Self.changes(body)
        guard let workspace = try ScaleEngineCall.run({ try session.workspaces.update(id: id, changes) }) else { throw ScaleAPI.notFound }
        return .json(Self.render(workspace, details: true))
    }

    /// Typed fields from a request body; a wrong type is a 400 naming the field.
    static func changes(_ body: JSON) throws -> WorkspaceChanges {
        var changes = WorkspaceChanges()
        if let name = body["name"] {
            guard let text = name.stringValue, !text.isEmpty, text.count <= 50,
                text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") })
            else {
                throw HTTPError.badRequest("Parameter must be a name of letters, digits, '_' and '-' (at most 50): \"name\"")
            }
            changes.name = text
        }
        func optionalText(_ key: String, limit: Int) throws -> String?? {
            guard let value = body[key] else { return nil }
            if value.isNull { return .some(nil) }
            guard let text = value.stringValue, text.count <= limit else {
                throw HTTPError.badRequest("Parameter must be a string of at most \(limit) characters: \"\(key)\"")
            }
            return .some(text)
        }
        changes.title = try optionalText("title", limit: 50)
        changes.description = try optionalText("description", limit: 500)
        changes.baseURL = try optionalText("base_url", limit: 1000)
        if let active = body["is_active"] {
            guard let flag = active.boolValue else { throw HTTPError.badRequest("Parameter must be a valid boolean: \"is_active\"") }
            changes.isActive = flag
        }
        if let config = body["json_config"] {
            guard case .object = config else { throw HTTPError.badRequest("Parameter must be a valid JSON object: \"json_config\"") }
            // The broker's credentials (an S3 key pair) are a secret: stored apart, never shown.
            changes.credentials = config["broker"]?["credentials"]
            changes.jsonConfig =
                changes.credentials == nil
                ? config
                : config.setting("broker", to: .object((config["broker"]?.objectValue ?? []).filter { $0.0 != "credentials" }))
        }
        return changes
    }

    static func render(_ workspace: Workspace, details: Bool) -> JSON {
        var fields: [(String, JSON)] = [
            ("id", .number(Int(workspace.id))), ("name", .string(workspace.name)), ("title", .string(workspace.title)),
            ("description", .string(workspace.description)), ("base_url", .string(workspace.baseURL)),
            ("is_active", .bool(workspace.isActive)), ("created", .string(workspace.created)),
            ("deprecated", .string(workspace.deprecated)), ("last_modified", .string(workspace.lastModified)),
        ]
        if details { fields.append(("json_config", workspace.jsonConfig)) }
        return .object(fields)
    }
}

/// Engine refusals in Scale's statuses (all `{"detail"}`).
enum ScaleEngineCall {
    static func run<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as EngineError {
            switch error.kind {
            case .notFound: throw ScaleAPI.notFound
            case .invalid, .conflict: throw HTTPError.badRequest(error.message)
            case .forbidden: throw HTTPError(403, error.message)
            }
        }
    }
}

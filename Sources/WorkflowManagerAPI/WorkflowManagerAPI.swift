import Engine
import HTTP
import JSON
import WorkflowManager

/// The Workflow Manager surface under `/{orgId}/{itemId}`: errors as
/// `{"error": {"code", "message", "details"}}`, an ArcGIS-style token on every call.
public enum WorkflowManagerAPI {
    public static func surface() -> Surface<Session> {
        Surface(
            name: "workflow_manager", owns: owns,
            routes: WMDefinitions.routes + WMJobs.routes + WMJobRecords.routes + WMJobActions.routes + WMCommunity.routes
                + WMItemRecords.routes,
            renderError: render)
    }

    /// The Portal routes Workflow Manager clients sign in through (`/sharing/...`), for the
    /// organisation `organisationId`.
    public static func portalSurface(organisationId: String, tokenLifetimeSeconds: Int) -> Surface<Session> {
        WMPortal.surface(.init(organisationId: organisationId, tokenLifetimeSeconds: tokenLifetimeSeconds))
    }

    /// Every path of three or more segments no other surface claimed (they are matched first):
    /// `/{orgId}/{itemId}/…` and `/{orgId}/admin/…`, so that unknown routes under an item answer
    /// in this surface's shape; and the server's two status routes.
    static let owns: @Sendable ([String]) -> Bool = { segments in
        segments.count >= 3 || (segments.count == 2 && WMItemRecords.statusRoutes.contains(segments[1]))
    }

    static func render(_ error: HTTPError) -> Response {
        let details: [JSON] = error.details.map(JSON.string)
        return .json(
            ["error": ["code": .number(error.status), "message": .string(error.message), "details": .array(details)]],
            status: error.status)
    }

    /// `/{orgId}/{itemId}` + `path`, whose handler gets the authenticated caller and the item.
    static func underItem(
        _ method: String, _ path: String, _ handler: @escaping @Sendable (Request, Session, ItemCaller) throws -> Response
    ) -> Route<Session> {
        Route(method, "/{orgId}/{itemId}" + path, itemCaller, handler)
    }

    /// Who calls, on which workflow item.
    struct ItemCaller {
        let user: User
        let item: WorkflowItem
    }

    static let itemCaller = Prologue<Session, ItemCaller> { request, session in
        let (user, item) = try caller(request, session)
        return ItemCaller(user: user, item: item)
    }

    // MARK: Shared by the handlers

    /// The token from `?token=` (which wins), `Authorization: Bearer` or `X-Esri-Authorization: Bearer`.
    static func token(_ request: Request) -> String? {
        if let token = request.queryValue("token"), !token.isEmpty { return token }
        if let bearer = request.bearerToken { return bearer }
        guard let esri = request.header("x-esri-authorization"), esri.lowercased().hasPrefix("bearer ") else { return nil }
        let token = String(esri.dropFirst(7)).trimmingCharacters(in: " ")
        return token.isEmpty ? nil : token
    }

    static func authenticate(_ request: Request, _ session: Session) throws -> User {
        try user(token: token(request), session)
    }

    /// The token's user: 401 without a token or with an unknown one.
    static func user(token: String?, _ session: Session) throws -> User {
        guard let token else {
            throw HTTPError(401, "Token required.", details: ["Provide a token as ?token= or an Authorization: Bearer header."])
        }
        guard let user = try session.accounts.authenticate(token: token) else {
            throw HTTPError(401, "Invalid token.", details: ["The token is unknown, expired or revoked."])
        }
        guard !user.isBlocksOnly else { throw HTTPError.forbidden(User.blocksOnlyMessage) }
        return user
    }

    /// The caller and the workflow item of the URL (401 first, then 400 for an unknown item).
    static func caller(_ request: Request, _ session: Session) throws -> (User, WorkflowItem) {
        let user = try authenticate(request, session)
        let orgId = request.parameter("orgId")
        let itemId = request.parameter("itemId")
        guard let item = try session.workflowItems.item(orgId: orgId, itemId: itemId) else {
            throw HTTPError.badRequest("Workflow item '\(itemId)' does not exist.")
        }
        return (user, item)
    }

    static func require(_ user: User, anyOf privileges: [String]) throws {
        guard privileges.contains(where: user.privileges.contains) else {
            throw HTTPError.forbidden("The \(privileges.joined(separator: " or ")) privilege is required.")
        }
    }

    /// A JSON object body; an empty body counts as `{}`.
    static func objectBody(_ request: Request) throws -> JSON {
        if request.body.isEmpty { return [:] }
        let body = try request.jsonBody()
        guard case .object = body else { throw HTTPError.badRequest("The request body must be a JSON object.") }
        return body
    }

    static func date(_ body: JSON, _ key: String) throws -> Double? {
        guard let text = try body.optionalString(key) else { return nil }
        guard let seconds = Timestamp.parse(text) else {
            throw HTTPError.badRequest("\(key) is not a valid date.", details: ["Expected an ISO-8601 date such as 2019-08-24T14:15:22Z."])
        }
        return seconds
    }

    /// Engine refusals in this surface's statuses.
    static func translate<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as EngineError {
            switch error.kind {
            case .invalid, .notFound, .conflict: throw HTTPError.badRequest(error.message)
            case .forbidden: throw HTTPError.forbidden(error.message)
            }
        }
    }

    static let success: JSON = ["success": true]
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        var view = Substring(self)
        while view.first == set { view.removeFirst() }
        while view.last == set { view.removeLast() }
        return String(view)
    }
}

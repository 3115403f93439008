import Engine
import Foundation
import HTTP
import Itential
import JSON
import SurfaceSupport

/// The Itential surface: login and sessions, whoami and health, Automation Studio workflows.
/// Errors are `{"message", "data"}` with semantic statuses (400, 401, 403, 404, 409).
public enum ItentialAPI {
    public struct Configuration: Sendable {
        public let tokenLifetimeSeconds: Int
        /// Flowgate's version, which `/health/server` reports beside the platform release.
        public let version: String

        public init(tokenLifetimeSeconds: Int, version: String) {
            self.tokenLifetimeSeconds = tokenLifetimeSeconds
            self.version = version
        }
    }

    /// The first path segments this surface answers for.
    static let prefixes: Set<String> = [
        "login", "logout", "oauth", "whoami", "health", "applications", "adapters", "automation-studio", "workflow_builder",
        "workflow_engine", "operations-manager", "operations_manager",
    ]

    public static func surface(_ configuration: Configuration) -> Surface<Session> {
        Surface(
            name: "itential", owns: { segments in segments.first.map(prefixes.contains) ?? false },
            routes: ItentialSessions.routes(configuration) + ItentialPlatform.routes(configuration) + AutomationStudio.routes
                + ItentialJobRoutes.routes
                + ItentialTaskRoutes.routes + ItentialJobControl.routes + ItentialAutomationRoutes.routes
                + ItentialLegacyRoutes.routes,
            renderError: render)
    }

    static func render(_ error: HTTPError) -> Response {
        if let body = error.body { return .json(body, status: error.status) }
        return .json(
            ["message": .string(error.message), "data": error.details.isEmpty ? .null : .array(error.details.map(JSON.string))],
            status: error.status)
    }

    // MARK: Who is calling

    /// Route guards by Itential role (spec §0.5).
    enum Roles {
        /// Legacy read-ish and claim routes.
        static let read = ["admin", "engineering", "support", "apiwrite", "apiread"]
        /// Starting, cancelling and editing.
        static let write = ["admin", "engineering", "support", "apiwrite"]
        /// Operations Manager task and revert routes.
        static let operations = ["admin", "apiwrite", "engineering", "operations"]
        /// Automations and triggers: operators run them, so they may read and edit them too.
        static let automationRead = read + ["operations"]
        static let automationWrite = operations
    }

    /// The caller from a token (cookie `token`, `?token=`, `Authorization: Bearer`) or
    /// `Authorization: Basic`; 401 without a valid one.
    static func caller(_ request: Request, _ session: Session) throws -> User {
        let user: User
        if let token = request.bearerToken ?? request.queryValue("token") ?? request.cookies["token"] {
            guard let found = try session.accounts.authenticate(token: token) else {
                throw HTTPError(401, "Invalid or expired session token")
            }
            user = found
        } else if let (username, password) = basicCredentials(request) {
            guard let found = try session.accounts.verify(username: username, password: password) else {
                throw HTTPError(401, "Invalid credentials")
            }
            user = found
        } else {
            throw HTTPError(401, "Not authenticated: log in first")
        }
        guard !user.isBlocksOnly else { throw HTTPError.forbidden(User.blocksOnlyMessage) }
        return user
    }

    /// Routes for callers with one of `roles`: their handlers get the caller.
    static func access(_ roles: [String]) -> Prologue<Session, User> {
        Prologue { request, session in try caller(request, session, roles: roles) }
    }

    static func caller(_ request: Request, _ session: Session, roles: [String]) throws -> User {
        let user = try caller(request, session)
        guard roles.contains(where: user.hasRole) else {
            throw HTTPError(403, "User \(user.username) has none of the roles \(roles.joined(separator: ", ")) that this route requires")
        }
        return user
    }

    static func basicCredentials(_ request: Request) -> (String, String)? {
        guard let value = request.header("authorization"), value.lowercased().hasPrefix("basic "),
            let data = Data(base64Encoded: String(value.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
            let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":")
        else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }

    // MARK: Bodies

    /// A JSON object body. Clients send JSON with and without a Content-Type, so the body is
    /// parsed as JSON unless another media type is declared.
    static func objectBody(_ request: Request) throws -> JSON {
        if request.body.isEmpty { return [:] }
        let declared = request.mediaType
        guard declared.isEmpty || declared == "application/json" || declared.hasSuffix("+json") || declared == "text/plain" else {
            throw HTTPError(415, "Content-Type must be application/json")
        }
        guard let body = try? JSON.parse(request.body) else { throw HTTPError.badRequest("The body is not valid JSON") }
        guard case .object = body else { throw HTTPError.badRequest("The body must be a JSON object") }
        return body
    }

    /// Operations Manager's envelope.
    static func envelope(_ message: String, _ data: JSON, metadata: JSON? = nil) -> Response {
        var fields: [(String, JSON)] = [("message", .string(message)), ("data", data)]
        if let metadata { fields.append(("metadata", metadata)) }
        return .json(.object(fields))
    }
}

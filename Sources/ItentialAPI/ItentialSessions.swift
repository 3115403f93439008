import Engine
import HTTP
import Itential
import JSON

/// Logging in the ways Itential clients do, and whoami.
enum ItentialSessions {
    static func routes(_ configuration: ItentialAPI.Configuration) -> [Route<Session>] {
        let login: Handler<Session> = { request, session in try Self.login(request, session, configuration) }
        return [
            Route("POST", "/login", login),
            Route("POST", "/login/", login),
            Route("POST", "/oauth/token") { request, session in try token(request, session, configuration) },
            Route("GET", "/whoami") { request, session in whoami(try ItentialAPI.caller(request, session)) },
        ]
    }

    /// `{"user": {"username", "password"}}` or flat `{"username", "password"}` → the token as
    /// plain text, also set as the `token` cookie (clients keep the cookie, not the body).
    static func login(_ request: Request, _ session: Session, _ configuration: ItentialAPI.Configuration) throws -> Response {
        let credentials = try loginCredentials(request)
        guard let username = credentials["username"]?.stringValue, let password = credentials["password"]?.stringValue else {
            throw HTTPError.badRequest("username and password are required, as {\"user\": {\"username\", \"password\"}}")
        }
        guard
            let issued = try session.accounts.login(
                username: username, password: password,
                lifetimeSeconds: configuration.tokenLifetimeSeconds)
        else {
            throw HTTPError(401, "Invalid credentials")
        }
        var response = Response.text(issued.token)
        // Lax: other sites' pages cannot make the browser send it with a write.
        let secure = request.scheme == "https" ? "; Secure" : ""
        response.headers.append(
            ("Set-Cookie", "token=\(issued.token); Path=/; HttpOnly; SameSite=Lax\(secure); Max-Age=\(configuration.tokenLifetimeSeconds)"))
        return response
    }

    /// The body as JSON whatever the declared type (clients post JSON text without one, or
    /// under curl's form default), else as form fields; `{"user": {…}}` is unwrapped.
    static func loginCredentials(_ request: Request) throws -> JSON {
        if let body = try? JSON.parse(request.body), case .object = body { return body["user"] ?? body }
        if request.mediaType == "application/x-www-form-urlencoded" {
            return .object(try request.formBody().fields.map { ($0.0, .string($0.1)) })
        }
        throw HTTPError.badRequest("The body must be JSON: {\"user\": {\"username\", \"password\"}}")
    }

    /// OAuth2 client credentials, where the client is a Flowgate user.
    static func token(_ request: Request, _ session: Session, _ configuration: ItentialAPI.Configuration) throws -> Response {
        guard request.mediaType == "application/x-www-form-urlencoded" else {
            throw HTTPError(415, "Content-Type must be application/x-www-form-urlencoded")
        }
        let form = try request.formBody()
        guard form["grant_type"] == "client_credentials" else {
            throw HTTPError.badRequest("grant_type must be client_credentials")
        }
        guard let client = form["client_id"], let secret = form["client_secret"],
            let issued = try session.accounts.login(
                username: client, password: secret,
                lifetimeSeconds: configuration.tokenLifetimeSeconds)
        else {
            throw HTTPError(401, "Invalid client credentials")
        }
        return .json([
            "access_token": .string(issued.token), "token_type": "bearer",
            "expires_in": .number(configuration.tokenLifetimeSeconds),
        ])
    }

    /// The methods a caller may use per application, by role: the platform's method names
    /// (its `/authorization/methods`) for the routes Flowgate serves.
    static let methods: [(app: String, roles: [String], methods: [String])] = [
        ("AutomationStudio", ItentialAPI.Roles.write, ["createAutomation", "importAutomations", "updateAutomation", "deleteWorkflow"]),
        ("AutomationStudio", ItentialAPI.Roles.read, ["getWorkflows", "getWorkflowDetailed", "validateWorkflow"]),
        (
            "OperationsManager", ItentialAPI.Roles.read,
            ["getJob", "getJobs", "getTask", "getTasks", "watchJob", "watchJobs", "unwatchJob", "unwatchJobs"]
        ),
        (
            "OperationsManager", ItentialAPI.Roles.automationRead,
            ["getAutomation", "getAutomations", "exportAutomation", "getTrigger", "getTriggers"]
        ),
        (
            "OperationsManager", ItentialAPI.Roles.write,
            [
                "startJob", "pauseJobs", "resumeJobs", "cancelJobs", "addWatchersToJob", "addJobGroup", "deleteJobGroup",
                "deleteJobGroups", "replaceJobGroups",
            ]
        ),
        (
            "OperationsManager", ItentialAPI.Roles.automationWrite,
            [
                "createAutomation", "updateAutomation", "deleteAutomation", "createTrigger", "updateTrigger", "deleteTrigger",
                "deleteTriggersByActionId", "runManualTrigger", "runEndpointTriggerWithPost", "importAutomations", "importTriggers",
            ]
        ),
        (
            "OperationsManager", ItentialAPI.Roles.operations,
            ["claimTask", "assignTask", "releaseTask", "finishManualTask", "revertJob", "retryTask", "continueJobFrom"]
        ),
        ("WorkFlowEngine", ItentialAPI.Roles.read, ["getJobMetrics", "getTaskMetrics"]),
    ]

    static func whoami(_ user: User) -> Response {
        var methods: [(String, JSON)] = []
        for entry in Self.methods where entry.roles.contains(where: user.hasRole) {
            let names = entry.methods.map(JSON.string)
            if let index = methods.firstIndex(where: { $0.0 == entry.app }), case let .array(existing) = methods[index].1 {
                methods[index].1 = .array(existing + names)
            } else {
                methods.append((entry.app, .array(names)))
            }
        }
        return .json([
            "id": .string(user.accountId), "provenance": "Flowgate", "username": .string(user.username),
            "firstname": .string(user.displayName ?? user.username),
            "groups": .array(user.groupAccounts.map { ["id": .string($0.id), "provenance": "Flowgate", "name": .string($0.name)] }),
            "routes": [], "methods": .object(methods), "roles": .array(user.roles.map(JSON.string)),
        ])
    }
}

import Engine
import Glibc
import HTTP
import JSON
import SurfaceSupport

/// Flowgate's own routes under `/flowgate/v1`: health, metrics, login/logout, whoami and user admin.
public enum NativeAPI {
    public struct Configuration: Sendable {
        public let instance: String
        public let version: String
        public let tokenLifetimeSeconds: Int
        /// Who may read the metrics: admins' tokens always, clients on this host too when set.
        public let metricsFromLoopback: Bool
        /// This instance's metrics in Prometheus' text format.
        public let metrics: @Sendable (Session) throws -> [UInt8]

        public init(
            instance: String, version: String, tokenLifetimeSeconds: Int, metricsFromLoopback: Bool,
            metrics: @escaping @Sendable (Session) throws -> [UInt8]
        ) {
            self.instance = instance
            self.version = version
            self.tokenLifetimeSeconds = tokenLifetimeSeconds
            self.metricsFromLoopback = metricsFromLoopback
            self.metrics = metrics
        }
    }

    public static func surface(_ configuration: Configuration) -> Surface<Session> {
        let v1 = "/flowgate/v1"
        return Surface(
            name: "native",
            owns: Surface<Session>.ownsPrefix(["flowgate"]),
            routes: [
                Route("GET", "\(v1)/health") { _, session in health(session, configuration) },
                Route("GET", "\(v1)/metrics") { request, session in try metrics(request, session, configuration) },
                // The path nginx pins to one instance, so that a scraper reaches each of them.
                Route("GET", "\(v1)/instances/{instance}/metrics") { request, session in
                    guard request.parameter("instance") == configuration.instance else {
                        throw HTTPError.notFound("This is instance \(configuration.instance)")
                    }
                    return try metrics(request, session, configuration)
                },
                Route("POST", "\(v1)/login") { request, session in try login(request, session, configuration) },
                Route("POST", "\(v1)/logout") { request, session in try logout(request, session) },
                Route("GET", "\(v1)/whoami") { request, session in .json(render(try authenticated(request, session))) },
                Route("POST", "\(v1)/users") { request, session in try createUser(request, session) },
                Route("GET", "\(v1)/users") { request, session in
                    _ = try admin(request, session)
                    return .json(.array(try session.accounts.listUsers().map(render)))
                },
                Route("GET", "\(v1)/users/{username}") { request, session in
                    _ = try admin(request, session)
                    guard let user = try session.accounts.user(named: request.parameter("username")) else {
                        throw HTTPError.notFound("User \(request.parameter("username")) not found")
                    }
                    return .json(render(user))
                },
                Route("PATCH", "\(v1)/users/{username}") { request, session in try updateUser(request, session) },
                Route("DELETE", "\(v1)/users/{username}") { request, session in
                    _ = try admin(request, session)
                    return .json(
                        render(try EngineErrors.mapped { try session.accounts.deactivate(username: request.parameter("username")) }))
                },
            ],
            renderError: NativeErrorShape.render)
    }

    // MARK: Handlers

    static func health(_ session: Session, _ configuration: Configuration) -> Response {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let reachable = session.databaseIsReachable(now: UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec))
        let body: JSON = [
            "status": reachable ? "ok" : "unavailable",
            "database": reachable ? "ok" : "unreachable",
            "version": .string(configuration.version),
            "instance": .string(configuration.instance),
            // The worker process: it changes when the supervisor replaced a dead one.
            "pid": .number(Int(getpid())),
        ]
        return .json(body, status: reachable ? 200 : 503)
    }

    static func metrics(_ request: Request, _ session: Session, _ configuration: Configuration) throws -> Response {
        if !(configuration.metricsFromLoopback && request.peerIsLoopback) { _ = try admin(request, session) }
        return Response(
            headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8"), ("Cache-Control", "no-store")],
            body: try configuration.metrics(session))
    }

    static func login(_ request: Request, _ session: Session, _ configuration: Configuration) throws -> Response {
        let body = try request.jsonBody()
        guard let username = body["username"]?.stringValue, let password = body["password"]?.stringValue else {
            throw HTTPError.badRequest("username and password are required strings")
        }
        guard
            let issued = try session.accounts.login(
                username: username, password: password,
                lifetimeSeconds: configuration.tokenLifetimeSeconds)
        else {
            throw HTTPError.unauthorized("Invalid username or password")
        }
        return .json(["token": .string(issued.token), "expires_at": .string(issued.expiresAt)])
    }

    static func logout(_ request: Request, _ session: Session) throws -> Response {
        _ = try authenticated(request, session)
        if let token = request.token { try session.accounts.revoke(token: token) }
        return .json(["status": "logged out"])
    }

    static func createUser(_ request: Request, _ session: Session) throws -> Response {
        _ = try admin(request, session)
        let body = try request.jsonBody()
        guard case .object = body else { throw HTTPError.badRequest("Body must be a JSON object") }
        let new = NewUser(
            username: try requiredString(body, "username"), password: try requiredString(body, "password"),
            email: try body.optionalString("email"), roles: try body.optionalStringList("roles") ?? [],
            privileges: try body.optionalStringList("privileges") ?? [], groups: try body.optionalStringList("groups") ?? [])
        return .json(render(try EngineErrors.mapped { try session.accounts.create(new) }), status: 201)
    }

    static func updateUser(_ request: Request, _ session: Session) throws -> Response {
        _ = try admin(request, session)
        let body = try request.jsonBody()
        guard case .object = body else { throw HTTPError.badRequest("Body must be a JSON object") }
        var changes = UserChanges()
        if let email = body["email"] {
            guard email.isNull || email.stringValue != nil else { throw HTTPError.badRequest("email must be a string or null") }
            changes.email = .some(email.stringValue)
        }
        changes.password = try body.optionalString("password")
        if let active = body["active"] {
            guard let flag = active.boolValue else { throw HTTPError.badRequest("active must be a boolean") }
            changes.active = flag
        }
        changes.roles = try body.optionalStringList("roles")
        changes.privileges = try body.optionalStringList("privileges")
        changes.groups = try body.optionalStringList("groups")
        return .json(
            render(
                try EngineErrors.mapped {
                    try session.accounts.update(username: request.parameter("username"), changes, keeping: request.token)
                }))
    }

    // MARK: Auth

    static func authenticated(_ request: Request, _ session: Session) throws -> User {
        guard let token = request.token else { throw HTTPError.unauthorized("A token is required") }
        guard let user = try session.accounts.authenticate(token: token) else {
            throw HTTPError.unauthorized("Invalid or expired token")
        }
        return user
    }

    static func admin(_ request: Request, _ session: Session) throws -> User {
        let user = try authenticated(request, session)
        guard user.hasRole("admin") else { throw HTTPError.forbidden("The admin role is required") }
        return user
    }

    // MARK: Rendering and input

    static func render(_ user: User) -> JSON {
        [
            "username": .string(user.username),
            "email": .string(user.email),
            "account_id": .string(user.accountId),
            "active": .bool(user.active),
            "roles": .array(user.roles.map(JSON.string)),
            "privileges": .array(user.privileges.map(JSON.string)),
            "groups": .array(user.groups.map(JSON.string)),
            "created_at": .string(user.createdAt),
        ]
    }

    static func requiredString(_ body: JSON, _ key: String) throws -> String {
        guard let value = body[key]?.stringValue, !value.isEmpty else {
            throw HTTPError.badRequest("\(key) is required and must be a non-empty string")
        }
        return value
    }
}

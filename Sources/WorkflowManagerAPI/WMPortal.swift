import Engine
import Foundation
import HTTP
import JSON
import WorkflowManager

/// The part of a Portal for ArcGIS that Workflow Manager clients sign in through, under
/// `/sharing`: the OAuth pages (the ArcGIS API for Python's built-in sign-in), `generateToken`,
/// `portals/self` (which points clients at this server's Workflow Manager), users, groups and
/// workflow items. Its users, groups and tokens are Flowgate's. Errors are the Portal's:
/// `{"error": {"code", "message", "details"}}` with HTTP 200, as the ArcGIS REST API answers
/// (its clients read the code from the body and retry a 4xx without the token).
enum WMPortal {
    struct Settings: Sendable {
        /// `portals/self.id`: the organisation whose items the clients address (`/{orgId}/{itemId}`).
        let organisationId: String
        let tokenLifetimeSeconds: Int
    }

    /// The Portal version clients are told (ArcGIS Enterprise 11.3).
    static let version = "2024.1"

    static func surface(_ settings: Settings) -> Surface<Session> {
        let rest = "/sharing/rest"
        return Surface(
            name: "portal", owns: Surface<Session>.ownsPrefix(["sharing"]),
            routes: [
                Route<Session>("GET", rest) { _, _ in .json(["currentVersion": .string(version)]) },
                Route("GET", "\(rest)/info", info),
                Route("GET", "\(rest)/oauth2/authorize", authorize),
                Route("POST", "/sharing/oauth2/signin") { request, session in try signIn(request, session, settings) },
                Route("POST", "\(rest)/generateToken") { request, session in try generateToken(request, session, settings) },
                Route("GET", "\(rest)/portals/self") { request, session in try portal(request, session, settings) },
                Route("GET", "\(rest)/portals/{portalId}/servers") { request, session in try servers(request, session, settings) },
                Route("GET", "\(rest)/portals/self/roles", roles),
                Route("POST", "\(rest)/portals/self/roles", roles),
                Route("GET", "\(rest)/community/self") { request, session in try me(request, session, settings) },
                Route("GET", "\(rest)/community/users/{username}") { request, session in try user(request, session, settings) },
                Route("GET", "\(rest)/community/groups/{groupId}", group),
                Route("POST", "\(rest)/community/groups/{groupId}", group),
                Route("GET", "\(rest)/content/items/{itemId}") { request, session in try item(request, session, settings) },
                Route("POST", "\(rest)/content/items/{itemId}") { request, session in try item(request, session, settings) },
            ],
            renderError: render)
    }

    static func render(_ error: HTTPError) -> Response {
        let code = error.status == 401 ? 498 : error.status
        return .json(
            ["error": ["code": .number(code), "message": .string(error.message), "details": .array(error.details.map(JSON.string))]])
    }

    // MARK: Signing in

    static func info(_ request: Request, _ session: Session) throws -> Response {
        .json([
            "owningSystemUrl": .string(request.origin), "currentVersion": .string(version),
            "authInfo": ["tokenServicesUrl": .string("\(request.origin)/sharing/rest/generateToken"), "isTokenBasedSecurity": true],
        ])
    }

    /// The sign-in page. Only a `redirect_uri` on this server's own origin is accepted: the
    /// token travels in the redirect, so any other target would hand it to a stranger.
    static func authorize(_ request: Request, _ session: Session) throws -> Response {
        guard request.queryValue("response_type") == "token" else {
            return page(status: 400, info: ["error": "unsupported_response_type"], text: "Only response_type=token is supported.")
        }
        guard let redirect = request.queryValue("redirect_uri"), isOwn(redirect, request) else {
            return page(status: 400, info: ["error": "invalid_request"], text: "Invalid redirect_uri.")
        }
        guard let oauthState = try session.portalSignIns.begin(clientState: request.queryValue("state") ?? "", redirectURI: redirect)
        else {
            return page(status: 503, info: ["error": "temporarily_unavailable"], text: "Too many sign-ins in progress; try again.")
        }
        return page(
            status: 200,
            info: ["oauth_state": .string(oauthState), "client_id": .string(request.queryValue("client_id")), "appTitle": "Flowgate"],
            text: "Sign in to Flowgate.")
    }

    /// The sign-in form: a good password is a 302 to the redirect with the token in its fragment.
    /// The sign-in is spent whatever the outcome, so one page allows one password guess.
    static func signIn(_ request: Request, _ session: Session, _ settings: Settings) throws -> Response {
        let form = try request.formBody()
        guard let oauthState = form["oauth_state"], let signIn = try session.portalSignIns.spend(oauthState) else {
            return page(status: 400, info: ["messages": ["The sign-in has expired; start again."]], text: "The sign-in has expired.")
        }
        guard let username = form["username"], let password = form["password"],
            let issued = try session.accounts.login(
                username: username, password: password, lifetimeSeconds: lifetime(form["expiration"], settings))
        else {
            return page(status: 200, info: ["messages": ["Invalid username or password."]], text: "Invalid username or password.")
        }
        let seconds = Int((milliseconds(issued.expiresAt) / 1000 - Date().timeIntervalSince1970).rounded(.down))
        let fragment = [
            ("access_token", issued.token), ("expires_in", String(max(0, seconds))), ("username", username), ("ssl", "true"),
            ("state", signIn.clientState),
        ].map { "\($0.0)=\(percentEncoded($0.1))" }.joined(separator: "&")
        return Response(status: 302, headers: [("Location", "\(signIn.redirectURI)#\(fragment)"), ("Cache-Control", "no-store")])
    }

    /// `POST generateToken` (a form; never the query string, which proxies log):
    /// `{"token", "expires" (ms), "ssl"}`.
    static func generateToken(_ request: Request, _ session: Session, _ settings: Settings) throws -> Response {
        guard request.queryValue("password") == nil else { throw HTTPError.badRequest("Send the password in the form body.") }
        let form = try request.formBody()
        guard let username = form["username"], let password = form["password"],
            let issued = try session.accounts.login(
                username: username, password: password, lifetimeSeconds: lifetime(form["expiration"], settings))
        else {
            throw HTTPError(400, "Unable to generate token.", details: ["Invalid username or password."])
        }
        return .json([
            "token": .string(issued.token), "expires": .number(milliseconds(issued.expiresAt)),
            "ssl": .bool(request.scheme == "https"),
        ])
    }

    /// A requested lifetime in minutes (ArcGIS's unit), within Flowgate's token lifetime.
    static func lifetime(_ minutes: String?, _ settings: Settings) -> Int {
        guard let minutes = minutes.flatMap({ Int($0) }), minutes > 0 else { return settings.tokenLifetimeSeconds }
        return max(60, min(settings.tokenLifetimeSeconds, minutes.multipliedReportingOverflow(by: 60).partialValue))
    }

    /// This server's origin, or a path on it, with nothing a header line or URL parser could
    /// read differently (no control characters, spaces, backslashes, `@`, or fragment).
    static func isOwn(_ uri: String, _ request: Request) -> Bool {
        guard uri == request.origin || uri.hasPrefix(request.origin + "/") else { return false }
        return uri.unicodeScalars.allSatisfy { $0.value > 32 && $0.value < 127 && !"\\@#".unicodeScalars.contains($0) }
    }

    /// The page the ArcGIS clients read `oAuthInfo` from: it is the first `{` of the page, on one line.
    static func page(status: Int, info: JSON, text: String) -> Response {
        let html = """
            <!DOCTYPE html>
            <html><head><meta charset="utf-8"><title>Flowgate sign-in</title>
            <script>var oAuthInfo = \(scriptSafe(info.serialized));</script>
            </head><body><p>\(htmlEscaped(text))</p></body></html>
            """
        var response = Response.text(html, status: status, contentType: "text/html; charset=utf-8")
        response.headers.append(("Cache-Control", "no-store"))
        response.headers.append(("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'"))
        return response
    }

    /// JSON inside a script element: `<` escaped, so no value can close the element.
    static func scriptSafe(_ json: String) -> String { json.replacingOccurrences(of: "<", with: "\\u003c") }

    static func htmlEscaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }

    static func percentEncoded(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    // MARK: The portal, its users, groups and items

    /// The token's user; a request without a token gets nil, a bad token 498.
    static func caller(_ request: Request, _ session: Session) throws -> User? {
        guard let token = WorkflowManagerAPI.token(request) else { return nil }
        return try WorkflowManagerAPI.user(token: token, session)
    }

    static func signedIn(_ request: Request, _ session: Session) throws -> User {
        guard let user = try caller(request, session) else { throw HTTPError(499, "Token Required.") }
        return user
    }

    static func portal(_ request: Request, _ session: Session, _ settings: Settings) throws -> Response {
        var fields: [(String, JSON)] = [
            ("id", .string(settings.organisationId)), ("name", "Flowgate"), ("portalName", "Flowgate"), ("isPortal", false),
            ("portalMode", "singletenant"), ("currentVersion", .string(version)),
            ("portalHostname", .string(request.header("host"))), ("supportsOAuth", true),
            ("helperServices", ["workflowManager": ["url": .string(request.origin)]]),
        ]
        if let user = try caller(request, session) { fields.append(("user", render(user, settings, full: true))) }
        return .json(.object(fields))
    }

    /// The servers of the portal: Flowgate itself, as the Workflow Manager server.
    static func servers(_ request: Request, _ session: Session, _ settings: Settings) throws -> Response {
        _ = try signedIn(request, session)
        guard request.parameter("portalId") == settings.organisationId else {
            throw HTTPError(400, "Portal '\(request.parameter("portalId"))' does not exist.")
        }
        let server: JSON = [
            "id": "flowgate", "name": .string(request.header("host")), "url": .string(request.origin),
            "adminUrl": .string(request.origin), "isHosted": false, "serverType": "ArcGIS", "serverRole": "FEDERATED_SERVER",
            "serverFunction": "WorkflowManager",
        ]
        return .json(["servers": [server]])
    }

    /// The portal's own two user roles (Workflow Manager's privilege sets are under its items).
    static func roles(_ request: Request, _ session: Session) throws -> Response {
        _ = try signedIn(request, session)
        let roles: [JSON] = [
            ["id": "org_admin", "name": "Administrator", "description": "Flowgate's admin role"],
            ["id": "org_user", "name": "User", "description": "Every other user"],
        ]
        return .json(["total": .number(roles.count), "start": 1, "num": .number(roles.count), "nextStart": -1, "roles": .array(roles)])
    }

    static func me(_ request: Request, _ session: Session, _ settings: Settings) throws -> Response {
        .json(render(try signedIn(request, session), settings, full: true))
    }

    /// Anyone signed in sees a user's name and groups; the user and admins also see the email.
    static func user(_ request: Request, _ session: Session, _ settings: Settings) throws -> Response {
        let caller = try signedIn(request, session)
        let name = request.parameter("username")
        guard let user = try session.accounts.user(named: name), user.active else {
            throw HTTPError(400, "User '\(name)' does not exist or is inaccessible.")
        }
        return .json(render(user, settings, full: user.id == caller.id || caller.hasRole("admin")))
    }

    static func render(_ user: User, _ settings: Settings, full: Bool) -> JSON {
        let admin = user.hasRole("admin")
        var fields: [(String, JSON)] = [
            ("username", .string(user.username)), ("fullName", .string(user.displayName ?? user.username)),
            ("orgId", .string(settings.organisationId)), ("role", admin ? "org_admin" : "org_user"),
            (
                "privileges",
                .array((admin ? ["portal:admin:viewUsers", "portal:user:joinGroup"] : ["portal:user:joinGroup"]).map(JSON.string))
            ),
            ("userLicenseTypeExtensions", ["workflow"]), ("access", "org"), ("provider", "arcgis"),
            ("groups", .array(user.groups.map { ["id": .string($0), "title": .string($0)] })),
            ("created", .number(milliseconds(user.createdAt))), ("modified", .number(milliseconds(user.createdAt))),
        ]
        if full, let email = user.email { fields.insert(("email", .string(email)), at: 2) }
        return .object(fields)
    }

    static func group(_ request: Request, _ session: Session) throws -> Response {
        _ = try signedIn(request, session)
        let id = request.parameter("groupId")
        guard let group = try session.community.group(named: id) else {
            throw HTTPError(400, "Group '\(id)' does not exist or is inaccessible.")
        }
        return .json([
            "id": .string(group.name), "title": .string(group.name), "access": "org", "isInvitationOnly": true,
            "owner": .null, "description": .null, "tags": [],
        ])
    }

    /// A workflow item of the organisation, as the Portal item the clients open it by.
    static func item(_ request: Request, _ session: Session, _ settings: Settings) throws -> Response {
        _ = try signedIn(request, session)
        let id = request.parameter("itemId")
        guard let item = try session.workflowItems.item(orgId: settings.organisationId, itemId: id) else {
            throw HTTPError(400, "Item does not exist or is inaccessible.")
        }
        let created = JSON.number((item.createdAt * 1000).rounded(.down))
        return .json([
            "id": .string(item.itemId), "orgId": .string(item.orgId), "title": .string(item.name), "name": .string(item.name),
            "type": "Workflow", "typeKeywords": ["Workflow", "Workflow Manager"], "access": "org", "url": .null,
            "created": created, "modified": created, "tags": [], "snippet": .null, "description": .null,
        ])
    }

    static func milliseconds(_ timestamp: String) -> Double { ((Timestamp.parse(timestamp) ?? 0) * 1000).rounded(.down) }
}

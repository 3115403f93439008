import Blocks
import Engine
import HTTP
import JSON

/// The Blocks surface (EEG-Workflow-System's API): users under `/api/users`, block-graph jobs
/// under `/api/workflow`. Forms in, JSON out, errors as `{"error": "…"}`, auth by cookie.
public enum BlocksAPI {
    public struct Configuration: Sendable {
        public let tokenLifetimeSeconds: Int
        public let modules: ModuleRuntime
        public let registrationOpen: Bool

        public init(tokenLifetimeSeconds: Int, modules: ModuleRuntime, registrationOpen: Bool = true) {
            self.tokenLifetimeSeconds = tokenLifetimeSeconds
            self.modules = modules
            self.registrationOpen = registrationOpen
        }
    }

    public static func surface(_ configuration: Configuration) -> Surface<Session> {
        let users = BlocksUsers(tokenLifetimeSeconds: configuration.tokenLifetimeSeconds, registrationOpen: configuration.registrationOpen)
        let workflow = BlocksWorkflow()
        let modules = BlocksModules(
            runtime: configuration.modules,
            uploads: UploadGate(total: configuration.modules.concurrentUploads, perUser: 1))
        return Surface(
            name: "blocks",
            owns: { segments in segments.first == "api" && ["users", "workflow"].contains(segments.dropFirst().first ?? "") },
            routes: [
                Route("POST", "/api/users/register") { request, session in try users.register(request, session) },
                Route("POST", "/api/users/login") { request, session in try users.login(request, session) },
                Route("POST", "/api/users/reset", signedIn) { request, session, user in try users.reset(request, session, user) },
                Route("GET", "/api/users/details", signedIn) { request, session, user in try users.details(request, session, user) },
                Route("POST", "/api/workflow/initialize", signedIn) { request, session, user in try workflow.palette(request, session, user)
                },
                Route("POST", "/api/workflow/schedule", signedIn) { request, session, user in try workflow.schedule(request, session, user)
                },
                Route("GET", "/api/workflow/schedule", signedIn) { request, session, user in try workflow.list(request, session, user) },
                Route("POST", "/api/workflow/jobs", signedIn) { request, session, user in try workflow.details(request, session, user) },
                Route("POST", "/api/workflow/upload", signedIn) { request, session, user in try modules.upload(request, session, user) },
                Route("GET", "/api/workflow/file/{jobId}/{filename}", signedIn) { request, session, user in
                    try modules.file(request, session, user)
                },
            ],
            renderError: { error in
                .json(error.body ?? ["error": .string(error.message)], status: error.status)
            })
    }

    // MARK: Shared by the handlers

    /// Routes for signed-in users: their handlers get the user.
    static let signedIn = Prologue<Session, User> { request, session in try authenticate(request, session) }

    /// The upstream's cookie check, with its exact statuses and bodies (spec §1).
    static func authenticate(_ request: Request, _ session: Session) throws -> User {
        guard let token = request.cookies["token"], !token.isEmpty else {
            throw HTTPError(403, "no token", body: ["error": "Authentication token is not available, please login to get one"])
        }
        switch try session.accounts.inspect(token: token) {
        case let .valid(user): return user
        case .expired: throw HTTPError(400, "expired", body: ["message": "token expired, please login again"])
        case .unknown: throw HTTPError(400, "invalid", body: ["message": "Invalid token, please try again with a new token"])
        case .userInactive: throw HTTPError(404, "user gone", body: ["error": "user does not exist, invalid token"])
        }
    }

    /// The form, whatever the client sent; upstream answers 400 to anything that is not one.
    static func form(_ request: Request) throws -> FormData {
        do {
            return try request.formBody()
        } catch let error where error.status == 415 {
            throw HTTPError.badRequest("Expected a multipart/form-data or application/x-www-form-urlencoded body")
        }
    }

    static func required(_ form: FormData, _ field: String) throws -> String {
        guard let value = form[field] else { throw HTTPError.badRequest("Missing form field '\(field)'") }
        return value
    }

    static func refuse(_ error: BlocksError) -> HTTPError { HTTPError(error.status, error.message) }
}

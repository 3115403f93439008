import Engine
import HTTP
import JSON
import Scale

/// The Scale surface under `/v6`: errors as `{"detail": "…"}`, every route with and without its
/// trailing slash (no redirect), a Flowgate token on every call (reads: any active user; writes:
/// the `admin` role, except validation).
public enum ScaleAPI {
    public static func surface() -> Surface<Session> {
        let workspaces = ScaleWorkspaces()
        let jobTypes = ScaleJobTypes()
        let jobs = ScaleJobsAPI()
        return Surface(
            name: "scale",
            owns: Surface<Session>.ownsPrefix(["v6"]),
            routes: both("GET", "/v6/workspaces/", .read) { request, session, user in try workspaces.list(request, session, user) }
                + both("POST", "/v6/workspaces/", .write) { request, session, user in try workspaces.create(request, session, user) }
                + both("GET", "/v6/workspaces/{id}/", .read) { request, session, user in try workspaces.details(request, session, user) }
                + both("PATCH", "/v6/workspaces/{id}/", .write) { request, session, user in try workspaces.edit(request, session, user) }
                + both("POST", "/v6/job-types/validation/", .read) { request, session, user in try jobTypes.validate(request, session, user)
                }
                + both("GET", "/v6/job-types/status/", .read) { request, session, user in try jobs.status(request, session, user) }
                + both("GET", "/v6/job-types/pending/", .read) { request, session, user in try jobs.pending(request, session, user) }
                + both("GET", "/v6/job-types/running/", .read) { request, session, user in try jobs.running(request, session, user) }
                + both("GET", "/v6/job-types/system-failures/", .read) { request, session, user in
                    try jobs.systemFailures(request, session, user)
                }
                + both("GET", "/v6/jobs/", .read) { request, session, user in try jobs.list(request, session, user) }
                + both("POST", "/v6/jobs/", .write) { request, session, user in try jobs.queue(request, session, user) }
                + both("POST", "/v6/jobs/claim/", .write) { request, session, user in try jobs.claim(request, session, user) }
                + both("GET", "/v6/jobs/{id}/", .read) { request, session, user in try jobs.details(request, session, user) }
                + both("POST", "/v6/jobs/{id}/cancel/", .write) { request, session, user in try jobs.cancel(request, session, user) }
                + both("POST", "/v6/jobs/{id}/requeue/", .write) { request, session, user in try jobs.requeue(request, session, user) }
                + both("POST", "/v6/jobs/{id}/status/", .write) { request, session, user in try jobs.report(request, session, user) }
                + both("GET", "/v6/job-type-names/", .read) { request, session, user in try jobTypes.names(request, session, user) }
                + both("GET", "/v6/job-types/", .read) { request, session, user in try jobTypes.list(request, session, user) }
                + both("POST", "/v6/job-types/", .write) { request, session, user in try jobTypes.create(request, session, user) }
                + both("GET", "/v6/job-types/{name}/", .read) { request, session, user in try jobTypes.versions(request, session, user) }
                + both("GET", "/v6/job-types/{name}/{version}/", .read) { request, session, user in
                    try jobTypes.details(request, session, user)
                }
                + both("PATCH", "/v6/job-types/{name}/{version}/", .write) { request, session, user in
                    try jobTypes.edit(request, session, user)
                }
                + both("GET", "/v6/job-types/{name}/{version}/revisions/", .read) { request, session, user in
                    try jobTypes.revisions(request, session, user)
                }
                + both("GET", "/v6/job-types/{name}/{version}/revisions/{revision}/", .read) { request, session, user in
                    try jobTypes.revision(request, session, user)
                },
            renderError: { error in .json(error.body ?? ["detail": .string(error.message)], status: error.status) })
    }

    /// A route for `pattern` (which ends in `/`) and for the same path without the slash, whose
    /// handler gets the caller, authenticated for `access`. Each claims its path, as Scale's
    /// Django URL list does: `GET /v6/job-types/validation/` is a 405, not a job type's versions.
    static func both(
        _ method: String, _ pattern: String, _ access: Access, _ handler: @escaping @Sendable (Request, Session, User) throws -> Response
    ) -> [Route<Session>] {
        let prologue = Prologue<Session, User> { request, session in try authenticate(request, session, for: access) }
        return [pattern, String(pattern.dropLast())].map { Route(method, $0, prologue, handler).claimingPath() }
    }

    // MARK: Shared by the handlers

    enum Access {
        case read
        case write
    }

    static func authenticate(_ request: Request, _ session: Session, for access: Access) throws -> User {
        guard let token = request.token else { throw HTTPError(401, "Authentication credentials were not provided.") }
        guard let user = try session.accounts.authenticate(token: token) else { throw HTTPError(401, "Invalid token.") }
        guard !user.isBlocksOnly else { throw HTTPError(403, User.blocksOnlyMessage) }
        if access == .write, !user.hasRole("admin") {
            throw HTTPError(403, "You do not have permission to perform this action.")
        }
        return user
    }

    /// A JSON object body; 415 for another media type, 400 for anything but an object.
    static func objectBody(_ request: Request) throws -> JSON {
        let body: JSON
        do {
            body = try request.jsonBody()
        } catch let error where error.status == 415 {
            throw HTTPError(415, "Unsupported media type \"\(request.header("content-type") ?? "")\" in request.")
        } catch {
            throw HTTPError.badRequest("JSON parse error - \(error.message)")
        }
        guard case .object = body else { throw HTTPError.badRequest("The request body must be a JSON object") }
        return body
    }

    static func refuseUnknownFields(_ body: JSON, allowed: [String]) throws {
        if let unknown = body.objectValue?.first(where: { !allowed.contains($0.0) })?.0 {
            throw HTTPError.badRequest("\(unknown) is not a valid field. Valid fields are: \(allowed.joined(separator: ", "))")
        }
    }

    static let notFound = HTTPError(404, "Not found.")
}

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
            routes: both("GET", "/v6/workspaces/") { request, session in try workspaces.list(request, session) }
                + both("POST", "/v6/workspaces/") { request, session in try workspaces.create(request, session) }
                + both("GET", "/v6/workspaces/{id}/") { request, session in try workspaces.details(request, session) }
                + both("PATCH", "/v6/workspaces/{id}/") { request, session in try workspaces.edit(request, session) }
                + both("POST", "/v6/job-types/validation/") { request, session in try jobTypes.validate(request, session) }
                + both("GET", "/v6/job-types/status/") { request, session in try jobs.status(request, session) }
                + both("GET", "/v6/job-types/pending/") { request, session in try jobs.pending(request, session) }
                + both("GET", "/v6/job-types/running/") { request, session in try jobs.running(request, session) }
                + both("GET", "/v6/job-types/system-failures/") { request, session in try jobs.systemFailures(request, session) }
                + both("GET", "/v6/jobs/") { request, session in try jobs.list(request, session) }
                + both("POST", "/v6/jobs/") { request, session in try jobs.queue(request, session) }
                + both("POST", "/v6/jobs/claim/") { request, session in try jobs.claim(request, session) }
                + both("GET", "/v6/jobs/{id}/") { request, session in try jobs.details(request, session) }
                + both("POST", "/v6/jobs/{id}/cancel/") { request, session in try jobs.cancel(request, session) }
                + both("POST", "/v6/jobs/{id}/requeue/") { request, session in try jobs.requeue(request, session) }
                + both("POST", "/v6/jobs/{id}/status/") { request, session in try jobs.report(request, session) }
                + both("GET", "/v6/job-type-names/") { request, session in try jobTypes.names(request, session) }
                + both("GET", "/v6/job-types/") { request, session in try jobTypes.list(request, session) }
                + both("POST", "/v6/job-types/") { request, session in try jobTypes.create(request, session) }
                + both("GET", "/v6/job-types/{name}/") { request, session in try jobTypes.versions(request, session) }
                + both("GET", "/v6/job-types/{name}/{version}/") { request, session in try jobTypes.details(request, session) }
                + both("PATCH", "/v6/job-types/{name}/{version}/") { request, session in try jobTypes.edit(request, session) }
                + both("GET", "/v6/job-types/{name}/{version}/revisions/") { request, session in try jobTypes.revisions(request, session) }
                + both("GET", "/v6/job-types/{name}/{version}/revisions/{revision}/") { request, session in
                    try jobTypes.revision(request, session)
                },
            renderError: { error in .json(error.body ?? ["detail": .string(error.message)], status: error.status) })
    }

    /// A route for `pattern` (which ends in `/`) and for the same path without the slash.
    static func both(_ method: String, _ pattern: String, _ handler: @escaping Handler<Session>) -> [Route<Session>] {
        [Route(method, pattern, handler), Route(method, String(pattern.dropLast()), handler)]
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

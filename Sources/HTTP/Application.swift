import JSON
import Logging
import Postgres

/// Turns one HTTP request into one response: parse, find the surface and route, run the handler,
/// and render any error in the owning surface's shape. Shared by every worker thread.
public struct Application<Context>: Sendable {
    public let surfaces: [Surface<Context>]
    /// Every surface's routes, in the surfaces' order (the micro-benchmark times it too).
    package let router: Router<Context>
    private let fallbackError: @Sendable (HTTPError) -> Response
    private let origins: Origins
    private let idempotentWrites: IdempotentWrites<Context>?

    public init(
        surfaces: [Surface<Context>], origins: Origins = Origins(), idempotentWrites: IdempotentWrites<Context>? = nil,
        fallbackError: @escaping @Sendable (HTTPError) -> Response = NativeErrorShape.render
    ) {
        self.surfaces = surfaces
        self.origins = origins
        self.idempotentWrites = idempotentWrites
        self.fallbackError = fallbackError
        var router = Router<Context>()
        for surface in surfaces { router.add(surface.routes) }
        self.router = router
    }

    /// `prepare` runs before the handler (e.g. reconnect the database); its errors are rendered
    /// like the handler's. `bodyRefusal`: the transport could not read the body as declared.
    /// `peer` is the client's address; `logger` carries the request's id to every line logged
    /// while serving it. Each answer is counted and timed (`RequestMetrics`).
    public func respond(
        method: String, target: String, headers: [String: String], body: [UInt8],
        bodyRefusal: HTTPError? = nil, context: Context, peer: String? = nil, logger: Logger = Request.untracedLogger,
        prepare: (Context) throws -> Void = { _ in }
    ) -> Response {
        let started = RequestMetrics.now()
        let path = target.split(separator: "?", maxSplits: 1).first.map(String.init) ?? target
        // Ownership is decided on raw segments: a malformed escape must still get its surface's shape.
        let segments = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let owner = surfaces.first(where: { $0.owns(segments) })
        let render: @Sendable (HTTPError) -> Response = owner?.renderError ?? fallbackError
        var route = RequestMetrics.unmatched
        let response = answer(
            method: method, target: target, headers: headers, body: body, bodyRefusal: bodyRefusal, context: context,
            peer: peer, logger: logger, renderError: errorRenderer(render), route: &route,
            prepare: prepare)
        RequestMetrics.record(surface: owner?.name ?? "none", route: route, method: method, status: response.status, since: started)
        return response
    }

    private func answer(
        method: String, target: String, headers: [String: String], body: [UInt8], bodyRefusal: HTTPError?, context: Context,
        peer: String?, logger: Logger, renderError: (HTTPError) -> Response, route matchedRoute: inout String,
        prepare: (Context) throws -> Void
    ) -> Response {
        var request: Request
        do {
            request = try Request(method: method, target: target, headers: headers, body: body)
        } catch {
            return renderError(error)
        }
        if let bodyRefusal { return renderError(bodyRefusal) }
        request.origins = origins
        request.peer = peer
        request.logger = logger
        // A browser sends the token cookie with a form posted from any site: a write that carries
        // it must come from one of ours (or from a client that sends no Origin at all).
        if !["GET", "HEAD", "OPTIONS"].contains(method), request.cookies["token"] != nil,
            let origin = request.header("origin"), !origins.allows(origin: origin, for: request)
        {
            return renderError(.forbidden("Cross-site request refused: origin \(origin.prefix(100)) may not write here"))
        }
        var response: Response
        switch router.match(method: method, segments: request.segments) {
        case .notFound:
            response = renderError(.notFound("No route for \(method) \(request.rawPath)"))
        case let .methodNotAllowed(allowed):
            response = renderError(
                HTTPError(
                    405, "Method \(method) not allowed on \(request.rawPath)",
                    headers: [("Allow", allowed.joined(separator: ", "))]))
        case let .found(route, parameters):
            matchedRoute = route.path
            var bound = request
            bound.pathParameters = parameters
            do {
                try prepare(context)
                if let idempotentWrites, let key = try IdempotentWrites<Context>.key(of: bound) {
                    response = try idempotentWrites.run(bound, context, key) { try route.handler(bound, context) }
                } else {
                    response = try route.handler(bound, context)
                }
            } catch let error as HTTPError {
                response = renderError(error)
            } catch let error as PostgresError {
                response = renderError(Application.httpError(for: error, request: request))
            } catch {
                request.logger.error("unhandled error", metadata: ["path": "\(request.rawPath)", "error": "\(error)"])
                response = renderError(HTTPError(500, "Internal server error"))
            }
        }
        if method == "HEAD" { response.body = [] }
        return response
    }

    /// The owning surface's renderer, plus the error's own headers (`Allow` on a 405).
    private func errorRenderer(_ render: @escaping (HTTPError) -> Response) -> (HTTPError) -> Response {
        { error in
            var response = render(error)
            response.headers += error.headers.filter { header in response.header(header.0) == nil }
            return response
        }
    }

    /// SQLSTATE classes mapped to what the client can do about them.
    static func httpError(for error: PostgresError, request: Request) -> HTTPError {
        if error.isUnavailable {
            request.logger.warning("database unavailable", metadata: ["path": "\(request.rawPath)", "error": "\(error.description)"])
            return HTTPError(503, "Database unavailable, try again")
        }
        switch error.sqlState {
        case "23505": return .conflict("Already exists" + (error.detail.map { ": \($0)" } ?? ""))
        case "23503": return .conflict("Refers to a missing or still referenced row")
        case "23514", "23502": return .badRequest("Invalid value: \(error.message)")
        // Class 22, "data exception": a value the client sent that PostgreSQL cannot take
        // (out of range, bad format, an interval or time zone beyond its bounds).
        case let state? where state.hasPrefix("22"): return .badRequest("Invalid value: \(error.message)")
        case "40001", "40P01", "55P03": return HTTPError(503, "Too much contention, try again")
        default:
            request.logger.error("database error", metadata: ["path": "\(request.rawPath)", "error": "\(error.description)"])
            return HTTPError(500, "Internal server error")
        }
    }
}

/// How writes sent with an `Idempotency-Key` header run (payment APIs' pattern): `run` gets the
/// request, the key and the handler, and answers the first answer to that key again instead of
/// running the handler twice.
public struct IdempotentWrites<Context>: Sendable {
    public let run: @Sendable (Request, Context, String, () throws -> Response) throws -> Response

    public init(run: @escaping @Sendable (Request, Context, String, () throws -> Response) throws -> Response) {
        self.run = run
    }

    static var writeMethods: Set<String> { ["POST", "PUT", "PATCH", "DELETE"] }

    /// The key of a write: 1–255 printable ASCII characters; reads ignore it.
    static func key(of request: Request) throws(HTTPError) -> String? {
        guard writeMethods.contains(request.method), let key = request.header("idempotency-key") else { return nil }
        guard (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ (0x21...0x7e).contains($0) }) else {
            throw .badRequest("Idempotency-Key must be 1 to 255 printable ASCII characters without spaces")
        }
        return key
    }

    /// What identifies the request for its key: method, path, query and body.
    public static func fingerprint(of request: Request) -> [UInt8] {
        let query = request.query.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        return Array("\(request.method) \(request.rawPath)?\(query)\n".utf8) + request.body
    }
}

/// A request handler. `Context` is the per-thread state the application passes in (a database
/// session); handlers are shared by all threads, so they capture nothing mutable.
public typealias Handler<Context> = @Sendable (Request, Context) throws -> Response

public struct Route<Context>: Sendable {
    public let method: String
    /// The pattern as written (`/api/jobs/{jobId}`): what metrics name the route by.
    public let path: String
    public let pattern: [PatternSegment]
    public let handler: Handler<Context>
    /// The path decides before the method, as Django's URL list does: a request for this path
    /// with another method is a 405 here, not a match of a less specific pattern.
    public private(set) var claimsPath = false

    /// `pattern` is a path such as `/api/jobs/{jobId}`; `{name}` matches one non-empty segment.
    public init(_ method: String, _ pattern: String, _ handler: @escaping Handler<Context>) {
        self.method = method
        self.path = pattern
        self.pattern = PatternSegment.parse(pattern)
        self.handler = handler
    }

    /// A route whose handler is given what `prologue` made of the request first: the caller a
    /// surface authenticated (and authorized), so that no handler repeats that by hand.
    public init<Prepared>(
        _ method: String, _ pattern: String, _ prologue: Prologue<Context, Prepared>,
        _ handler: @escaping @Sendable (Request, Context, Prepared) throws -> Response
    ) {
        self.init(method, pattern) { request, context in try handler(request, context, try prologue.run(request, context)) }
    }

    /// This route with `claimsPath` set.
    public func claimingPath() -> Route {
        var route = self
        route.claimsPath = true
        return route
    }
}

/// What a group of routes does with a request before its handler: typically, authenticate the
/// caller and check a role. A surface defines one per kind of access.
public struct Prologue<Context, Prepared>: Sendable {
    public let run: @Sendable (Request, Context) throws -> Prepared

    public init(_ run: @escaping @Sendable (Request, Context) throws -> Prepared) {
        self.run = run
    }
}

public enum PatternSegment: Sendable, Equatable {
    case literal(String)
    case parameter(String)

    static func parse(_ pattern: String) -> [PatternSegment] {
        pattern.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map { piece in
            piece.hasPrefix("{") && piece.hasSuffix("}")
                ? .parameter(String(piece.dropFirst().dropLast())) : .literal(String(piece))
        }
    }
}

/// Matches method + path. Among patterns that match a path, the one with a literal at the
/// first position where they differ wins (`/jobs/search` beats `/jobs/{id}`). A route that
/// claims its path also wins over a less specific one of another method, with a 405.
public struct Router<Context>: Sendable {
    public enum Match {
        case found(Route<Context>, [String: String])
        /// The path exists, but not for this method; the methods it does allow.
        case methodNotAllowed([String])
        case notFound
    }

    private var routes: [Route<Context>] = []
    /// The positions in `routes` of the patterns of each length and first literal segment (nil:
    /// a parameter comes first). A path is tried only against the patterns that could match it:
    /// every request looks, and there are hundreds of routes.
    private var byShape: [Shape: [Int]] = [:]

    struct Shape: Hashable {
        let length: Int
        let first: String?
    }

    public init() {}

    /// A literal shape's list also holds the patterns of its length that begin with a parameter,
    /// in the order added, so that a request looks up one list and allocates nothing.
    public mutating func add(_ route: Route<Context>) {
        let length = route.pattern.count
        let position = routes.count
        routes.append(route)
        if case let .literal(first)? = route.pattern.first {
            let shape = Shape(length: length, first: first)
            if byShape[shape] == nil { byShape[shape] = byShape[Shape(length: length, first: nil)] ?? [] }
            byShape[shape]?.append(position)
        } else {
            for shape in byShape.keys where shape.length == length { byShape[shape]?.append(position) }
            byShape[Shape(length: length, first: nil), default: []].append(position)
        }
    }

    /// The positions of the patterns that may match `segments`, in the order they were added.
    func candidates(for segments: [String]) -> [Int] {
        segments.first.flatMap { byShape[Shape(length: segments.count, first: $0)] } ?? byShape[Shape(length: segments.count, first: nil)]
            ?? []
    }

    public mutating func add(_ newRoutes: [Route<Context>]) { newRoutes.forEach { add($0) } }

    public func match(method: String, segments: [String]) -> Match {
        var best: (route: Route<Context>, parameters: [String: String])?
        var claimed: [PatternSegment]?
        var allowed: [String] = []
        // HEAD is served by GET routes (the body is dropped later).
        let lookupMethod = method == "HEAD" ? "GET" : method
        for position in candidates(for: segments) {
            guard let parameters = Router.bind(routes[position].pattern, to: segments) else { continue }
            let route = routes[position]
            if !allowed.contains(route.method) { allowed.append(route.method) }
            if route.claimsPath, claimed.map({ Router.isMoreSpecific(route.pattern, than: $0) }) ?? true { claimed = route.pattern }
            guard route.method == lookupMethod else { continue }
            if let current = best, !Router.isMoreSpecific(route.pattern, than: current.route.pattern) { continue }
            best = (route, parameters)
        }
        if let claimed, best.map({ Router.isMoreSpecific(claimed, than: $0.route.pattern) }) ?? true {
            return .methodNotAllowed(Router.withHead(routes.filter { $0.pattern == claimed }.map(\.method)))
        }
        if let best { return .found(best.route, best.parameters) }
        guard !allowed.isEmpty else { return .notFound }
        return .methodNotAllowed(Router.withHead(allowed))
    }

    /// HEAD is allowed wherever GET is.
    static func withHead(_ methods: [String]) -> [String] {
        var unique: [String] = []
        for method in methods where !unique.contains(method) { unique.append(method) }
        if unique.contains("GET"), !unique.contains("HEAD") { unique.append("HEAD") }
        return unique
    }

    static func bind(_ pattern: [PatternSegment], to segments: [String]) -> [String: String]? {
        guard pattern.count == segments.count else { return nil }
        // Whether it matches first: most patterns tried do not, and should cost no dictionary.
        for (piece, segment) in zip(pattern, segments) {
            switch piece {
            case let .literal(text): if text != segment { return nil }
            case .parameter: if segment.isEmpty { return nil }
            }
        }
        var parameters: [String: String] = [:]
        for case (.parameter(let name), let segment) in zip(pattern, segments) { parameters[name] = segment }
        return parameters
    }

    static func isMoreSpecific(_ a: [PatternSegment], than b: [PatternSegment]) -> Bool {
        for (x, y) in zip(a, b) where x != y {
            if case .literal = x, case .parameter = y { return true }
            return false
        }
        return false
    }
}

import JSON

/// One API dialect: the paths it owns, its routes, and how its errors look on the wire.
/// Errors for paths a surface owns — including 404/405 from the router — use its shape.
public struct Surface<Context>: Sendable {
    public let name: String
    public let owns: @Sendable ([String]) -> Bool
    public let routes: [Route<Context>]
    public let renderError: @Sendable (HTTPError) -> Response

    public init(
        name: String, owns: @escaping @Sendable ([String]) -> Bool, routes: [Route<Context>],
        renderError: @escaping @Sendable (HTTPError) -> Response
    ) {
        self.name = name
        self.owns = owns
        self.routes = routes
        self.renderError = renderError
    }

    /// Owns every path whose first segments equal `prefix` (`["api", "workflow"]`).
    public static func ownsPrefix(_ prefix: [String]) -> @Sendable ([String]) -> Bool {
        { segments in segments.count >= prefix.count && Array(segments.prefix(prefix.count)) == prefix }
    }
}

/// Flowgate's own error shape: `{"error": {"status": N, "message": "…"}}`.
public enum NativeErrorShape {
    public static func render(_ error: HTTPError) -> Response {
        if let body = error.body { return .json(body, status: error.status) }
        var inner: [(String, JSON)] = [("status", .number(error.status)), ("message", .string(error.message))]
        if !error.details.isEmpty { inner.append(("details", .array(error.details.map(JSON.string)))) }
        return .json(.object([("error", .object(inner))]), status: error.status)
    }
}

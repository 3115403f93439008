import JSON

/// An error a handler throws to answer with a status. The owning surface renders `message` in
/// its own error shape, unless `body` is given: then that exact body is sent (for surfaces whose
/// clients expect specific upstream bodies).
public struct HTTPError: Error, Sendable, CustomStringConvertible {
    public let status: Int
    public let message: String
    public let details: [String]
    public let body: JSON?
    public let headers: [(String, String)]

    public init(
        _ status: Int, _ message: String, details: [String] = [], body: JSON? = nil,
        headers: [(String, String)] = []
    ) {
        self.status = status
        self.message = message
        self.details = details
        self.body = body
        self.headers = headers
    }

    public var description: String { "\(status) \(message)" }

    public static func badRequest(_ message: String, details: [String] = []) -> HTTPError { HTTPError(400, message, details: details) }
    public static func unauthorized(_ message: String = "Authentication required") -> HTTPError { HTTPError(401, message) }
    public static func forbidden(_ message: String) -> HTTPError { HTTPError(403, message) }
    public static func notFound(_ message: String) -> HTTPError { HTTPError(404, message) }
    public static func conflict(_ message: String) -> HTTPError { HTTPError(409, message) }
    public static func unsupportedMediaType(_ expected: String) -> HTTPError {
        HTTPError(415, "Content-Type must be \(expected)")
    }
}

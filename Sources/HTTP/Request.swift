import Glibc
import JSON
import Logging

/// One HTTP request as Flowgate sees it: decoded path segments, query pairs (repeated keys kept),
/// lower-cased headers, cookies and the raw body.
public struct Request {
    public let method: String
    /// The path exactly as sent (still percent-encoded, no query string); for logs and errors.
    public let rawPath: String
    /// Percent-decoded path segments; `/a/b/` gives `["a", "b", ""]`.
    public let segments: [String]
    public let query: [(String, String)]
    public let headers: [String: String]
    public let cookies: [String: String]
    public let body: [UInt8]
    /// Filled in by the router: values of `{name}` pattern segments.
    public internal(set) var pathParameters: [String: String] = [:]
    /// Filled in by the application: how this deployment names itself. `origin` and `scheme`
    /// are worked out from it when a route asks, which few do.
    var origins: Origins?
    /// The origin absolute URLs are built on (see `Origins`).
    public var origin: String { origins?.origin(of: self) ?? "http://localhost" }
    /// `https` when the client came over TLS.
    public var scheme: String { origins?.scheme(of: self) ?? "http" }
    /// The client's address as nginx saw it (`REMOTE_ADDR`), when the transport gives one.
    public internal(set) var peer: String?
    /// Logs while serving this request, with its `request_id`.
    public internal(set) var logger = Request.untracedLogger

    /// Requests' lines before a transport hands one down with the request's id.
    public static let untracedLogger = Logger(label: "flowgate.http")

    /// The client connected from this host: its address parses as IPv4 127/8, or IPv6 ::1 or
    /// an IPv4-mapped 127/8.
    public var peerIsLoopback: Bool {
        guard let peer else { return false }
        var v4 = in_addr()
        if inet_pton(AF_INET, peer, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, peer, &v6) == 1 else { return false }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        let mapped = bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xff && bytes[11] == 0xff
        return bytes == Array(repeating: 0, count: 15) + [1] || (mapped && bytes[12] == 127)
    }

    /// Longest accepted request target (path plus query), and header value.
    public static let maxTargetLength = 4096
    public static let maxHeaderLength = 4096

    public init(method: String, target: String, headers: [String: String], body: [UInt8]) throws(HTTPError) {
        guard target.utf8.count <= Request.maxTargetLength else { throw HTTPError(414, "Request URI too long") }
        for (name, value) in headers {
            guard value.utf8.count <= Request.maxHeaderLength else {
                throw HTTPError(431, "Request header \(name) too large")
            }
            guard !value.utf8.contains(0) else { throw HTTPError(400, "Request header \(name) contains a NUL byte") }
        }
        self.method = method
        self.headers = headers
        self.body = body
        let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        rawPath = String(parts[0])
        segments = try Request.decodeSegments(rawPath)
        query = parts.count > 1 ? try FormEncoding.decodePairs(String(parts[1])) : []
        cookies = Request.parseCookies(headers["cookie"] ?? "")
    }

    // MARK: Accessors

    public func header(_ name: String) -> String? { headers[name.lowercased()] }

    /// The first value of a query parameter.
    public func queryValue(_ name: String) -> String? { query.first(where: { $0.0 == name })?.1 }
    public func queryValues(_ name: String) -> [String] { query.filter { $0.0 == name }.map(\.1) }

    public func parameter(_ name: String) -> String { pathParameters[name] ?? "" }

    /// The media type without parameters, lower-cased (`multipart/form-data`).
    public var mediaType: String {
        let contentType = headers["content-type"] ?? ""
        let type = contentType.split(separator: ";", maxSplits: 1).first.map(String.init) ?? ""
        return type.trimmingSpaces().lowercased()
    }

    /// The `Authorization: Bearer …` credential, if any.
    public var bearerToken: String? {
        guard let value = headers["authorization"], value.lowercased().hasPrefix("bearer ") else { return nil }
        let token = String(value.dropFirst(7)).trimmingSpaces()
        return token.isEmpty ? nil : token
    }

    /// A token from the `Authorization: Bearer` header, the `token` query parameter or the
    /// `token` cookie, in that order.
    public var token: String? { bearerToken ?? queryValue("token") ?? cookies["token"] }

    /// The body as JSON; 415 unless the Content-Type says JSON, 400 if it does not parse.
    public func jsonBody() throws(HTTPError) -> JSON {
        guard mediaType == "application/json" || mediaType.hasSuffix("+json") else {
            throw .unsupportedMediaType("application/json")
        }
        do {
            return try JSON.parse(body)
        } catch {
            throw .badRequest("Malformed JSON body: \(error)")
        }
    }

    /// The body as form fields (urlencoded or multipart); 415 for any other Content-Type.
    public func formBody() throws(HTTPError) -> FormData {
        switch mediaType {
        case "application/x-www-form-urlencoded":
            guard let text = String(validating: body, as: UTF8.self) else { throw .badRequest("Form body is not UTF-8") }
            return FormData(fields: try FormEncoding.decodePairs(text), files: [])
        case "multipart/form-data":
            return try MultipartParser.parse(body: body, contentType: headers["content-type"] ?? "")
        default:
            throw .unsupportedMediaType("multipart/form-data or application/x-www-form-urlencoded")
        }
    }

    // MARK: Parsing

    static func decodeSegments(_ path: String) throws(HTTPError) -> [String] {
        guard path.hasPrefix("/") else { throw .badRequest("Request path must start with '/'") }
        var segments: [String] = []
        for raw in path.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            guard let decoded = FormEncoding.percentDecode(raw, plusIsSpace: false) else {
                throw .badRequest("Invalid percent-encoding in path")
            }
            guard !decoded.utf8.contains(0) else { throw .badRequest("Path contains a NUL byte") }
            segments.append(decoded)
        }
        return segments
    }

    static func parseCookies(_ header: String) -> [String: String] {
        var cookies: [String: String] = [:]
        for pair in header.split(separator: ";") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let name = String(parts[0]).trimmingSpaces()
            if cookies[name] == nil { cookies[name] = String(parts[1]).trimmingSpaces() }
        }
        return cookies
    }
}

extension String {
    /// Without leading and trailing spaces and tabs.
    public func trimmingSpaces() -> String {
        var view = Substring(self)
        while view.first == " " || view.first == "\t" { view.removeFirst() }
        while view.last == " " || view.last == "\t" { view.removeLast() }
        return String(view)
    }
}

import Engine
import FastCGI
import Glibc
import HTTP
import Logging
import Postgres

/// Adapts one FastCGI worker to the HTTP application: CGI parameters in, response out, one
/// access-log line per request. Owns the worker's engine session (its database connection).
final class HTTPBridge: RequestHandler {
    static let logger = Logger(label: "flowgate.request")
    let application: Application<Session>
    let session: Session

    init(application: Application<Session>, session: Session) {
        self.application = application
        self.session = session
    }

    func handle(_ raw: RawRequest) -> RawResponse {
        let started = RequestMetrics.now()
        let method = raw.params["REQUEST_METHOD"] ?? "GET"
        let target = raw.params["REQUEST_URI"] ?? "/"
        var logger = HTTPBridge.logger
        logger[metadataKey: "request_id"] = "\(HTTPBridge.requestId(raw.params["HTTP_X_REQUEST_ID"]))"
        // The session's own lines (a reconnect, a retry) carry the request's id too.
        session.connection.logger = logger
        defer { session.connection.logger = Connection.logger }
        let response = application.respond(
            method: method, target: target, headers: HTTPBridge.headers(from: raw.params), body: raw.body,
            bodyRefusal: raw.bodyProblem.map(HTTPBridge.refusal), context: session, peer: raw.params["REMOTE_ADDR"],
            logger: logger, prepare: { session in try session.reconnectIfNeeded() })
        // The query string is left out: it may carry a token.
        let path = target.split(separator: "?", maxSplits: 1).first.map(String.init) ?? target
        logger.info(
            "request",
            metadata: [
                "method": "\(method)", "path": "\(path)", "status": "\(response.status)",
                "us": "\((RequestMetrics.now() - started) / 1_000)",
            ])
        return RawResponse(status: response.status, headers: response.headers, body: response.body)
    }

    static func refusal(_ problem: RawRequest.BodyProblem) -> HTTPError {
        switch problem {
        case let .tooLarge(limit): HTTPError(413, "Request body larger than \(limit) bytes")
        case .invalidLength: .badRequest("Invalid Content-Length")
        case .incomplete: .badRequest("Request body shorter than its Content-Length")
        }
    }

    /// The client's X-Request-Id when it is a plain token of 1 to 64 characters (nginx keeps
    /// only those too), else "-".
    static func requestId(_ value: String?) -> String {
        guard let value, (1...64).contains(value.utf8.count),
            value.utf8.allSatisfy({
                $0 < 0x80 && (isalnum(Int32($0)) != 0 || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-"))
            })
        else { return "-" }
        return value
    }

    /// `HTTP_USER_AGENT` → `user-agent`; CONTENT_TYPE and CONTENT_LENGTH come without the prefix.
    static func headers(from params: [String: String]) -> [String: String] {
        var headers: [String: String] = [:]
        headers.reserveCapacity(params.count)
        for (key, value) in params where key.utf8.starts(with: "HTTP_".utf8) {
            headers[headerName(cgiName: key.utf8.dropFirst(5))] = value
        }
        if let type = params["CONTENT_TYPE"], !type.isEmpty { headers["content-type"] = type }
        if let length = params["CONTENT_LENGTH"], !length.isEmpty { headers["content-length"] = length }
        return headers
    }

    /// `USER_AGENT` → `user-agent`, byte by byte (CGI names are ASCII; this runs for every
    /// header of every request).
    static func headerName(cgiName: Substring.UTF8View) -> String {
        String(
            decoding: cgiName.map { byte in
                switch byte {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"): byte + 32
                case UInt8(ascii: "_"): UInt8(ascii: "-")
                default: byte
                }
            }, as: UTF8.self)
    }
}

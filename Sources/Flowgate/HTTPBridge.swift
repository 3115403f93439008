import Engine
import FastCGI
import Glibc
import HTTP
import Log

/// Adapts one FastCGI worker to the HTTP application: CGI parameters in, response out, one
/// access-log line per request. Owns the worker's engine session (its database connection).
final class HTTPBridge: RequestHandler {
    let application: Application<Session>
    let session: Session

    init(application: Application<Session>, session: Session) {
        self.application = application
        self.session = session
    }

    func handle(_ raw: RawRequest) -> RawResponse {
        let started = HTTPBridge.monotonicNanoseconds()
        let method = raw.params["REQUEST_METHOD"] ?? "GET"
        let target = raw.params["REQUEST_URI"] ?? "/"
        let response = application.respond(
            method: method, target: target, headers: HTTPBridge.headers(from: raw.params), body: raw.body,
            bodyRefusal: raw.bodyProblem.map(HTTPBridge.refusal), context: session,
            prepare: { session in try session.reconnectIfNeeded() })
        let elapsedMicroseconds = (HTTPBridge.monotonicNanoseconds() - started) / 1_000
        // The query string is left out: it may carry a token.
        let path = target.split(separator: "?", maxSplits: 1).first.map(String.init) ?? target
        Log.info(
            "request",
            [
                ("method", method), ("path", path), ("status", String(response.status)),
                ("us", String(elapsedMicroseconds)),
                ("request_id", HTTPBridge.requestId(raw.params["HTTP_X_REQUEST_ID"])),
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
        for (key, value) in params where key.hasPrefix("HTTP_") {
            headers[String(key.dropFirst(5)).lowercased().replacing("_", with: "-")] = value
        }
        if let type = params["CONTENT_TYPE"], !type.isEmpty { headers["content-type"] = type }
        if let length = params["CONTENT_LENGTH"], !length.isEmpty { headers["content-length"] = length }
        return headers
    }

    static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}

/// Which origin Flowgate calls its own, for absolute URLs (`Location`, Scale's `next`) and for
/// the cross-site check on cookie-authenticated writes. The Host header is the client's to
/// choose, so it is believed only when it names one of `serverNames`.
public struct Origins: Sendable {
    /// `FLOWGATE_PUBLIC_URL` without a trailing slash, e.g. `https://jobs.example.com`.
    public let publicURL: String?
    /// Names a Host header may carry (`host` or `host:port`; the port is not compared). The
    /// first is the fallback origin when a request's Host is none of them.
    public let serverNames: [String]
    private let trustedNames: Set<String>
    /// Further origins allowed to send cookie-authenticated writes (`FLOWGATE_ALLOWED_ORIGINS`).
    public let allowedOrigins: Set<String>

    public init(
        publicURL: String? = nil, serverNames: [String] = ["localhost", "127.0.0.1", "[::1]"],
        allowedOrigins: Set<String> = []
    ) {
        self.publicURL = publicURL.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        self.serverNames = serverNames.map { $0.lowercased() }
        trustedNames = Set(self.serverNames.map { String(Self.split($0).name) })
        self.allowedOrigins = allowedOrigins
    }

    /// `https` when nginx says the client came over TLS.
    public func scheme(of request: Request) -> String {
        if let publicURL { return publicURL.hasPrefix("https:") ? "https" : "http" }
        return request.header("x-forwarded-proto") == "https" ? "https" : "http"
    }

    /// The origin to build absolute URLs on: the public URL, else the request's own Host when it
    /// is one of ours, else the first server name.
    public func origin(of request: Request) -> String {
        if let publicURL { return publicURL }
        if let host = trustedHost(request) { return "\(scheme(of: request))://\(host)" }
        return "\(scheme(of: request))://\(serverNames.first ?? "localhost")"
    }

    /// Whether a browser request from `origin` (its Origin header) may write with a cookie.
    public func allows(origin: String, for request: Request) -> Bool {
        if allowedOrigins.contains(origin) { return true }
        if let publicURL { return origin == publicURL }
        guard let host = trustedHost(request) else { return false }
        return origin == "\(scheme(of: request))://\(host)"
    }

    /// The Host header (with its port) when its name is one of `serverNames`.
    func trustedHost(_ request: Request) -> String? {
        guard let host = request.header("host")?.lowercased(), !host.isEmpty else { return nil }
        let (name, port) = Self.split(host)
        guard trustedNames.contains(String(name)),
            port.isEmpty
                || (port.first == ":" && port.count <= 6 && port.dropFirst().allSatisfy(\.isASCII)
                    && port.dropFirst().allSatisfy(\.isNumber))
        else { return nil }
        return host
    }

    /// `name` and `:port` (or "") of a host; an IPv6 name keeps its brackets.
    static func split(_ host: String) -> (name: Substring, port: Substring) {
        let end =
            host.hasPrefix("[")
            ? host.firstIndex(of: "]").map(host.index(after:)) ?? host.endIndex
            : host.firstIndex(of: ":") ?? host.endIndex
        return (host[..<end], host[end...])
    }
}

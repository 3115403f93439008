/// A failure reported by libpq or the server. `sqlState` is the five-character SQLSTATE when the
/// server sent one; connection failures have none and set `connectionLost`.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    public let sqlState: String?
    public let message: String
    public let detail: String?
    public let constraint: String?
    public let connectionLost: Bool
    /// The connection was lost during COMMIT and the server could not say whether it committed:
    /// the one failure that a retry could turn into a second write.
    public let commitUncertain: Bool

    public init(
        sqlState: String?, message: String, detail: String? = nil, constraint: String? = nil,
        connectionLost: Bool = false, commitUncertain: Bool = false
    ) {
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.constraint = constraint
        self.connectionLost = connectionLost
        self.commitUncertain = commitUncertain
    }

    public var description: String {
        "\(sqlState.map { "[\($0)] " } ?? "")\(message)\(detail.map { " (\($0))" } ?? "")"
    }

    /// Serialization failure or deadlock: the transaction may succeed if simply run again.
    public var isRetryable: Bool { sqlState == "40001" || sqlState == "40P01" }
    public var isUniqueViolation: Bool { sqlState == "23505" }
    /// The server is unreachable, shutting down, or refused the statement for time.
    public var isUnavailable: Bool {
        connectionLost || sqlState.map { $0.hasPrefix("08") || $0.hasPrefix("57P") || $0 == "57014" } ?? false
    }
}

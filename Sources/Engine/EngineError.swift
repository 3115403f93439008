/// Why the engine refused an operation, in terms a surface can translate to its own dialect.
public struct EngineError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The input is malformed or names something that does not exist as a value (a role).
        case invalid
        case notFound
        /// The operation conflicts with the current state (duplicate, already claimed, not running).
        case conflict
        /// The caller lacks a privilege the operation needs.
        case forbidden
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

import Engine
import HTTP

/// What surfaces with semantic statuses share: engine refusals as 400, 404, 409 and 403.
public enum EngineErrors {
    public static func status(of error: EngineError) -> HTTPError {
        switch error.kind {
        case .invalid: .badRequest(error.message)
        case .notFound: .notFound(error.message)
        case .conflict: .conflict(error.message)
        case .forbidden: .forbidden(error.message)
        }
    }

    /// Runs `body`, rethrowing an engine refusal as its HTTP status.
    public static func mapped<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as EngineError {
            throw status(of: error)
        }
    }
}

import Engine
import HTTP
import Postgres

/// Idempotency keys on every surface's writes. The handler and the storing of its answer are one
/// transaction, so an answer is stored exactly when its write committed. A retry whose key has
/// a committed answer gets that answer (`Idempotent-Replayed: true`) and its own run is rolled
/// back; the same key with another request is a 422. An answer that carries a new token is
/// not kept.
enum IdempotentRequests {
    static let writes = IdempotentWrites<Session> { request, session, key, handle in
        let fingerprint = IdempotentWrites<Session>.fingerprint(of: request)
        let keys = session.idempotencyKeys
        /// Whom the key belongs to: the user the handler authenticated, or nobody yet.
        func caller() -> String { session.accounts.caller.userId.map { "user:\($0)" } ?? "anonymous" }
        do {
            return try session.connection.transaction { _ in
                session.accounts.caller.userId = nil
                session.accounts.caller.issuedToken = false
                let response = try handle()
                // A login is safe to repeat, and its token must not be kept in clear.
                if session.accounts.caller.issuedToken { return response }
                let answer = StoredAnswer(status: response.status, headers: response.headers.map { [$0.0, $0.1] }, body: response.body)
                switch try keys.store(caller: caller(), key: key, request: fingerprint, answer: answer) {
                case .none: return response
                case let .same(prior): throw Replay(answer: prior)
                case .different: throw mismatch
                }
            }
        } catch let replay as Replay {
            return replay.response
        } catch let error as PostgresError where error.connectionLost {
            throw error
        } catch {
            // The handler refused: perhaps because an earlier request with this key did the write.
            switch try keys.prior(caller: caller(), key: key, request: fingerprint) {
            case .none: throw error
            case let .same(prior): return Replay(answer: prior).response
            case .different: throw mismatch
            }
        }
    }

    static let mismatch = HTTPError(422, "This Idempotency-Key was used with a different request")

    /// Thrown out of the transaction to roll this run back and answer the stored answer instead.
    struct Replay: Error {
        let answer: StoredAnswer

        var response: Response {
            Response(
                status: answer.status,
                headers: answer.headers.compactMap { $0.count == 2 ? ($0[0], $0[1]) : nil } + [("Idempotent-Replayed", "true")],
                body: answer.body)
        }
    }
}

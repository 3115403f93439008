import Foundation
import Postgres

/// An answer as it went out: what a retry with the same idempotency key gets again.
public struct StoredAnswer: Sendable, Equatable {
    public let status: Int
    public let headers: [[String]]
    public let body: [UInt8]

    public init(status: Int, headers: [[String]], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// The `idempotency_keys` table: the first answer to each (caller, key), stored in the same
/// transaction as the write it answers, for 24 hours. `fingerprint` is the request as sent
/// (method, path, query, body), hashed by the database.
public struct IdempotencyKeys {
    let connection: Connection

    public enum Prior: Equatable {
        case none
        case same(StoredAnswer)
        /// The key was used for another request.
        case different
    }

    /// Stores `answer` for the key in the open transaction unless an answer committed before
    /// (by an earlier request with the key): then that one, or `.different`.
    public func store(caller: String, key: String, request: [UInt8], answer: StoredAnswer) throws -> Prior {
        let headers = try JSONSerialization.data(withJSONObject: answer.headers)
        let stored = try connection.first(
            Self.insert, caller, key, Data(request).base64EncodedString(), answer.status, String(decoding: headers, as: UTF8.self),
            Data(answer.body).base64EncodedString())
        return stored != nil ? .none : try prior(caller: caller, key: key, request: request)
    }

    /// The answer a committed request with this key got.
    public func prior(caller: String, key: String, request: [UInt8]) throws -> Prior {
        guard let row = try connection.first(Self.find, caller, key, Data(request).base64EncodedString()) else { return .none }
        guard row.same else { return .different }
        let headers = (try JSONSerialization.jsonObject(with: Data(row.headers.utf8)) as? [[String]]) ?? []
        // PostgreSQL's base64 breaks lines every 76 characters.
        return .same(
            StoredAnswer(
                status: row.status, headers: headers,
                body: Array(Data(base64Encoded: row.body, options: .ignoreUnknownCharacters) ?? Data())))
    }

    /// Deletes keys older than 24 hours, a bounded batch at a time; returns how many.
    @discardableResult
    public static func purgeExpired(on connection: Connection) throws -> Int {
        try connection.run(purge)
    }

    static let insert = Query(
        "idempotency_key_insert",
        """
        INSERT INTO idempotency_keys (caller, key, fingerprint, status, headers, body)
        VALUES ($1, $2, sha256(decode($3, 'base64')), $4, $5::jsonb, decode($6, 'base64'))
        ON CONFLICT (caller, key) DO UPDATE
            SET fingerprint = excluded.fingerprint, status = excluded.status, headers = excluded.headers, body = excluded.body,
                created_at = now()
            WHERE idempotency_keys.created_at < now() - interval '24 hours'
        RETURNING 1 AS stored
        """, binding: String.self, String.self, String.self, Int.self, String.self, String.self,
        reading: { try $0.value("stored", as: Int.self) })

    static let find = Query(
        "idempotency_key_find",
        """
        SELECT fingerprint = sha256(decode($3, 'base64')) AS same, status, headers::text AS headers, encode(body, 'base64') AS body
        FROM idempotency_keys WHERE caller = $1 AND key = $2 AND created_at >= now() - interval '24 hours'
        """, binding: String.self, String.self, String.self,
        reading: { row in
            (
                same: try row.value("same", as: Bool.self), status: try row.value("status", as: Int.self),
                headers: try row.value("headers", as: String.self), body: try row.value("body", as: String.self)
            )
        })

    static let purge = Query(
        "idempotency_keys_purge",
        """
        DELETE FROM idempotency_keys WHERE ctid = ANY (ARRAY(
            SELECT ctid FROM idempotency_keys WHERE created_at < now() - interval '24 hours' LIMIT 10000))
        """)
}

extension IdempotencyKeys: StatementCatalog {
    package static var statements: [Statement] { [insert.statement, find.statement, purge.statement] }
}

extension Session {
    public var idempotencyKeys: IdempotencyKeys { IdempotencyKeys(connection: connection) }
}

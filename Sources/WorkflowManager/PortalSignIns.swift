import Engine
import Postgres

/// A sign-in the Portal's authorize page began: where to send the token, with the client's state.
public struct PortalSignIn: Sendable, Equatable {
    public let clientState: String
    public let redirectURI: String
}

/// The Portal's OAuth sign-ins in progress. Anyone may begin one, so they are few and short:
/// at most `maxPending` at once, each spent by its first sign-in attempt or gone in ten minutes.
public struct PortalSignIns {
    let connection: Connection

    public static let maxPending = 10_000

    /// The oauth_state for a new sign-in, or nil when too many are pending.
    public func begin(clientState: String, redirectURI: String) throws -> String? {
        try connection.first(Self.insert, clientState, redirectURI, Self.maxPending)
    }

    /// The sign-in of `oauthState`, removed so that it cannot be used again; nil when unknown or expired.
    public func spend(_ oauthState: String) throws -> PortalSignIn? {
        try connection.first(Self.take, oauthState)
    }

    static let insert = Query(
        "wm_portal_sign_in_begin",
        """
        WITH expired AS (DELETE FROM wm_portal_sign_ins WHERE expires_at < now())
        INSERT INTO wm_portal_sign_ins (oauth_state, client_state, redirect_uri, expires_at)
        SELECT encode(gen_random_bytes(24), 'hex'), $1, $2, now() + interval '10 minutes'
        WHERE (SELECT count(*) FROM wm_portal_sign_ins WHERE expires_at >= now()) < $3
        RETURNING oauth_state
        """, binding: String.self, String.self, Int.self, reading: { row in try row.value("oauth_state", as: String.self) })
    static let take = Query(
        "wm_portal_sign_in_spend",
        "DELETE FROM wm_portal_sign_ins WHERE oauth_state = $1 AND expires_at >= now() RETURNING client_state, redirect_uri",
        binding: String.self,
        reading: { row in PortalSignIn(clientState: try row.value("client_state"), redirectURI: try row.value("redirect_uri")) })
}

extension PortalSignIns: StatementCatalog {
    package static var statements: [Statement] { [insert.statement, take.statement] }
}

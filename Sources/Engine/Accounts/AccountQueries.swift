import Postgres

/// Every statement on the account tables (users, user_roles, user_privileges, groups,
/// group_members, tokens). Nothing else writes them.
package enum AccountQueries {
    /// One user as a JSON object, for the alias `u`. `privileges` are the effective ones: the
    /// user's own and those of the privilege sets granted to the user's groups.
    static let userJSON = """
        json_build_object(
            'id', u.id, 'username', u.username, 'email', u.email, 'display_name', u.display_name,
            'account_id', u.account_id, 'active', u.active,
            'roles', coalesce((SELECT json_agg(r.role ORDER BY r.role) FROM user_roles r WHERE r.user_id = u.id), '[]'),
            'privileges', coalesce((SELECT json_agg(DISTINCT p.privilege ORDER BY p.privilege) FROM (
                                        SELECT privilege FROM user_privileges WHERE user_id = u.id
                                        UNION ALL
                                        SELECT unnest(s.privileges) FROM group_members m
                                        JOIN group_privilege_sets gs ON gs.group_id = m.group_id
                                        JOIN privilege_sets s ON s.name = gs.set_name
                                        WHERE m.user_id = u.id) p), '[]'),
            'groups', coalesce((SELECT json_agg(g.name ORDER BY g.name) FROM group_members m
                                JOIN groups g ON g.id = m.group_id WHERE m.user_id = u.id), '[]'),
            'group_accounts', coalesce((SELECT json_agg(json_build_object('id', g.account_id, 'name', g.name) ORDER BY g.name)
                                        FROM group_members m JOIN groups g ON g.id = m.group_id WHERE m.user_id = u.id), '[]'),
            'created_at', iso_utc(u.created_at))
        """

    /// A token parameter's digest, computed once per statement: bare, the expression (stable,
    /// not constant) is evaluated again for every row a scan of `tokens` compares.
    static func digest(of parameter: String) -> String { "(SELECT sha256(convert_to(\(parameter), 'UTF8')))" }
    static let tokenDigest = digest(of: "$1")

    /// A token's state whether or not it is usable: live, expired, or its user inactive.
    static let inspectToken = Query(
        "account_inspect_token",
        """
        SELECT t.expires_at > now() AS live, u.active, \(userJSON) AS account FROM tokens t JOIN users u ON u.id = t.user_id
        WHERE t.digest = \(tokenDigest) AND t.revoked_at IS NULL
        """, binding: String.self,
        reading: { row in
            (live: try row.value("live", as: Bool.self), active: try row.value("active", as: Bool.self), user: try User(row: row))
        })

    package static let userByToken = Query(
        "account_user_by_token",
        """
        SELECT \(userJSON) AS account FROM tokens t JOIN users u ON u.id = t.user_id
        WHERE t.digest = \(tokenDigest) AND t.revoked_at IS NULL AND t.expires_at > now() AND u.active
        """, binding: String.self, reading: User.init(row:))

    /// $1 login, $2 password, $3 the new token, $4 its lifetime in seconds.
    static func login(_ name: String, by column: String) -> Query<String, String, String, Int, String> {
        Query(
            name,
            """
            INSERT INTO tokens (digest, user_id, expires_at)
            SELECT sha256(convert_to($3, 'UTF8')), u.id, now() + make_interval(secs => $4)
            FROM users u
            WHERE u.\(column) = $1 AND u.active AND u.password_hash = crypt($2, u.password_hash)
            RETURNING iso_utc(expires_at) AS expires_at
            """, binding: String.self, String.self, String.self, Int.self
        ) { try $0.value("expires_at") }
    }

    static let loginByUsername = login("account_login_username", by: "username")
    static let loginByEmail = login("account_login_email", by: "email")

    static let issueToken = Query(
        "account_issue_token",
        """
        INSERT INTO tokens (digest, user_id, expires_at)
        SELECT sha256(convert_to($2, 'UTF8')), u.id, now() + make_interval(secs => $3)
        FROM users u WHERE u.username = $1 AND u.active
        RETURNING iso_utc(expires_at) AS expires_at
        """, binding: String.self, String.self, Int.self, reading: { try $0.value("expires_at", as: String.self) })

    static let revokeToken = Query(
        "account_revoke_token",
        "UPDATE tokens SET revoked_at = now() WHERE digest = \(tokenDigest) AND revoked_at IS NULL", binding: String.self)

    /// Every live token of user $1 but the one $2 (the caller's own, when it changed its password).
    static let revokeUserTokens = Query(
        "account_revoke_user_tokens",
        """
        UPDATE tokens SET revoked_at = now()
        WHERE user_id = $1 AND revoked_at IS NULL AND ($2::text IS NULL OR digest <> \(digest(of: "$2")))
        """, binding: Int64.self, String?.self)

    /// The active user whose password matches (HTTP Basic), without issuing a token.
    static let verifyPassword = Query(
        "account_verify_password",
        """
        SELECT \(userJSON) AS account FROM users u WHERE u.username = $1 AND u.active AND u.password_hash = crypt($2, u.password_hash)
        """, binding: String.self, String.self, reading: User.init(row:))

    static let userByName = Query(
        "account_user_by_name", "SELECT \(userJSON) AS account FROM users u WHERE u.username = $1", binding: String.self,
        reading: User.init(row:))
    static let userByEmail = Query(
        "account_user_by_email", "SELECT \(userJSON) AS account FROM users u WHERE u.email = $1", binding: String.self,
        reading: User.init(row:))
    static let userByAccountId = Query(
        "account_user_by_account_id", "SELECT \(userJSON) AS account FROM users u WHERE u.account_id = $1", binding: String.self,
        reading: User.init(row:))
    static let userById = Query(
        "account_user_by_id", "SELECT \(userJSON) AS account FROM users u WHERE u.id = $1", binding: Int64.self, reading: User.init(row:))
    static let allUsers = Query(
        "account_all_users", "SELECT \(userJSON) AS account FROM users u ORDER BY u.username", reading: User.init(row:))

    static let activeAdminExists = Query(
        "account_admin_exists",
        """
        SELECT EXISTS (SELECT 1 FROM users u JOIN user_roles r ON r.user_id = u.id WHERE r.role = 'admin' AND u.active) AS found
        """, reading: { try $0.value("found", as: Bool.self) })

    static let insertUser = Query(
        "account_insert_user",
        """
        INSERT INTO users (username, email, password_hash, display_name)
        VALUES ($1, $2, crypt($3, gen_salt('bf', 8)), $4) RETURNING id
        """, binding: String.self, String?.self, String.self, String?.self, reading: { try $0.value("id", as: Int64.self) })

    static let lockUser = Query(
        "account_lock_user", "SELECT id FROM users WHERE username = $1 FOR UPDATE", binding: String.self,
        reading: { try $0.value("id", as: Int64.self) })

    /// $2 says whether $3 (the email, possibly NULL) was given at all.
    static let updateUser = Query(
        "account_update_user",
        """
        UPDATE users SET
            email = CASE WHEN $2 THEN $3 ELSE email END,
            password_hash = CASE WHEN $4::text IS NULL THEN password_hash ELSE crypt($4, gen_salt('bf', 8)) END,
            active = coalesce($5, active),
            updated_at = now()
        WHERE id = $1
        """, binding: Int64.self, Bool.self, String?.self, String?.self, Bool?.self)

    static let changePassword = Query(
        "account_change_password",
        """
        UPDATE users SET password_hash = crypt($3, gen_salt('bf', 8)), updated_at = now()
        WHERE id = $1 AND password_hash = crypt($2, password_hash)
        """, binding: Int64.self, String.self, String.self)

    // Each set is replaced by a delete and an insert (one statement could not see its own delete).
    static let clearRoles = Query("account_clear_roles", "DELETE FROM user_roles WHERE user_id = $1", binding: Int64.self)
    static let addRoles = Query(
        "account_add_roles",
        "INSERT INTO user_roles (user_id, role) SELECT $1, unnest($2::text[])", binding: Int64.self, [String].self)
    static let clearPrivileges = Query("account_clear_privileges", "DELETE FROM user_privileges WHERE user_id = $1", binding: Int64.self)
    static let addPrivileges = Query(
        "account_add_privileges",
        "INSERT INTO user_privileges (user_id, privilege) SELECT $1, unnest($2::text[])", binding: Int64.self, [String].self)

    static let ensureGroups = Query(
        "account_ensure_groups",
        "INSERT INTO groups (name) SELECT unnest($1::text[]) ON CONFLICT (name) DO NOTHING", binding: [String].self)

    static let clearGroups = Query("account_clear_groups", "DELETE FROM group_members WHERE user_id = $1", binding: Int64.self)
    static let addGroups = Query(
        "account_add_groups",
        "INSERT INTO group_members (group_id, user_id) SELECT g.id, $1 FROM groups g WHERE g.name = ANY($2::text[])", binding: Int64.self,
        [String].self)
}

extension AccountQueries: StatementCatalog {
    package static var statements: [Statement] {
        [
            inspectToken.statement, userByToken.statement, loginByUsername.statement, loginByEmail.statement, issueToken.statement,
            revokeToken.statement, revokeUserTokens.statement, verifyPassword.statement, userByName.statement, userByEmail.statement,
            userByAccountId.statement, userById.statement, allUsers.statement, activeAdminExists.statement, insertUser.statement,
            lockUser.statement, updateUser.statement, changePassword.statement, clearRoles.statement, addRoles.statement,
            clearPrivileges.statement, addPrivileges.statement, ensureGroups.statement, clearGroups.statement, addGroups.statement,
        ]
    }
}

extension User {
    /// From the `account` column (`userJSON`).
    init(row: Row) throws {
        guard let user = User(try row.json("account")) else { throw StoredJSONError(column: "account", reason: "not a user") }
        self = user
    }
}

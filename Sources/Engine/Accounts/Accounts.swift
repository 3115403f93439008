import JSON
import Postgres

/// A new token: the secret is returned once; only its SHA-256 digest is stored.
public struct IssuedToken: Sendable {
    public let token: String
    public let expiresAt: String
}

public struct NewUser: Sendable {
    public var username: String
    public var password: String
    public var email: String?
    public var displayName: String?
    public var roles: [String]
    public var privileges: [String]
    public var groups: [String]

    public init(
        username: String, password: String, email: String? = nil, displayName: String? = nil,
        roles: [String] = [], privileges: [String] = [], groups: [String] = []
    ) {
        self.username = username
        self.password = password
        self.email = email
        self.displayName = displayName
        self.roles = roles
        self.privileges = privileges
        self.groups = groups
    }
}

/// Changes to a user; nil leaves a field as it is, a list replaces the whole set.
public struct UserChanges: Sendable {
    public var email: String??
    public var password: String?
    public var active: Bool?
    public var roles: [String]?
    public var privileges: [String]?
    public var groups: [String]?

    public init() {}
}

/// The user the current request authenticated as, recorded by `Accounts` when a token or a
/// password checks out: what scopes an idempotency key to its caller. One per session (thread).
public final class AuthenticatedCaller {
    public var userId: Int64?
    /// Set when the request issued a token: its answer holds a secret that is never stored
    /// (tokens are kept only as digests), so such an answer is not kept for replay either.
    public var issuedToken = false

    init() {}
}

/// Users, roles, privileges, groups and tokens.
public struct Accounts {
    let connection: Connection
    public let caller: AuthenticatedCaller
    public static let defaultTokenLifetimeSeconds = 24 * 3600

    package init(_ connection: Connection, caller: AuthenticatedCaller = AuthenticatedCaller()) {
        self.connection = connection
        self.caller = caller
    }

    private func recorded(_ user: User?) -> User? {
        if let user { caller.userId = user.id }
        return user
    }

    // MARK: Tokens

    /// The active user a token belongs to, or nil (unknown, expired, revoked, or user inactive).
    public func authenticate(token: String) throws -> User? {
        guard !token.isEmpty, token.utf8.count <= 512 else { return nil }
        return recorded(try connection.first(AccountQueries.userByToken, token))
    }

    public enum TokenInspection: Sendable {
        case valid(User)
        case expired
        /// Never issued, or revoked.
        case unknown
        case userInactive
    }

    /// What a token is, for surfaces that answer each case differently.
    public func inspect(token: String) throws -> TokenInspection {
        guard !token.isEmpty, token.utf8.count <= 512, let found = try connection.first(AccountQueries.inspectToken, token) else {
            return .unknown
        }
        guard found.live else { return .expired }
        guard found.active else { return .userInactive }
        caller.userId = found.user.id
        return .valid(found.user)
    }

    /// Checks a username and password and issues a token; nil when either is wrong.
    public func login(username: String, password: String, lifetimeSeconds: Int = defaultTokenLifetimeSeconds) throws -> IssuedToken? {
        try issue(AccountQueries.loginByUsername, login: username, password: password, lifetimeSeconds: lifetimeSeconds)
    }

    /// The same, with the email address as the login (the Blocks surface).
    public func login(email: String, password: String, lifetimeSeconds: Int = defaultTokenLifetimeSeconds) throws -> IssuedToken? {
        try issue(AccountQueries.loginByEmail, login: email, password: password, lifetimeSeconds: lifetimeSeconds)
    }

    private func issue(
        _ query: Query<String, String, String, Int, String>, login: String, password: String, lifetimeSeconds: Int
    ) throws -> IssuedToken? {
        let token = Accounts.newTokenText()
        return issued(token, expiresAt: try connection.first(query, login, password, token, lifetimeSeconds))
    }

    private func issued(_ token: String, expiresAt: String?) -> IssuedToken? {
        guard let expiresAt else { return nil }
        caller.issuedToken = true
        return IssuedToken(token: token, expiresAt: expiresAt)
    }

    /// The active user with this username and password, or nil (HTTP Basic on every request).
    public func verify(username: String, password: String) throws -> User? {
        recorded(try connection.first(AccountQueries.verifyPassword, username, password))
    }

    /// A token for a user without a password check (the CLI's `token issue`).
    public func issueToken(username: String, lifetimeSeconds: Int = defaultTokenLifetimeSeconds) throws -> IssuedToken? {
        let token = Accounts.newTokenText()
        return issued(token, expiresAt: try connection.first(AccountQueries.issueToken, username, token, lifetimeSeconds))
    }

    public func revoke(token: String) throws {
        try connection.run(AccountQueries.revokeToken, token)
    }

    /// 32 random bytes as 64 hex digits. `SystemRandomNumberGenerator` reads getrandom(2).
    static func newTokenText() -> String {
        var generator = SystemRandomNumberGenerator()
        var text = ""
        text.reserveCapacity(64)
        for _ in 0..<4 {
            let word = generator.next() as UInt64
            let hex = String(word, radix: 16)
            text += String(repeating: "0", count: 16 - hex.count) + hex
        }
        return text
    }

    // MARK: Users

    public func user(named username: String) throws -> User? {
        try connection.first(AccountQueries.userByName, username)
    }

    /// By the 24-hex account id Itential documents carry.
    public func user(accountId: String) throws -> User? {
        try connection.first(AccountQueries.userByAccountId, accountId)
    }

    public func user(email: String) throws -> User? {
        try connection.first(AccountQueries.userByEmail, email)
    }

    public func listUsers() throws -> [User] {
        try connection.rows(AccountQueries.allUsers)
    }

    public func anyActiveAdminExists() throws -> Bool {
        try connection.first(AccountQueries.activeAdminExists) ?? false
    }

    /// Creates a user in one transaction. Unknown role/privilege names are `.invalid`; a taken
    /// username or email is `.conflict`. Groups are created on first mention.
    public func create(_ new: NewUser) throws -> User {
        try Accounts.validate(roles: new.roles, privileges: new.privileges)
        guard !new.username.isEmpty else { throw EngineError(.invalid, "username must not be empty") }
        guard !new.password.isEmpty else { throw EngineError(.invalid, "password must not be empty") }
        do {
            return try connection.transaction { tx in
                guard let id = try tx.first(AccountQueries.insertUser, new.username, new.email, new.password, new.displayName) else {
                    throw EngineError(.conflict, "User \(new.username) could not be created")
                }
                try replaceAccess(of: id, roles: new.roles, privileges: new.privileges, groups: new.groups, on: tx)
                return try userOrFail(try tx.first(AccountQueries.userById, id))
            }
        } catch let error as PostgresError where error.isUniqueViolation {
            throw EngineError(.conflict, "A user with that username or email already exists")
        }
    }

    /// A new password or a deactivation revokes the user's tokens, but `keeping` (the caller's own).
    public func update(username: String, _ changes: UserChanges, keeping token: String? = nil) throws -> User {
        try Accounts.validate(roles: changes.roles ?? [], privileges: changes.privileges ?? [])
        if let password = changes.password, password.isEmpty { throw EngineError(.invalid, "password must not be empty") }
        do {
            return try connection.transaction { tx in
                guard let id = try tx.first(AccountQueries.lockUser, username) else {
                    throw EngineError(.notFound, "User \(username) not found")
                }
                let emailGiven = changes.email != nil
                try tx.run(AccountQueries.updateUser, id, emailGiven, changes.email ?? nil, changes.password, changes.active)
                if changes.active == false {
                    try tx.run(AccountQueries.revokeUserTokens, id, nil)
                } else if changes.password != nil {
                    try tx.run(AccountQueries.revokeUserTokens, id, token)
                }
                if changes.roles != nil || changes.privileges != nil || changes.groups != nil {
                    try replaceAccess(of: id, roles: changes.roles, privileges: changes.privileges, groups: changes.groups, on: tx)
                }
                return try userOrFail(try tx.first(AccountQueries.userById, id))
            }
        } catch let error as PostgresError where error.isUniqueViolation {
            throw EngineError(.conflict, "A user with that email already exists")
        }
    }

    /// Deactivates a user and revokes every token (history keeps referring to the user).
    public func deactivate(username: String) throws -> User {
        var changes = UserChanges()
        changes.active = false
        return try update(username: username, changes)
    }

    /// Replaces the password after checking the current one, and revokes every other token of
    /// the user (whoever held one may have known the old password); false when it does not match.
    public func changePassword(userId: Int64, current: String, new: String, keeping token: String) throws -> Bool {
        guard !new.isEmpty else { throw EngineError(.invalid, "password must not be empty") }
        return try connection.transaction { tx in
            guard try tx.run(AccountQueries.changePassword, userId, current, new) == 1 else { return false }
            try tx.run(AccountQueries.revokeUserTokens, userId, token)
            return true
        }
    }

    // MARK: Internals

    package static func validate(roles: [String], privileges: [String]) throws {
        if let unknown = roles.first(where: { !AccessNames.roles.contains($0) && $0 != AccessNames.blocksRole }) {
            throw EngineError(.invalid, "Unknown role \(unknown)")
        }
        if let unknown = privileges.first(where: { !AccessNames.privileges.contains($0) }) {
            throw EngineError(.invalid, "Unknown privilege \(unknown)")
        }
    }

    private func replaceAccess(of id: Int64, roles: [String]?, privileges: [String]?, groups: [String]?, on tx: Connection) throws {
        if let roles {
            try tx.run(AccountQueries.clearRoles, id)
            try tx.run(AccountQueries.addRoles, id, Array(Set(roles)))
        }
        if let privileges {
            try tx.run(AccountQueries.clearPrivileges, id)
            try tx.run(AccountQueries.addPrivileges, id, Array(Set(privileges)))
        }
        if let groups {
            let names = Array(Set(groups))
            if names.contains("") { throw EngineError(.invalid, "Group names must not be empty") }
            try tx.run(AccountQueries.ensureGroups, names)
            try tx.run(AccountQueries.clearGroups, id)
            try tx.run(AccountQueries.addGroups, id, names)
        }
    }

    private func userOrFail(_ user: User?) throws -> User {
        guard let user else { throw EngineError(.notFound, "User not found") }
        return user
    }
}

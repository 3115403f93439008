import Blocks
import Engine
import HTTP
import JSON

/// `/api/users/*`. Blocks users are Flowgate users whose login is their email; the name they
/// register with is kept as their display name.
struct BlocksUsers: Sendable {
    let tokenLifetimeSeconds: Int
    let registrationOpen: Bool

    /// Anyone may register (as upstream) unless `FLOWGATE_BLOCKS_REGISTRATION=closed`; the new
    /// user gets the `blocks` role and reaches no other surface.
    func register(_ request: Request, _ session: Session) throws -> Response {
        guard registrationOpen else { throw HTTPError(403, "closed", body: ["error": "Registration is closed"]) }
        let form = try BlocksAPI.form(request)
        let email = try BlocksAPI.required(form, "email")
        let username = try BlocksAPI.required(form, "username")
        let password = try BlocksAPI.required(form, "password")
        guard !email.isEmpty, !password.isEmpty else { throw HTTPError.badRequest("email and password must not be empty") }
        do {
            _ = try session.accounts.create(
                NewUser(
                    username: email, password: password, email: email, displayName: username,
                    roles: [AccessNames.blocksRole]))
        } catch let error as EngineError where error.kind == .conflict {
            throw HTTPError(403, "user exists", body: ["error": "user exsists"])  // sic: the upstream's text
        } catch let error as EngineError {
            throw HTTPError.badRequest(error.message)
        }
        return .json(["success": "New User Created"], status: 201)
    }

    func login(_ request: Request, _ session: Session) throws -> Response {
        let form = try BlocksAPI.form(request)
        let email = try BlocksAPI.required(form, "email")
        let password = try BlocksAPI.required(form, "password")
        guard let issued = try session.accounts.login(email: email, password: password, lifetimeSeconds: tokenLifetimeSeconds),
            let user = try session.accounts.user(email: email)
        else {
            throw HTTPError(403, "bad login", body: ["error": "Error with your e-mail/password combination"])
        }
        return .json([
            "reset": false, "id": .string(String(user.id)), "email": .string(email),
            "token": .string(issued.token), "username": .string(user.displayName ?? user.username),
        ])
    }

    func reset(_ request: Request, _ session: Session, _ user: User) throws -> Response {
        let form = try BlocksAPI.form(request)
        let current = try BlocksAPI.required(form, "currentPassword")
        let new = try BlocksAPI.required(form, "newPassword")
        guard !new.isEmpty else { throw HTTPError.badRequest("newPassword must not be empty") }
        guard try session.accounts.changePassword(userId: user.id, current: current, new: new, keeping: request.cookies["token"] ?? "")
        else {
            throw HTTPError(403, "wrong password", body: ["error": "Incorrect Password"])
        }
        return .json(["success": "Password Changed"])
    }

    func details(_ request: Request, _ session: Session, _ user: User) throws -> Response {
        return .json([
            "id": .string(String(user.id)), "email": .string(user.email ?? user.username),
            "username": .string(user.displayName ?? user.username),
        ])
    }
}

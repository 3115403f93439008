import FlowgateApp
import Foundation
import JSON
import Postgres
import XCTest

/// The platform through real nginx, two Flowgate instances and PostgreSQL (started by ops/test).
final class PlatformTests: XCTestCase {
    let v1 = "/flowgate/v1"

    func nativeError(_ response: HTTPResponse, _ status: Int, file: StaticString = #filePath, line: UInt = #line) {
        NativeSupport.assertError(response, status, file: file, line: line)
    }

    func testHealthAndBothInstancesServe() throws {
        let client = try TestStack.client()
        var instances = Set<String>()
        for _ in 0..<20 {
            let response = try client.get("\(v1)/health")
            XCTAssertEqual(response.status, 200)
            XCTAssertEqual(response.json?["status"], "ok")
            XCTAssertEqual(response.json?["database"], "ok")
            XCTAssertNotNil(response.json?["version"]?.stringValue)
            XCTAssertNotNil(response.header("x-request-id"))
            instances.insert(response.json?["instance"]?.stringValue ?? "")
        }
        XCTAssertEqual(instances, ["flowgate-1", "flowgate-2"])
    }

    func testRequestIdIsPassedThrough() throws {
        let response = try TestStack.client().get("\(v1)/health", headers: [("X-Request-Id", "trace-123")])
        XCTAssertEqual(response.header("x-request-id"), "trace-123")
    }

    func testAForgedRequestIdIsReplacedAndForgesNoLogField() throws {
        let forged = "x\" status=200 forged=yes"
        let response = try TestStack.client().get("\(v1)/health", headers: [("X-Request-Id", forged)])
        let id = try XCTUnwrap(response.header("x-request-id"))
        XCTAssertNotEqual(id, forged)
        XCTAssertNotNil(id.wholeMatch(of: /[A-Za-z0-9._-]{1,64}/), id)
        let long = try TestStack.client().get("\(v1)/health", headers: [("X-Request-Id", String(repeating: "a", count: 65))])
        XCTAssertNotEqual(long.header("x-request-id"), String(repeating: "a", count: 65))
        let state = try XCTUnwrap(TestStack.stateDirectory)
        _ = try TestStack.accessLog(once: "id=\(try XCTUnwrap(long.header("x-request-id")))")
        for file in ["flowgate-1.log", "flowgate-2.log", "nginx-access.log"] {
            let log = (try? String(contentsOfFile: "\(state)/log/\(file)", encoding: .utf8)) ?? ""
            XCTAssertFalse(log.contains("forged=yes"), file)
        }
    }

    func testLoginSuccessAndOneMessageForEveryFailure() throws {
        let client = try TestStack.client()
        let ok = try client.postJSON("\(v1)/login", ["username": "admin", "password": .string(TestStack.adminPassword)])
        XCTAssertEqual(ok.status, 200)
        XCTAssertEqual(ok.json?["token"]?.stringValue?.count, 64)
        XCTAssertNotNil(ok.json?["expires_at"]?.stringValue)
        let wrongPassword = try client.postJSON("\(v1)/login", ["username": "admin", "password": "nope"])
        let wrongUser = try client.postJSON("\(v1)/login", ["username": "nobody-here", "password": "nope"])
        nativeError(wrongPassword, 401)
        nativeError(wrongUser, 401)
        XCTAssertEqual(wrongPassword.json?["error"]?["message"], wrongUser.json?["error"]?["message"])
    }

    func testTokenFromHeaderQueryAndCookieAndLogoutRevokes() throws {
        let client = try TestStack.client()
        let token = try TestStack.adminToken()
        XCTAssertEqual(try client.get("\(v1)/whoami", token: token).json?["username"], "admin")
        XCTAssertEqual(try client.get("\(v1)/whoami?token=\(token)").json?["username"], "admin")
        XCTAssertEqual(try client.get("\(v1)/whoami", headers: [("Cookie", "theme=dark; token=\(token)")]).json?["username"], "admin")
        let whoami = try client.get("\(v1)/whoami", token: token)
        XCTAssertNil(whoami.json?["password_hash"])
        XCTAssertFalse(whoami.text.contains("$2a$"), "a bcrypt hash leaked: \(whoami.text)")

        XCTAssertEqual(try client.request("POST", "\(v1)/logout", headers: [("Authorization", "Bearer \(token)")]).status, 200)
        nativeError(try client.get("\(v1)/whoami", token: token), 401)
    }

    func testTokensAreStoredOnlyAsDigests() throws {
        let token = try TestStack.adminToken()
        let db = try TestStack.database()
        let plain = try db.run("SELECT count(*) FROM tokens WHERE encode(digest, 'escape') LIKE '%' || '\(token)' || '%'")
        XCTAssertEqual(plain.first?.int(0), 0)
        let hashed = try db.execute(
            Statement("t_digest", "SELECT count(*) FROM tokens WHERE digest = sha256(convert_to($1, 'UTF8'))"), [token])
        XCTAssertEqual(hashed.first?.int(0), 1)
    }

    func testMissingUnknownAndUnderprivilegedTokens() throws {
        let client = try TestStack.client()
        nativeError(try client.get("\(v1)/whoami"), 401)
        nativeError(try client.get("\(v1)/whoami", token: String(repeating: "ab", count: 32)), 401)
        let reader = try TestStack.makeUser(roles: ["apiread"])
        nativeError(try client.get("\(v1)/users", token: reader.token), 403)
        nativeError(try client.postJSON("\(v1)/users", ["username": "x", "password": "y"], token: reader.token), 403)
    }

    func testUnknownRouteWrongMethodAndHead() throws {
        let client = try TestStack.client()
        nativeError(try client.get("\(v1)/no-such-route"), 404)
        nativeError(try client.get("/not-flowgate-at-all"), 404)
        let wrongMethod = try client.request("DELETE", "\(v1)/health")
        nativeError(wrongMethod, 405)
        XCTAssertEqual(wrongMethod.header("allow"), "GET, HEAD")
        let head = try client.request("HEAD", "\(v1)/health")
        XCTAssertEqual(head.status, 200)
        XCTAssertTrue(head.body.isEmpty)
    }

    func testBadInputGetsItsStatusAndWritesNothing() throws {
        let client = try TestStack.client()
        let admin = try TestStack.adminToken()
        let db = try TestStack.database()
        let usersBefore = try db.run("SELECT count(*) FROM users").first?.int(0)

        nativeError(
            try client.request(
                "POST", "\(v1)/users",
                headers: [
                    ("Authorization", "Bearer \(admin)"),
                    ("Content-Type", "application/json"),
                ],
                body: Array("{\"username\": ".utf8)), 400)
        nativeError(try client.postJSON("\(v1)/users", ["username": 5, "password": "x"], token: admin), 400)
        nativeError(try client.postJSON("\(v1)/users", ["a", "b"], token: admin), 400)
        nativeError(try client.postJSON("\(v1)/users", ["username": "r", "password": "x", "roles": ["emperor"]], token: admin), 400)
        nativeError(try client.postJSON("\(v1)/users", ["username": "p", "password": "x", "privileges": ["fly"]], token: admin), 400)
        nativeError(
            try client.request(
                "POST", "\(v1)/users",
                headers: [
                    ("Authorization", "Bearer \(admin)"),
                    ("Content-Type", "text/plain"),
                ],
                body: Array("username=x".utf8)), 415)
        let oversized = [UInt8](repeating: UInt8(ascii: "a"), count: (1 << 20) + 10)
        nativeError(
            try client.request(
                "POST", "\(v1)/users",
                headers: [
                    ("Authorization", "Bearer \(admin)"),
                    ("Content-Type", "application/json"),
                ],
                body: oversized), 413)
        nativeError(try client.get("\(v1)/whoami?token=%zz"), 400)
        nativeError(try client.get("\(v1)/users/%e2%28"), 400)
        nativeError(try client.get("\(v1)/whoami?token=a%00b"), 400)
        nativeError(try client.get("\(v1)/wh%00oami"), 400)
        nativeError(try client.get("\(v1)/health", headers: [("X-Long", String(repeating: "h", count: 5000))]), 431)
        nativeError(try client.get("\(v1)/health?q=" + String(repeating: "q", count: 5000)), 414)
        nativeError(try client.get("\(v1)/health?q=" + String(repeating: "q", count: 9000)), 414)

        XCTAssertEqual(try db.run("SELECT count(*) FROM users").first?.int(0), usersBefore)
    }

    func testUserAdministration() throws {
        let client = try TestStack.client()
        let admin = try TestStack.adminToken()
        let name = "carol-\(UUID().uuidString.prefix(6).lowercased())"
        let created = try client.postJSON(
            "\(v1)/users",
            [
                "username": .string(name), "password": "pw-1", "email": .string("\(name)@example.com"),
                "roles": ["apiread", "apiwrite"], "privileges": ["jobCreate"], "groups": ["night shift"],
            ], token: admin)
        XCTAssertEqual(created.status, 201, created.text)
        XCTAssertEqual(created.json?["roles"], ["apiread", "apiwrite"])
        XCTAssertEqual(created.json?["groups"], ["night shift"])
        XCTAssertEqual(created.json?["account_id"]?.stringValue?.count, 24)
        nativeError(try client.postJSON("\(v1)/users", ["username": .string(name), "password": "x"], token: admin), 409)

        XCTAssertTrue(
            try client.get("\(v1)/users", token: admin).json?.arrayValue?.contains { $0["username"]?.stringValue == name } ?? false)
        XCTAssertEqual(try client.get("\(v1)/users/\(name)", token: admin).json?["email"]?.stringValue, "\(name)@example.com")
        nativeError(try client.get("\(v1)/users/nobody-\(name)", token: admin), 404)

        let patched = try client.request(
            "PATCH", "\(v1)/users/\(name)",
            headers: [
                ("Authorization", "Bearer \(admin)"),
                ("Content-Type", "application/json"),
            ],
            body: Array(#"{"roles":["support"],"password":"pw-2"}"#.utf8))
        XCTAssertEqual(patched.status, 200, patched.text)
        XCTAssertEqual(patched.json?["roles"], ["support"])
        let token = try TestStack.login(name, "pw-2")

        let deleted = try client.request("DELETE", "\(v1)/users/\(name)", headers: [("Authorization", "Bearer \(admin)")])
        XCTAssertEqual(deleted.json?["active"], false)
        nativeError(try client.get("\(v1)/whoami", token: token), 401)
        nativeError(try client.postJSON("\(v1)/login", ["username": .string(name), "password": "pw-2"]), 401)
    }

    func testCLIIssuesTokens() throws {
        let result = try TestStack.ctl("flowgate", "token", "issue", "admin")
        XCTAssertEqual(result.status, 0, result.output)
        let token = result.output.split(separator: "\n").last.map(String.init) ?? ""
        XCTAssertEqual(try TestStack.client().get("\(v1)/whoami", token: token).json?["username"], "admin")
    }

    /// Every command has `--help`; what a command cannot use is refused before it runs, with
    /// swift-argument-parser's usage status (64) and a message.
    func testTheCLIExplainsItselfAndRefusesBadArguments() throws {
        let help = try TestStack.ctl("flowgate", "--help")
        XCTAssertEqual(help.status, 0, help.output)
        for command in ["serve", "migrate", "prune", "user", "ensure-admin", "token", "statement", "version"] {
            XCTAssertTrue(help.output.contains(command), command)
        }
        let addHelp = try TestStack.ctl("flowgate", "user", "add", "--help")
        XCTAssertEqual(addHelp.status, 0)
        XCTAssertTrue(addHelp.output.contains("--privilege"), addHelp.output)
        for refused in [
            ["bogus"], ["user", "add", "someone"], ["token", "issue"], ["statement", "no-such-statement"], ["migrate", "--now"],
        ] {
            let result = try TestStack.ctl(["flowgate"] + refused)
            XCTAssertEqual(result.status, 64, "\(refused): \(result.output)")
            XCTAssertTrue(result.output.contains("Usage") || result.output.contains("Error"), result.output)
        }
        XCTAssertEqual(
            try TestStack.ctl("flowgate", "--version").output.trimmingCharacters(in: .whitespacesAndNewlines), Configuration.version)
    }
}

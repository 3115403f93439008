import Foundation
import JSON
import Postgres
import XCTest

/// `Idempotency-Key` on writes, through nginx: the first answer to a key is stored with its
/// write, a retry gets it again and writes nothing, another request under the key is a 422.
final class IdempotencyTests: XCTestCase {
    var client: HTTPClient!
    var admin = ""

    override func setUpWithError() throws {
        client = try TestStack.client()
        admin = try TestStack.adminToken()
    }

    func createWorkspace(_ name: String, key: String, token: String? = nil) throws -> HTTPResponse {
        try client.postJSON("/v6/workspaces/", ["name": .string(name)], token: token ?? admin, headers: [("Idempotency-Key", key)])
    }

    func workspaceRows(_ name: String) throws -> Int? {
        try TestStack.database().execute(Statement("t_idem_workspaces", "SELECT count(*) FROM workspaces WHERE name = $1"), [name])
            .first?.int(0)
    }

    func testARetryGetsTheFirstAnswerAndWritesNothing() throws {
        let name = "idem-\(UUID().uuidString.prefix(8).lowercased())"
        let key = UUID().uuidString
        let first = try createWorkspace(name, key: key)
        XCTAssertEqual(first.status, 201, first.text)
        XCTAssertNil(first.header("idempotent-replayed"))
        let again = try createWorkspace(name, key: key)
        XCTAssertEqual(again.status, 201, "without the key this would be a 400: the name is taken")
        XCTAssertEqual(again.text, first.text)
        XCTAssertEqual(again.header("location"), first.header("location"))
        XCTAssertEqual(again.header("idempotent-replayed"), "true")
        XCTAssertEqual(try workspaceRows(name), 1)

        let other = try client.postJSON(
            "/v6/workspaces/", ["name": .string(name + "-b")], token: admin, headers: [("Idempotency-Key", key)])
        ScaleSupport.assertDetail(other, 422)
        XCTAssertEqual(try workspaceRows(name + "-b"), 0)

        let someoneElse = try TestStack.makeUser(roles: ["admin"])
        let theirs = try createWorkspace(name, key: key, token: someoneElse.token)
        XCTAssertEqual(theirs.status, 400, "a key belongs to its caller: another user's request runs (and finds the name taken)")
        XCTAssertNil(theirs.header("idempotent-replayed"))
    }

    func testConcurrentRetriesWriteOnceAndAllGetTheAnswer() throws {
        let name = "idem-race-\(UUID().uuidString.prefix(8).lowercased())"
        let key = UUID().uuidString
        let (client, admin) = (client!, admin)
        let answers = try TestStack.concurrently(8) { _ in
            try client.postJSON("/v6/workspaces/", ["name": .string(name)], token: admin, headers: [("Idempotency-Key", key)])
        }.map { try $0.get() }
        XCTAssertEqual(answers.map(\.status), Array(repeating: 201, count: 8), answers.map(\.text).joined(separator: "\n"))
        XCTAssertEqual(Set(answers.map(\.text)).count, 1, "one answer")
        XCTAssertEqual(answers.filter { $0.header("idempotent-replayed") == nil }.count, 1, "one request did the write")
        XCTAssertEqual(try workspaceRows(name), 1)
    }

    /// Tokens are stored only as digests; an answer holding one must not sit in clear among the
    /// stored answers. A login with a key logs in again instead.
    func testALoginWithAKeyIsNeitherStoredNorReplayed() throws {
        let user = try TestStack.makeUser()
        let key = UUID().uuidString
        let tokens = try (0..<2).map { _ in
            let response = try client.postJSON(
                "/flowgate/v1/login", ["username": .string(user.name), "password": "secret-pw"], headers: [("Idempotency-Key", key)])
            XCTAssertEqual(response.status, 200, response.text)
            XCTAssertNil(response.header("idempotent-replayed"))
            return try XCTUnwrap(response.json?["token"]?.stringValue)
        }
        XCTAssertNotEqual(tokens[0], tokens[1])
        let stored = try TestStack.database().execute(
            Statement(
                "t_idem_login", "SELECT count(*) FROM idempotency_keys WHERE key = $1 OR position(convert_to($2, 'UTF8') IN body) > 0"),
            [key, tokens[0]]
        ).first?.int(0)
        XCTAssertEqual(stored, 0)
    }

    func testARefusedRequestStoresNothingAndBadKeysAreRefused() throws {
        let key = UUID().uuidString
        let refused = try client.postJSON(
            "/v6/workspaces/", ["name": "bad name with spaces"], token: admin, headers: [("Idempotency-Key", key)])
        ScaleSupport.assertDetail(refused, 400)
        let name = "idem-after-\(UUID().uuidString.prefix(8).lowercased())"
        XCTAssertEqual(try createWorkspace(name, key: key).status, 201, "a refusal wrote nothing, so the key is still free")

        ScaleSupport.assertDetail(try createWorkspace(name + "-x", key: String(repeating: "k", count: 256)), 400)
        ScaleSupport.assertDetail(try createWorkspace(name + "-y", key: "two words"), 400)
        let read = try client.get("/v6/workspaces/?page_size=1", token: admin, headers: [("Idempotency-Key", "two words")])
        XCTAssertEqual(read.status, 200, "reads ignore the header")
        let native = try client.postJSON(
            "/flowgate/v1/users", ["username": "x"], token: admin, headers: [("Idempotency-Key", String(repeating: "k", count: 256))])
        XCTAssertEqual(native.status, 400)
        XCTAssertEqual(native.json?["error"]?["status"], 400, "in the owning surface's error shape")
    }
}

import Foundation
import JSON
import XCTest

/// The Itential surface, in process: sessions the ways Itential clients make them, whoami and
/// the health probe, and Automation Studio workflows with their validation.
final class ItentialTests: XCTestCase {
    var client: HTTPClient!
    var admin = ""

    override func setUpWithError() throws {
        client = try TestStack.inProcessClient()
        admin = try TestStack.adminToken()
    }

    func post(_ path: String, _ body: String, headers: [(String, String)] = []) throws -> HTTPResponse {
        try client.request("POST", path, headers: headers, body: Array(body.utf8))
    }

    /// A workflow `name` → a1 (stub) → workflow_end, with extra tasks or transitions merged in.
    static func workflow(_ name: String, tasks: [(String, JSON)] = [], transitions: [(String, JSON)]? = nil) -> JSON {
        let stub: JSON = [
            "name": "stub", "description": "a stub", "summary": "stub", "type": "automatic", "app": "WorkFlowEngine",
            "location": "Application", "groups": [], "variables": ["incoming": ["type": "success"], "outgoing": [:]],
        ]
        let taskList: [(String, JSON)] =
            [("workflow_start", ["name": "workflow_start", "groups": []]), ("a1", stub)] + tasks
            + [("workflow_end", ["name": "workflow_end", "groups": []])]
        let standard: JSON = ["type": "standard", "state": "success"]
        return .object([
            ("name", .string(name)), ("type", "automation"), ("tasks", .object(taskList)),
            (
                "transitions",
                .object(
                    transitions ?? [
                        ("workflow_start", ["a1": standard]), ("a1", ["workflow_end": standard]),
                        ("workflow_end", [:]),
                    ])
            ),
        ])
    }

    func testLoginNestedFlatAndTrailingSlashSetTheTokenCookie() throws {
        let password = TestStack.adminPassword
        let nested = try post("/login", "{\"user\": {\"username\": \"admin\", \"password\": \"\(password)\"}}")
        XCTAssertEqual(nested.status, 200, nested.text)
        XCTAssertEqual(nested.header("content-type")?.hasPrefix("text/plain"), true)
        XCTAssertEqual(nested.text.count, 64)
        XCTAssertEqual(nested.header("set-cookie")?.hasPrefix("token=\(nested.text);"), true, nested.header("set-cookie") ?? "")
        let flat = try post(
            "/login/", "{\"username\": \"admin\", \"password\": \"\(password)\"}", headers: [("Content-Type", "application/json")])
        XCTAssertEqual(flat.status, 200, flat.text)
        XCTAssertEqual(try client.get("/whoami", headers: [("Cookie", "token=\(flat.text)")]).json?["username"], "admin")
        ItentialSupport.assertMessage(try post("/login", "{\"user\": {\"username\": \"admin\", \"password\": \"wrong\"}}"), 401)
        ItentialSupport.assertMessage(try post("/login", "{\"user\": {}}"), 400)
        ItentialSupport.assertMessage(try post("/login", "not json", headers: [("Content-Type", "text/csv")]), 400)
    }

    func testEverySessionMechanismAndTheHealthProbe() throws {
        ItentialSupport.assertMessage(try client.get("/health/applications"), 401)
        ItentialSupport.assertMessage(try client.get("/whoami"), 401)
        ItentialSupport.assertMessage(try client.get("/whoami?token=not-a-token"), 401)
        let basic = Data("admin:\(TestStack.adminPassword)".utf8).base64EncodedString()
        let wrongBasic = Data("admin:nope".utf8).base64EncodedString()
        for headers in [[("Cookie", "token=\(admin)")], [("Authorization", "Bearer \(admin)")], [("Authorization", "Basic \(basic)")]] {
            XCTAssertEqual(try client.get("/whoami", headers: headers).status, 200, "\(headers)")
        }
        XCTAssertEqual(try client.get("/whoami?token=\(admin)").status, 200)
        ItentialSupport.assertMessage(try client.get("/whoami", headers: [("Authorization", "Basic \(wrongBasic)")]), 401)
        let health = try client.get("/health/applications?token=\(admin)")
        XCTAssertEqual(health.json?["total"], 3)
        XCTAssertEqual(health.json?["results"]?[0]?["state"], "RUNNING")
        XCTAssertEqual(try client.get("/health/applications?token=\(admin)&equals=OperationsManager&equalsField=id").json?["total"], 1)
    }

    func testOAuthClientCredentials() throws {
        let form = [("Content-Type", "application/x-www-form-urlencoded")]
        let issued = try post(
            "/oauth/token", "grant_type=client_credentials&client_id=admin&client_secret=\(TestStack.adminPassword)", headers: form)
        XCTAssertEqual(issued.json?["token_type"], "bearer", issued.text)
        let token = try XCTUnwrap(issued.json?["access_token"]?.stringValue)
        XCTAssertEqual(try client.get("/whoami", headers: [("Authorization", "Bearer \(token)")]).status, 200)
        ItentialSupport.assertMessage(
            try post("/oauth/token", "{\"grant_type\": \"client_credentials\"}", headers: [("Content-Type", "application/json")]), 415)
        ItentialSupport.assertMessage(try post("/oauth/token", "grant_type=password&client_id=admin&client_secret=x", headers: form), 400)
        ItentialSupport.assertMessage(
            try post("/oauth/token", "grant_type=client_credentials&client_id=admin&client_secret=x", headers: form), 401)
    }

    func testWhoamiShowsAccountAndGroupIds() throws {
        let group = "itential-\(UUID().uuidString.prefix(6).lowercased())"
        let user = try TestStack.makeUser(roles: ["apiread"], groups: [group], prefix: "it-reader")
        let me = try XCTUnwrap(client.get("/whoami", headers: [("Cookie", "token=\(user.token)")]).json)
        XCTAssertEqual(me["username"], .string(user.name))
        XCTAssertEqual(me["id"]?.stringValue?.count, 24)
        XCTAssertEqual(me["roles"], ["apiread"])
        XCTAssertEqual(me["groups"]?[0]?["name"], .string(group))
        XCTAssertEqual(me["groups"]?[0]?["id"]?.stringValue?.count, 24)
        XCTAssertEqual(me["methods"]?["AutomationStudio"]?.arrayValue?.contains("createAutomation"), false)
    }

    func testAutomationStudioCreateListDetailUpdateDelete() throws {
        let name = "it-wf-\(UUID().uuidString.prefix(8))"
        let created = try client.postJSON("/automation-studio/automations", ["automation": Self.workflow(name)], token: admin)
        XCTAssertEqual(created.status, 200, created.text)
        let document = try XCTUnwrap(created.json?["created"])
        let id = try XCTUnwrap(document["_id"]?.stringValue)
        XCTAssertEqual(id.count, 36)
        XCTAssertEqual(document["errors"], [])
        XCTAssertEqual(document["created_by"]?.stringValue?.count, 24)
        XCTAssertEqual(document["outputSchema"]?["properties"]?["initiator"], ["type": "string"])
        XCTAssertEqual(created.json?["edit"]?.stringValue?.hasSuffix(id), true)

        let duplicate = try client.postJSON("/automation-studio/automations", ["automation": Self.workflow(name)], token: admin)
        ItentialSupport.assertMessage(duplicate, 409)
        XCTAssertEqual(duplicate.json?["message"], .string("workflow with name `\(name)` already exists"))

        let listed = try XCTUnwrap(client.get("/automation-studio/workflows?equals[name]=\(name)&include=name", token: admin).json)
        XCTAssertEqual(listed["total"], 1)
        XCTAssertEqual(listed["items"], [["_id": .string(id), "name": .string(name)]])
        let past = try XCTUnwrap(client.get("/automation-studio/workflows?equals[name]=\(name)&skip=5", token: admin).json)
        XCTAssertEqual(past["total"], 1, "the total stays right past the last page")
        XCTAssertEqual(past["items"], [])
        XCTAssertEqual(try client.get("/automation-studio/workflows/detailed/\(name)", token: admin).json?["_id"], .string(id))
        XCTAssertEqual(try client.get("/automation-studio/workflows/detailed/no-such-\(name)", token: admin).json, [:])

        let renamed = Self.workflow(name + "-2")
        let updated = try client.request(
            "PUT", "/automation-studio/automations/\(id)",
            headers: [("Authorization", "Bearer \(admin)"), ("Content-Type", "application/json")],
            body: Array(JSON.object([("update", renamed)]).serialized.utf8))
        XCTAssertEqual(updated.json?["name"], .string(name + "-2"), updated.text)
        XCTAssertEqual(updated.json?["created"], document["created"])
        let deleted = try client.request(
            "DELETE", "/workflow_builder/workflows/delete/\(name)-2", headers: [("Authorization", "Bearer \(admin)")])
        XCTAssertEqual(deleted.json?["lastErrorObject"], ["n": 1], deleted.text)
        XCTAssertEqual(deleted.json?["value"]?["_id"], .string(id))
        ItentialSupport.assertMessage(
            try client.request("DELETE", "/workflow_builder/workflows/delete/\(name)-2", headers: [("Authorization", "Bearer \(admin)")]),
            404)
    }

    func testImportIsAllOrNothing() throws {
        let prefix = "it-import-\(UUID().uuidString.prefix(8))"
        let imported = try client.postJSON(
            "/automation-studio/automations/import",
            ["automations": [Self.workflow(prefix + "-a"), Self.workflow(prefix + "-b")]], token: admin)
        XCTAssertEqual(imported.json?["message"], "Successfully imported 2 of 2 documents", imported.text)
        XCTAssertEqual(imported.json?["data"]?.arrayValue?.count, 2)
        let again = try client.postJSON(
            "/automation-studio/automations/import",
            ["automations": [Self.workflow(prefix + "-c"), Self.workflow(prefix + "-a")]], token: admin)
        ItentialSupport.assertMessage(again, 409)
        XCTAssertEqual(try client.get("/automation-studio/workflows?starts-with[name]=\(prefix)", token: admin).json?["total"], 2)
        ItentialSupport.assertMessage(try client.postJSON("/automation-studio/automations/import", ["automations": []], token: admin), 400)
        ItentialSupport.assertMessage(
            try client.postJSON("/automation-studio/automations", ["automation": ["name": "x"]], token: admin), 400)
    }

    func testValidationFindsEachProblem() throws {
        let standard: JSON = ["type": "standard", "state": "success"]
        let manual: JSON = ["name": "ViewData", "description": "look", "type": "manual", "app": "WorkFlowEngine"]
        let cases: [(JSON, String)] = [
            (Self.workflow("v", tasks: [("zz", ["name": "stub", "description": "d", "type": "automatic"])]), "Invalid task id zz"),
            (Self.workflow("v", tasks: [("b2", ["name": "stub", "type": "automatic"])]), "Task b2 needs a description"),
            (Self.workflow("v", tasks: [("b2", manual)]), "Manual Tasks require 'view' key"),
            (
                Self.workflow(
                    "v",
                    transitions: [("workflow_start", ["a1": ["type": "jump", "state": "success"]]), ("a1", ["workflow_end": standard])]),
                "needs type standard|revert"
            ),
            (
                Self.workflow(
                    "v", transitions: [("workflow_start", ["a1": standard]), ("a1", ["workflow_end": standard, "ff": standard])]),
                "to unknown task ff"
            ),
            (
                Self.workflow(
                    "v", tasks: [("b2", ["name": "stub", "description": "d", "type": "automatic"])],
                    transitions: [
                        ("workflow_start", ["a1": standard]), ("a1", ["b2": standard, "workflow_end": standard]), ("b2", ["a1": standard]),
                    ]),
                "form a cycle"
            ),
            (
                Self.workflow("v", transitions: [("workflow_start", ["a1": standard]), ("a1", [:])]),
                "Could not find standard transition path between workflow start and task"
            ),
        ]
        for (workflow, expected) in cases {
            let result = try XCTUnwrap(client.postJSON("/workflow_engine/workflows/validate", ["asset": workflow], token: admin).json)
            XCTAssertEqual(result["isValid"], false, expected)
            XCTAssertTrue(
                result["errors"]?.arrayValue?.contains { $0["message"]?.stringValue?.contains(expected) == true } ?? false,
                "\(expected): \(result)")
        }
        XCTAssertEqual(
            try client.postJSON("/workflow_engine/workflows/validate", ["asset": Self.workflow("ok")], token: admin).json,
            ["isValid": true, "errors": [], "warnings": []])
        XCTAssertEqual(
            try client.postJSON("/automation-studio/workflows/validate", ["workflow": Self.workflow("ok")], token: admin).json,
            ["errors": [], "warnings": []])
        // A workflow with errors is stored as a draft with its errors on the document.
        let draft = try client.postJSON(
            "/automation-studio/automations",
            ["automation": cases[6].0.setting("name", to: .string("it-draft-\(UUID().uuidString.prefix(8))"))], token: admin)
        XCTAssertEqual(draft.json?["created"]?["errors"]?.arrayValue?.count, 1, draft.text)
    }

    func testRolesGuardWorkflowRoutes() throws {
        let reader = try TestStack.makeUser(roles: ["apiread"], prefix: "it-apiread")
        let nobody = try TestStack.makeUser(prefix: "it-noroles")
        XCTAssertEqual(try client.get("/automation-studio/workflows", token: reader.token).status, 200)
        ItentialSupport.assertMessage(
            try client.postJSON("/automation-studio/automations", ["automation": Self.workflow("x")], token: reader.token), 403)
        ItentialSupport.assertMessage(try client.get("/automation-studio/workflows", token: nobody.token), 403)
        ItentialSupport.assertMessage(try client.get("/automation-studio/nothing-here", token: admin), 404)
    }
}

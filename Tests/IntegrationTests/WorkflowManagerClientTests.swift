import Engine
import Foundation
import JSON
import XCTest

fileprivate typealias WM = WorkflowManagerItem

/// Workflow Manager as its clients reach it: over TLS, signed in through the Portal routes, with
/// live notifications on notificationWs, and the routes the ArcGIS API for Python calls.
final class WorkflowManagerClientTests: XCTestCase {
    static let clients = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Clients")

    /// The venv's Python with arcgis 2.4.4 (and websocket-client), which ops/test installs.
    func arcgisPython() throws -> String {
        guard let python = ProcessInfo.processInfo.environment["FLOWGATE_TEST_ARCGIS_PYTHON"] else {
            throw XCTSkip("FLOWGATE_TEST_ARCGIS_PYTHON is not set: run with ops/test")
        }
        return python
    }

    func tlsURL() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["FLOWGATE_TEST_TLS_URL"] else {
            throw XCTSkip("FLOWGATE_TEST_TLS_URL is not set: run with ops/test")
        }
        return url
    }

    func stateDirectory() throws -> String {
        guard let directory = ProcessInfo.processInfo.environment["FLOWGATE_TEST_STATE_DIR"] else {
            throw XCTSkip("FLOWGATE_TEST_STATE_DIR is not set: run with ops/test")
        }
        return directory
    }

    /// The last line a client script printed, as JSON.
    func results(_ status: Int32, _ output: String) throws -> JSON {
        XCTAssertEqual(status, 0, output)
        return try XCTUnwrap(output.split(separator: "\n").last.flatMap { try? JSON.parse(String($0)) }, output)
    }

    // MARK: The real client

    func testArcGISClientSignsInAndDrivesJobsOverTLS() throws {
        let python = try arcgisPython()
        let url = try tlsURL()
        let group = "reviewers-\(UUID().uuidString.prefix(8).lowercased())"
        let user = try TestStack.makeUser(roles: ["admin"], privileges: AccessNames.privileges, groups: [group], prefix: "arcgis")
        let started = Date()
        let (status, output) = try Spawn.run(
            python, [Self.clients.appendingPathComponent("arcgis_workflow_manager.py").path, url, user.name, "secret-pw", group],
            environment: ["PATH": "/usr/bin:/bin", "HOME": NSTemporaryDirectory()])
        let seconds = Date().timeIntervalSince(started)
        let result = try results(status, output)
        print(
            "arcgis client run: \(String(format: "%.1f", seconds)) s in all, \(result["total_seconds"]?.doubleValue ?? -1) s after start-up"
        )
        XCTAssertEqual(result["signed_in_as"], .string(user.name))
        XCTAssertEqual(result["server_status"], true)
        XCTAssertEqual(result["item_type"], "Workflow")
        XCTAssertEqual(result["initial_step"], "s1", "an empty initialStepId means the step no path leads to")
        XCTAssertEqual(result["template"]?["state"], "Active")
        XCTAssertEqual(result["template"]?["diagram_name"], "Review and publish", "the server's diagram name, not the client's empty one")
        let outcomes: [(String, String)] = [
            ("run_manual", "STEPINFOREQUIRED"), ("finish_manual", "STEPFINISHED"), ("run_gp", "STEPFINISHED"),
            ("run_question", "STEPINFOREQUIRED"), ("stop_question", "STEPCANCELLED"), ("run_last", "STEPINFOREQUIRED"),
            ("finish_last", "STEPFINISHED"),
        ]
        for (action, outcome) in outcomes {
            XCTAssertEqual(result[action]?["outcome"], .string(outcome), action)
            XCTAssertLessThan(result[action]?["seconds"]?.doubleValue ?? 99, 1, "\(action) waits for its notification, not a timeout")
        }
        XCTAssertEqual(result["current_steps"], ["s4"])
        XCTAssertEqual(result["holds"], 3)
        XCTAssertEqual(result["comments"], ["looks good"])
        XCTAssertEqual(result["update"], true)
        XCTAssertEqual(result["priority"], "High")
        let actions = result["history_actions"]?.arrayValue?.compactMap(\.stringValue) ?? []
        XCTAssertEqual(actions.first, "Created")
        XCTAssertTrue(actions.contains("DependencyAdded") && actions.contains("HoldReleased") && actions.last == "Updated", "\(actions)")
        XCTAssertEqual(result["search"]?.arrayValue?.count, 1)
        XCTAssertEqual(result["statistics"]?["total"], 2)
        XCTAssertEqual(result["closed_after_finish"], true)
        for call in ["close", "reopen", "delete", "update_group"] { XCTAssertEqual(result[call], true, call) }
        XCTAssertTrue(result["roles"]?.arrayValue?.contains("Reviewers") == true)
        XCTAssertEqual(result["group_roles"], ["Reviewers"])
    }

    // MARK: notificationWs

    func testNotificationsReachEveryInstanceAndRefuseHostileMessages() throws {
        let python = try arcgisPython()
        let state = try stateDirectory()
        let wm = try WM.make()
        let job = try wm.job([WM.step("a", to: ["b"]), WM.step("b")], ["assignedType": "User", "assignedTo": "admin"])
        let parts = wm.base.split(separator: "/").map(String.init)
        let sockets = (1...2).map { "\(state)/run/flowgate-\($0).ws.sock" }
        let (status, output) = try Spawn.run(
            python,
            [
                Self.clients.appendingPathComponent("notification_ws_checks.py").path, TestStack.baseURL ?? "", wm.admin, parts[0],
                parts[1], job,
            ]
                + sockets, environment: ["PATH": "/usr/bin:/bin"])
        let result = try results(status, output)
        XCTAssertEqual(result["subscribe_replies"], [["JobState", .string(job)], ["JobState", .string(job)]])
        XCTAssertEqual(result["run"], true)
        XCTAssertEqual(result["per_instance"], [["StepStarted", "StepInfoRequired"], ["StepStarted", "StepInfoRequired"]])
        XCTAssertEqual(result["after_unsubscribe"], [nil, nil], "nothing after unsubscribe")
        XCTAssertEqual(result["bad_token"], ["Error", "401"])
        XCTAssertEqual(result["no_token"], "401")
        XCTAssertEqual(result["not_json"], "400")
        XCTAssertEqual(result["too_many"], "A connection follows at most 100 jobs.")
        XCTAssertEqual(result["unknown_job"], "Job 'no-such-job' does not exist.")
        XCTAssertEqual(result["oversized"], "closed")
    }

    func testNotificationSocketRefusesPlainRequestsThroughNginx() throws {
        let client = try TestStack.client()
        let plain = try client.get("/testorg/some-item/notificationWs")
        XCTAssertEqual(plain.status, 400)
        XCTAssertEqual(plain.json?["error"]?["message"], "WebSocket upgrade required")
    }

    // MARK: TLS

    func testTLSServesTheSameRoutesWithHTTPSURLs() throws {
        let url = try tlsURL()
        let certificate = try stateDirectory() + "/tls/cert.pem"
        // curl checks the self-signed certificate against itself: names and dates must be right.
        let (status, output) = try Spawn.run(
            "/usr/bin/curl", ["-sS", "--fail", "--cacert", certificate, "\(url)/sharing/rest/info?f=json"],
            environment: ["PATH": "/usr/bin:/bin"])
        XCTAssertEqual(status, 0, output)
        let info = try XCTUnwrap(try? JSON.parse(output), output)
        XCTAssertEqual(info["owningSystemUrl"]?.stringValue, url, "absolute URLs over TLS are https")
        XCTAssertEqual(try TestStack.client().get("/flowgate/v1/health").status, 200, "plain HTTP stays")
    }

    // MARK: Portal sign-in

    func testPortalSignInSendsTheTokenOnlyToThisServer() throws {
        let client = try TestStack.client()
        let origin = TestStack.baseURL ?? ""
        func authorize(_ redirect: String) throws -> HTTPResponse {
            let escaped = redirect.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
            return try client.get("/sharing/rest/oauth2/authorize?response_type=token&client_id=pythonapi&state=s1&redirect_uri=\(escaped)")
        }
        let foreign = try authorize("https://attacker.example")
        XCTAssertTrue(foreign.text.contains("Invalid redirect_uri"), foreign.text)
        XCTAssertTrue(try authorize(origin + ".attacker.example").text.contains("Invalid redirect_uri"), "a look-alike origin")
        for smuggled in ["/x\r\nSet-Cookie: a=b", "/x\r\nLocation: https://attacker.example", "@attacker.example", "/x#y"] {
            XCTAssertTrue(try authorize(origin + smuggled).text.contains("Invalid redirect_uri"), smuggled)
        }

        func oauthState() throws -> String {
            let page = try authorize(origin).text
            let start = try XCTUnwrap(page.range(of: "{")?.lowerBound)
            let end = try XCTUnwrap(page.range(of: "}", options: .backwards)?.upperBound)
            return try XCTUnwrap(JSON.parse(String(page[start..<end]))["oauth_state"]?.stringValue, page)
        }
        func signIn(_ state: String, password: String) throws -> HTTPResponse {
            try client.request(
                "POST", "/sharing/oauth2/signin", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                body: Array("oauth_state=\(state)&username=admin&password=\(password)&expiration=60".utf8))
        }
        let state = try oauthState()
        let wrong = try signIn(state, password: "wrong")
        XCTAssertEqual(wrong.status, 200)
        XCTAssertNil(wrong.header("location"))
        XCTAssertTrue(wrong.text.contains("Invalid username or password."))
        XCTAssertNil(try signIn(state, password: TestStack.adminPassword).header("location"), "one guess per sign-in page")

        let good = try signIn(try oauthState(), password: TestStack.adminPassword)
        XCTAssertEqual(good.status, 302)
        let location = try XCTUnwrap(good.header("location"))
        XCTAssertTrue(location.hasPrefix(origin + "#access_token="), location)
        XCTAssertTrue(location.hasSuffix("&state=s1"), location)
        let token = try XCTUnwrap(location.split(separator: "#")[1].split(separator: "&").first?.split(separator: "=").last)
        let portal = try client.get("/sharing/rest/portals/self?f=json", headers: [("X-Esri-Authorization", "Bearer \(token)")])
        XCTAssertEqual(portal.json?["user"]?["username"], "admin")
        XCTAssertEqual(portal.json?["helperServices"]?["workflowManager"]?["url"]?.stringValue, origin)

        let anonymous = try client.get("/sharing/rest/portals/self?f=json")
        XCTAssertNil(anonymous.json?["user"], "no user without a token")
        let refused = try client.get("/sharing/rest/community/self?f=json", headers: [("X-Esri-Authorization", "Bearer nope")])
        XCTAssertEqual(refused.status, 200, "the Portal answers errors in the body")
        XCTAssertEqual(refused.json?["error"]?["code"], 498)
    }

    func testGenerateToken() throws {
        let client = try TestStack.client()
        func generate(_ password: String) throws -> HTTPResponse {
            try client.request(
                "POST", "/sharing/rest/generateToken", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                body: Array("username=admin&password=\(password)&expiration=5&f=json".utf8))
        }
        let issued = try generate(TestStack.adminPassword).json
        let token = try XCTUnwrap(issued?["token"]?.stringValue)
        let expires = try XCTUnwrap(issued?["expires"]?.doubleValue)
        XCTAssertEqual(expires / 1000 - Date().timeIntervalSince1970, 300, accuracy: 30, "five minutes, as asked")
        XCTAssertEqual(try client.get("/sharing/rest/community/self", token: token).json?["username"], "admin")
        XCTAssertEqual(try generate("wrong").json?["error"]?["message"], "Unable to generate token.")
    }

    // MARK: Routes and shapes

    func testUpdateNeedsPrivilegesOnlyForWhatChanges() throws {
        let wm = try WM.make()
        let job = try wm.job([WM.step("a")])
        let notesOnly = try TestStack.makeUser(privileges: ["jobUpdateNotes"], prefix: "notes")
        let current = try wm.job(job)
        var sentBack = current.objectValue ?? []
        sentBack.removeAll { $0.0 == "percentComplete" || $0.0 == "parentJob" }
        sentBack.append(("notes", "changed"))
        XCTAssertEqual(try wm.post("/jobs/\(job)/update", .object(sentBack), token: notesOnly.token).json, ["success": true])
        XCTAssertEqual(try wm.job(job)["notes"], "changed")
        let renamed = try wm.post("/jobs/\(job)/update", ["jobName": "other"], token: notesOnly.token)
        XCTAssertEqual(renamed.status, 403)
        XCTAssertEqual(renamed.json?["error"]?["message"], "The jobUpdateName privilege is required")
        let misspelt = try wm.post("/jobs/\(job)/update", ["jobNmae": "x"])
        XCTAssertEqual(misspelt.status, 400)
        XCTAssertEqual(misspelt.json?["error"]?["message"], "Unknown field: jobNmae")
        XCTAssertEqual(try wm.history(job).last, "Updated")
        // Literal segments are not step ids.
        let comment = try wm.post("/jobs/\(job)/comments", ["comment": "hello"])
        XCTAssertNotNil(comment.json?["commentId"]?.stringValue, comment.text)
        XCTAssertEqual(try wm.get("/jobs/\(job)/comments").json?["jobComments"]?[0]?["comment"], "hello")
    }

    func testTemplatesCarryEachKeyOnce() throws {
        let wm = try WM.make()
        let diagram = try wm.diagram([WM.step("a")])
        let created = try wm.post(
            "/jobTemplates",
            [
                "jobTemplateName": "t", "diagramId": .string(diagram), "diagramName": "", "lastUpdatedBy": "", "lastUpdatedDate": "x",
                "state": "Draft", "category": "",
            ])
        let id = try XCTUnwrap(created.json?["jobTemplateId"]?.stringValue, created.text)
        let read = try wm.get("/jobTemplates/\(id)")
        let keys = read.json?.objectValue?.map(\.0) ?? []
        XCTAssertEqual(keys.count, Set(keys).count, "no key twice: \(keys)")
        XCTAssertEqual(read.json?["lastUpdatedBy"], "admin")
        XCTAssertEqual(
            try wm.client.request("PUT", wm.base + "/jobTemplates/\(id)", headers: put + auth(wm), body: body(["state": "Active"])).json,
            ["success": true])
        XCTAssertEqual(try wm.get("/jobTemplates/\(id)").json?["state"], "Active")
        _ = try wm.jobs(template: id)
        let delete = try wm.client.request("DELETE", wm.base + "/jobTemplates/\(id)", headers: auth(wm))
        XCTAssertEqual(delete.status, 400, "a template jobs were made from stays")
    }

    func testAttachmentsAreKeptAndServedAsDownloads() throws {
        let wm = try WM.make()
        let job = try wm.job([WM.step("a")])
        var form = Multipart()
        form.file("attachment", filename: "page.html", Array("<script>alert(1)</script>".utf8))
        let added = try wm.client.request(
            "POST", wm.base + "/jobs/\(job)/attachments", headers: auth(wm) + [("Content-Type", form.contentType)], body: form.body)
        let url = try XCTUnwrap(added.json?["url"]?.stringValue, added.text)
        XCTAssertEqual(added.json?["alias"], "page.html")
        let id = String(url.split(separator: "/").last ?? "")
        let download = try wm.get("/jobs/\(job)/attachments/\(id)")
        XCTAssertEqual(download.text, "<script>alert(1)</script>")
        XCTAssertEqual(download.header("content-type"), "application/octet-stream", "never rendered as a page of ours")
        XCTAssertEqual(download.header("content-disposition"), "attachment; filename=\"page.html\"")
        // Every byte value, over several lines of the database's base64.
        let binary = (0..<1000).map { UInt8($0 % 256) }
        var binaryForm = Multipart()
        binaryForm.file("attachment", filename: "bytes.bin", binary)
        let stored = try wm.client.request(
            "POST", wm.base + "/jobs/\(job)/attachments", headers: auth(wm) + [("Content-Type", binaryForm.contentType)],
            body: binaryForm.body)
        let binaryId = String(try XCTUnwrap(stored.json?["url"]?.stringValue, stored.text).split(separator: "/").last ?? "")
        XCTAssertEqual(try wm.get("/jobs/\(job)/attachments/\(binaryId)").body, binary)
        XCTAssertEqual(try wm.get("/jobs/\(job)/attachments").json?["attachments"]?.arrayValue?.count, 2)
        let link = try wm.post("/jobs/\(job)/attachmentslinked", ["attachments": [["url": "javascript:alert(1)"]]])
        XCTAssertEqual(link.status, 400)
        let deleted = try wm.client.request("DELETE", wm.base + "/jobs/\(job)/attachments/\(id)", headers: auth(wm))
        XCTAssertEqual(deleted.json, ["success": true])
    }

    func testUnknownRoutesUnderAnItemAnswerInTheSurfaceShape() throws {
        let wm = try WM.make()
        let unknown = try wm.get("/no-such-resource")
        XCTAssertEqual(unknown.status, 404)
        XCTAssertEqual(unknown.json?["error"]?["code"], 404)
        let status = try wm.client.get("/testorg/checkStatus")
        XCTAssertEqual(status.json, ["success": true, "hasAdvancedLicense": true])
    }

    let put: [(String, String)] = [("Content-Type", "application/json")]

    fileprivate func auth(_ wm: WM) -> [(String, String)] { [("Authorization", "Bearer \(wm.admin)")] }

    func body(_ json: JSON) -> [UInt8] { Array(json.serialized.utf8) }
}

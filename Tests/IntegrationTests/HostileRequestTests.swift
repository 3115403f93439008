import Foundation
import JSON
import Postgres
import XCTest

/// Requests an attacker with any valid token sends: each is refused in its surface's shape,
/// and afterwards both instances still serve with the same worker processes.
final class HostileRequestTests: XCTestCase {
    /// The worker pid of each instance, from their health answers.
    func workerPIDs() throws -> [String: Int] {
        let client = try TestStack.client()
        var pids: [String: Int] = [:]
        for _ in 0..<40 where pids.count < 2 {
            let health = try client.get("/flowgate/v1/health").json
            if let instance = health?["instance"]?.stringValue, let pid = health?["pid"]?.intValue { pids[instance] = pid }
        }
        return pids
    }

    func testNoRequestTakesAnInstanceDown() throws {
        let before = try workerPIDs()
        XCTAssertEqual(before.count, 2)
        let client = try TestStack.client()
        let admin = try TestStack.adminToken()

        // Scale: a page whose offset overflows, durations and zones beyond PostgreSQL's bounds.
        for query in ["page=9223372036854775807", "page=92233720368547759&page_size=1000"] {
            let page = try client.get("/v6/jobs/?\(query)", token: admin)
            XCTAssertEqual(page.status, 404, page.text)
            XCTAssertEqual(page.json, ["detail": "Invalid page."])
        }
        for value in ["P99999999999999999999D", "PT99999999999H", "2024-01-01T00:00%2B99:99", "2024-01-01T00:00%2B16"] {
            let refused = try client.get("/v6/jobs/?started=\(value)", token: admin)
            XCTAssertEqual(refused.status, 400, "\(value): \(refused.text)")
            XCTAssertNotNil(refused.json?["detail"]?.stringValue)
        }

        // Workflow Manager: a q nested 200,000 deep, and 30,000 ANDs.
        let wm = try WorkflowManagerItem.make()
        for q in [
            String(repeating: "(", count: 200_000) + "closed=0" + String(repeating: ")", count: 200_000),
            Array(repeating: "closed=0", count: 30_000).joined(separator: " AND "),
        ] {
            let refused = try wm.post("/jobs/search", ["q": .string(q)])
            XCTAssertEqual(refused.status, 400, String(refused.text.prefix(300)))
        }

        // Itential: an input schema that doubles thirty times is refused quickly.
        let it = try ItentialFixture()
        var definitions: [(String, JSON)] = [("d0", ["type": "string"])]
        for level in 1...30 {
            definitions.append(
                (
                    "d\(level)",
                    [
                        "allOf": [
                            ["$ref": .string("#/definitions/d\(level - 1)")],
                            ["$ref": .string("#/definitions/d\(level - 1)")],
                        ]
                    ]
                ))
        }
        let schema = JSON.object([
            ("type", "object"), ("definitions", .object(definitions)),
            ("properties", ["x": ["$ref": "#/definitions/d30"]]),
        ])
        let workflow = try it.workflow(
            [("a1", ItentialFixture.stub())],
            [("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["workflow_end": ItentialFixture.success])],
            inputSchema: schema)
        let started = Date()
        let start = try client.postJSON(
            "/operations-manager/jobs/start",
            ["workflow": .string(workflow), "options": ["variables": ["x": "y"]]], token: admin)
        ItentialSupport.assertMessage(start, 400)
        XCTAssertTrue(start.text.contains("steps to check"), start.text)
        XCTAssertLessThan(Date().timeIntervalSince(started), 3)

        // NUL inside JSON strings: nothing is truncated on the way to PostgreSQL.
        let nul = try client.request(
            "POST", "/flowgate/v1/login", headers: [("Content-Type", "application/json")],
            body: Array(#"{"username": "admin\u0000junk", "password": "x"}"#.utf8))
        XCTAssertEqual(nul.status, 400, nul.text)
        let nulUser = try client.request(
            "POST", "/flowgate/v1/users",
            headers: [
                ("Content-Type", "application/json"),
                ("Authorization", "Bearer \(admin)"),
            ],
            body: Array(#"{"username": "nul-user", "password": "\u0000"}"#.utf8))
        XCTAssertEqual(nulUser.status, 400, nulUser.text)
        var register = Multipart()
        register.field("email", "nul\u{0}@example.com")
        register.field("username", "nul")
        register.field("password", "\u{0}")
        let form = try client.request("POST", "/api/users/register", headers: [("Content-Type", register.contentType)], body: register.body)
        XCTAssertEqual(form.status, 400, form.text)
        XCTAssertNotNil(form.json?["error"], "the Blocks shape")

        // FastCGI straight to a socket: CONTENT_LENGTH negative, not a number, longer than the body.
        let socket = try XCTUnwrap(TestStack.stateDirectory) + "/run/flowgate-1.sock"
        for (length, body) in [("-1", ""), ("12abc", ""), ("99999999999999999999", ""), ("100", "{}")] {
            let answer = try FastCGIClient.request(
                socket: socket,
                params: [
                    ("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/flowgate/v1/login"), ("CONTENT_TYPE", "application/json"),
                    ("CONTENT_LENGTH", length),
                ], body: Array(body.utf8))
            XCTAssertTrue(answer.hasPrefix("Status: 400") || answer.hasPrefix("Status: 413"), "\(length): \(answer.prefix(200))")
        }

        XCTAssertEqual(try workerPIDs(), before, "every worker survived")
    }

    func testChildJobsAreBoundedInDepthAndFanOut() throws {
        let it = try ItentialFixture()
        // A workflow that starts itself: the depth limit (10) ends the chain with an error.
        let name = "it-recursive-\(UUID().uuidString.prefix(8))"
        let recursion = ItentialFixture.task(
            "childJob",
            [
                "task": "", "workflow": .string(name), "variables": [:], "data_array": "",
                "transformation": "", "loopType": "",
            ])
        let document: JSON = [
            "name": .string(name), "type": "automation",
            "tasks": [
                "workflow_start": ["name": "workflow_start", "groups": []], "a1": recursion,
                "workflow_end": ["name": "workflow_end", "groups": []],
            ],
            "transitions": [
                "workflow_start": ["a1": ItentialFixture.success], "a1": ["workflow_end": ItentialFixture.success],
                "workflow_end": [:],
            ],
        ]
        let created = try it.client.postJSON("/automation-studio/automations", ["automation": document], token: it.admin)
        XCTAssertEqual(created.status, 200, created.text)
        let root = try XCTUnwrap(try it.start(name)["_id"]?.stringValue)
        let ended = try it.job(root, until: ["complete", "error"])
        XCTAssertEqual(ended["status"], "error")
        let descendants = try TestStack.database().execute(
            Statement(
                "t_descendants",
                """
                SELECT count(*), max(jsonb_array_length(document->'ancestors')) FROM jobs
                WHERE surface = 'itential' AND document->'ancestors' ? $1
                """), [root]
        ).first
        XCTAssertEqual(descendants?.int(0), 10, "the root and nine generations of children")
        XCTAssertEqual(descendants?.int(1), 10)
        let deepest = try TestStack.database().execute(
            Statement(
                "t_deepest_error",
                """
                SELECT t.error FROM tasks t JOIN jobs j ON j.id = t.job_id
                WHERE j.surface = 'itential' AND j.document->'ancestors' ? $1 AND jsonb_array_length(j.document->'ancestors') = 10
                  AND t.key = 'a1'
                """), [root]
        ).first?.string(0)
        XCTAssertEqual(deepest, "Error starting child job: child jobs may nest 10 deep, and this job is at depth 10")

        // A data_array of 3,000 elements starts nothing.
        let child = try it.workflow(
            [("a1", ItentialFixture.stub())],
            [("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["workflow_end": ItentialFixture.success])])
        let wide = ItentialFixture.task(
            "childJob",
            [
                "task": "", "workflow": .string(child), "variables": [:],
                "data_array": .array(Array(repeating: [:], count: 3000)),
                "transformation": "", "loopType": "parallel",
            ])
        let parentName = try it.workflow(
            [("a1", wide)],
            [
                ("workflow_start", ["a1": ItentialFixture.success]),
                ("a1", ["workflow_end": ItentialFixture.success]),
            ])
        let parent = try XCTUnwrap(try it.start(parentName)["_id"]?.stringValue)
        XCTAssertEqual(try it.job(parent, until: ["complete", "error"])["status"], "error")
        let children = try TestStack.database().execute(
            Statement(
                "t_wide_children",
                """
                SELECT count(*) FROM jobs WHERE surface = 'itential' AND document->'ancestors' ? $1 AND public_id <> $1
                """), [parent]
        ).first?.int(0)
        XCTAssertEqual(children, 0)
    }

    func testEveryItentialPageIsCapped() throws {
        let it = try ItentialFixture()
        for limit in ["0", "5000"] {
            let page = try it.client.get("/operations-manager/jobs?limit=\(limit)", token: it.admin)
            XCTAssertEqual(page.status, 200, page.text)
            XCTAssertEqual(page.json?["metadata"]?["limit"], 1000)
            XCTAssertLessThanOrEqual(page.json?["data"]?.arrayValue?.count ?? 0, 1000)
        }
        let filters = (0...100).map { "equals[name]=x\($0)" }.joined(separator: "&")
        ItentialSupport.assertMessage(try it.client.get("/operations-manager/jobs?\(filters)", token: it.admin), 400)
    }

    /// The delay sleeping uploaded blocks put on an Itential job with one stub task, in seconds.
    func testSleepingUploadedBlocksDoNotDelayOtherSurfaces() throws {
        let user = try BlocksUser.register("sleeper")
        let module = "S\(UUID().uuidString.prefix(8))"
        XCTAssertEqual(try user.upload(try ModuleArchives.block(module, execute: "time.sleep(3)")).status, 200)
        let graph: JSON = ["edges": [], "blocks": [["id": 1, "type": "B", "module": .string("\(module).zip:\(module)"), "values": [:]]]]
        let sleepers = try (0..<8).map { _ in try user.scheduled(graph) }
        Thread.sleep(forTimeInterval: 0.5)

        let it = try ItentialFixture()
        let workflow = try it.workflow(
            [("a1", ItentialFixture.stub())],
            [("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["workflow_end": ItentialFixture.success])])
        let started = Date()
        let job = try XCTUnwrap(try it.start(workflow)["_id"]?.stringValue)
        XCTAssertEqual(try it.job(job, until: ["complete", "error"])["status"], "complete")
        let delay = Date().timeIntervalSince(started)
        print("itential stub job behind 8 sleeping uploaded blocks: \(String(format: "%.3f", delay)) s")
        XCTAssertLessThan(delay, 1)

        let running = try TestStack.database().execute(
            Statement(
                "t_sleepers_running",
                """
                SELECT count(*) FROM tasks t JOIN jobs j ON j.id = t.job_id
                WHERE j.surface = 'blocks' AND j.public_id = ANY($1::text[]) AND t.status = 'running'
                """), ["{" + sleepers.map(String.init).joined(separator: ",") + "}"]
        ).first?.int(0)
        XCTAssertEqual(running, 1, "one user's uploaded blocks run one at a time")
    }

    func testSlowUploadsDoNotHoldTheWorkers() throws {
        let users = try (0..<4).map { _ in try BlocksUser.register("uploader") }
        let module = "U\(UUID().uuidString.prefix(8))"
        let slow = try ModuleArchives.module(
            module, files: ["__init__.py": "import time\ntime.sleep(1.5)\nstring_classobject_mapping = {}"])
        let health = try TestStack.client()
        let results = TestStack.concurrently(17) { index -> (status: Int, seconds: Double) in
            let started = Date()
            if index == 16 {
                Thread.sleep(forTimeInterval: 0.3)
                let answer = try health.get("/flowgate/v1/health")
                return (answer.status, Date().timeIntervalSince(started))
            }
            return (try users[index % 4].upload(slow).status, Date().timeIntervalSince(started))
        }.map { try? $0.get() }
        let uploads = results.prefix(16).compactMap { $0?.status }
        XCTAssertEqual(uploads.count, 16)
        XCTAssertTrue(uploads.allSatisfy { [200, 400, 403, 429].contains($0) }, "\(uploads)")
        XCTAssertGreaterThan(uploads.filter { $0 == 429 }.count, 0, "uploads beyond the gate are turned away at once")
        let probe = try XCTUnwrap(results[16])
        XCTAssertEqual(probe.status, 200)
        XCTAssertLessThan(probe.seconds, 1, "health answered while uploads were being checked")
    }
}

/// Tokens stay out of logs and links; links and cookies do not trust the client's Host.
final class TokenHygieneTests: XCTestCase {
    func testATokenGivenInTheQueryIsNeitherLoggedNorEchoed() throws {
        let client = try TestStack.client()
        let (name, token) = try TestStack.makeUser(roles: ["admin"], prefix: "leak")
        for path in [
            "/flowgate/v1/whoami", "/v6/workspaces/", "/v6/job-types/", "/operations-manager/jobs", "/whoami",
            "/testorg/nonexistent/jobs/search", "/v6/jobs/?page=2&page_size=1",
        ] {
            let separator = path.contains("?") ? "&" : "?"
            _ = try client.get(path + separator + "token=\(token)", headers: [("Referer", "https://x.example/?token=\(token)")])
        }
        // Enough workspaces for a second page, whose links must not carry the token.
        for n in 0..<2 {
            _ = try client.postJSON("/v6/workspaces/", ["name": .string("leak-\(n)-\(UUID().uuidString.prefix(6))")], token: token)
        }
        let page = try client.get("/v6/workspaces/?page_size=1&token=\(token)")
        XCTAssertEqual(page.status, 200)
        let next = try XCTUnwrap(page.json?["next"]?.stringValue)
        XCTAssertFalse(next.contains("token"), next)
        XCTAssertTrue(next.contains("page=2"), next)
        let lastId = "leak-check-\(UUID().uuidString.prefix(8))"
        XCTAssertEqual(
            try client.get("/flowgate/v1/whoami?token=\(token)", headers: [("X-Request-Id", lastId)]).json?["username"], .string(name))

        let state = try XCTUnwrap(TestStack.stateDirectory)
        _ = try TestStack.accessLog(once: "id=\(lastId)")
        let logs = try FileManager.default.contentsOfDirectory(atPath: state + "/log")
        for file in logs {
            let text = (try? String(contentsOfFile: "\(state)/log/\(file)", encoding: .utf8)) ?? ""
            XCTAssertFalse(text.contains(token), "\(file) holds the token")
        }
    }

    func testLinksAreNotBuiltOnAForeignHost() throws {
        let client = try TestStack.client()
        let admin = try TestStack.adminToken()
        for n in 0..<2 {
            _ = try client.postJSON("/v6/workspaces/", ["name": .string("host-\(n)-\(UUID().uuidString.prefix(6))")], token: admin)
        }
        let evil = try client.get("/v6/workspaces/?page_size=1", token: admin, headers: [("Host", "evil.example")])
        XCTAssertEqual(evil.status, 200, evil.text)
        let next = try XCTUnwrap(evil.json?["next"]?.stringValue)
        XCTAssertFalse(next.contains("evil.example"), next)
        XCTAssertTrue(next.hasPrefix(try XCTUnwrap(TestStack.baseURL)), "the first server name is where nginx listens: \(next)")
        let created = try client.postJSON(
            "/v6/workspaces/", ["name": .string("loc-\(UUID().uuidString.prefix(6))")], token: admin,
            headers: [("Host", "evil.example")])
        XCTAssertEqual(created.status, 201, created.text)
        XCTAssertFalse(created.header("location")?.contains("evil.example") ?? true, created.header("location") ?? "")
        let own = try client.get("/v6/workspaces/?page_size=1", token: admin, headers: [("Host", "localhost:1234")])
        XCTAssertTrue(own.json?["next"]?.stringValue?.hasPrefix("http://localhost:1234/v6/workspaces/") ?? false, own.text)
    }

    func testTheSessionCookieIsLaxAndCrossSiteWritesAreRefused() throws {
        let client = try TestStack.client()
        let login = try client.postJSON("/login", ["user": ["username": "admin", "password": .string(TestStack.adminPassword)]])
        XCTAssertEqual(login.status, 200, login.text)
        let cookie = try XCTUnwrap(login.header("set-cookie"))
        XCTAssertTrue(cookie.contains("HttpOnly"), cookie)
        XCTAssertTrue(cookie.contains("SameSite=Lax"), cookie)
        let token = login.text

        let origin = try XCTUnwrap(TestStack.baseURL)
        func createWorkspace(origin: String?) throws -> HTTPResponse {
            var headers = [("Cookie", "token=\(token)"), ("Content-Type", "application/json")]
            if let origin { headers.append(("Origin", origin)) }
            return try client.request(
                "POST", "/v6/workspaces/", headers: headers,
                body: Array(#"{"name": "csrf-\#(UUID().uuidString.prefix(6))"}"#.utf8))
        }
        let foreign = try createWorkspace(origin: "https://evil.example")
        XCTAssertEqual(foreign.status, 403, foreign.text)
        XCTAssertNotNil(foreign.json?["detail"], "Scale's shape")
        XCTAssertEqual(try createWorkspace(origin: "null").status, 403)
        XCTAssertEqual(try createWorkspace(origin: origin).status, 201, "same origin")
        XCTAssertEqual(try createWorkspace(origin: nil).status, 201, "no Origin: not a browser")
        XCTAssertEqual(
            try client.get("/v6/workspaces/", headers: [("Cookie", "token=\(token)"), ("Origin", "https://evil.example")]).status,
            200, "reads are not refused")
    }
}

/// Who may see and do what, across the gaps the security review found.
final class AuthorizationTests: XCTestCase {
    func testItentialJobGroupsRestrictEveryReadAndAction() throws {
        let it = try ItentialFixture()
        let client = it.client
        let group = "it-crew-\(UUID().uuidString.prefix(6))"
        let member = try TestStack.makeUser(roles: ["operations", "apiread"], groups: [group], prefix: "it-member")
        let outsider = try TestStack.makeUser(roles: ["operations", "apiread", "apiwrite"], prefix: "it-outsider")
        let groupId = try XCTUnwrap(
            TestStack.database().execute(sql: "SELECT account_id FROM groups WHERE name = $1", [group]).first?.string(0))
        let workflow = try it.workflow(
            [("a1", ItentialFixture.viewData())],
            [("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["workflow_end": ItentialFixture.success])])
        let id = try XCTUnwrap(try it.start(workflow, ["groups": [.string(groupId)]])["_id"]?.stringValue)

        XCTAssertEqual(try client.get("/operations-manager/jobs/\(id)", token: member.token).status, 200)
        XCTAssertEqual(try client.get("/operations-manager/jobs/\(id)", token: it.admin).status, 200, "admins reach every job")
        let denied: [(String, HTTPResponse)] = [
            ("get", try client.get("/operations-manager/jobs/\(id)", token: outsider.token)),
            ("legacy get", try client.get("/workflow_engine/getJob/\(id)", token: outsider.token)),
            ("details", try client.get("/workflow_engine/job/\(id)/details", token: outsider.token)),
            ("pause", try client.postJSON("/operations-manager/jobs/pause", ["jobIds": [.string(id)]], token: outsider.token)),
            ("cancel", try client.postJSON("/workflow_engine/cancelJob", ["job_id": .string(id)], token: outsider.token)),
            ("watch", try client.postJSON("/operations-manager/jobs/\(id)/watch", [:], token: outsider.token)),
            ("bulk watch", try client.postJSON("/operations-manager/jobs/watch", ["jobIds": [.string(id)]], token: outsider.token)),
            (
                "add watchers",
                try client.postJSON(
                    "/operations-manager/jobs/\(id)/add-watchers",
                    ["watchers": [.string(outsider.name)]], token: outsider.token)
            ),
            (
                "claim",
                try client.postJSON(
                    "/workflow_engine/claimJob", ["job_id": .string(id), "user": .string(outsider.name)],
                    token: outsider.token)
            ),
            ("retry", try client.postJSON("/operations-manager/jobs/\(id)/tasks/a1/retry", [:], token: outsider.token)),
        ]
        for (what, response) in denied {
            XCTAssertEqual(response.status, 403, "\(what): \(response.text)")
            XCTAssertNotNil(response.json?["message"], what)
        }
        let listed = try client.get("/operations-manager/jobs?equals[_id]=\(id)", token: outsider.token)
        XCTAssertEqual(listed.json?["metadata"]?["total"], 0, "searches leave out jobs of other groups")
        XCTAssertEqual(try client.get("/operations-manager/jobs?equals[_id]=\(id)", token: member.token).json?["metadata"]?["total"], 1)
        let tasks = try client.get("/operations-manager/tasks?equals[job._id]=\(id)", token: outsider.token)
        XCTAssertEqual(tasks.json?["metadata"]?["total"], 0)
        let taskId = try XCTUnwrap(
            try client.get("/operations-manager/tasks?equals[job._id]=\(id)", token: member.token)
                .json?["data"]?[0]?["_id"]?.stringValue)
        ItentialSupport.assertMessage(try client.get("/operations-manager/tasks/\(taskId)", token: outsider.token), 403)
        XCTAssertEqual(try it.job(id, until: ["running"])["status"], "running", "nothing the outsider tried took effect")
    }

    func testClaimingAJobForSomeoneElseTakesAnAdmin() throws {
        let it = try ItentialFixture()
        let user = try TestStack.makeUser(roles: ["apiread"], prefix: "it-claimer")
        let workflow = try it.workflow(
            [("a1", ItentialFixture.viewData())],
            [("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["workflow_end": ItentialFixture.success])])
        let id = try XCTUnwrap(try it.start(workflow)["_id"]?.stringValue)
        ItentialSupport.assertMessage(
            try it.client.postJSON(
                "/workflow_engine/claimJob", ["job_id": .string(id), "user": "admin"],
                token: user.token), 403)
        XCTAssertEqual(
            try it.client.postJSON(
                "/workflow_engine/claimJob", ["job_id": .string(id), "user": .string(user.name)],
                token: user.token
            ).status, 200)
        XCTAssertEqual(
            try it.client.postJSON("/workflow_engine/releaseJob", ["job_id": .string(id)], token: user.token).status, 200,
            "the claimant releases it")
        XCTAssertEqual(
            try it.client.postJSON(
                "/workflow_engine/claimJob", ["job_id": .string(id), "user": .string(user.name)],
                token: it.admin
            ).status, 200, "an admin may claim for anyone")
    }

    func testSelfRegisteredBlocksUsersReachOnlyBlocks() throws {
        let blocks = try BlocksUser.register("outsider")
        let client = try TestStack.client()
        let wm = try WorkflowManagerItem.make()
        let answers = [
            try client.get("/v6/workspaces/", token: blocks.token), try client.get("/v6/jobs/", token: blocks.token),
            try client.get("/operations-manager/jobs", token: blocks.token), try client.get("/whoami", token: blocks.token),
            try client.get(wm.base + "/community/users", token: blocks.token),
        ]
        XCTAssertEqual(answers.map(\.status), [403, 403, 403, 403, 403])
        XCTAssertFalse(answers.contains { $0.text.contains("@") }, "no email leaked")
        XCTAssertEqual(try blocks.post("/api/workflow/initialize", []).status, 200, "Blocks itself works")
    }

    func testWorkspaceBrokerCredentialsAreNeverReturned() throws {
        let client = try TestStack.client()
        let admin = try TestStack.adminToken()
        let secret = "secret-\(UUID().uuidString)"
        let config: JSON = [
            "version": "1.0",
            "broker": [
                "type": "s3", "bucket_name": "b", "host_path": "/scale",
                "credentials": ["access_key_id": "AKIA", "secret_access_key": .string(secret)],
            ],
        ]
        let created = try client.postJSON(
            "/v6/workspaces/", ["name": .string("s3-\(UUID().uuidString.prefix(6))"), "json_config": config],
            token: admin)
        XCTAssertEqual(created.status, 201, created.text)
        let id = try XCTUnwrap(created.json?["id"]?.intValue)
        XCTAssertFalse(created.text.contains(secret))
        XCTAssertEqual(created.json?["json_config"]?["broker"]?["bucket_name"], "b")
        XCTAssertNil(created.json?["json_config"]?["broker"]?["credentials"])
        for path in ["/v6/workspaces/\(id)/", "/v6/workspaces/?page_size=1000"] {
            XCTAssertFalse(try client.get(path, token: admin).text.contains(secret), path)
        }
        let patched = try client.request(
            "PATCH", "/v6/workspaces/\(id)/",
            headers: [
                ("Authorization", "Bearer \(admin)"),
                ("Content-Type", "application/json"),
            ],
            body: Array(#"{"title": "renamed"}"#.utf8))
        XCTAssertEqual(patched.status, 200, patched.text)
        let stored = try TestStack.database().execute(
            Statement(
                "t_workspace_secret",
                """
                SELECT s.credentials ->> 'secret_access_key', w.json_config::text LIKE '%' || $2 || '%'
                FROM workspace_secrets s JOIN workspaces w ON w.id = s.workspace_id WHERE w.id = $1
                """), [id, secret]
        ).first
        XCTAssertEqual(stored?.string(0), secret, "kept apart, and kept across an edit")
        XCTAssertEqual(stored?.string(1), "f")
    }

    func testWorkflowManagerJobCreationChecksTheAssignmentPrivileges() throws {
        let wm = try WorkflowManagerItem.make()
        let template = try wm.template(diagram: try wm.diagram([WorkflowManagerItem.step("s1")]))
        let creator = try TestStack.makeUser(privileges: ["jobCreate"], prefix: "wm-creator")
        let other = try TestStack.makeUser(privileges: ["jobCreate"], prefix: "wm-other")
        let elsewhere = try wm.post(
            "/jobTemplates/\(template)/job", ["assignedType": "User", "assignedTo": .string(other.name)],
            token: creator.token)
        XCTAssertEqual(elsewhere.status, 403, elsewhere.text)
        XCTAssertEqual(
            try wm.post("/jobTemplates/\(template)/job", ["assignedType": "User", "assignedTo": .string(other.name)]).status, 200,
            "the admin holds jobAssignAny")
        let toSelf = try wm.post(
            "/jobTemplates/\(template)/job", ["assignedType": "User", "assignedTo": .string(creator.name)],
            token: creator.token)
        XCTAssertEqual(toSelf.status, 403, "jobAssignIndividual is needed even for oneself: \(toSelf.text)")
        XCTAssertEqual(try wm.post("/jobTemplates/\(template)/job", [:], token: creator.token).status, 200, "the template's assignment")
    }

    func testAPasswordChangeRevokesTheUsersOtherTokens() throws {
        let user = try BlocksUser.register("rotator")
        var login = Multipart()
        login.field("email", user.email)
        login.field("password", "pw-rotator")
        let other = try XCTUnwrap(
            try user.client.request(
                "POST", "/api/users/login", headers: [("Content-Type", login.contentType)],
                body: login.body
            ).json?["token"]?.stringValue)
        XCTAssertEqual(try user.post("/api/users/reset", [("currentPassword", "pw-rotator"), ("newPassword", "new-pw")]).status, 200)
        XCTAssertEqual(
            try user.client.get("/api/users/details", headers: [("Cookie", "token=\(user.token)")]).status, 200,
            "the token that changed the password still works")
        let revoked = try user.client.get("/api/users/details", headers: [("Cookie", "token=\(other)")])
        XCTAssertEqual(revoked.status, 400, revoked.text)

        let (name, token) = try TestStack.makeUser(prefix: "patched")
        let client = try TestStack.client()
        let patched = try client.request(
            "PATCH", "/flowgate/v1/users/\(name)",
            headers: [
                ("Authorization", "Bearer \(try TestStack.adminToken())"),
                ("Content-Type", "application/json"),
            ],
            body: Array(#"{"password": "another-pw"}"#.utf8))
        XCTAssertEqual(patched.status, 200, patched.text)
        XCTAssertEqual(try client.get("/flowgate/v1/whoami", token: token).status, 401)
    }
}

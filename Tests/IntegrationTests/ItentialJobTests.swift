import Foundation
import JSON
import XCTest

/// Itential jobs through nginx: the seed's jobs/start and claimJob, the task engine on the
/// shared runner (fork, join, dead paths, stalls, errors), bad input, and racing claims.
final class ItentialJobTests: XCTestCase {
    var client: HTTPClient!
    var admin = ""

    override func setUpWithError() throws {
        client = try TestStack.client()
        admin = try TestStack.adminToken()
    }

    static let success: JSON = ["type": "standard", "state": "success"]
    static func edge(_ state: String) -> JSON { ["type": "standard", "state": .string(state)] }

    static func task(_ name: String, _ incoming: JSON, type: String = "operation", app: String = "WorkFlowEngine",
                     outgoing: JSON = [:]) -> JSON {
        ["name": .string(name), "summary": .string(name), "description": .string(name), "location": "Application",
         "app": .string(app), "type": .string(type), "actor": "Pronghorn", "groups": [],
         "variables": ["incoming": incoming, "outgoing": outgoing, "error": "", "decorators": []]]
    }

    static func stub(_ state: String = "success") -> JSON { task("stub", ["type": .string(state), "response": .string(state)], type: "automatic") }

    /// Creates a workflow with a unique name from tasks (start and end added) and transitions.
    func workflow(_ tasks: [(String, JSON)], _ transitions: [(String, JSON)], inputSchema: JSON? = nil) throws -> String {
        let name = "it-job-\(UUID().uuidString.prefix(8))"
        var document: [(String, JSON)] = [
            ("name", .string(name)), ("type", "automation"),
            ("tasks", .object([("workflow_start", ["name": "workflow_start", "groups": []])] + tasks
                + [("workflow_end", ["name": "workflow_end", "groups": []])])),
            ("transitions", .object(transitions + [("workflow_end", [:])])),
        ]
        if let inputSchema { document.append(("inputSchema", inputSchema)) }
        let response = try client.postJSON("/automation-studio/automations", ["automation": .object(document)], token: admin)
        guard response.status == 200 else { throw ClientError("creating workflow: \(response.status) \(response.text)") }
        return name
    }

    func start(_ workflow: String, _ options: JSON = [:]) throws -> JSON {
        let response = try client.postJSON("/operations-manager/jobs/start", ["workflow": .string(workflow), "options": options], token: admin)
        guard response.status == 200, let job = response.json?["data"] else { throw ClientError("starting: \(response.status) \(response.text)") }
        return job
    }

    /// The job once its status is one of `statuses` (the runner works in the background).
    func job(_ id: String, until statuses: Set<String>, file: StaticString = #filePath, line: UInt = #line) throws -> JSON {
        let deadline = Date().addingTimeInterval(15)
        while true {
            let job = try XCTUnwrap(client.get("/operations-manager/jobs/\(id)", token: admin).json?["data"])
            if let status = job["status"]?.stringValue, statuses.contains(status) { return job }
            if Date() > deadline {
                XCTFail("job \(id) stayed \(job["status"] ?? .null)", file: file, line: line)
                return job
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }


    func testSeedStartReturnsTheDocumentedJob() throws {
        let group = "it-gbac-\(UUID().uuidString.prefix(6).lowercased())"
        _ = try TestStack.makeUser(groups: [group], prefix: "it-member")
        let me = try XCTUnwrap(client.get("/whoami", token: admin).json)
        let groupId = try XCTUnwrap(TestStack.database().execute(sql: "SELECT account_id FROM groups WHERE name = $1", [group]).first?.string(0))
        let name = try workflow([("a1", Self.stub())], [("workflow_start", ["a1": Self.success]), ("a1", ["workflow_end": Self.success])])
        let job = try start(name, ["description": "Example job description", "type": "automation",
                                   "variables": ["x": 1], "groups": [.string(groupId)]])
        let id = try XCTUnwrap(job["_id"]?.stringValue)
        XCTAssertNotNil(id.range(of: "^[0-9a-f]{24}$", options: .regularExpression))
        XCTAssertEqual(job["name"], .string(name))
        XCTAssertEqual(job["description"], "Example job description")
        XCTAssertEqual(job["type"], "automation")
        XCTAssertEqual(job["status"], "running")
        XCTAssertEqual(job["groups"], [.string(groupId)])
        XCTAssertEqual(job["ancestors"], [.string(id)])
        XCTAssertEqual(job["parent"], .null)
        XCTAssertEqual(job["watchers"], [])
        XCTAssertEqual(job["locked"], false)
        XCTAssertEqual(job["variables"], ["_id": .string(id), "initiator": "admin", "x": 1])
        XCTAssertEqual(job["metrics"]?["user"], me["id"])
        XCTAssertGreaterThan(job["metrics"]?["start_time"]?.doubleValue ?? 0, 1.7e12, "epoch milliseconds")
        XCTAssertEqual(job["tasks"]?["workflow_start"]?["status"], "complete")
        XCTAssertEqual(job["tasks"]?["a1"]?["transitions"], ["success": [["task": "workflow_end", "type": "standard"]], "failure": [], "error": []])
        XCTAssertEqual(job["transitions"]?["a1"], ["workflow_end": Self.success])
        let done = try self.job(id, until: ["complete"])
        XCTAssertEqual(done["tasks"]?["a1"]?["metrics"]?["finish_state"], "success")
        XCTAssertEqual(done["tasks"]?["workflow_end"]?["status"], "complete")
        XCTAssertEqual(done["metrics"]?["progress"], 1)
        XCTAssertNotNil(done["metrics"]?["end_time"]?.doubleValue)
    }

    func testForkJoinAndDeadPaths() throws {
        let name = try workflow(
            [("a1", Self.stub()), ("b2", Self.stub()), ("c3", Self.stub()), ("d4", Self.stub()), ("e5", Self.stub()), ("f6", Self.stub())],
            [("workflow_start", ["a1": Self.success]),
             ("a1", ["b2": Self.success, "c3": Self.success, "e5": Self.edge("failure")]),
             ("b2", ["d4": Self.success]), ("c3", ["d4": Self.success]), ("e5", ["f6": Self.success]),
             ("d4", ["workflow_end": Self.success]), ("f6", ["workflow_end": Self.success])])
        let id = try XCTUnwrap(start(name)["_id"]?.stringValue)
        let done = try job(id, until: ["complete", "error"])
        XCTAssertEqual(done["status"], "complete", "\(done["error"] ?? .null)")
        for key in ["a1", "b2", "c3", "d4"] { XCTAssertEqual(done["tasks"]?[key]?["status"], "complete", key) }
        // The failure branch is dead: its tasks never run and stay incomplete.
        XCTAssertEqual(done["tasks"]?["e5"]?["status"], "incomplete")
        XCTAssertEqual(done["tasks"]?["f6"]?["status"], "incomplete")
        let runs = try TestStack.database().execute(sql: """
            SELECT count(*) FROM job_events e JOIN jobs j ON j.id = e.job_id
            WHERE j.public_id = $1 AND e.task_key = 'd4' AND e.event = 'task_started'
            """, [id])
        XCTAssertEqual(runs.first?.string(0), "1", "the join runs once")
    }

    func testStallGoesToErrorWithTheNoTransitionsMessage() throws {
        let name = try workflow([("a1", Self.stub("failure"))], [("workflow_start", ["a1": Self.success]), ("a1", ["workflow_end": Self.success])])
        let id = try XCTUnwrap(start(name)["_id"]?.stringValue)
        let stalled = try job(id, until: ["error"])
        XCTAssertTrue(stalled["error"]?[0]?["message"]?.stringValue?.hasPrefix("Job has no available transitions. a1 could have led") ?? false,
                      "\(stalled["error"] ?? .null)")
        XCTAssertEqual(stalled["error"]?[0]?["task"], "job")
        XCTAssertEqual(stalled["metrics"]?["end_time"], .null, "an error job is not finished")
        let legacy = try client.get("/workflow_engine/job/\(id)/details", token: admin).json
        XCTAssertEqual(legacy?["error"]?[0]?["message"], "No available transitions found from completed task(s)")
        XCTAssertEqual(legacy?["_id"], .string(id), "legacy routes answer the bare job")
    }

    func testUnavailableAppErrorsAndItsErrorTransitionIsTaken() throws {
        let adapter = Self.task("createChangeRequest", [:], app: "ServiceNow")
        let name = try workflow([("a1", adapter), ("b2", Self.stub())],
                                [("workflow_start", ["a1": Self.success]), ("a1", ["b2": Self.edge("error")]), ("b2", ["workflow_end": Self.success])])
        let id = try XCTUnwrap(start(name)["_id"]?.stringValue)
        let done = try job(id, until: ["complete", "error"])
        XCTAssertEqual(done["status"], "complete")
        XCTAssertEqual(done["tasks"]?["a1"]?["status"], "error")
        XCTAssertEqual(done["error"]?[0]?["task"], "a1")
        XCTAssertEqual(done["error"]?[0]?["message"], "App or adapter ServiceNow is not available")
    }

    func testVariablesFlowThroughNewVariableQueryEvaluationAndMerge() throws {
        let name = try workflow([
            ("a1", Self.task("newVariable", ["name": "device", "value": ["name": "r1", "ports": [22, 443]]])),
            ("b2", Self.task("query", ["query": "ports[1]", "obj": "$var.job.device", "pass_on_null": false],
                             outgoing: ["return_data": "$var.job.port"])),
            ("c3", Self.task("evaluation", ["all_true_flag": true, "evaluation_groups": [["all_true_flag": true, "evaluations": [
                ["operand_1": ["task": "job", "variable": "port"], "operator": "==", "operand_2": ["task": "static", "variable": 443]]]]]])),
            ("d4", Self.task("merge", ["data_to_merge": [["key": "port", "value": ["task": "b2", "variable": "return_data"]],
                                                         ["key": "who", "value": ["task": "job", "variable": "initiator"]]]],
                             outgoing: ["merged_object": "$var.job.summary"])),
        ], [("workflow_start", ["a1": Self.success]), ("a1", ["b2": Self.success]), ("b2", ["c3": Self.success]),
            ("c3", ["d4": Self.success]), ("d4", ["workflow_end": Self.success])])
        let id = try XCTUnwrap(start(name)["_id"]?.stringValue)
        let done = try job(id, until: ["complete", "error"])
        XCTAssertEqual(done["status"], "complete", "\(done["error"] ?? .null)")
        XCTAssertEqual(done["variables"]?["port"], 443)
        XCTAssertEqual(done["variables"]?["summary"], ["port": 443, "who": "admin"])
    }

    func testBadStartRequestsWriteNothing() throws {
        let schema: JSON = ["type": "object", "properties": ["x": ["type": "integer"]], "required": ["x"]]
        let name = try workflow([("a1", Self.stub())], [("workflow_start", ["a1": Self.success]), ("a1", ["workflow_end": Self.success])],
                                inputSchema: schema)
        let before = try TestStack.database().execute(sql: "SELECT count(*) FROM jobs WHERE surface = 'itential'").first?.string(0)
        ItentialSupport.assertMessage(try client.postJSON("/operations-manager/jobs/start", ["workflow": .string(name), "options": [:], "variables": ["x": 1]], token: admin),
                      400, "body must NOT have additional properties")
        ItentialSupport.assertMessage(try client.postJSON("/operations-manager/jobs/start", ["workflow": .string(name)], token: admin), 400, "options")
        ItentialSupport.assertMessage(try client.postJSON("/operations-manager/jobs/start", ["workflow": "no such workflow", "options": [:]], token: admin), 404)
        ItentialSupport.assertMessage(try client.postJSON("/operations-manager/jobs/start", ["workflow": .string(name), "options": ["variables": ["x": "one"]]], token: admin),
                      400, "Job variables do not match")
        ItentialSupport.assertMessage(try client.postJSON("/operations-manager/jobs/start", ["workflow": .string(name), "options": ["groups": ["nope"]]], token: admin), 400)
        let draft = try client.postJSON("/automation-studio/automations", ["automation": [
            "name": .string("it-draft-\(UUID().uuidString.prefix(8))"), "tasks": ["workflow_start": [:], "workflow_end": [:]],
            "transitions": ["workflow_start": [:], "workflow_end": [:]]]], token: admin)
        let draftName = try XCTUnwrap(draft.json?["created"]?["name"]?.stringValue)
        ItentialSupport.assertMessage(try client.postJSON("/operations-manager/jobs/start", ["workflow": .string(draftName), "options": [:]], token: admin), 400)
        let after = try TestStack.database().execute(sql: "SELECT count(*) FROM jobs WHERE surface = 'itential'").first?.string(0)
        XCTAssertEqual(before, after)
        ItentialSupport.assertMessage(try client.get("/operations-manager/jobs/not-an-id", token: admin), 400)
        ItentialSupport.assertMessage(try client.get("/operations-manager/jobs/0123456789abcdef01234567", token: admin), 404)
        // The underscore alias and the legacy start.
        XCTAssertEqual(try client.postJSON("/operations_manager/jobs/start", ["workflow": .string(name), "options": ["variables": ["x": 1]]], token: admin).status, 200)
        XCTAssertEqual(try client.postJSON("/workflow_engine/startJobWithOptions/\(name)", ["options": ["variables": ["x": 2]]], token: admin).json?["status"], "running")
    }

    func testClaimJobAsTheSeedDescribes() throws {
        let name = try workflow([("a1", Self.task("ViewData", ["header": "h", "body": "b", "btn_success": "ok", "btn_failure": ""], type: "manual")
                                    .setting("view", to: "/workflow_engine/task/ViewData"))],
                                [("workflow_start", ["a1": Self.success]), ("a1", ["workflow_end": Self.success])])
        let id = try XCTUnwrap(start(name)["_id"]?.stringValue)
        let worker = try TestStack.makeUser(roles: ["apiread"], prefix: "it-claimer")
        let other = try TestStack.makeUser(roles: ["apiread"], prefix: "it-other")
        let account = try XCTUnwrap(client.get("/whoami", token: worker.token).json?["id"])
        let claimed = try client.postJSON("/workflow_engine/claimJob", ["job_id": .string(id), "user": .string(worker.name)], token: admin)
        XCTAssertEqual(claimed.status, 200, claimed.text)
        XCTAssertEqual(claimed.json?["_id"], .string(id))
        XCTAssertEqual(claimed.json?["locked"], true)
        XCTAssertEqual(claimed.json?["metrics"]?["owner"], account)
        XCTAssertEqual(claimed.json?["watchers"], [account])
        XCTAssertEqual(claimed.json?["last_updated_by"]?.stringValue?.count, 24)
        // The same user again: no change; another user: 409.
        let again = try client.postJSON("/workflow_engine/claimJob", ["job_id": .string(id), "user": .string(worker.name)], token: worker.token)
        XCTAssertEqual(again.json?["watchers"], [account])
        ItentialSupport.assertMessage(try client.postJSON("/workflow_engine/claimJob", ["job_id": .string(id), "user": .string(other.name)], token: admin),
                      409, "Job \(id) is already claimed by \(worker.name)")
        ItentialSupport.assertMessage(try client.postJSON("/workflow_engine/claimJob", ["job_id": .string(id), "user": "nobody-at-all"], token: admin), 400)
        ItentialSupport.assertMessage(try client.postJSON("/workflow_engine/claimJob", ["job_id": .string(id), "user": .string(worker.name), "extra": 1], token: admin), 400)
        ItentialSupport.assertMessage(try client.postJSON("/workflow_engine/claimJob", ["job_id": "12345", "user": .string(worker.name)], token: admin), 400)
        ItentialSupport.assertMessage(try client.postJSON("/workflow_engine/claimJob", ["job_id": "0123456789abcdef01234567", "user": .string(worker.name)], token: admin), 404)
        ItentialSupport.assertMessage(try client.postJSON("/workflow_engine/claimJob", ["job_id": .string(id), "user": .string(worker.name)]), 401)
        let noRoles = try TestStack.makeUser(prefix: "it-noroles")
        ItentialSupport.assertMessage(try client.postJSON("/workflow_engine/claimJob", ["job_id": .string(id), "user": .string(worker.name)], token: noRoles.token), 403)
        // Release: not by another user, yes by the claimant.
        ItentialSupport.assertMessage(try client.postJSON("/workflow_engine/releaseJob", ["job_id": .string(id)], token: other.token), 403)
        let released = try client.postJSON("/workflow_engine/releaseJob", ["job_id": .string(id)], token: worker.token)
        XCTAssertEqual(released.json?["locked"], false, released.text)
        XCTAssertNil(released.json?["metrics"]?["owner"])
        ItentialSupport.assertMessage(try client.postJSON("/workflow_engine/releaseJob", ["job_id": .string(id)], token: worker.token), 409)
        let events = try TestStack.database().execute(sql: """
            SELECT e.event FROM job_events e JOIN jobs j ON j.id = e.job_id WHERE j.public_id = $1 AND e.event LIKE 'job_%ed'
            AND e.event IN ('job_claimed', 'job_released') ORDER BY e.id
            """, [id])
        XCTAssertEqual(events.rows.map { $0.string(0) }, ["job_claimed", "job_released"])
    }

    func testSixtyFourClaimsOfOneJobHaveOneWinner() throws {
        let name = try workflow([("a1", Self.task("ViewData", ["header": "h"], type: "manual").setting("view", to: "/workflow_engine/task/ViewData"))],
                                [("workflow_start", ["a1": Self.success]), ("a1", ["workflow_end": Self.success])])
        let id = try XCTUnwrap(start(name)["_id"]?.stringValue)
        let prefix = "it-race-\(UUID().uuidString.prefix(6).lowercased())"
        try TestStack.database().execute(sql: """
            INSERT INTO users (username, password_hash) SELECT $1 || '-' || n, 'x' FROM generate_series(0, 63) n
            """, [prefix])
        let token = admin
        let statuses = TestStack.concurrently(64) { index in
            try TestStack.client().postJSON("/workflow_engine/claimJob", ["job_id": .string(id), "user": .string("\(prefix)-\(index)")],
                                            token: token).status
        }.map { try? $0.get() }
        XCTAssertEqual(statuses.filter { $0 == 200 }.count, 1, "\(statuses)")
        XCTAssertEqual(statuses.filter { $0 == 409 }.count, 63, "\(statuses)")
        let watchers = try client.get("/operations-manager/jobs/\(id)", token: admin).json?["data"]?["watchers"]?.arrayValue
        XCTAssertEqual(watchers?.count, 1)
    }
}

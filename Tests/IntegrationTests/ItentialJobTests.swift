import Foundation
import JSON
import XCTest

/// Itential jobs through nginx: the seed's jobs/start and claimJob, the task engine on the
/// shared runner (fork, join, dead paths, stalls, errors), bad input, and racing claims.
final class ItentialJobTests: ItentialTestCase {

    func testSeedStartReturnsTheDocumentedJob() throws {
        let group = "it-gbac-\(UUID().uuidString.prefix(6).lowercased())"
        _ = try TestStack.makeUser(groups: [group], prefix: "it-member")
        let me = try XCTUnwrap(client.get("/whoami", token: admin).json)
        let groupId = try XCTUnwrap(
            TestStack.database().execute(sql: "SELECT account_id FROM groups WHERE name = $1", [group]).first?.string(0))
        let name = try it.workflow(
            [("a1", ItentialFixture.stub())],
            [("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["workflow_end": ItentialFixture.success])])
        let job = try it.start(
            name,
            [
                "description": "Example job description", "type": "automation",
                "variables": ["x": 1], "groups": [.string(groupId)],
            ])
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
        XCTAssertEqual(
            job["tasks"]?["a1"]?["transitions"], ["success": [["task": "workflow_end", "type": "standard"]], "failure": [], "error": []])
        XCTAssertEqual(job["transitions"]?["a1"], ["workflow_end": ItentialFixture.success])
        let done = try it.job(id, until: ["complete"])
        XCTAssertEqual(done["tasks"]?["a1"]?["metrics"]?["finish_state"], "success")
        XCTAssertEqual(done["tasks"]?["workflow_end"]?["status"], "complete")
        XCTAssertEqual(done["metrics"]?["progress"], 1)
        XCTAssertNotNil(done["metrics"]?["end_time"]?.doubleValue)
    }

    func testForkJoinAndDeadPaths() throws {
        let name = try it.workflow(
            [
                ("a1", ItentialFixture.stub()), ("b2", ItentialFixture.stub()), ("c3", ItentialFixture.stub()),
                ("d4", ItentialFixture.stub()), ("e5", ItentialFixture.stub()), ("f6", ItentialFixture.stub()),
            ],
            [
                ("workflow_start", ["a1": ItentialFixture.success]),
                ("a1", ["b2": ItentialFixture.success, "c3": ItentialFixture.success, "e5": ItentialFixture.edge("failure")]),
                ("b2", ["d4": ItentialFixture.success]), ("c3", ["d4": ItentialFixture.success]), ("e5", ["f6": ItentialFixture.success]),
                ("d4", ["workflow_end": ItentialFixture.success]), ("f6", ["workflow_end": ItentialFixture.success]),
            ])
        let id = try XCTUnwrap(it.start(name)["_id"]?.stringValue)
        let done = try it.job(id, until: ["complete", "error"])
        XCTAssertEqual(done["status"], "complete", "\(done["error"] ?? .null)")
        for key in ["a1", "b2", "c3", "d4"] { XCTAssertEqual(done["tasks"]?[key]?["status"], "complete", key) }
        // The failure branch is dead: its tasks never run and stay incomplete.
        XCTAssertEqual(done["tasks"]?["e5"]?["status"], "incomplete")
        XCTAssertEqual(done["tasks"]?["f6"]?["status"], "incomplete")
        let runs = try TestStack.database().execute(
            sql: """
                SELECT count(*) FROM job_events e JOIN jobs j ON j.id = e.job_id
                WHERE j.public_id = $1 AND e.task_key = 'd4' AND e.event = 'task_started'
                """, [id])
        XCTAssertEqual(runs.first?.string(0), "1", "the join runs once")
    }

    /// A one-task job's history: its start and end, and the task's queueing, run and result;
    /// nothing for the tasks created with it or for the start and end markers (it was ten rows).
    func testAOneTaskJobWritesFiveEvents() throws {
        let name = try it.workflow(
            [("a1", ItentialFixture.stub())],
            [("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["workflow_end": ItentialFixture.success])])
        let id = try XCTUnwrap(it.start(name)["_id"]?.stringValue)
        let done = try it.job(id, until: ["complete", "error"])
        XCTAssertEqual(done["status"], "complete")
        XCTAssertEqual(done["tasks"]?["workflow_end"]?["status"], "complete", "a marker still shows as finished")
        let events = try TestStack.database().execute(
            sql: """
                SELECT string_agg(e.event || coalesce(':' || e.task_key, ''), ',' ORDER BY e.id)
                FROM job_events e JOIN jobs j ON j.id = e.job_id WHERE j.public_id = $1
                """, [id])
        XCTAssertEqual(events.first?.string(0), "job_created,task_ready:a1,task_started:a1,task_finished:a1,job_status_changed")
    }

    /// Starting a job whose first task is manual wakes no runner (they lease only automatic
    /// tasks); one whose first task is automatic does. Counted over 20 starts of each, since any
    /// other work of the stack (a schedule firing) may notify the runners too.
    func testOnlyAutomaticTasksWakeTheRunners() throws {
        func workflow(_ task: JSON) throws -> String {
            try it.workflow(
                [("a1", task)], [("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["workflow_end": ItentialFixture.success])])
        }
        let manual = try workflow(ItentialFixture.viewData())
        let automatic = try workflow(ItentialFixture.stub())
        let listener = try TestStack.database()
        try listener.keep("LISTEN flowgate_tasks")
        func notifications(startingTwentyOf workflow: String) throws -> Int {
            try listener.drainNotifications()
            for _ in 0..<20 { _ = try it.start(workflow) }
            usleep(200_000)  // the last start's notification on its way
            return try listener.drainNotifications().count
        }
        XCTAssertLessThan(try notifications(startingTwentyOf: manual), 5)
        XCTAssertGreaterThanOrEqual(try notifications(startingTwentyOf: automatic), 20)
    }

    func testStallGoesToErrorWithTheNoTransitionsMessage() throws {
        let name = try it.workflow(
            [("a1", ItentialFixture.stub("failure"))],
            [("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["workflow_end": ItentialFixture.success])])
        let id = try XCTUnwrap(it.start(name)["_id"]?.stringValue)
        let stalled = try it.job(id, until: ["error"])
        XCTAssertTrue(
            stalled["error"]?[0]?["message"]?.stringValue?.hasPrefix("Job has no available transitions. a1 could have led") ?? false,
            "\(stalled["error"] ?? .null)")
        XCTAssertEqual(stalled["error"]?[0]?["task"], "job")
        XCTAssertEqual(stalled["metrics"]?["end_time"], .null, "an error job is not finished")
        let legacy = try client.get("/workflow_engine/job/\(id)/details", token: admin).json
        XCTAssertEqual(legacy?["error"]?[0]?["message"], "No available transitions found from completed task(s)")
        XCTAssertEqual(legacy?["_id"], .string(id), "legacy routes answer the bare job")
    }

    func testUnavailableAppErrorsAndItsErrorTransitionIsTaken() throws {
        let adapter = ItentialFixture.task("createChangeRequest", [:], app: "ServiceNow")
        let name = try it.workflow(
            [("a1", adapter), ("b2", ItentialFixture.stub())],
            [
                ("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["b2": ItentialFixture.edge("error")]),
                ("b2", ["workflow_end": ItentialFixture.success]),
            ])
        let id = try XCTUnwrap(it.start(name)["_id"]?.stringValue)
        let done = try it.job(id, until: ["complete", "error"])
        XCTAssertEqual(done["status"], "complete")
        XCTAssertEqual(done["tasks"]?["a1"]?["status"], "error")
        XCTAssertEqual(done["error"]?[0]?["task"], "a1")
        XCTAssertEqual(done["error"]?[0]?["message"], "App or adapter ServiceNow is not available")
    }

    /// A stub of type `error` errs (it used to finish `complete`): its response is the task's
    /// error, the job's `error` entry and the job variable its `variables.error` names; the error
    /// transition is taken. Without one the job stalls after it.
    func testAStubOfTypeErrorErrsAndItsErrorIsKept() throws {
        let response: JSON = ["code": 500, "message": "device unreachable"]
        let erring = ItentialFixture.task("stub", ["type": "error", "response": response], type: "automatic")
            .setting(
                "variables",
                to: ["incoming": ["type": "error", "response": response], "outgoing": [:], "error": "$var.job.why", "decorators": []])
        let handled = try it.workflow(
            [("a1", erring), ("b2", ItentialFixture.stub())],
            [
                ("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["b2": ItentialFixture.edge("error")]),
                ("b2", ["workflow_end": ItentialFixture.success]),
            ])
        let done = try it.job(try XCTUnwrap(it.start(handled)["_id"]?.stringValue), until: ["complete", "error"])
        XCTAssertEqual(done["status"], "complete", "the error transition leads on")
        XCTAssertEqual(done["tasks"]?["a1"]?["status"], "error")
        XCTAssertEqual(done["tasks"]?["a1"]?["metrics"]?["finish_state"], "error")
        XCTAssertEqual(done["error"]?.arrayValue?.count, 1)
        XCTAssertEqual(done["error"]?[0]?["task"], "a1")
        XCTAssertEqual(done["error"]?[0]?["message"]?.stringValue.flatMap { try? JSON.parse($0) }, response)
        XCTAssertEqual(done["variables"]?["why"], response)

        let unhandled = try it.workflow(
            [("a1", erring)], [("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["workflow_end": ItentialFixture.success])])
        let stalled = try it.job(try XCTUnwrap(it.start(unhandled)["_id"]?.stringValue), until: ["error"])
        XCTAssertEqual(stalled["tasks"]?["a1"]?["status"], "error")
        XCTAssertEqual(stalled["error"]?.arrayValue?.compactMap { $0["task"]?.stringValue }, ["a1", "job"])
    }

    func testVariablesFlowThroughNewVariableQueryEvaluationAndMerge() throws {
        let name = try it.workflow(
            [
                ("a1", ItentialFixture.task("newVariable", ["name": "device", "value": ["name": "r1", "ports": [22, 443]]])),
                (
                    "b2",
                    ItentialFixture.task(
                        "query", ["query": "ports[1]", "obj": "$var.job.device", "pass_on_null": false],
                        outgoing: ["return_data": "$var.job.port"])
                ),
                (
                    "c3",
                    ItentialFixture.task(
                        "evaluation",
                        [
                            "all_true_flag": true,
                            "evaluation_groups": [
                                [
                                    "all_true_flag": true,
                                    "evaluations": [
                                        [
                                            "operand_1": ["task": "job", "variable": "port"], "operator": "==",
                                            "operand_2": ["task": "static", "variable": 443],
                                        ]
                                    ],
                                ]
                            ],
                        ])
                ),
                (
                    "d4",
                    ItentialFixture.task(
                        "merge",
                        [
                            "data_to_merge": [
                                ["key": "port", "value": ["task": "b2", "variable": "return_data"]],
                                ["key": "who", "value": ["task": "job", "variable": "initiator"]],
                            ]
                        ],
                        outgoing: ["merged_object": "$var.job.summary"])
                ),
            ],
            [
                ("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["b2": ItentialFixture.success]),
                ("b2", ["c3": ItentialFixture.success]),
                ("c3", ["d4": ItentialFixture.success]), ("d4", ["workflow_end": ItentialFixture.success]),
            ])
        let id = try XCTUnwrap(it.start(name)["_id"]?.stringValue)
        let done = try it.job(id, until: ["complete", "error"])
        XCTAssertEqual(done["status"], "complete", "\(done["error"] ?? .null)")
        XCTAssertEqual(done["variables"]?["port"], 443)
        XCTAssertEqual(done["variables"]?["summary"], ["port": 443, "who": "admin"])
    }

    func testBadStartRequestsWriteNothing() throws {
        let schema: JSON = ["type": "object", "properties": ["x": ["type": "integer"]], "required": ["x"]]
        let name = try it.workflow(
            [("a1", ItentialFixture.stub())],
            [("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["workflow_end": ItentialFixture.success])],
            inputSchema: schema)
        let before = try TestStack.database().execute(sql: "SELECT count(*) FROM jobs WHERE surface = 'itential'").first?.string(0)
        ItentialSupport.assertMessage(
            try client.postJSON(
                "/operations-manager/jobs/start", ["workflow": .string(name), "options": [:], "variables": ["x": 1]], token: admin),
            400, "body must NOT have additional properties")
        ItentialSupport.assertMessage(
            try client.postJSON("/operations-manager/jobs/start", ["workflow": .string(name)], token: admin), 400, "options")
        ItentialSupport.assertMessage(
            try client.postJSON("/operations-manager/jobs/start", ["workflow": "no such workflow", "options": [:]], token: admin), 404)
        ItentialSupport.assertMessage(
            try client.postJSON(
                "/operations-manager/jobs/start", ["workflow": .string(name), "options": ["variables": ["x": "one"]]], token: admin),
            400, "Job variables do not match")
        ItentialSupport.assertMessage(
            try client.postJSON(
                "/operations-manager/jobs/start", ["workflow": .string(name), "options": ["groups": ["nope"]]], token: admin), 400)
        let draft = try client.postJSON(
            "/automation-studio/automations",
            [
                "automation": [
                    "name": .string("it-draft-\(UUID().uuidString.prefix(8))"), "tasks": ["workflow_start": [:], "workflow_end": [:]],
                    "transitions": ["workflow_start": [:], "workflow_end": [:]],
                ]
            ], token: admin)
        let draftName = try XCTUnwrap(draft.json?["created"]?["name"]?.stringValue)
        ItentialSupport.assertMessage(
            try client.postJSON("/operations-manager/jobs/start", ["workflow": .string(draftName), "options": [:]], token: admin), 400)
        let after = try TestStack.database().execute(sql: "SELECT count(*) FROM jobs WHERE surface = 'itential'").first?.string(0)
        XCTAssertEqual(before, after)
        ItentialSupport.assertMessage(try client.get("/operations-manager/jobs/not-an-id", token: admin), 400)
        ItentialSupport.assertMessage(try client.get("/operations-manager/jobs/0123456789abcdef01234567", token: admin), 404)
        // The underscore alias and the legacy start.
        XCTAssertEqual(
            try client.postJSON(
                "/operations_manager/jobs/start", ["workflow": .string(name), "options": ["variables": ["x": 1]]], token: admin
            ).status, 200)
        XCTAssertEqual(
            try client.postJSON("/workflow_engine/startJobWithOptions/\(name)", ["options": ["variables": ["x": 2]]], token: admin).json?[
                "status"], "running")
    }

    func testClaimJobAsTheSeedDescribes() throws {
        let name = try it.workflow(
            [("a1", ItentialFixture.viewData())],
            [("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["workflow_end": ItentialFixture.success])])
        let id = try XCTUnwrap(it.start(name)["_id"]?.stringValue)
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
        let again = try client.postJSON(
            "/workflow_engine/claimJob", ["job_id": .string(id), "user": .string(worker.name)], token: worker.token)
        XCTAssertEqual(again.json?["watchers"], [account])
        ItentialSupport.assertMessage(
            try client.postJSON("/workflow_engine/claimJob", ["job_id": .string(id), "user": .string(other.name)], token: admin),
            409, "Job \(id) is already claimed by \(worker.name)")
        ItentialSupport.assertMessage(
            try client.postJSON("/workflow_engine/claimJob", ["job_id": .string(id), "user": "nobody-at-all"], token: admin), 400)
        ItentialSupport.assertMessage(
            try client.postJSON(
                "/workflow_engine/claimJob", ["job_id": .string(id), "user": .string(worker.name), "extra": 1], token: admin), 400)
        ItentialSupport.assertMessage(
            try client.postJSON("/workflow_engine/claimJob", ["job_id": "12345", "user": .string(worker.name)], token: admin), 400)
        ItentialSupport.assertMessage(
            try client.postJSON(
                "/workflow_engine/claimJob", ["job_id": "0123456789abcdef01234567", "user": .string(worker.name)], token: admin), 404)
        ItentialSupport.assertMessage(
            try client.postJSON("/workflow_engine/claimJob", ["job_id": .string(id), "user": .string(worker.name)]), 401)
        let noRoles = try TestStack.makeUser(prefix: "it-noroles")
        ItentialSupport.assertMessage(
            try client.postJSON("/workflow_engine/claimJob", ["job_id": .string(id), "user": .string(worker.name)], token: noRoles.token),
            403)
        // Release: not by another user, yes by the claimant.
        ItentialSupport.assertMessage(try client.postJSON("/workflow_engine/releaseJob", ["job_id": .string(id)], token: other.token), 403)
        let released = try client.postJSON("/workflow_engine/releaseJob", ["job_id": .string(id)], token: worker.token)
        XCTAssertEqual(released.json?["locked"], false, released.text)
        XCTAssertNil(released.json?["metrics"]?["owner"])
        ItentialSupport.assertMessage(try client.postJSON("/workflow_engine/releaseJob", ["job_id": .string(id)], token: worker.token), 409)
        let events = try TestStack.database().execute(
            sql: """
                SELECT e.event FROM job_events e JOIN jobs j ON j.id = e.job_id WHERE j.public_id = $1 AND e.event LIKE 'job_%ed'
                AND e.event IN ('job_claimed', 'job_released') ORDER BY e.id
                """, [id])
        XCTAssertEqual(events.rows.map { $0.string(0) }, ["job_claimed", "job_released"])
    }

    /// 100 branches run by the runners of both instances at once; the join waits for all of
    /// them and runs exactly once.
    func testHundredBranchForkJoinsExactlyOnce() throws {
        let branches = (0..<100).map { String(0x100 + $0, radix: 16) }
        let name = try it.workflow(
            branches.map { ($0, ItentialFixture.stub()) } + [("fff", ItentialFixture.stub())],
            [("workflow_start", .object(branches.map { ($0, ItentialFixture.success) }))]
                + branches.map { ($0, ["fff": ItentialFixture.success]) }
                + [("fff", ["workflow_end": ItentialFixture.success])])
        let id = try XCTUnwrap(it.start(name)["_id"]?.stringValue)
        let done = try it.job(id, until: ["complete", "error"])
        XCTAssertEqual(done["status"], "complete", "\(done["error"] ?? .null)")
        for key in branches { XCTAssertEqual(done["tasks"]?[key]?["status"], "complete", key) }
        let history = try TestStack.database().execute(
            sql: """
                SELECT count(*) FILTER (WHERE e.task_key = 'fff' AND e.event = 'task_started'),
                       count(*) FILTER (WHERE e.task_key NOT IN ('fff', 'workflow_end') AND e.event = 'task_finished' AND e.actor LIKE 'runner:%'),
                       count(DISTINCT e.actor) FILTER (WHERE e.event = 'task_started')
                FROM job_events e JOIN jobs j ON j.id = e.job_id WHERE j.public_id = $1
                """, [id]
        ).first
        XCTAssertEqual(history?.string(0), "1", "the join runs once")
        XCTAssertEqual(history?.string(1), "100", "every branch ran once")
        XCTAssertGreaterThan(history?.int(2) ?? 0, 1, "runners of several threads or instances shared the branches")
    }

    func testSixtyFourClaimsOfOneJobHaveOneWinner() throws {
        let name = try it.workflow(
            [("a1", ItentialFixture.viewData(["header": "h"]))],
            [("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["workflow_end": ItentialFixture.success])])
        let id = try XCTUnwrap(it.start(name)["_id"]?.stringValue)
        let prefix = "it-race-\(UUID().uuidString.prefix(6).lowercased())"
        try TestStack.database().execute(
            sql: """
                INSERT INTO users (username, password_hash) SELECT $1 || '-' || n, 'x' FROM generate_series(0, 63) n
                """, [prefix])
        let token = admin
        let statuses = TestStack.concurrently(64) { index in
            try TestStack.client().postJSON(
                "/workflow_engine/claimJob", ["job_id": .string(id), "user": .string("\(prefix)-\(index)")],
                token: token
            ).status
        }.map { try? $0.get() }
        XCTAssertEqual(statuses.filter { $0 == 200 }.count, 1, "\(statuses)")
        XCTAssertEqual(statuses.filter { $0 == 409 }.count, 63, "\(statuses)")
        let watchers = try client.get("/operations-manager/jobs/\(id)", token: admin).json?["data"]?["watchers"]?.arrayValue
        XCTAssertEqual(watchers?.count, 1)
    }
}

/// Manual tasks: claims, groups, finishing, and 32 racing claims.
final class ItentialManualTaskTests: ItentialTestCase {

    /// start → a1 sets x → b2 (ViewData, Approve/Reject) → end on success, c3 on failure.
    func approvalJob(taskGroups: [String] = []) throws -> (job: String, iteration: String) {
        let view = ItentialFixture.viewData(["header": "Approve?", "body": "$var.job.x", "btn_success": "Approve", "btn_failure": "Reject"])
            .setting("groups", to: .array(taskGroups.map(JSON.string)))
        let name = try it.workflow(
            [
                ("a1", ItentialFixture.task("newVariable", ["name": "x", "value": 1])), ("b2", view),
                ("c3", ItentialFixture.task("newVariable", ["name": "result", "value": "rejected"])),
            ],
            [
                ("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["b2": ItentialFixture.success]),
                ("b2", ["workflow_end": ItentialFixture.success, "c3": ItentialFixture.edge("failure")]),
                ("c3", ["workflow_end": ItentialFixture.success]),
            ])
        let id = try XCTUnwrap(it.start(name)["_id"]?.stringValue)
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            let job = try client.get("/operations-manager/jobs/\(id)", token: admin).json?["data"]
            if job?["tasks"]?["b2"]?["status"] == "running", let iteration = job?["tasks"]?["b2"]?["iterations"]?[0]?.stringValue {
                return (id, iteration)
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw ClientError("b2 of job \(id) never became running")
    }

    func post(_ path: String, _ body: JSON = [:], token: String) throws -> HTTPResponse { try client.postJSON(path, body, token: token) }

    func testClaimGroupsAndFinishRules() throws {
        let group = "it-approvers-\(UUID().uuidString.prefix(6).lowercased())"
        let approver = try TestStack.makeUser(roles: ["operations"], groups: [group], prefix: "it-approver")
        let outsider = try TestStack.makeUser(roles: ["operations"], prefix: "it-outsider")
        let groupId = try XCTUnwrap(
            TestStack.database().execute(sql: "SELECT account_id FROM groups WHERE name = $1", [group]).first?.string(0))
        let (job, iteration) = try approvalJob(taskGroups: [groupId])
        let task = try XCTUnwrap(client.get("/operations-manager/tasks/\(iteration)", token: admin).json?["data"])
        XCTAssertEqual(task["status"], "running")
        XCTAssertEqual(task["type"], "manual")
        XCTAssertEqual(task["job"]?["_id"], .string(job))
        XCTAssertEqual(task["job"]?["task"], "b2")
        XCTAssertEqual(task["variables"]?["incoming"]?["body"], 1, "$var.job.x resolved")
        XCTAssertEqual(task["metrics"]?["owner"], "")

        let finishBody: JSON = ["taskData": ["finish_state": "failure", "variables": ["note": "no"]]]
        ItentialSupport.assertMessage(
            try post("/operations-manager/jobs/\(job)/tasks/b2/finish", finishBody, token: approver.token), 409, "Task b2 must be claimed")
        ItentialSupport.assertMessage(try post("/operations-manager/tasks/\(iteration)/claim", token: outsider.token), 403)
        let claimed = try post("/operations-manager/tasks/\(iteration)/claim", token: approver.token)
        XCTAssertEqual(claimed.status, 200, claimed.text)
        let account = try XCTUnwrap(client.get("/whoami", token: approver.token).json?["id"])
        XCTAssertEqual(claimed.json?["data"]?["metrics"]?["owner"], account)
        XCTAssertNotNil(claimed.json?["data"]?["metrics"]?["claim_time"]?.doubleValue)
        XCTAssertEqual(
            try post("/operations-manager/tasks/\(iteration)/claim", token: approver.token).status, 200, "claiming your own again")
        let second = try TestStack.makeUser(roles: ["operations"], groups: [group], prefix: "it-approver2")
        ItentialSupport.assertMessage(
            try post("/operations-manager/tasks/\(iteration)/claim", token: second.token), 409,
            "Task \(iteration) is already claimed by \(approver.name)")
        ItentialSupport.assertMessage(try post("/operations-manager/tasks/\(iteration)/release", token: outsider.token), 403)
        ItentialSupport.assertMessage(try post("/operations-manager/tasks/\(iteration)/claim", ["x": 1], token: approver.token), 400)
        ItentialSupport.assertMessage(try post("/operations-manager/jobs/\(job)/tasks/b2/finish", finishBody, token: outsider.token), 403)
        ItentialSupport.assertMessage(
            try post(
                "/operations-manager/jobs/\(job)/tasks/b2/finish",
                ["taskData": ["finish_state": "error", "variables": [:]]], token: approver.token),
            400, "Invalid finish state error for task b2")
        ItentialSupport.assertMessage(
            try post(
                "/operations-manager/jobs/\(job)/tasks/b2/finish", ["taskData": ["finish_state": "success"]],
                token: approver.token), 400)
        ItentialSupport.assertMessage(try post("/operations-manager/jobs/\(job)/tasks/zz/finish", finishBody, token: approver.token), 400)
        let finished = try post("/operations-manager/jobs/\(job)/tasks/b2/finish", finishBody, token: approver.token)
        XCTAssertEqual(finished.status, 200, finished.text)
        XCTAssertEqual(finished.json?["data"]?["tasks"]?["b2"]?["metrics"]?["finish_state"], "failure")
        let done = try it.job(job, until: ["complete", "error"])
        XCTAssertEqual(done["status"], "complete")
        XCTAssertEqual(done["variables"]?["result"], "rejected", "the failure transition was taken")
        ItentialSupport.assertMessage(try post("/operations-manager/jobs/\(job)/tasks/b2/finish", finishBody, token: approver.token), 409)
        ItentialSupport.assertMessage(try client.get("/operations-manager/tasks/not-a-uuid", token: admin), 400)
        ItentialSupport.assertMessage(try client.get("/operations-manager/tasks/00000000-0000-4000-8000-000000000000", token: admin), 404)
    }

    /// deepmerge and a ViewHTML task driven through the legacy workflow_engine routes only.
    func testLegacyJobRoutesDeepmergeAndViewHTML() throws {
        let html = ItentialFixture.viewData(["header": "h", "body": "<p>ok</p>", "variables": [:], "btn_success": "ok", "btn_failure": ""])
            .setting("name", to: "ViewHTML").setting("view", to: "/workflow_engine/task/ViewHTML")
        let name = try it.workflow(
            [
                (
                    "a1",
                    ItentialFixture.task(
                        "deepmerge",
                        [
                            "data_to_merge": [
                                ["key": "cfg", "value": ["task": "static", "variable": ["a": 1]]],
                                ["key": "cfg", "value": ["task": "static", "variable": ["b": 2]]],
                            ]
                        ],
                        outgoing: ["merged_object": "$var.job.merged"])
                ),
                ("b2", html),
            ],
            [
                ("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["b2": ItentialFixture.success]),
                ("b2", ["workflow_end": ItentialFixture.success]),
            ])
        let started = try post("/workflow_engine/startJobWithOptions/\(name)", ["options": ["description": "legacy"]], token: admin)
        let job = try XCTUnwrap(started.json?["_id"]?.stringValue, started.text)
        XCTAssertEqual(try client.get("/workflow_engine/getJob/\(job)", token: admin).json?["description"], "legacy")
        XCTAssertEqual(try post("/workflow_engine/pauseJob", ["job_id": .string(job)], token: admin).json?["status"], "paused")
        ItentialSupport.assertMessage(try post("/workflow_engine/pauseJob", ["job_id": .string(job)], token: admin), 409)
        XCTAssertEqual(try post("/workflow_engine/resumeJob", ["job_id": .string(job)], token: admin).json?["status"], "running")
        ItentialSupport.assertMessage(try post("/workflow_engine/resumeJob", ["job_id": "0123456789abcdef01234567"], token: admin), 404)

        let deadline = Date().addingTimeInterval(15)
        var iteration: String?
        while iteration == nil, Date() < deadline {
            let current = try client.get("/workflow_engine/getJob/\(job)", token: admin).json
            if current?["tasks"]?["b2"]?["status"] == "running" { iteration = current?["tasks"]?["b2"]?["iterations"]?[0]?.stringValue }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let task = try XCTUnwrap(iteration)
        XCTAssertEqual(try post("/operations-manager/tasks/\(task)/claim", [:], token: admin).status, 200)
        ItentialSupport.assertMessage(
            try post(
                "/workflow_engine/finishTask",
                [
                    "task_id": .string(task), "job_id": "0123456789abcdef01234567",
                    "task_data": ["finish_state": "success", "variables": [:]],
                ], token: admin), 400)
        let finished = try post(
            "/workflow_engine/finishTask",
            [
                "task_id": .string(task), "job_id": .string(job),
                "task_data": ["finish_state": "success", "variables": [:]],
            ], token: admin)
        XCTAssertEqual(finished.json?["_id"], .string(job), finished.text)
        let done = try it.job(job, until: ["complete", "error"])
        XCTAssertEqual(done["status"], "complete")
        XCTAssertEqual(done["variables"]?["merged"], ["cfg": ["a": 1, "b": 2]], "deepmerge merges objects under one key")
    }

    func testLegacyClaimReleaseAssignAndFinish() throws {
        let (job, iteration) = try approvalJob()
        let worker = try TestStack.makeUser(roles: ["apiwrite"], prefix: "it-legacy")
        let account = try XCTUnwrap(client.get("/whoami", token: worker.token).json?["id"]?.stringValue)
        let claimed = try post(
            "/workflow_engine/tasks/claim", ["task_id": .string(iteration), "user": .string(account)], token: worker.token)
        XCTAssertEqual(claimed.json?["metrics"]?["owner"], .string(account), claimed.text)
        let released = try post("/workflow_engine/tasks/release", ["task_id": .string(iteration)], token: worker.token)
        XCTAssertEqual(released.json?["metrics"]?["owner"], "", released.text)
        let assigned = try post("/operations-manager/tasks/\(iteration)/assign", ["userId": .string(account)], token: admin)
        XCTAssertEqual(assigned.json?["data"]?["metrics"]?["owner"], .string(account), assigned.text)
        let finished = try post(
            "/workflow_engine/jobs/finish_task/\(job)/b2", ["task_data": ["finish_state": "success", "variables": [:]]],
            token: worker.token)
        XCTAssertEqual(finished.status, 200, finished.text)
        XCTAssertEqual(try it.job(job, until: ["complete", "error"])["status"], "complete")
    }

    func testThirtyTwoClaimsOfOneManualTaskHaveOneOwner() throws {
        let (_, iteration) = try approvalJob()
        let prefix = "it-rush-\(UUID().uuidString.prefix(6).lowercased())"
        let db = try TestStack.database()
        try db.execute(
            sql: "INSERT INTO users (username, password_hash) SELECT $1 || '-' || n, 'x' FROM generate_series(0, 31) n", [prefix])
        try db.execute(
            sql: "INSERT INTO user_roles (user_id, role) SELECT id, 'operations' FROM users WHERE username LIKE $1 || '-%'", [prefix])
        try db.execute(
            sql: """
                INSERT INTO tokens (digest, user_id, expires_at)
                SELECT sha256(convert_to(username, 'UTF8')), id, now() + interval '1 hour' FROM users WHERE username LIKE $1 || '-%'
                """, [prefix])
        let statuses = TestStack.concurrently(32) { index in
            try TestStack.client().postJSON("/operations-manager/tasks/\(iteration)/claim", [:], token: "\(prefix)-\(index)").status
        }.map { try? $0.get() }
        XCTAssertEqual(statuses.filter { $0 == 200 }.count, 1, "\(statuses)")
        XCTAssertEqual(statuses.filter { $0 == 409 }.count, 31, "\(statuses)")
        let claims = try db.execute(
            sql:
                "SELECT count(*) FROM job_events WHERE event = 'task_claimed' AND task_id = (SELECT id FROM tasks WHERE iteration_id = $1::uuid)",
            [iteration])
        XCTAssertEqual(claims.first?.string(0), "1")
    }
}

/// Pausing, resuming, canceling and watching jobs.
final class ItentialJobControlTests: ItentialTestCase {
    /// start → a1 (ViewData) → b2 (stub) → end: the job waits for a person at a1.
    func waitingJob() throws -> String {
        let view = ItentialFixture.viewData(["header": "h", "btn_success": "ok"])
        let name = try it.workflow(
            [("a1", view), ("b2", ItentialFixture.stub())],
            [
                ("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["b2": ItentialFixture.success]),
                ("b2", ["workflow_end": ItentialFixture.success]),
            ])
        return try XCTUnwrap(it.start(name)["_id"]?.stringValue)
    }

    func post(_ path: String, _ body: JSON) throws -> HTTPResponse { try client.postJSON(path, body, token: admin) }

    func testPauseHoldsNewTasksUntilResume() throws {
        let id = try waitingJob()
        let ids: JSON = [.string(id)]
        XCTAssertEqual(try post("/operations-manager/jobs/pause", ["jobIds": ids]).json?["message"], "Successfully paused all jobs")
        let again = try post("/operations-manager/jobs/pause", ["jobIds": ids])
        ItentialSupport.assertMessage(again, 409, "Failed to pause all jobs")
        XCTAssertEqual(again.json?["data"]?[id], .string("Job \(id) is paused"))
        // The person's task may still be finished; the next task waits for resume.
        let iteration = try XCTUnwrap(
            client.get("/operations-manager/jobs/\(id)", token: admin).json?["data"]?["tasks"]?["a1"]?["iterations"]?[0]?.stringValue)
        XCTAssertEqual(try post("/operations-manager/tasks/\(iteration)/claim", [:]).status, 200)
        XCTAssertEqual(
            try post("/operations-manager/jobs/\(id)/tasks/a1/finish", ["taskData": ["finish_state": "success", "variables": [:]]]).status,
            200)
        Thread.sleep(forTimeInterval: 0.6)
        let paused = try XCTUnwrap(client.get("/operations-manager/jobs/\(id)", token: admin).json?["data"])
        XCTAssertEqual(paused["status"], "paused")
        XCTAssertNil(paused["tasks"]?["b2"]?["metrics"]?["end_time"], "b2 did not run while paused")
        XCTAssertEqual(try post("/operations-manager/jobs/resume", ["jobIds": ids]).status, 200)
        XCTAssertEqual(try it.job(id, until: ["complete", "error"])["status"], "complete")
        ItentialSupport.assertMessage(try post("/operations-manager/jobs/resume", ["jobIds": ids]), 409)
        ItentialSupport.assertMessage(try post("/operations-manager/jobs/pause", ["jobIds": ["nope"]]), 400)
    }

    func testCancelEndsOpenWorkAndReportsWhatItCouldNot() throws {
        let first = try waitingJob()
        let second = try waitingJob()
        let unknown = "0123456789abcdef01234567"
        let partial = try post("/operations-manager/jobs/cancel", ["jobIds": [.string(first), .string(unknown)]])
        ItentialSupport.assertMessage(partial, 409, "Failed to cancel all jobs")
        XCTAssertEqual(partial.json?["data"]?[unknown], .string("Job \(unknown) does not exist"))
        let canceled = try XCTUnwrap(client.get("/operations-manager/jobs/\(first)", token: admin).json?["data"])
        XCTAssertEqual(canceled["status"], "canceled", "the jobs that could be canceled are")
        XCTAssertEqual(canceled["tasks"]?["a1"]?["status"], "canceled")
        XCTAssertEqual(canceled["tasks"]?["b2"]?["status"], "incomplete")
        XCTAssertNotNil(canceled["metrics"]?["end_time"]?.doubleValue)
        XCTAssertEqual(
            try post("/operations-manager/jobs/cancel", ["jobIds": [.string(first)]]).json?["data"]?[first],
            .string("Job \(first) is canceled"))
        let legacy = try post("/workflow_engine/cancelJob", ["job_id": .string(second)])
        XCTAssertEqual(legacy.json?["status"], "canceled", legacy.text)
        ItentialSupport.assertMessage(try post("/workflow_engine/cancelJob", ["job_id": .string(second)]), 409)
        ItentialSupport.assertMessage(try post("/workflow_engine/cancelJob", ["job_id": .string(unknown)]), 404)
        ItentialSupport.assertMessage(try post("/workflow_engine/claimJob", ["job_id": .string(second), "user": "admin"]), 409)
    }

    func testWatchAndUnwatch() throws {
        let id = try waitingJob()
        let account = try XCTUnwrap(client.get("/whoami", token: admin).json?["id"])
        XCTAssertEqual(try post("/operations-manager/jobs/\(id)/watch", [:]).json?["data"]?["watchers"], [account])
        XCTAssertEqual(try post("/operations-manager/jobs/\(id)/watch", [:]).json?["data"]?["watchers"], [account], "once")
        XCTAssertEqual(try post("/operations-manager/jobs/\(id)/unwatch", [:]).json?["data"]?["watchers"], [])
        ItentialSupport.assertMessage(try post("/operations-manager/jobs/0123456789abcdef01234567/watch", [:]), 404)

        // Bulk, through the underscore alias; a missing job is named and the others still change.
        let other = try waitingJob()
        let missing = "0123456789abcdef01234567"
        let bulk = try post("/operations_manager/jobs/watch", ["jobIds": [.string(id), .string(other), .string(missing)]])
        ItentialSupport.assertMessage(bulk, 404, "Job \(missing) not found")
        XCTAssertEqual(bulk.json?["data"], [.string(missing)])
        for job in [id, other] {
            XCTAssertEqual(try client.get("/operations-manager/jobs/\(job)", token: admin).json?["data"]?["watchers"], [account])
        }
        XCTAssertEqual(try post("/operations-manager/jobs/unwatch", ["jobIds": [.string(id), .string(other)]]).status, 200)
        XCTAssertEqual(try client.get("/operations-manager/jobs/\(other)", token: admin).json?["data"]?["watchers"], [])
        ItentialSupport.assertMessage(try post("/operations-manager/jobs/watch", ["jobIds": ["nope"]]), 400, "jobIds")

        let user = try TestStack.makeUser(roles: ["apiread"], prefix: "it-watcher")
        let userAccount = try XCTUnwrap(client.get("/whoami", token: user.token).json?["id"])
        let added = try post("/operations-manager/jobs/\(id)/add-watchers", ["watchers": [userAccount, account, userAccount]])
        XCTAssertEqual(added.status, 200, added.text)
        XCTAssertEqual(added.json?["data"]?["watchers"], [userAccount, account])
        ItentialSupport.assertMessage(
            try post("/operations-manager/jobs/\(id)/add-watchers", ["watchers": ["ffffffffffffffffffffffff"]]), 400, "No user")
        ItentialSupport.assertMessage(try post("/operations-manager/jobs/\(id)/add-watchers", ["watchers": []]), 400)
        ItentialSupport.assertMessage(
            try client.postJSON("/operations-manager/jobs/\(id)/add-watchers", ["watchers": [userAccount]], token: user.token), 403)
    }
}

/// A real Itential client, unmodified: ipsdk from PyPI (installed by ops/test in a throw-away
/// virtualenv) logs in by cookie, starts a job and reads it back through nginx.
final class ItentialClientTests: ItentialTestCase {
    func testIpsdkStartsAndReadsAJob() throws {
        guard let python = ProcessInfo.processInfo.environment["FLOWGATE_TEST_IPSDK_PYTHON"] else {
            throw XCTSkip("FLOWGATE_TEST_IPSDK_PYTHON is not set: run with ops/test")
        }
        let name = try it.workflow(
            [("a1", ItentialFixture.stub())],
            [("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["workflow_end": ItentialFixture.success])])
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Clients/ipsdk_start_job.py").path
        let (status, output) = try Spawn.run(
            python, [script, it.client.host, String(it.client.port), "admin", TestStack.adminPassword, name],
            environment: ["PATH": "/usr/bin:/bin"])
        XCTAssertEqual(status, 0, output)
        let result = try XCTUnwrap(output.split(separator: "\n").last.flatMap { try? JSON.parse(String($0)) }, output)
        let id = try XCTUnwrap(result["id"]?.stringValue)
        XCTAssertNotNil(id.range(of: "^[0-9a-f]{24}$", options: .regularExpression))
        XCTAssertEqual(result["started_status"], "running")
        XCTAssertEqual(result["read_id"], .string(id))
        XCTAssertEqual(result["read_name"], .string(name))
        XCTAssertEqual(result["variables"]?["initiator"], "admin")
        XCTAssertEqual(try it.job(id, until: ["complete", "error"])["status"], "complete")
    }
}

import Foundation
import JSON
import XCTest

/// Running parts of Itential jobs again through nginx: retry out of a stall, revert transitions,
/// and the revert and continue routes, each with a new iteration and the job's history.
final class ItentialRerunTests: ItentialTestCase {
    override class var inProcess: Bool { true }

    /// newVariable without a name errors: a task that fails until retried with a name.
    static let failingNewVariable = ItentialFixture.task("newVariable", ["name": "", "value": 1])

    func post(_ path: String, _ body: JSON) throws -> HTTPResponse {
        try client.postJSON(path, body, token: admin)
    }

    func iterations(_ job: JSON, _ key: String) -> [JSON] { job["tasks"]?[key]?["iterations"]?.arrayValue ?? [] }

    func testStallToErrorAndRetryOutOfIt() throws {
        let name = try it.workflow(
            [("a1", Self.failingNewVariable)],
            [("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["workflow_end": ItentialFixture.success])])
        let id = try XCTUnwrap(it.start(name)["_id"]?.stringValue)
        let stalled = try it.job(id, until: ["error"])
        XCTAssertEqual(stalled["tasks"]?["a1"]?["status"], "error")
        XCTAssertEqual(stalled["error"]?[0]?["task"], "a1", "the task's error is recorded")

        ItentialSupport.assertMessage(try post("/operations-manager/jobs/\(id)/tasks/zz/retry", [:]), 400, "taskId")
        ItentialSupport.assertMessage(try post("/operations-manager/jobs/\(id)/tasks/b2/retry", [:]), 404)
        ItentialSupport.assertMessage(try post("/operations-manager/jobs/\(id)/tasks/a1/retry", ["variables": 1]), 400)
        ItentialSupport.assertMessage(try post("/operations-manager/jobs/\(String(repeating: "0", count: 24))/tasks/a1/retry", [:]), 404)

        let retried = try post("/operations-manager/jobs/\(id)/tasks/a1/retry", ["variables": ["name": "y", "value": 2]])
        XCTAssertEqual(retried.status, 200, retried.text)
        XCTAssertEqual(retried.json?["data"]?["status"], "running", "the job is running again")
        let done = try it.job(id, until: ["complete", "error"])
        XCTAssertEqual(done["status"], "complete", "\(done["error"] ?? .null)")
        XCTAssertEqual(done["variables"]?["y"], 2)
        XCTAssertEqual(iterations(done, "a1").count, 2, "a retry is a new iteration")
        ItentialSupport.assertMessage(try post("/operations-manager/jobs/\(id)/tasks/a1/retry", [:]), 409, "Job \(id) is complete")
        let resets = try TestStack.database().execute(
            sql: """
                SELECT string_agg(e.event || ':' || coalesce(e.to_status, ''), ',' ORDER BY e.id) FROM job_events e JOIN jobs j ON j.id = e.job_id
                WHERE j.public_id = $1 AND (e.task_key = 'a1' AND e.event IN ('task_reset', 'task_ready') OR e.event = 'job_status_changed')
                """, [id]
        ).first?.string(0)
        XCTAssertEqual(
            resets,
            "task_ready:ready,job_status_changed:error,job_status_changed:running,task_reset:pending,task_ready:ready,job_status_changed:complete"
        )
    }

    func testRevertTransitionRunsTheLoopAgain() throws {
        let view = ItentialFixture.viewData(["header": "Again?", "body": "", "btn_success": "Done", "btn_failure": "Again"])
        let name = try it.workflow(
            [("a1", ItentialFixture.stub()), ("b2", view)],
            [
                ("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["b2": ItentialFixture.success]),
                ("b2", ["workflow_end": ItentialFixture.success, "a1": ["type": "revert", "state": "failure"]]),
            ])
        let id = try XCTUnwrap(it.start(name)["_id"]?.stringValue)
        let first = try waitingIteration(id, "b2", after: nil)
        XCTAssertEqual(try post("/operations-manager/tasks/\(first)/claim", [:]).status, 200)
        let reverted = try post(
            "/operations-manager/jobs/\(id)/tasks/b2/finish", ["taskData": ["finish_state": "failure", "variables": [:]]])
        XCTAssertEqual(reverted.status, 200, reverted.text)
        let second = try waitingIteration(id, "b2", after: first)
        let job = try XCTUnwrap(client.get("/operations-manager/jobs/\(id)", token: admin).json?["data"])
        XCTAssertEqual(job["status"], "running")
        XCTAssertEqual(iterations(job, "a1").count, 2, "the revert target ran again")
        XCTAssertEqual(iterations(job, "b2"), [.string(first), .string(second)])
        XCTAssertEqual(try post("/operations-manager/tasks/\(second)/claim", [:]).status, 200)
        XCTAssertEqual(
            try post("/operations-manager/jobs/\(id)/tasks/b2/finish", ["taskData": ["finish_state": "success", "variables": [:]]]).status,
            200)
        XCTAssertEqual(try it.job(id, until: ["complete", "error"])["status"], "complete")
    }

    /// The iteration id of `key` once it waits for a person in a new iteration.
    func waitingIteration(_ job: String, _ key: String, after previous: String?) throws -> String {
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            let document = try XCTUnwrap(client.get("/operations-manager/jobs/\(job)", token: admin).json?["data"])
            if document["tasks"]?[key]?["status"] == "running", let current = iterations(document, key).last?.stringValue,
                current != previous
            {
                return current
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw ClientError("task \(key) of job \(job) never waited again")
    }

    /// start → a1 (stub) → b2 (errors) → c3 (stub) → end: stalls at b2.
    func stalledJob() throws -> String {
        let name = try it.workflow(
            [("a1", ItentialFixture.stub()), ("b2", Self.failingNewVariable), ("c3", ItentialFixture.stub())],
            [
                ("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["b2": ItentialFixture.success]),
                ("b2", ["c3": ItentialFixture.success]), ("c3", ["workflow_end": ItentialFixture.success]),
            ])
        let id = try XCTUnwrap(it.start(name)["_id"]?.stringValue)
        _ = try it.job(id, until: ["error"])
        return id
    }

    func testRevertRouteRunsFromACompletedTask() throws {
        let id = try stalledJob()
        let path = "/operations-manager/jobs/\(id)/revert"
        ItentialSupport.assertMessage(try post(path, ["fromTask": "a1", "toTask": "a1"]), 409, "Task a1 is not in error")
        ItentialSupport.assertMessage(try post(path, ["fromTask": "b2", "toTask": "c3"]), 409, "Task c3 is not complete")
        ItentialSupport.assertMessage(try post(path, ["fromTask": "b2", "toTask": "workflow_start"]), 400, "toTask")
        ItentialSupport.assertMessage(
            try post(path, ["fromTask": "b2", "toTask": "a1", "extra": 1]), 400, "body must NOT have additional properties")
        let reverted = try post(path, ["fromTask": "b2", "toTask": "a1"])
        XCTAssertEqual(reverted.status, 200, reverted.text)
        let again = try it.job(id, until: ["error"])
        XCTAssertEqual(iterations(again, "a1").count, 2)
        XCTAssertEqual(iterations(again, "b2").count, 2)
        XCTAssertEqual(again["tasks"]?["c3"]?["status"], "incomplete")
    }

    func testContinueSkipsTheErroredTask() throws {
        let id = try stalledJob()
        ItentialSupport.assertMessage(try post("/operations-manager/jobs/\(id)/continue", ["fromTask": "77"]), 404, "Task 77")
        let continued = try post("/operations-manager/jobs/\(id)/continue", ["fromTask": "c3"])
        XCTAssertEqual(continued.status, 200, continued.text)
        let done = try it.job(id, until: ["complete", "error"])
        XCTAssertEqual(done["status"], "complete")
        XCTAssertEqual(done["tasks"]?["b2"]?["status"], "error", "the task continued past stays as it was")
        XCTAssertEqual(done["tasks"]?["c3"]?["status"], "complete")
        ItentialSupport.assertMessage(try post("/operations-manager/jobs/\(id)/continue", ["fromTask": "c3"]), 409)
        let reader = try TestStack.makeUser(roles: ["apiread"], prefix: "it-reader")
        ItentialSupport.assertMessage(
            try client.postJSON("/operations-manager/jobs/\(id)/continue", ["fromTask": "c3"], token: reader.token), 403)
    }
}

import Foundation
import JSON
import XCTest

/// childJob (single, parallel and sequential loops, failures), forEach and delay through nginx;
/// the runners start children and pick their parent task up again once they have ended.
final class ItentialChildJobTests: ItentialTestCase {
    /// A workflow copying job variable `x` into `copied`.
    func childWorkflow() throws -> String {
        try it.workflow(
            [("a1", ItentialFixture.task("newVariable", ["name": "copied", "value": "$var.job.x"]))],
            [("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["workflow_end": ItentialFixture.success])])
    }

    func childJob(_ workflow: String, variables: JSON = [:], dataArray: JSON = "", loopType: String = "") -> JSON {
        ItentialFixture.task(
            "childJob",
            [
                "task": "", "workflow": .string(workflow), "variables": variables, "data_array": dataArray,
                "transformation": "", "loopType": .string(loopType),
            ],
            outgoing: ["job_details": "$var.job.details"]
        )
        .setting("actor", to: "job")
    }

    /// A parent of one childJob task `a1`, started with `variables`; returns the ended job.
    func runParent(_ task: JSON, variables: JSON = [:]) throws -> JSON {
        let name = try it.workflow(
            [("a1", task)], [("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["workflow_end": ItentialFixture.success])])
        let id = try XCTUnwrap(it.start(name, ["variables": variables])["_id"]?.stringValue)
        return try it.job(id, until: ["complete", "error"])
    }

    func children(of parent: JSON) throws -> [JSON] {
        let id = try XCTUnwrap(parent["_id"]?.stringValue)
        let found = try client.get("/operations-manager/jobs?equals[parent.job]=\(id)&sort=parent.element", token: admin)
        XCTAssertEqual(found.status, 200, found.text)
        return found.json?["data"]?.arrayValue ?? []
    }

    func testSingleChildJobPassesVariablesAndReportsItsDetails() throws {
        let child = try childWorkflow()
        let parent = try runParent(childJob(child, variables: ["x": ["task": "job", "value": "y"]]), variables: ["y": 5])
        XCTAssertEqual(parent["status"], "complete", "\(parent["error"] ?? .null)")
        let details = try XCTUnwrap(parent["variables"]?["details"])
        XCTAssertEqual(details["status"], "complete")
        XCTAssertEqual(details["x"], 5)
        XCTAssertEqual(details["copied"], 5, "the child ran with the parent's variable")
        let spawned = try children(of: parent)
        XCTAssertEqual(spawned.count, 1)
        let childId = try XCTUnwrap(spawned.first?["_id"]?.stringValue)
        XCTAssertEqual(spawned.first?["ancestors"], [parent["_id"] ?? .null, .string(childId)])
        XCTAssertEqual(spawned.first?["parent"]?["task"], "a1")
        XCTAssertEqual(spawned.first?["parent"]?["iteration"], parent["tasks"]?["a1"]?["iterations"]?[0])
        XCTAssertEqual(parent["tasks"]?["a1"]?["childJobs"]?[0]?["_id"], .string(childId))
    }

    func testParallelLoopRunsAChildPerElement() throws {
        let child = try childWorkflow()
        let parent = try runParent(childJob(child, dataArray: [["x": 1], ["x": 2], ["x": 3]], loopType: "parallel"))
        XCTAssertEqual(parent["status"], "complete", "\(parent["error"] ?? .null)")
        let loop = try XCTUnwrap(parent["variables"]?["details"]?["loop"]?.arrayValue)
        XCTAssertEqual(loop.map { $0["childJobLoopIndex"] }, [0, 1, 2])
        XCTAssertEqual(loop.map { $0["copied"] }, [1, 2, 3])
        XCTAssertEqual(loop.map { $0["status"] }, ["complete", "complete", "complete"])
        XCTAssertEqual(try children(of: parent).map { $0["parent"]?["element"] }, [0, 1, 2])
    }

    func testSequentialLoopStartsEachChildAfterThePreviousEnded() throws {
        let child = try childWorkflow()
        let parent = try runParent(childJob(child, dataArray: [["x": 1], ["x": 2], ["x": 3]], loopType: "sequential"))
        XCTAssertEqual(parent["status"], "complete", "\(parent["error"] ?? .null)")
        XCTAssertEqual(parent["variables"]?["details"]?["loop"]?.arrayValue?.map { $0["copied"] }, [1, 2, 3])
        let spawned = try children(of: parent)
        XCTAssertEqual(spawned.count, 3)
        for (previous, next) in zip(spawned, spawned.dropFirst()) {
            let ended = try XCTUnwrap(previous["metrics"]?["end_time"]?.doubleValue)
            let started = try XCTUnwrap(next["metrics"]?["start_time"]?.doubleValue)
            XCTAssertGreaterThanOrEqual(started, ended, "one child at a time")
        }
    }

    func testMissingWorkflowAndFailingChildErrorTheTask() throws {
        let missing = try runParent(childJob("no-such-workflow-\(UUID().uuidString.prefix(6))"))
        XCTAssertEqual(missing["status"], "error")
        XCTAssertEqual(missing["tasks"]?["a1"]?["status"], "error")
        XCTAssertEqual(
            missing["error"]?[0]?["message"]?.stringValue?.hasPrefix("Error starting child job: Cannot find workflow no-such-workflow"),
            true,
            "\(missing["error"] ?? .null)")

        let failing = try it.workflow(
            [("a1", ItentialFixture.task("newVariable", ["name": "", "value": 1]))],
            [("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["workflow_end": ItentialFixture.success])])
        let parent = try runParent(childJob(failing))
        XCTAssertEqual(parent["status"], "error")
        let message = parent["error"]?.arrayValue?.first { $0["task"] == "a1" }?["message"]?.stringValue ?? ""
        XCTAssertTrue(message.hasPrefix("Child job ") && message.hasSuffix(" ended error"), message)
    }

    func testCancellingTheParentCancelsItsOpenChildren() throws {
        let waiting = try it.workflow(
            [("a1", ItentialFixture.viewData())],
            [("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["workflow_end": ItentialFixture.success])])
        let name = try it.workflow(
            [("a1", childJob(waiting))],
            [("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["workflow_end": ItentialFixture.success])])
        let parent = try it.start(name)
        let id = try XCTUnwrap(parent["_id"]?.stringValue)
        let deadline = Date().addingTimeInterval(15)
        var spawned: [JSON] = []
        while spawned.isEmpty, Date() < deadline {
            spawned = try children(of: parent)
            Thread.sleep(forTimeInterval: 0.05)
        }
        let child = try XCTUnwrap(spawned.first?["_id"]?.stringValue)
        XCTAssertEqual(try client.get("/operations-manager/jobs/\(id)", token: admin).json?["data"]?["tasks"]?["a1"]?["status"], "running")
        XCTAssertEqual(try client.postJSON("/operations-manager/jobs/cancel", ["jobIds": [.string(id)]], token: admin).status, 200)
        XCTAssertEqual(try it.job(child, until: ["canceled"])["tasks"]?["a1"]?["status"], "canceled")
        XCTAssertEqual(try it.job(id, until: ["canceled"])["tasks"]?["a1"]?["status"], "canceled")
    }

    func testForEachRunsItsLoopBodyPerElementThenGoesOn() throws {
        let name = try it.workflow(
            [
                ("a1", ItentialFixture.task("forEach", ["data_array": "$var.job.items"])),
                ("b2", ItentialFixture.task("newVariable", ["name": "last", "value": "$var.a1.current_item"])),
                ("c3", ItentialFixture.task("newVariable", ["name": "after", "value": true])),
            ],
            [
                ("workflow_start", ["a1": ItentialFixture.success]),
                ("a1", ["b2": ["type": "standard", "state": "loop"], "c3": ItentialFixture.success]),
                ("b2", [:]), ("c3", ["workflow_end": ItentialFixture.success]),
            ])
        let id = try XCTUnwrap(it.start(name, ["variables": ["items": [["n": 1], ["n": 2], ["n": 3]]]])["_id"]?.stringValue)
        let done = try it.job(id, until: ["complete", "error"])
        XCTAssertEqual(done["status"], "complete", "\(done["error"] ?? .null)")
        XCTAssertEqual(done["variables"]?["last"], ["n": 3], "the body ran last for the last element")
        XCTAssertEqual(done["variables"]?["after"], true)
        XCTAssertEqual(done["tasks"]?["b2"]?["iterations"]?.arrayValue?.count, 3, "one body run per element")
        XCTAssertEqual(done["tasks"]?["a1"]?["iterations"]?.arrayValue?.count, 4, "one round per element and the last")
        XCTAssertEqual(done["tasks"]?["a1"]?["transitions"]?["loop"], [["task": "b2", "type": "loop"]])
    }

    func testAnUnhandledErrorInALoopBodyStallsTheJob() throws {
        let name = try it.workflow(
            [
                ("a1", ItentialFixture.task("forEach", ["data_array": [1, 2]])),
                ("b2", ItentialFixture.task("newVariable", ["name": "", "value": "$var.a1.current_item"])),
            ],
            [
                ("workflow_start", ["a1": ItentialFixture.success]),
                ("a1", ["b2": ["type": "standard", "state": "loop"], "workflow_end": ItentialFixture.success]), ("b2", [:]),
            ])
        let id = try XCTUnwrap(it.start(name)["_id"]?.stringValue)
        let stalled = try it.job(id, until: ["error", "complete"])
        XCTAssertEqual(stalled["status"], "error")
        XCTAssertEqual(stalled["tasks"]?["a1"]?["iterations"]?.arrayValue?.count, 1, "no next round after the failure")
        let stall = stalled["error"]?.arrayValue?.first { $0["task"] == "job" }?["message"]?.stringValue ?? ""
        XCTAssertTrue(stall.hasPrefix("Job has no available transitions. b2 could have led"), stall)
        let projected = try client.get("/operations-manager/jobs/\(id)?include=status,variables._id", token: admin).json?["data"]
        XCTAssertEqual(projected, ["_id": .string(id), "status": "error", "variables": ["_id": .string(id)]])
    }

    func testDelayHoldsTheTaskThenGoesOn() throws {
        let delay = ItentialFixture.task("delay", ["time": 1], outgoing: ["time_in_milliseconds": "$var.job.waited"])
        let name = try it.workflow(
            [("a1", delay)], [("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["workflow_end": ItentialFixture.success])])
        let started = Date()
        let id = try XCTUnwrap(it.start(name)["_id"]?.stringValue)
        Thread.sleep(forTimeInterval: 0.3)
        let waiting = try XCTUnwrap(client.get("/operations-manager/jobs/\(id)", token: admin).json?["data"])
        XCTAssertEqual(waiting["tasks"]?["a1"]?["status"], "running", "a delay shows running while it waits")
        let done = try it.job(id, until: ["complete", "error"])
        XCTAssertEqual(done["status"], "complete")
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 1, "not before its time")
        XCTAssertEqual(done["variables"]?["waited"], 1000)
        let bad = try runParent(ItentialFixture.task("delay", ["time": "soon"]))
        XCTAssertEqual(bad["tasks"]?["a1"]?["status"], "error")
    }
}

import JSON
import XCTest

@testable import Blocks
@testable import Engine
@testable import Itential
@testable import Scale
@testable import WorkflowManager
@testable import WorkflowManagerAPI

/// The Workflow Manager rules without a database: the planner, timestamps and the `q` grammar.
final class StepPlannerTests: XCTestCase {
    let admin = StepCaller(userId: 1, username: "ann", groups: ["crew"], privileges: ["jobForceStop"])

    func diagram(_ steps: [JSON]) throws -> Diagram {
        try Diagram(["diagramName": "d", "steps": .array(steps)])
    }

    func step(_ id: String, _ next: [String] = [], automatic: Bool = false, proceedNext: Bool = false) -> JSON {
        [
            "id": .string(id), "action": ["actionType": "Manual"], "automatic": .bool(automatic), "proceedNext": .bool(proceedNext),
            "paths": .array(next.map { ["nextStep": .string($0)] }),
        ]
    }

    func planner(
        _ diagram: Diagram, current: [String: TaskStatus], assignment: Assignment = .user("ann"),
        holds: [StepHold] = [], closed: Bool = false
    ) -> StepPlanner {
        let steps = diagram.steps.map { step in
            StepRun(key: step.id, status: current[step.id] ?? .pending, isCurrent: current[step.id] != nil, assignment: assignment)
        }
        let job = StepJob(
            id: 1, publicId: "j", name: "j", itemKey: 1, isClosed: closed, diagram: diagram, diagramVersion: 1,
            document: [:], createdBy: "ann", ownedBy: "ann", createdAt: 0, startedAt: 0, endedAt: nil,
            steps: steps, holds: holds, now: 1000)
        return StepPlanner(job, caller: admin, finalJobStatus: "Closed", initialJobStatus: "New")
    }

    func testNoCurrentStepAnswersNoActiveStep() throws {
        var plan = planner(try diagram([step("a")]), current: [:])
        XCTAssertEqual(plan.perform(StepAction(kind: .run)), [StepResponse(stepId: "", outcome: .noActiveStep)])
        XCTAssertEqual(plan.perform(StepAction(kind: .releaseHold)), [StepResponse(stepId: "", outcome: .notHeld)])
        XCTAssertTrue(plan.events.isEmpty)
    }

    func testGroupAssignmentCountsMembersOnly() throws {
        var plan = planner(try diagram([step("a")]), current: ["a": .ready], assignment: .group("crew"))
        XCTAssertEqual(plan.perform(StepAction(kind: .run)).first?.outcome, .success)
        var unassigned = planner(try diagram([step("a")]), current: ["a": .ready], assignment: .unassigned)
        XCTAssertEqual(unassigned.perform(StepAction(kind: .run)).first?.outcome, .assignedToDifferentUser)
    }

    func testJoinWaitsForEveryBranchThatCanStillArrive() throws {
        let d = try diagram([step("a", ["b", "c"]), step("b", ["x"]), step("x", ["d"]), step("c", ["d"]), step("d")])
        var plan = planner(d, current: ["b": .running, "c": .running])
        XCTAssertEqual(plan.perform(StepAction(kind: .finish, stepIds: ["c"])).first?.outcome, .success)
        XCTAssertEqual(plan.currentStepIds, ["b"])
        XCTAssertEqual(plan.steps["d"]?.arrivals, 1)
        XCTAssertEqual(plan.perform(StepAction(kind: .run, stepIds: ["b"])).first?.outcome, .alreadyExecuting)
        XCTAssertEqual(plan.perform(StepAction(kind: .finish, stepIds: ["b"])).first?.outcome, .success)
        XCTAssertEqual(plan.currentStepIds, ["x"], "x can still reach d, so d keeps waiting")
        XCTAssertEqual(plan.perform(StepAction(kind: .finish, stepIds: ["x"])).first?.outcome, .noStartedStep)
        _ = plan.perform(StepAction(kind: .run, stepIds: ["x"]))
        _ = plan.perform(StepAction(kind: .finish, stepIds: ["x"]))
        XCTAssertEqual(plan.currentStepIds, ["d"])
        XCTAssertEqual(plan.steps["d"]?.arrivals, 0)
        XCTAssertEqual(plan.events.filter { $0.stepId == "d" && $0.event == .taskReady }.count, 1)
    }

    func testAutomaticStepsStopAtTheLoopLimit() throws {
        var plan = planner(try diagram([step("a", ["a"], automatic: true, proceedNext: true)]), current: ["a": .ready])
        XCTAssertTrue(plan.runAutomaticCurrentSteps())
        XCTAssertEqual(plan.events.filter { $0.event == .taskFinished }.count, StepPlanner.automaticRunLimit + 1)
        XCTAssertEqual(plan.steps["a"]?.status, .ready, "the loop leaves the step ready for a person")
    }

    func testLapsedHoldsAreReleasedFirstBySystem() throws {
        let lapsed = StepHold(
            id: 7, publicId: "h", stepId: "a", kind: .scheduled, setBy: "ann", setAt: 1, scheduledRelease: 900,
            lapsedAt: 900)
        var plan = planner(try diagram([step("a")]), current: ["a": .ready], holds: [lapsed])
        XCTAssertEqual(plan.releases, [HoldRelease(holdId: 7, lapsedAt: 900)])
        XCTAssertEqual(plan.events.first?.bySystem, true)
        XCTAssertEqual(plan.perform(StepAction(kind: .run)).first?.outcome, .success)
    }

    func testCloseAndReopenRestoreTheCurrentStep() throws {
        var plan = planner(try diagram([step("a", ["b"]), step("b")]), current: ["a": .paused])
        XCTAssertNil(plan.close())
        XCTAssertEqual(plan.perform(StepAction(kind: .run)).first?.outcome, .jobClosed)
        XCTAssertNil(plan.reopen())
        XCTAssertEqual(plan.steps["a"]?.status, .ready)
        XCTAssertEqual(plan.documentChanges.last?.1, "New")
        XCTAssertEqual(plan.reopen(), "The job is not closed")
    }

    func testDiagramRefusals() {
        XCTAssertThrowsError(try Diagram(["diagramName": "d", "steps": []]))
        XCTAssertThrowsError(try Diagram(["steps": [["id": "a"]]]))
        XCTAssertThrowsError(try Diagram(["diagramName": "d", "steps": [["id": "a"]], "initialStepId": "z"]))
        XCTAssertThrowsError(
            try Diagram(["diagramName": "d", "steps": [["id": "a", "paths": [["nextStep": "a", "assignedType": "User"]]]]]))
    }
}

final class TimestampTests: XCTestCase {
    func testParsesRFC3339AndFormatsUTC() {
        XCTAssertEqual(Timestamp.parse("1970-01-01T00:00:00Z"), 0)
        XCTAssertEqual(Timestamp.parse("2019-08-24T14:15:22Z"), 1_566_656_122)
        XCTAssertEqual(Timestamp.parse("2019-08-24T16:15:22+02:00"), 1_566_656_122)
        XCTAssertEqual(Timestamp.parse("2019-08-24T14:15:22.5Z"), 1_566_656_122.5)
        XCTAssertEqual(Timestamp.parse("2024-02-29 00:00:00Z"), 1_709_164_800)
        for bad in [
            "", "2019-08-24", "2019-02-30T00:00:00Z", "2023-02-29T00:00:00Z", "2019-08-24T24:00:00Z",
            "2019-08-24T14:15:22", "2019-08-24T14:15:22.Z", "2019-08-24T14:15:22Zjunk", "tomorrow",
        ] {
            XCTAssertNil(Timestamp.parse(bad), bad)
        }
        XCTAssertEqual(Timestamp.format(1_566_656_122.9), "2019-08-24T14:15:22Z")
        XCTAssertEqual(Timestamp.format(-1), "1969-12-31T23:59:59Z")
    }
}

final class JobQueryParserTests: XCTestCase {
    func parse(_ q: String) throws -> JobCondition {
        var parser = try JobQueryParser(q, currentUser: "ann")
        return try parser.parse()
    }

    func testGrammar() throws {
        XCTAssertEqual(
            try parse("closed=0 AND assignedTo = $currentUser OR priority <> 'High'"),
            .or(
                .and(.compare(.closed, .equal, "0"), .compare(.assignedTo, .equal, "ann")),
                .compare(.priority, .notEqual, "High")))
        XCTAssertEqual(
            try parse("NOT (jobName LIKE 'it''s%') AND dueDate IS NOT NULL"),
            .and(.not(.compare(.jobName, .like, "it's%")), .isNull(.dueDate, negated: true)))
        XCTAssertEqual(
            try parse("JOBID not in ('a', 'b') and closed != true"),
            .and(.isIn(.jobId, ["a", "b"], negated: true), .compare(.closed, .notEqual, "1")))
        for bad in ["", "closed", "closed =", "x = 1", "closed = 1 AND", "(closed = 1", "jobName = 'a", "closed == 1", "closed = 1;"] {
            XCTAssertThrowsError(try parse(bad), bad)
        }
    }
}

final class JobLifecycleTests: XCTestCase {
    func testEachSurfaceHasItsOwnStatuses() {
        XCTAssertTrue(ItentialSurface.lifecycle.canMove(from: "error", to: "running"))
        XCTAssertFalse(ItentialSurface.lifecycle.canMove(from: "complete", to: "running"))
        XCTAssertEqual(ItentialSurface.lifecycle.stalled, ["error"])
        XCTAssertTrue(ScaleSurface.lifecycle.isTerminal("COMPLETED"))
        XCTAssertFalse(ScaleSurface.lifecycle.isTerminal("FAILED"), "a failed Scale job may be requeued")
        XCTAssertTrue(WorkflowManagerSurface.lifecycle.canMove(from: "closed", to: "open"))
        XCTAssertFalse(BlockJobs.lifecycle.isKnown("complete"), "an Itential status is not a Blocks status")
        let registry = SurfaceRegistry([BlockJobs.rules, ItentialSurface.rules])
        XCTAssertThrowsError(try registry.lifecycle(for: .scale), "only what was registered")
        XCTAssertTrue(try registry.lifecycle(for: .itential).isKnown("paused"))
    }
}

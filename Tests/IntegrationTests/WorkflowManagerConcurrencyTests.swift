import Foundation
import JSON
import XCTest

/// Step actions racing through nginx on both instances: the job row lock makes them serial.
final class WorkflowManagerConcurrencyTests: XCTestCase {
    typealias WM = WorkflowManagerItem

    func testTwentyFinishesOfOneStepAdvanceTheJobOnce() throws {
        let wm = try WM.make()
        let job = try wm.job([WM.step("a", to: ["b"]), WM.step("b", to: ["c"]), WM.step("c")])
        XCTAssertEqual(try wm.outcomes(job, ["type": "Run"]), ["Success"])
        let results = TestStack.concurrently(20) { _ in try wm.outcomes(job, ["type": "Finish", "stepIds": ["a"]]) }
        let outcomes = try results.map { try $0.get() }.flatMap { $0 }
        XCTAssertEqual(outcomes.filter { $0 == "Success" }.count, 1, "\(outcomes)")
        XCTAssertEqual(Set(outcomes), ["Success", "StepNotCurrent"])
        XCTAssertEqual(try wm.current(job), ["b:Ready"])
        XCTAssertEqual(try wm.history(job).filter { $0 == "a:Finished" }.count, 1)
    }

    func testHoldAndRunRacingNeverLeaveAHeldStepRunning() throws {
        let wm = try WM.make()
        let template = try wm.template(diagram: wm.diagram([WM.step("a", to: ["b"]), WM.step("b")]))
        for job in try wm.jobs(template: template, ["numberOfJobs": 12]) {
            let results = TestStack.concurrently(2) { index in
                try wm.outcomes(job, ["type": index == 0 ? "Run" : "Hold"])[0]
            }
            let (run, hold) = (try results[0].get(), try results[1].get())
            XCTAssertTrue((run == "Success" && hold == "AlreadyExecuting") || (run == "Held" && hold == "Success"), "\(run) \(hold)")
            let step = try XCTUnwrap(wm.job(job)["currentSteps"]?[0])
            XCTAssertFalse(step["stepStatus"] == "Running" && step["manualHold"] == true, "\(step)")
        }
    }

    func testReleaseHoldAndRunRacing() throws {
        let wm = try WM.make()
        let template = try wm.template(diagram: wm.diagram([WM.step("a", to: ["b"]), WM.step("b")]))
        for job in try wm.jobs(template: template, ["numberOfJobs": 12]) {
            XCTAssertEqual(try wm.outcomes(job, ["type": "Hold"]), ["Success"])
            let results = TestStack.concurrently(2) { index in
                try wm.outcomes(job, ["type": index == 0 ? "Run" : "ReleaseHold"])[0]
            }
            let (run, release) = (try results[0].get(), try results[1].get())
            XCTAssertEqual(release, "Success")
            XCTAssertTrue(run == "Success" || run == "Held", run)
            let state = try wm.job(job, holds: true)
            XCTAssertEqual(state["currentSteps"]?[0]?["stepStatus"], run == "Success" ? "Running" : "Ready")
            XCTAssertNotNil(state["holds"]?[0]?["releasedDate"]?.stringValue)
        }
    }

    func testTwoBranchesFinishingAtOnceJoinOnce() throws {
        let wm = try WM.make()
        let template = try wm.template(
            diagram: wm.diagram([
                WM.step("a", to: ["b", "c"]), WM.step("b", to: ["d"]), WM.step("c", to: ["d"]), WM.step("d"),
            ]))
        for job in try wm.jobs(template: template, ["numberOfJobs": 8]) {
            XCTAssertEqual(try wm.outcomes(job, ["type": "Run"]), ["Success"])
            XCTAssertEqual(try wm.outcomes(job, ["type": "Finish"]), ["Success"])
            XCTAssertEqual(try wm.outcomes(job, ["type": "Run"]), ["Success", "Success"])
            let results = TestStack.concurrently(2) { index in
                try wm.outcomes(job, ["type": "Finish", "stepIds": .array([.string(index == 0 ? "b" : "c")])])
            }
            XCTAssertEqual(try results.flatMap { try $0.get() }, ["Success", "Success"])
            XCTAssertEqual(try wm.current(job), ["d:Ready"])
            XCTAssertEqual(try wm.history(job).filter { $0 == "d:Activated" }.count, 1)
        }
    }
}

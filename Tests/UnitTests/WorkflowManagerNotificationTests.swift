import JSON
import XCTest

@testable import WorkflowManager
@testable import WorkflowManagerAPI

/// notificationWs's messages from history rows, and the Portal page's escaping: pure rules.
final class WorkflowManagerNotificationTests: XCTestCase {
    func testTriggerPayloadsParse() throws {
        let notice = try XCTUnwrap(
            WMNotice(
                payload:
                    #"{"id":7,"job":"J1","step":"s1","event":"task_failed","from":"running","to":"failed","actor":"ann","at":1700000000123,"action":"Error","error":"boom"}"#
            ))
        XCTAssertEqual(
            notice,
            WMNotice(
                jobId: "J1", stepId: "s1", event: "task_failed", to: "failed", actor: "ann", at: 1_700_000_000_123, action: "Error",
                error: "boom"))
        XCTAssertNil(WMNotice(payload: "not json"))
        XCTAssertNil(WMNotice(payload: #"{"event":"task_failed"}"#), "a payload without a job is dropped")
    }

    func testEachHistoryRowBecomesTheMessagesClientsWaitFor() throws {
        func types(_ event: String, action: String? = nil) -> [String] {
            WMNotificationMessages.messages(for: WMNotice(jobId: "J1", stepId: "s1", event: event, action: action), job: nil)
                .compactMap { $0["msgType"]?.stringValue }
        }
        XCTAssertEqual(types("task_started"), ["StepStarted"])
        XCTAssertEqual(types("task_status_changed", action: "InfoRequired"), ["StepInfoRequired"])
        XCTAssertEqual(types("task_status_changed", action: "Paused"), ["StepStopping", "StepPaused"])
        XCTAssertEqual(types("task_status_changed", action: "Cancelled"), ["StepStopping", "StepCancelled"])
        XCTAssertEqual(types("task_failed"), ["StepError"])
        XCTAssertEqual(types("task_finished"), ["StepFinished"])
        XCTAssertEqual(types("task_assigned"), ["StepReassigned"])
        XCTAssertEqual(types("hold_added"), ["StepHeld"])
        XCTAssertEqual(types("hold_released"), ["StepHoldReleased"])
        XCTAssertEqual(types("job_status_changed"), ["JobUpdated"])
        XCTAssertEqual(types("job_updated"), ["JobUpdated"])
        XCTAssertEqual(types("task_ready"), [], "nothing the API has a message for")
        let failed = WMNotificationMessages.messages(
            for: WMNotice(jobId: "J1", stepId: "s1", event: "task_failed", at: 5, error: "service down"), job: nil)[0]
        XCTAssertEqual(
            failed,
            [
                "msgType": "StepError", "message": ["jobId": "J1", "stepId": "s1", "msg": "service down", "msgCode": "StepError"],
                "timestamp": 5,
            ])
    }

    func testNotificationPathsAndTokens() {
        XCTAssertTrue(WMNotificationHub.item(of: "/org/item/notificationWs")! == ("org", "item"))
        XCTAssertNil(WMNotificationHub.item(of: "/org/item/notificationWs/extra"))
        XCTAssertNil(WMNotificationHub.item(of: "//item/notificationWs"))
        XCTAssertEqual(WMNotificationHub.queryToken("f=json&token=a%2Bb"), "a+b")
        XCTAssertNil(WMNotificationHub.queryToken("token="))
    }

    func testSignInPageCannotBeBrokenOutOf() {
        XCTAssertEqual(WMPortal.scriptSafe(#"{"x":"</script><script>"}"#), #"{"x":"\u003c/script>\u003cscript>"}"#)
        XCTAssertEqual(WMPortal.htmlEscaped("<b>&"), "&lt;b&gt;&amp;")
        XCTAssertEqual(WMPortal.percentEncoded("a b&c=d#"), "a%20b%26c%3Dd%23")
    }

    func testSearchNumbersAreDecimalsPostgreSQLReads() {
        for good in ["1", "-2.5", "1e3", "+0.75"] { XCTAssertTrue(StepJobs.isDecimal(good), good) }
        for bad in ["nan", "inf", "0x1p3", "", "1,5"] { XCTAssertFalse(StepJobs.isDecimal(bad), bad) }
    }

    func testAnEmptyInitialStepIsTheStepNoPathLeadsTo() throws {
        let steps: JSON = [
            ["id": "b", "action": ["actionType": "Manual"], "paths": []],
            ["id": "a", "action": ["actionType": "Manual"], "paths": [["nextStep": "b"]]],
        ]
        XCTAssertEqual(try Diagram(["diagramName": "d", "initialStepId": "", "steps": steps]).initialStepId, "a")
        XCTAssertEqual(try Diagram(["diagramName": "d", "initialStepId": "b", "steps": steps]).initialStepId, "b")
    }
}

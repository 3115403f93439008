import Foundation
import JSON
import XCTest

/// The Workflow Manager surface through nginx: the seed's job action with every type and rule,
/// and the routes around it.
final class WorkflowManagerTests: XCTestCase {
    typealias WM = WorkflowManagerItem
    var wm: WM!

    override func setUpWithError() throws {
        wm = try WM.make()
    }

    var linear: [JSON] { [WM.step("a", to: ["b"]), WM.step("b")] }

    func testSeedRunFinishClosesTheJobAndKeepsHistory() throws {
        let job = try wm.job(linear)
        let created = try wm.job(job)
        XCTAssertEqual(created["closed"], false)
        XCTAssertEqual(created["jobStatus"], "New")
        XCTAssertEqual(created["createdBy"], "admin")
        XCTAssertEqual(created["currentSteps"]?[0]?["assignedType"], "User")

        let run = try wm.act(job, ["type": "Run", "stepIds": ["a"]])
        XCTAssertEqual(run.status, 200)
        XCTAssertEqual(
            run.json,
            [
                "success": true,
                "stepResponses": [
                    ["stepId": "a", "status": "Success", "statusDescription": "The step was started running"]
                ],
            ])
        XCTAssertEqual(try wm.current(job), ["a:Running"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "Finish"]), ["Success"])
        XCTAssertEqual(try wm.current(job), ["b:Ready"])
        // The next step keeps the finished step's assignment ("Maintain Assignment").
        XCTAssertEqual(try wm.job(job)["currentSteps"]?[0]?["assignedTo"], "admin")
        XCTAssertEqual(try wm.outcomes(job, ["type": "Run"]), ["Success"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "Finish"]), ["Success"])

        let closed = try wm.job(job)
        XCTAssertEqual(closed["closed"], true)
        XCTAssertEqual(closed["currentSteps"], [])
        XCTAssertEqual(closed["jobStatus"], "Closed")
        XCTAssertNotNil(closed["endDate"]?.stringValue)
        XCTAssertEqual(try wm.outcomes(job, ["type": "Run"]), ["JobClosed"])
        XCTAssertEqual(
            try wm.history(job),
            [
                "Created", "a:Activated", "a:Started", "a:Finished", "b:Activated",
                "b:Started", "b:Finished", "Completed",
            ])
    }

    func testStepLevelRefusals() throws {
        let job = try wm.job([WM.step("a", to: ["b"]), WM.step("b", options: [("canSkip", true)], args: nil)])
        XCTAssertEqual(try wm.outcomes(job, ["type": "Finish"]), ["NoStartedStep"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "Stop"]), ["NotRunning"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "Run", "stepIds": ["nope"]]), ["StepNotInDiagram"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "Run", "stepIds": ["b"]]), ["StepNotCurrent"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "ReleaseHold"]), ["NotHeld"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "Run"]), ["Success"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "Run"]), ["AlreadyExecuting"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "Hold"]), ["AlreadyExecuting"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "SetCurrentStep", "stepIds": ["b"]]), ["AlreadyExecuting"])
        // Successes apply even when another step of the same request is refused.
        let mixed = try wm.act(job, ["type": "Stop", "stepIds": ["a", "b"]])
        XCTAssertEqual(mixed.json?["success"], false)
        XCTAssertEqual(mixed.json?["stepResponses"]?.arrayValue?.compactMap { $0["status"]?.stringValue }, ["Success", "StepNotCurrent"])
        XCTAssertEqual(try wm.current(job), ["a:Paused"])
        // A paused step may be finished; b can be skipped without running.
        XCTAssertEqual(try wm.outcomes(job, ["type": "Finish"]), ["Success"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "Finish"]), ["Success"])
        XCTAssertEqual(try wm.job(job)["closed"], true)
    }

    func testAssignmentDecidesWhoMayRunFinishStopAndRefresh() throws {
        let worker = try TestStack.makeUser(prefix: "wm-worker")
        let forcer = try TestStack.makeUser(privileges: ["jobForceStop"], prefix: "wm-forcer")
        let basic = try TestStack.makeUser(privileges: ["adminBasic"], prefix: "wm-basic")
        let job = try wm.job([WM.step("a", to: ["b"]), WM.step("b")], defaults: [("defaultAssignedTo", .string(worker.name))])
        XCTAssertEqual(try wm.outcomes(job, ["type": "Run"]), ["AssignedToDifferentUser"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "RefreshStatus"], token: forcer.token), ["AssignedToDifferentUser"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "RefreshStatus"], token: basic.token), ["Success"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "Run"], token: worker.token), ["Success"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "Finish"], token: forcer.token), ["AssignedToDifferentUser"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "Stop"], token: basic.token), ["AssignedToDifferentUser"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "Stop"], token: forcer.token), ["Success"])
        XCTAssertEqual(try wm.current(job), ["a:Paused"])
        XCTAssertTrue(try wm.history(job).contains("a:Paused"))
    }

    func testGroupAssignmentAndRolesFromCommunityRoutes() throws {
        let group = "wm-group-\(UUID().uuidString.prefix(6).lowercased())"
        let member = try TestStack.makeUser(prefix: "wm-member")
        let outsider = try TestStack.makeUser(prefix: "wm-outsider")
        XCTAssertEqual(
            try wm.post(
                "/community/roles/holders",
                [
                    "roleName": "holders", "description": "may hold",
                    "privileges": ["jobUpdateHolds"],
                ]
            ).status, 200)
        WM.assertError(try wm.post("/community/roles/bad", ["privileges": ["noSuchPrivilege"]]), 400)
        WM.assertError(try wm.post("/community/roles/holders", ["privileges": []], token: member.token), 403)
        let saved = try wm.post("/community/groups/\(group)", ["members": .array([.string(member.name)]), "roles": ["holders"]])
        XCTAssertEqual(saved.json?["members"], .array([.string(member.name)]), saved.text)
        XCTAssertEqual(try wm.get("/community/roles/holders").json?["privileges"], ["jobUpdateHolds"])

        let job = try wm.job(linear, defaults: [("defaultAssignedType", "Group"), ("defaultAssignedTo", .string(group))])
        XCTAssertEqual(try wm.job(job)["currentSteps"]?[0]?["assignedTo"], .string(group))
        XCTAssertEqual(try wm.outcomes(job, ["type": "Run"], token: outsider.token), ["AssignedToDifferentUser"])
        // The member holds jobUpdateHolds through the group's role; the outsider does not.
        XCTAssertEqual(try wm.outcomes(job, ["type": "Hold"], token: member.token), ["Success"])
        WM.assertError(try wm.act(job, ["type": "ReleaseHold"], token: outsider.token), 403)
        XCTAssertEqual(try wm.outcomes(job, ["type": "ReleaseHold"], token: member.token), ["Success"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "Run"], token: member.token), ["Success"])
    }

    func testPrivilegesAreRequestLevel403s() throws {
        let plain = try TestStack.makeUser(prefix: "wm-plain")
        let job = try wm.job(linear)
        WM.assertError(try wm.act(job, ["type": "Hold"], token: plain.token), 403)
        WM.assertError(try wm.act(job, ["type": "ReleaseHold"], token: plain.token), 403)
        WM.assertError(try wm.act(job, ["type": "SetCurrentStep", "stepIds": ["b"]], token: plain.token), 403)
        WM.assertError(try wm.post("/jobs/manage", ["type": "Close", "jobIds": .array([.string(job)])], token: plain.token), 403)
        WM.assertError(try wm.post("/diagrams", ["diagramName": "x", "steps": [WM.step("a")]], token: plain.token), 403)
        XCTAssertEqual(try wm.current(job), ["a:Ready"])
        XCTAssertTrue(try wm.job(job, holds: true)["holds"]?.arrayValue?.isEmpty ?? false)
    }

    func testManualHoldsStackAndReleaseTogether() throws {
        let job = try wm.job(linear)
        XCTAssertEqual(try wm.outcomes(job, ["type": "Hold"]), ["Success"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "Hold", "stepIds": ["a"]]), ["Success"])
        let held = try wm.job(job, holds: true)
        XCTAssertEqual(held["currentSteps"]?[0]?["manualHold"], true)
        XCTAssertEqual(held["holds"]?.arrayValue?.count, 2)
        XCTAssertEqual(held["holds"]?[0]?["setBy"], "admin")
        XCTAssertEqual(try wm.outcomes(job, ["type": "Run"]), ["Held"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "Finish"]), ["Held"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "ReleaseHold"]), ["Success"])
        let released = try wm.job(job, holds: true)
        XCTAssertEqual(released["currentSteps"]?[0]?["manualHold"], false)
        XCTAssertEqual(released["holds"]?.arrayValue?.compactMap { $0["releasedBy"]?.stringValue }, ["admin", "admin"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "Run"]), ["Success"])
        XCTAssertEqual(
            try wm.history(job).filter { $0.hasSuffix("Held") || $0.hasSuffix("HoldReleased") },
            ["a:Held", "a:Held", "a:HoldReleased", "a:HoldReleased"])
    }

    func testScheduledHoldLapsesWhileWaiting() throws {
        let job = try wm.job(linear)
        let release = Date().addingTimeInterval(2)
        let text = ISO8601DateFormatter().string(from: release)
        XCTAssertEqual(try wm.outcomes(job, ["type": "Hold", "holdScheduledRelease": .string(text)]), ["Success"])
        let step = try wm.job(job)["currentSteps"]?[0]
        XCTAssertEqual(step?["manualHold"], true)
        XCTAssertEqual(step?["holdScheduledRelease"]?.stringValue, text)
        XCTAssertEqual(try wm.outcomes(job, ["type": "Run"]), ["Held"])
        Thread.sleep(until: release.addingTimeInterval(1.2))
        XCTAssertEqual(try wm.outcomes(job, ["type": "Run"]), ["Success"])
        let hold = try wm.job(job, holds: true)["holds"]?[0]
        XCTAssertEqual(hold?["releasedDate"]?.stringValue, text, "released at its scheduled time")
        XCTAssertEqual(hold?["releasedBy"], .null)
    }

    func testDependencyHoldsReleaseWhenTheOtherJobOrStepFinishes() throws {
        let template = try wm.template(diagram: wm.diagram(linear))
        let ids = try wm.jobs(template: template, ["numberOfJobs": 3])
        let (held, other, third) = (ids[0], ids[1], ids[2])
        // Dependency on a step of another job: released once that step is finished.
        XCTAssertEqual(try wm.outcomes(held, ["type": "Hold", "dependentJobId": .string(other), "dependentStepId": "a"]), ["Success"])
        XCTAssertEqual(try wm.job(held)["currentSteps"]?[0]?["dependencies"], true)
        XCTAssertEqual(try wm.outcomes(held, ["type": "Run"]), ["Held"])
        // A dependency is not released by a plain ReleaseHold; only by naming the job.
        XCTAssertEqual(try wm.outcomes(held, ["type": "ReleaseHold"]), ["NotHeld"])
        XCTAssertEqual(try wm.outcomes(held, ["type": "ReleaseHold", "dependentJobId": .string(third)]), ["NotHeld"])
        XCTAssertEqual(try wm.outcomes(other, ["type": "Run"]), ["Success"])
        XCTAssertEqual(try wm.outcomes(other, ["type": "Finish"]), ["Success"])
        XCTAssertEqual(try wm.job(held)["currentSteps"]?[0]?["dependencies"], false)
        XCTAssertEqual(try wm.outcomes(held, ["type": "Run"]), ["Success"])
        XCTAssertTrue(try wm.history(held).contains("a:HoldReleased"))

        // Dependency on a whole job: released when it closes; or by ReleaseHold naming it.
        XCTAssertEqual(try wm.outcomes(held, ["type": "Finish"]), ["Success"])
        XCTAssertEqual(try wm.outcomes(held, ["type": "Hold", "dependentJobId": .string(third)]), ["Success"])
        XCTAssertEqual(try wm.outcomes(held, ["type": "Run"]), ["Held"])
        XCTAssertEqual(try wm.post("/jobs/manage", ["type": "Close", "jobIds": .array([.string(third)])]).status, 200)
        XCTAssertEqual(try wm.outcomes(held, ["type": "Run"]), ["Success"])
    }

    func testBadHoldRequestsAre400sAndWriteNothing() throws {
        let template = try wm.template(diagram: wm.diagram(linear))
        let ids = try wm.jobs(template: template, ["numberOfJobs": 2])
        let past = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-60))
        let bodies: [JSON] = [
            ["type": "Hold", "holdScheduledRelease": "tomorrow"],
            ["type": "Hold", "holdScheduledRelease": "2019-02-30T10:00:00Z"],
            ["type": "Hold", "holdScheduledRelease": .string(past)],
            ["type": "Hold", "dependentJobId": .string(ids[0])],
            ["type": "Hold", "dependentJobId": "no-such-job"],
            ["type": "Hold", "dependentJobId": .string(ids[1]), "dependentStepId": "no-such-step"],
            ["type": "Hold", "dependentStepId": "a"],
        ]
        for body in bodies { WM.assertError(try wm.act(ids[0], body), 400) }
        XCTAssertTrue(try wm.job(ids[0], holds: true)["holds"]?.arrayValue?.isEmpty ?? false)
        XCTAssertEqual(try wm.history(ids[0]), ["Created", "a:Activated"])
    }

    func testBadActionRequestsAre4xxDTOs() throws {
        let job = try wm.job(linear)
        let raw = try wm.client.request(
            "POST", wm.base + "/jobs/\(job)/action",
            headers: [("Authorization", "Bearer \(wm.admin)"), ("Content-Type", "application/json")],
            body: Array("{\"type\": ".utf8))
        WM.assertError(raw, 400)
        WM.assertError(try wm.act(job, ["type": "Jump"]), 400)
        WM.assertError(try wm.act(job, [:]), 400)
        WM.assertError(try wm.act(job, ["type": "Run", "stepIds": [1]]), 400)
        WM.assertError(try wm.act(job, ["type": "Run", "stepIds": "a"]), 400)
        WM.assertError(try wm.act(job, ["type": "SetCurrentStep"]), 400)
        WM.assertError(try wm.act(job, ["type": "SetCurrentStep", "stepIds": ["a", "b"]]), 400)
        WM.assertError(try wm.act("no-such-job", ["type": "Run"]), 400)
        WM.assertError(try wm.client.postJSON("/testorg/no-such-item/jobs/\(job)/action", ["type": "Run"], token: wm.admin), 400)
        WM.assertError(try wm.client.postJSON(wm.base + "/jobs/\(job)/action", ["type": "Run"]), 401)
        WM.assertError(try wm.client.postJSON(wm.base + "/jobs/\(job)/action", ["type": "Run"], token: "bogus"), 401)
        WM.assertError(try wm.client.get(wm.base + "/jobs/\(job)/action", token: wm.admin), 405)
        XCTAssertEqual(try wm.history(job), ["Created", "a:Activated"])
        // Query token and the Esri header work as well as Bearer.
        XCTAssertEqual(try wm.client.get(wm.base + "/jobs/\(job)?token=\(wm.admin)").status, 200)
        XCTAssertEqual(try wm.client.get(wm.base + "/jobs/\(job)", headers: [("X-Esri-Authorization", "Bearer \(wm.admin)")]).status, 200)
    }

    func testSetCurrentStepReplacesTheCurrentSet() throws {
        let job = try wm.job([WM.step("a", to: ["b"]), WM.step("b", to: ["c"]), WM.step("c")])
        XCTAssertEqual(try wm.outcomes(job, ["type": "Hold"]), ["Success"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "SetCurrentStep", "stepIds": ["nope"]]), ["StepNotInDiagram"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "SetCurrentStep", "stepIds": ["c"]]), ["Success"])
        XCTAssertEqual(try wm.current(job), ["c:Ready"])
        XCTAssertEqual(try wm.job(job)["currentSteps"]?[0]?["assignedTo"], "admin")
        XCTAssertNotNil(try wm.job(job, holds: true)["holds"]?[0]?["releasedDate"]?.stringValue, "holds of replaced steps are released")
        XCTAssertEqual(try wm.history(job).suffix(3), ["a:HoldReleased", "a:Deactivated", "c:Activated"])
    }

    func testQuestionGPAndOpenAppSteps() throws {
        let job = try wm.job([
            WM.step("q", "Question", conditional: [("yes", "Yes"), ("no", "No")]),
            WM.step("yes", "GP", to: ["app"], options: [("proceedNext", true)], args: ["returnCode": "Success"]),
            WM.step("no"),
            WM.step("app", "OpenApp", to: ["gp"]),
            WM.step("gp", "GP", conditional: [("end", "Failure")], args: ["returnCode": "Failure"]),
            WM.step("end", "GP", options: [("automatic", true)], args: ["error": "service unavailable"]),
        ])
        XCTAssertEqual(try wm.outcomes(job, ["type": "Run"]), ["Success"])
        XCTAssertEqual(try wm.current(job), ["q:WaitingForInfo"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "Run"]), ["WaitingForInfo"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "Finish"]), ["WaitingForInfo"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "Finish", "answer": "Maybe"]), ["NoMatchingPaths"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "Finish", "answer": "Yes"]), ["Success"])
        XCTAssertEqual(try wm.current(job), ["yes:Ready"])
        // GP with proceedNext finishes on Run and follows its path.
        XCTAssertEqual(try wm.outcomes(job, ["type": "Run"]), ["Success"])
        XCTAssertEqual(try wm.current(job), ["app:Ready"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "Run"]), ["Success"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "Stop"]), ["Success"])
        XCTAssertEqual(try wm.current(job), ["app:Paused"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "Finish"]), ["Success"])
        // A GP step without proceedNext keeps its return code until Finish; Stop cancels it.
        XCTAssertEqual(try wm.outcomes(job, ["type": "Run"]), ["Success"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "Stop"]), ["Success"])
        XCTAssertEqual(try wm.current(job), ["gp:Cancelled"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "Finish"]), ["NoStartedStep"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "Run"]), ["Success"])
        // Its Failure code matches the path to an automatic step that errors at once.
        XCTAssertEqual(try wm.outcomes(job, ["type": "Finish"]), ["Success"])
        XCTAssertEqual(try wm.current(job), ["end:Error"])
        XCTAssertTrue(try wm.history(job).suffix(3).elementsEqual(["end:Activated", "end:Started", "end:Error"]))
    }

    func testParallelBranchesJoinOnce() throws {
        let job = try wm.job([
            WM.step("a", to: ["b", "c"]), WM.step("b", to: ["d"]), WM.step("c", to: ["d"]), WM.step("d"),
        ])
        XCTAssertEqual(try wm.outcomes(job, ["type": "Run"]), ["Success"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "Finish"]), ["Success"])
        XCTAssertEqual(try wm.current(job), ["b:Ready", "c:Ready"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "Run"]), ["Success", "Success"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "Finish", "stepIds": ["b"]]), ["Success"])
        XCTAssertEqual(try wm.current(job), ["c:Running"])
        XCTAssertEqual(try wm.outcomes(job, ["type": "Finish", "stepIds": ["c"]]), ["Success"])
        XCTAssertEqual(try wm.current(job), ["d:Ready"])
        XCTAssertEqual(try wm.history(job).filter { $0 == "d:Activated" }.count, 1)
    }

    func testCloseReopenDeleteAllOrNothing() throws {
        let template = try wm.template(diagram: wm.diagram(linear))
        let ids = try wm.jobs(template: template, ["numberOfJobs": 2])
        let both = JSON.array(ids.map(JSON.string))
        XCTAssertEqual(try wm.outcomes(ids[1], ["type": "Run"]), ["Success"])
        let refused = try wm.post("/jobs/manage", ["type": "Close", "jobIds": both])
        WM.assertError(refused, 400)
        XCTAssertEqual(refused.json?["error"]?["details"], .array([.string("\(ids[1]): The job is running")]))
        XCTAssertEqual(try wm.job(ids[0])["closed"], false, "nothing closed when one job is refused")
        XCTAssertEqual(try wm.outcomes(ids[1], ["type": "Stop"]), ["Success"])
        XCTAssertEqual(try wm.post("/jobs/manage", ["type": "Close", "jobIds": both]).json, ["success": true])
        XCTAssertEqual(try wm.job(ids[0])["currentSteps"], [])
        WM.assertError(try wm.post("/jobs/manage", ["type": "Close", "jobIds": both]), 400)
        XCTAssertEqual(try wm.post("/jobs/manage", ["type": "Reopen", "jobIds": both]).status, 200)
        XCTAssertEqual(try wm.current(ids[1]), ["a:Ready"], "the step current at Close comes back as Ready")
        XCTAssertEqual(try wm.job(ids[1])["endDate"], .null)
        XCTAssertEqual(try wm.history(ids[0]), ["Created", "a:Activated", "Closed", "Reopened"])
        XCTAssertEqual(try wm.post("/jobs/manage", ["type": "Delete", "jobIds": .array([.string(ids[0])])]).status, 200)
        WM.assertError(try wm.get("/jobs/\(ids[0])"), 400)
        WM.assertError(try wm.post("/jobs/manage", ["type": "Archive", "jobIds": both]), 400)
        // History outlives the job, for reports.
        let db = try TestStack.database()
        let events = try db.execute(sql: "SELECT event FROM job_events WHERE job_public_id = $1 ORDER BY id", [ids[0]])
        XCTAssertEqual(events.rows.last?.string(0), "job_deleted")
    }

    func testCreateJobsValidatesOverridesAndTemplates() throws {
        let diagram = try wm.diagram(linear)
        let template = try wm.template(
            diagram: diagram,
            defaults: [
                ("defaultJobName", "Survey"), ("defaultPriorityName", "High"),
                ("defaultStatus", "Open"), ("defaultFinalStatus", "Done"),
            ])
        let draft = try wm.template(diagram: diagram, state: "Draft")
        for body: JSON in [
            ["numberOfJobs": 0], ["numberOfJobs": 10_001], ["numberOfJobs": 2, "jobId": "x"],
            ["assignedType": "Robot"], ["assignedType": "User"], ["assignedType": "User", "assignedTo": "nobody-here"],
            ["startDate": "2024-05-02T00:00:00Z", "dueDate": "2024-05-01T00:00:00Z"], ["dueDate": "soon"],
        ] {
            WM.assertError(try wm.post("/jobTemplates/\(template)/job", body), 400)
        }
        WM.assertError(try wm.post("/jobTemplates/\(draft)/job", [:]), 400)
        WM.assertError(try wm.post("/jobTemplates/no-such-template/job", [:]), 400)
        let id = "custom-\(UUID().uuidString.prefix(6))"
        XCTAssertEqual(
            try wm.jobs(
                template: template,
                [
                    "jobId": .string(id), "description": "d", "priority": "Low",
                    "extendedProperties": [["identifier": "parcel.owner", "value": "Ann"]],
                ]), [id])
        WM.assertError(try wm.post("/jobTemplates/\(template)/job", ["jobId": .string(id)]), 400)
        let job = try wm.get("/jobs/\(id)?extProps=true").json
        XCTAssertEqual(job?["jobName"], "Survey")
        XCTAssertEqual(job?["priority"], "Low")
        XCTAssertEqual(job?["jobStatus"], "Open")
        XCTAssertEqual(job?["extendedProperties"], [["tableName": "parcel", "properties": [["propertyName": "owner", "value": "Ann"]]]])
        XCTAssertEqual(try wm.post("/jobs/manage", ["type": "Close", "jobIds": .array([.string(id)])]).status, 200)
        XCTAssertEqual(try wm.job(id)["jobStatus"], "Done")
        XCTAssertEqual(try wm.get("/jobTemplates/\(template)").json?["defaultJobName"], "Survey")
        XCTAssertEqual(try wm.get("/jobTemplates").json?["jobTemplates"]?.arrayValue?.count, 2)
        XCTAssertEqual(try wm.get("/jobs/\(id)/diagram").json?["diagramId"], .string(diagram))
    }

    func testAssignStepFollowsAssignmentPrivileges() throws {
        let group = "wm-assign-\(UUID().uuidString.prefix(6).lowercased())"
        let individual = try TestStack.makeUser(privileges: ["jobAssignIndividual"], prefix: "wm-ind")
        XCTAssertEqual(try wm.post("/community/roles/assigners", ["privileges": ["jobAssignIndividual"]]).status, 200)
        XCTAssertEqual(
            try wm.post("/community/groups/\(group)", ["members": .array([.string(individual.name)]), "roles": ["assigners"]]).status, 200)
        let job = try wm.job(linear)
        // Taking someone else's step needs jobAssignAny.
        WM.assertError(
            try wm.post("/jobs/\(job)/a", ["assignedType": "User", "assignedTo": .string(individual.name)], token: individual.token), 403)
        XCTAssertEqual(
            try wm.post("/jobs/\(job)/currentStep", ["assignedType": "Group", "assignedTo": .string(group)]).json, ["success": true])
        // A group's step to yourself: jobAssignIndividual.
        XCTAssertEqual(
            try wm.post("/jobs/\(job)/a", ["assignedType": "User", "assignedTo": .string(individual.name)], token: individual.token).status,
            200)
        XCTAssertEqual(try wm.job(job)["currentSteps"]?[0]?["assignedTo"], .string(individual.name))
        WM.assertError(try wm.post("/jobs/\(job)/b", ["assignedType": "Unassigned"]), 400)
        WM.assertError(try wm.post("/jobs/\(job)/a", ["assignedType": "Group", "assignedTo": "no-such-group"]), 400)
        WM.assertError(try wm.post("/jobs/\(job)/a", ["assignedType": "Person"]), 400)
        XCTAssertTrue(try wm.history(job).contains("a:Reassigned"))
    }

    func testSearchGrammar() throws {
        let template = try wm.template(diagram: wm.diagram(linear))
        let ids = try wm.jobs(template: template, ["numberOfJobs": 3, "jobName": "searchable", "priority": "High"])
        XCTAssertEqual(try wm.post("/jobs/manage", ["type": "Close", "jobIds": .array([.string(ids[0])])]).status, 200)
        func search(_ body: JSON) throws -> JSON { try XCTUnwrap(wm.post("/jobs/search", body).json) }
        var result = try search([
            "q": "closed=0 AND priority='High'", "fields": ["jobId", "closed", "currentStep"],
            "sortFields": [["field": "jobId", "sortOrder": "Asc"]],
        ])
        XCTAssertEqual(result["results"]?.arrayValue?.compactMap { $0[0]?.stringValue }, ids.dropFirst().sorted())
        XCTAssertEqual(result["results"]?[0]?[1], 0)
        XCTAssertEqual(result["results"]?[0]?[2], "Step a")
        XCTAssertEqual(result["fields"]?[1]?["fieldType"], "Integer")
        result = try search(["q": "jobName LIKE 'search%' AND (closed = 1 OR assignedTo = $currentUser)", "num": 2])
        XCTAssertEqual(result["num"], 2)
        XCTAssertEqual(result["nextStart"], 2)
        result = try search(["q": .string("jobId IN ('\(ids[0])', 'none') AND NOT jobStatus IS NULL")])
        XCTAssertEqual(result["results"]?.arrayValue?.count, 1)
        result = try search(["search": "searchable"])
        XCTAssertEqual(result["results"]?.arrayValue?.count, 3)
        for bad in ["closed = ", "nosuchfield = 1", "jobName = 'open", "closed = 'x'", "(closed = 1", "jobName; DROP TABLE jobs"] {
            WM.assertError(try wm.post("/jobs/search", ["q": .string(bad)]), 400)
        }
        WM.assertError(try wm.post("/jobs/search", [:]), 400)
    }

    func testDiagramsTemplatesAndItems() throws {
        for steps: JSON in [[], [WM.step("a", to: ["missing"])], [WM.step("a"), WM.step("a")], [WM.step("a", "Telepathy")]] {
            WM.assertError(try wm.post("/diagrams", ["diagramName": "bad", "steps": steps]), 400)
        }
        let id = try wm.diagram(linear)
        let diagram = try XCTUnwrap(wm.get("/diagrams/\(id)").json)
        XCTAssertEqual(diagram["initialStepId"], "a")
        XCTAssertEqual(diagram["diagramVersion"], 1)
        XCTAssertEqual(try wm.get("/diagrams/\(id)/1").json?["diagramId"], .string(id))
        WM.assertError(try wm.get("/diagrams/\(id)/2"), 400)
        XCTAssertEqual(try wm.get("/diagrams").json?["diagrams"]?.arrayValue?.count, 1)
        WM.assertError(try wm.post("/jobTemplates", ["jobTemplateName": "t", "diagramId": "nope"]), 400)
        WM.assertError(try wm.post("/jobTemplates", ["jobTemplateName": "t", "diagramId": .string(id), "state": "Odd"]), 400)
        let itemId = String(wm.base.split(separator: "/")[1])
        XCTAssertEqual(try wm.client.get("/testorg/admin/items/\(itemId)", token: wm.admin).json?["name"], "tests")
        WM.assertError(try wm.client.get("/testorg/admin/items/no-such-item", token: wm.admin), 400)
        WM.assertError(try wm.client.postJSON("/testorg/admin/createWorkflowItem", ["itemId": .string(itemId)], token: wm.admin), 400)
    }
}

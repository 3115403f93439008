import Foundation
import JSON
import XCTest

/// Operations Manager automations and triggers through nginx: CRUD in the catalogue grammar,
/// group access, endpoint triggers (also through the real ipsdk client) and manual ones, and
/// schedules fired by the runners exactly once per due time across a killed instance and a
/// PostgreSQL restart, with every firing in `itential_trigger_firings`.
final class ItentialAutomationTests: ItentialTestCase {
    func call(_ method: String, _ path: String, _ body: JSON? = nil, token: String? = nil) throws -> HTTPResponse {
        try client.request(
            method, path, headers: client.authorization(token ?? admin) + [("Content-Type", "application/json")],
            body: body.map { Array($0.serialized.utf8) } ?? [])
    }

    /// A one-stub workflow and an automation running it; returns the automation's id and the workflow's name.
    func automation(_ extra: JSON = [:]) throws -> (id: String, workflow: String) {
        let workflow = try it.workflow(
            [("a1", ItentialFixture.stub())],
            [("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["workflow_end": ItentialFixture.success])])
        var body: JSON = [
            "name": .string("auto-\(UUID().uuidString.prefix(8))"), "componentType": "workflows", "componentName": .string(workflow),
        ]
        for (key, value) in extra.objectValue ?? [] { body = body.setting(key, to: value) }
        let created = try call("POST", "/operations-manager/automations", body)
        XCTAssertEqual(created.status, 200, created.text)
        return (try XCTUnwrap(created.json?["data"]?["_id"]?.stringValue), workflow)
    }

    func trigger(_ body: JSON) throws -> JSON {
        let created = try call("POST", "/operations-manager/triggers", body)
        XCTAssertEqual(created.status, 200, created.text)
        return try XCTUnwrap(created.json?["data"])
    }

    func firings(_ triggerId: String) throws -> [(dueAt: String, job: String, firedBy: String)] {
        try TestStack.database().execute(
            sql: """
                SELECT coalesce(f.due_at::text, ''), coalesce(j.public_id, ''), f.fired_by FROM itential_trigger_firings f
                LEFT JOIN jobs j ON j.id = f.job_id WHERE f.trigger_public_id = $1 ORDER BY f.id
                """, [triggerId]
        ).rows.map { ($0.string(0), $0.string(1), $0.string(2)) }
    }

    func testAutomationsHaveCRUDAndTheCatalogueGrammar() throws {
        let workflow = try it.workflow(
            [("a1", ItentialFixture.stub())],
            [("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["workflow_end": ItentialFixture.success])])
        let workflowId = try XCTUnwrap(
            client.get("/automation-studio/workflows?equals[name]=\(workflow)", token: admin).json?["items"]?[0]?["_id"]?.stringValue)
        let prefix = "cat-\(UUID().uuidString.prefix(6))"
        let created = try call(
            "POST", "/operations-manager/automations",
            ["name": .string("\(prefix)-one"), "description": "first", "componentType": "workflows", "componentId": .string(workflowId)])
        XCTAssertEqual(created.status, 200, created.text)
        XCTAssertEqual(created.json?["message"], .string("Successfully created \(prefix)-one"))
        let one = try XCTUnwrap(created.json?["data"])
        let id = try XCTUnwrap(one["_id"]?.stringValue)
        XCTAssertNotNil(id.range(of: "^[0-9a-f]{24}$", options: .regularExpression))
        XCTAssertEqual(one["componentName"], .string(workflow))
        XCTAssertEqual(one["componentId"], .string(workflowId))
        XCTAssertEqual(one["gbac"], ["write": [], "read": []])
        XCTAssertNotNil(one["created"]?.stringValue?.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"#, options: .regularExpression))
        let bare = try call("POST", "/operations-manager/automations", ["name": .string("\(prefix)-two"), "componentType": "workflows"])
        XCTAssertEqual(bare.json?["data"]?["componentId"], .null, "no workflow chosen yet")
        XCTAssertNil(bare.json?["data"]?["componentName"])
        _ = try call("POST", "/operations-manager/automations", ["name": .string("\(prefix)-three"), "componentName": .string(workflow)])

        ItentialSupport.assertMessage(try call("POST", "/operations-manager/automations", ["name": .string("\(prefix)-one")]), 409)
        ItentialSupport.assertMessage(
            try call("POST", "/operations-manager/automations", ["name": "x", "componentType": "ucm_compliance_plan"]), 400)
        ItentialSupport.assertMessage(try call("POST", "/operations-manager/automations", ["name": "x", "componentName": "no-such"]), 400)
        ItentialSupport.assertMessage(try call("POST", "/operations-manager/automations", ["name": "x", "bogus": 1]), 400)

        // The catalogue grammar, paged the way ipctl and itential-mcp loop until len == total.
        var seen: [String] = []
        var total = -1
        while seen.count != total {
            let page = try XCTUnwrap(
                client.get(
                    "/operations-manager/automations?startsWith=\(prefix)&startsWithField=name&limit=2&skip=\(seen.count)", token: admin
                )
                .json)
            total = try XCTUnwrap(page["metadata"]?["total"]?.intValue)
            seen += try XCTUnwrap(page["data"]?.arrayValue).compactMap { $0["name"]?.stringValue }
            XCTAssertLessThan(seen.count, 10)
        }
        XCTAssertEqual(seen, ["\(prefix)-one", "\(prefix)-three", "\(prefix)-two"])
        let byName = try client.get("/operations-manager/automations?equals=\(prefix)-one&equalsField=name", token: admin).json
        XCTAssertEqual(byName?["data"]?.arrayValue?.compactMap { $0["_id"]?.stringValue }, [id])
        let descending = try client.get(
            "/operations-manager/automations?contains=\(prefix)&containsField=name&sort=name&order=-1", token: admin
        ).json
        XCTAssertEqual(descending?["data"]?.arrayValue?.first?["name"], .string("\(prefix)-two"))
        ItentialSupport.assertMessage(try client.get("/operations-manager/automations?equals%5Bname%5D=x", token: admin), 400)
        ItentialSupport.assertMessage(try client.get("/operations-manager/automations?equals=x&equalsField=secret", token: admin), 400)
        ItentialSupport.assertMessage(try client.get("/operations-manager/automations?equals=x", token: admin), 400)

        let patched = try call("PATCH", "/operations-manager/automations/\(id)", ["description": "changed", "componentId": nil])
        XCTAssertEqual(patched.status, 200, patched.text)
        XCTAssertEqual(patched.json?["data"]?["description"], "changed")
        XCTAssertEqual(patched.json?["data"]?["componentId"], .null)
        XCTAssertEqual(patched.json?["data"]?["name"], .string("\(prefix)-one"), "members not sent keep their value")
        XCTAssertEqual(try client.get("/operations-manager/automations/\(id)", token: admin).json?["data"]?["description"], "changed")
        XCTAssertEqual(try call("DELETE", "/operations-manager/automations/\(id)").status, 200)
        ItentialSupport.assertMessage(try client.get("/operations-manager/automations/\(id)", token: admin), 404)
        ItentialSupport.assertMessage(try call("DELETE", "/operations-manager/automations/\(id)"), 404)
        ItentialSupport.assertMessage(try client.get("/operations-manager/automations"), 401)
    }

    func testGroupAccessHidesAndGuardsAutomations() throws {
        let group = "om-gbac-\(UUID().uuidString.prefix(6).lowercased())"
        let member = try TestStack.makeUser(roles: ["operations"], groups: [group], prefix: "om-member")
        let outsider = try TestStack.makeUser(roles: ["operations"], prefix: "om-outsider")
        let groupId = try XCTUnwrap(
            TestStack.database().execute(sql: "SELECT account_id FROM groups WHERE name = $1", [group]).first?.string(0))
        let guarded = try automation(["gbac": ["write": [.string(groupId)], "read": []]])
        let route = "gbac-\(UUID().uuidString.prefix(8))"
        _ = try trigger(["name": "ep", "type": "endpoint", "actionId": .string(guarded.id), "routeName": .string(route)])

        XCTAssertEqual(try client.get("/operations-manager/automations/\(guarded.id)", token: member.token).status, 200)
        ItentialSupport.assertMessage(try client.get("/operations-manager/automations/\(guarded.id)", token: outsider.token), 403)
        let listed = try client.get("/operations-manager/automations?equals=\(guarded.id)&equalsField=_id", token: outsider.token).json
        XCTAssertEqual(listed?["metadata"]?["total"], 0, "a list leaves out what the caller may not see")
        ItentialSupport.assertMessage(
            try call("PATCH", "/operations-manager/automations/\(guarded.id)", ["description": "x"], token: outsider.token), 403)
        ItentialSupport.assertMessage(try call("POST", "/operations-manager/triggers/endpoint/\(route)", [:], token: outsider.token), 403)
        XCTAssertEqual(try call("POST", "/operations-manager/triggers/endpoint/\(route)", [:], token: member.token).status, 200)
        ItentialSupport.assertMessage(
            try call("POST", "/operations-manager/automations", ["name": "x", "gbac": ["write": ["ffffffffffffffffffffffff"]]]), 400,
            "No group")
        let reader = try TestStack.makeUser(roles: ["apiread"], prefix: "om-reader")
        ItentialSupport.assertMessage(try call("POST", "/operations-manager/automations", ["name": "x"], token: reader.token), 403)
    }

    func testEndpointTriggerValidatesItsBodyAndStartsAJobThroughIpsdk() throws {
        guard let python = ProcessInfo.processInfo.environment["FLOWGATE_TEST_IPSDK_PYTHON"] else {
            throw XCTSkip("FLOWGATE_TEST_IPSDK_PYTHON is not set: run with ops/test")
        }
        let target = try automation()
        let route = "ep-\(UUID().uuidString.prefix(8))"
        let schema: JSON = ["type": "object", "properties": ["device": ["type": "string"]], "required": ["device"]]
        let created = try trigger(
            [
                "name": "deploy", "type": "endpoint", "enabled": true, "actionType": "automations", "actionId": .string(target.id),
                "verb": "POST", "routeName": .string(route), "schema": schema, "description": "from CI",
            ])
        XCTAssertEqual(created["routeName"], .string(route))
        XCTAssertEqual(created["lastExecuted"], .null)
        ItentialSupport.assertMessage(
            try call(
                "POST", "/operations-manager/triggers",
                ["name": "dup", "type": "endpoint", "actionId": .string(target.id), "routeName": .string(route)]),
            409)
        ItentialSupport.assertMessage(
            try call("POST", "/operations-manager/triggers", ["name": "e", "type": "eventSystem", "actionId": .string(target.id)]), 400,
            "eventSystem triggers are not supported")
        ItentialSupport.assertMessage(try call("POST", "/operations-manager/triggers/endpoint/no-such-route", [:]), 404)

        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Clients/ipsdk_endpoint_trigger.py")
            .path
        let (status, output) = try Spawn.run(
            python, [script, it.client.host, String(it.client.port), "admin", TestStack.adminPassword, route],
            environment: ["PATH": "/usr/bin:/bin"])
        XCTAssertEqual(status, 0, output)
        let result = try XCTUnwrap(output.split(separator: "\n").last.flatMap { try? JSON.parse(String($0)) }, output)
        XCTAssertEqual(result["refused"]?["status"], 400, "\(result)")
        XCTAssertTrue(result["refused"]?["body"]?["message"]?.stringValue?.contains("schema") ?? false, "\(result)")
        XCTAssertEqual(result["refused"]?["body"]?["data"]?.arrayValue?.isEmpty, false)
        let jobId = try XCTUnwrap(result["id"]?.stringValue)
        XCTAssertEqual(result["status"], "running")
        XCTAssertEqual(result["variables"]?["device"], "r1")
        XCTAssertEqual(result["variables"]?["port"], 22)
        XCTAssertEqual(try it.job(jobId, until: ["complete", "error"])["status"], "complete")
        let triggerId = try XCTUnwrap(created["_id"]?.stringValue)
        XCTAssertEqual(try firings(triggerId).map(\.job), [jobId], "one firing, with its job; the refused body started none")
        let read = try client.get("/operations-manager/triggers/\(triggerId)", token: admin).json?["data"]
        XCTAssertNotNil(read?["lastExecuted"]?.doubleValue)

        let disabled = try call("PATCH", "/operations-manager/triggers/\(triggerId)", ["enabled": false])
        XCTAssertEqual(disabled.json?["data"]?["enabled"], false, disabled.text)
        ItentialSupport.assertMessage(try call("POST", "/operations-manager/triggers/endpoint/\(route)", ["device": "x"]), 409)
        let listed = try client.get("/operations-manager/triggers?equals=\(target.id)&equalsField=actionId&enabled=false", token: admin)
            .json
        XCTAssertEqual(listed?["data"]?.arrayValue?.compactMap { $0["_id"]?.stringValue }, [triggerId])
        let exported = try client.get("/operations-manager/automations/\(target.id)/export", token: admin).json?["data"]
        XCTAssertEqual(exported?["triggers"]?.arrayValue?.compactMap { $0["_id"]?.stringValue }, [triggerId])
        XCTAssertNil(exported?["componentId"])
        XCTAssertEqual(try call("DELETE", "/operations-manager/triggers/action/\(target.id)").json?["metadata"]?["total"], 1)
        ItentialSupport.assertMessage(try client.get("/operations-manager/triggers/\(triggerId)", token: admin), 404)
        XCTAssertEqual(try firings(triggerId).count, 1, "a deleted trigger's firings stay in history")
    }

    func testManualTriggerRunsWithItsFormData() throws {
        let target = try automation()
        let plain = try trigger(["name": "by hand", "type": "manual", "actionId": .string(target.id), "formData": ["site": "a"]])
        XCTAssertEqual(plain["legacyWrapper"], false)
        let id = try XCTUnwrap(plain["_id"]?.stringValue)
        let ran = try call("POST", "/operations-manager/triggers/manual/\(id)/run", ["formData": ["site": "b", "count": 2]])
        XCTAssertEqual(ran.status, 200, ran.text)
        XCTAssertEqual(ran.json?["data"]?["variables"]?["site"], "b")
        XCTAssertEqual(ran.json?["data"]?["variables"]?["count"], 2)
        ItentialSupport.assertMessage(
            try call("POST", "/operations-manager/triggers/manual/\(id)/run", [:]), 400, "body must have required")
        ItentialSupport.assertMessage(
            try call("POST", "/operations-manager/triggers/manual/\(id)/run", ["formData": [:], "extra": 1]), 400)

        let legacy = try trigger(["name": "legacy", "type": "manual", "actionId": .string(target.id), "legacyWrapper": true])
        let wrapped = try call(
            "POST", "/operations-manager/triggers/manual/\(try XCTUnwrap(legacy["_id"]?.stringValue))/run", ["formData": ["site": "c"]])
        XCTAssertEqual(wrapped.json?["data"]?["variables"]?["formData"], ["site": "c"], wrapped.text)

        // An endpoint trigger is not run as a manual one.
        let endpoint = try trigger(
            ["name": "ep", "type": "endpoint", "actionId": .string(target.id), "routeName": .string("m-\(UUID().uuidString.prefix(8))")])
        ItentialSupport.assertMessage(
            try call("POST", "/operations-manager/triggers/manual/\(try XCTUnwrap(endpoint["_id"]?.stringValue))/run", ["formData": [:]]),
            404)
        // An automation without a workflow has nothing to run.
        let empty = try call("POST", "/operations-manager/automations", ["name": .string("empty-\(UUID().uuidString.prefix(8))")])
        let idle = try trigger(["name": "idle", "type": "manual", "actionId": try XCTUnwrap(empty.json?["data"]?["_id"])])
        ItentialSupport.assertMessage(
            try call("POST", "/operations-manager/triggers/manual/\(try XCTUnwrap(idle["_id"]?.stringValue))/run", ["formData": [:]]), 400,
            "Automation")
    }

    /// An exported automation imports again (under a new name) with its triggers, which then
    /// name the new automation; an import with a bad item makes nothing.
    func testExportedAutomationsImportWithTheirTriggers() throws {
        let source = try automation()
        _ = try trigger(["name": "by hand", "type": "manual", "actionId": .string(source.id), "formData": ["site": "a"]])
        let exported = try XCTUnwrap(client.get("/operations-manager/automations/\(source.id)/export", token: admin).json?["data"])
        let copyName = "copy-\(UUID().uuidString.prefix(8))"
        let copy = exported.setting("name", to: .string(copyName)).setting("componentName", to: .string(source.workflow))
        let imported = try call("PUT", "/operations-manager/automations", ["automations": [copy]])
        XCTAssertEqual(imported.status, 200, imported.text)
        XCTAssertEqual(imported.json?["data"]?[0]?["success"], true)
        let made = try XCTUnwrap(imported.json?["data"]?[0]?["data"])
        let newId = try XCTUnwrap(made["_id"]?.stringValue)
        XCTAssertNotEqual(newId, source.id)
        XCTAssertEqual(made["triggers"]?[0]?["actionId"], .string(newId))
        XCTAssertEqual(made["triggers"]?[0]?["formData"], ["site": "a"])
        let listed = try client.get("/operations-manager/triggers?actionId=\(newId)", token: admin).json
        XCTAssertEqual(listed?["metadata"]?["total"], 1)

        let other = "other-\(UUID().uuidString.prefix(8))"
        let refused = try call(
            "PUT", "/operations-manager/automations",
            [
                "automations": [
                    ["name": .string(other)], copy.setting("name", to: .string(other + "-2")).setting("componentName", to: "no-such"),
                ]
            ])
        ItentialSupport.assertMessage(refused, 400, "automations[1]")
        let none = try client.get("/operations-manager/automations?equals=\(other)&equalsField=name", token: admin).json
        XCTAssertEqual(none?["metadata"]?["total"], 0, "all or nothing")

        let triggers = try call(
            "PUT", "/operations-manager/triggers",
            ["triggers": [["name": "again", "type": "manual", "actionId": .string(source.id)]]])
        XCTAssertEqual(triggers.json?["data"]?[0]?["data"]?["actionId"], .string(source.id), triggers.text)
    }

    /// Schedule triggers due around the moment instance 1 is killed: each due time fires once,
    /// on whichever runner got there first, and starts one job.
    func testSchedulesFireOncePerDueTimeAcrossAKilledInstance() throws {
        defer { TestStack.restoreInstances() }
        let target = try automation()
        let now = Date().timeIntervalSince1970 * 1000
        let triggers = try (0..<6).map { n -> String in
            let created = try trigger(
                [
                    "name": .string("sched-\(n)"), "type": "schedule", "actionId": .string(target.id),
                    "firstRunAt": .number((now + 1_000 + Double(n) * 500).rounded()), "repeatUnit": "minute", "repeatFrequency": 1,
                    "formData": ["n": .number(n)],
                ])
            XCTAssertEqual(created["repeatInterval"], 60_000)
            return try XCTUnwrap(created["_id"]?.stringValue)
        }
        Thread.sleep(forTimeInterval: 1.8)
        XCTAssertEqual(try TestStack.ctl("kill-instance", "1").status, 0)
        let deadline = Date().addingTimeInterval(15)
        while try triggers.contains(where: { try firings($0).isEmpty }), Date() < deadline { Thread.sleep(forTimeInterval: 0.2) }
        Thread.sleep(forTimeInterval: 1)
        for (n, id) in triggers.enumerated() {
            let fired = try firings(id)
            XCTAssertEqual(fired.count, 1, "trigger \(n): \(fired)")
            guard let firing = fired.first else { continue }
            let job = try it.job(firing.job, until: ["complete", "error"])
            XCTAssertEqual(job["variables"]?["n"], .number(n))
            XCTAssertTrue(firing.firedBy.hasPrefix("runner:flowgate-"), firing.firedBy)
        }
        let next = try client.get("/operations-manager/triggers/\(triggers[0])", token: admin).json?["data"]
        XCTAssertEqual(next?["nextRunAt"]?.doubleValue, ((now + 1_000).rounded() + 60_000), "the next due time is one interval on")
    }

    /// A due time that passes while PostgreSQL is down fires once it is back.
    func testAScheduleDueWhilePostgresIsDownFiresOnceItIsBack() throws {
        defer { _ = try? TestStack.ctl("start-postgres") }
        let target = try automation()
        let created = try trigger(
            [
                "name": "across a restart", "type": "schedule", "actionId": .string(target.id),
                "firstRunAt": .number((Date().timeIntervalSince1970 * 1000 + 1_500).rounded()),
            ])
        let id = try XCTUnwrap(created["_id"]?.stringValue)
        XCTAssertEqual(try TestStack.ctl("stop-postgres").status, 0)
        Thread.sleep(forTimeInterval: 3)
        XCTAssertEqual(try TestStack.ctl("start-postgres").status, 0)
        let deadline = Date().addingTimeInterval(15)
        while try firings(id).isEmpty, Date() < deadline { Thread.sleep(forTimeInterval: 0.2) }
        Thread.sleep(forTimeInterval: 1)
        XCTAssertEqual(try firings(id).count, 1)
        XCTAssertEqual(
            try client.get("/operations-manager/triggers/\(id)", token: admin).json?["data"]?["nextRunAt"], .null, "a one-off is done")
    }

    /// A due time missed while nothing ran (more than a minute late): `none` skips it, `last`
    /// fires it once; the next due time stays on the schedule.
    func testMissedRunsAreSkippedOrFiredOnceAsTheTriggerSays() throws {
        let target = try automation()
        let missed = (Date().timeIntervalSince1970 * 1000 - 600_000).rounded()
        let ids = try ["none", "last"].map { policy in
            try XCTUnwrap(
                trigger(
                    [
                        "name": .string("missed-\(policy)"), "type": "schedule", "actionId": .string(target.id),
                        "firstRunAt": .number(missed),
                        "repeatUnit": "hour", "repeatFrequency": 1, "processMissedRuns": .string(policy),
                    ])["_id"]?.stringValue)
        }
        let deadline = Date().addingTimeInterval(10)
        while try firings(ids[1]).isEmpty, Date() < deadline { Thread.sleep(forTimeInterval: 0.2) }
        Thread.sleep(forTimeInterval: 1)
        XCTAssertEqual(try firings(ids[0]).count, 0, "none: the missed run is skipped")
        XCTAssertEqual(try firings(ids[1]).count, 1, "last: the missed run fires once")
        for id in ids {
            let next = try client.get("/operations-manager/triggers/\(id)", token: admin).json?["data"]?["nextRunAt"]
            XCTAssertEqual(next?.doubleValue, missed + 3_600_000)
        }
        ItentialSupport.assertMessage(
            try call(
                "POST", "/operations-manager/triggers",
                ["name": "fast", "type": "schedule", "actionId": .string(target.id), "firstRunAt": 0, "repeatInterval": 1000]), 400)
        ItentialSupport.assertMessage(
            try call("POST", "/operations-manager/triggers", ["name": "when", "type": "schedule", "actionId": .string(target.id)]), 400,
            "firstRunAt")
    }
}

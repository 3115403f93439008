import Foundation
import JSON
import XCTest

/// What Itential's CLIs and SDKs probe and the routes older client libraries still call,
/// through nginx: platform and health routes, WorkFlowEngine metrics, the legacy
/// WorkFlowEngine job, task and workflow routes with their Mongo-style bodies, job groups,
/// and whoami's methods per role.
final class ItentialPlatformTests: ItentialTestCase {
    func call(_ method: String, _ path: String, _ body: JSON? = nil, token: String? = nil) throws -> HTTPResponse {
        try client.request(
            method, path, headers: client.authorization(token ?? admin) + [("Content-Type", "application/json")],
            body: body.map { Array($0.serialized.utf8) } ?? [])
    }

    func oneTaskJob(_ state: String = "success") throws -> (id: String, workflow: String) {
        let workflow = try it.workflow(
            [("a1", ItentialFixture.stub(state))],
            [("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["workflow_end": ItentialFixture.success])])
        let id = try XCTUnwrap(it.start(workflow, ["variables": ["site": "lab"]])["_id"]?.stringValue)
        _ = try it.job(id, until: ["complete", "error"])
        return (id, workflow)
    }

    func testPlatformAndHealthRoutesDescribeFlowgate() throws {
        let status = try client.get("/health/status")
        XCTAssertEqual(status.status, 200, "no session needed: load balancers probe it")
        XCTAssertEqual(status.json?["apps"], "running")
        XCTAssertEqual(status.json?["adapters"], "running")
        XCTAssertEqual(
            status.json?["services"]?.arrayValue?.compactMap { $0["service"]?.stringValue }, ["postgresql", "runners"])
        XCTAssertNotNil(status.json?["serverId"]?.stringValue)
        XCTAssertGreaterThan(status.json?["timestamp"]?.doubleValue ?? 0, 1.7e12, "epoch milliseconds")

        let applications = try XCTUnwrap(client.get("/health/applications", token: admin).json)
        XCTAssertEqual(applications["total"], 3)
        XCTAssertEqual(
            applications["results"]?.arrayValue?.compactMap { $0["id"]?.stringValue },
            ["WorkFlowEngine", "OperationsManager", "AutomationStudio"])
        XCTAssertEqual(applications["results"]?[0]?["state"], "RUNNING")
        let filtered = try client.get("/health/applications?equals=OperationsManager&equalsField=id", token: admin).json
        XCTAssertEqual(filtered?["total"], 1)
        XCTAssertEqual(
            try client.get("/health/applications/WorkFlowEngine", token: admin).json?["package_id"], "@itential/app-workflow_engine")
        ItentialSupport.assertMessage(try client.get("/health/applications/Nope", token: admin), 404)
        XCTAssertEqual(try client.get("/health/adapters?limit=1", token: admin).json, ["results": [], "total": 0])
        XCTAssertEqual(try client.get("/adapters", token: admin).json, ["results": [], "total": 0])
        ItentialSupport.assertMessage(try client.get("/adapters/local_aaa", token: admin), 404)

        let apps = try XCTUnwrap(client.get("/applications", token: admin).json)
        XCTAssertEqual(apps["total"], 3)
        XCTAssertEqual(apps["results"]?[0]?["data"]?["model"], "@itential/app-workflow_engine")
        XCTAssertEqual(apps["results"]?[0]?["metadata"]?["isActive"], true)
        XCTAssertEqual(try client.get("/applications/AutomationStudio", token: admin).json?["data"]?["name"], "AutomationStudio")
        ItentialSupport.assertMessage(try client.get("/applications/Nope", token: admin), 404)
        let restart = try call("PUT", "/applications/WorkFlowEngine/restart")
        XCTAssertEqual(restart.status, 200, restart.text)
        XCTAssertEqual(restart.json?["status"], "success")
        ItentialSupport.assertMessage(try call("PUT", "/applications/Nope/restart"), 404)
        let operator_ = try TestStack.makeUser(roles: ["operations"], prefix: "platform-op")
        ItentialSupport.assertMessage(try call("PUT", "/applications/WorkFlowEngine/restart", token: operator_.token), 403)

        let server = try XCTUnwrap(client.get("/health/server", token: admin).json)
        // A GitHub Action reads the release's leading "year.minor" as a number.
        XCTAssertEqual(server["release"]?.stringValue.flatMap { Double($0.prefix(6)) }, 2023.2)
        XCTAssertEqual(server["platform"], "linux")
        XCTAssertGreaterThan(server["pid"]?.intValue ?? 0, 0)
        XCTAssertGreaterThan(server["uptime"]?.doubleValue ?? 0, 0)
        XCTAssertEqual(server["dependencies"]?.objectValue?.count, 3)
        let system = try XCTUnwrap(client.get("/health/system", token: admin).json)
        XCTAssertGreaterThan(system["totalmem"]?.doubleValue ?? 0, system["freemem"]?.doubleValue ?? .infinity)
        XCTAssertEqual(system["loadavg"]?.arrayValue?.count, 3)
        XCTAssertGreaterThan(system["cpus"]?.arrayValue?.count ?? 0, 0)
        for path in ["/health/applications", "/health/server", "/health/system", "/applications", "/adapters"] {
            ItentialSupport.assertMessage(try client.get(path), 401)
        }
    }

    func testMetricsAreComputedFromHistory() throws {
        let job = try oneTaskJob()
        _ = try it.job(try XCTUnwrap(it.start(job.workflow)["_id"]?.stringValue), until: ["complete"])
        let jobs = try XCTUnwrap(
            client.get("/workflow_engine/jobs/metrics?equals=\(job.workflow)&equalsField=workflow.name", token: admin).json)
        XCTAssertEqual(jobs["total"], 1)
        let row = try XCTUnwrap(jobs["results"]?[0])
        XCTAssertEqual(row["workflow"]?["name"], .string(job.workflow))
        XCTAssertEqual(row["jobsComplete"], 2)
        XCTAssertGreaterThanOrEqual(row["totalRunTime"]?.doubleValue ?? -1, 0)
        XCTAssertEqual(row["metrics"]?[0]?["jobsTotal"], 2)

        let tasks = try XCTUnwrap(
            client.get("/workflow_engine/tasks/metrics?equals=\(job.workflow)&equalsField=workflow.name", token: admin).json)
        XCTAssertEqual(tasks["total"], 1)
        XCTAssertEqual(tasks["results"]?[0]?["taskId"], "a1")
        XCTAssertEqual(tasks["results"]?[0]?["global"], false)
        XCTAssertEqual(tasks["results"]?[0]?["metrics"]?[0]?["totalSuccesses"], 2)
        let global = try XCTUnwrap(client.get("/workflow_engine/tasks/metrics?equals=stub&equalsField=name&limit=1000", token: admin).json)
        let stubs = try XCTUnwrap(global["results"]?.arrayValue?.first { $0["global"] == true })
        XCTAssertEqual(stubs["app"], "WorkFlowEngine")
        XCTAssertGreaterThanOrEqual(stubs["metrics"]?[0]?["totalSuccesses"]?.intValue ?? 0, 2)

        // Paged as itential-mcp reads it: until len(results) == total.
        var seen = 0
        var total = -1
        while seen != total {
            let page = try XCTUnwrap(client.get("/workflow_engine/jobs/metrics?limit=100&skip=\(seen)", token: admin).json)
            total = try XCTUnwrap(page["total"]?.intValue)
            seen += page["results"]?.arrayValue?.count ?? 0
            XCTAssertLessThanOrEqual(seen, total)
            if page["results"]?.arrayValue?.isEmpty ?? true { break }
        }
        XCTAssertEqual(seen, total)
        ItentialSupport.assertMessage(try client.get("/workflow_engine/jobs/metrics?equals=x&equalsField=tasks", token: admin), 400)
    }

    func testLegacySearchesSpeakTheMongoStyleBodies() throws {
        let job = try oneTaskJob()
        let search = try call(
            "POST", "/workflow_engine/jobs/search",
            [
                "options": [
                    "query": ["name": .string(job.workflow)], "fields": ["name": 1, "status": 1], "sort": ["metrics.start_time": -1],
                    "limit": 5,
                ]
            ])
        XCTAssertEqual(search.status, 200, search.text)
        XCTAssertEqual(search.json?["total"], 1)
        XCTAssertEqual(search.json?["limit"], 5, "clients page by adding limit to skip")
        XCTAssertEqual(search.json?["skip"], 0)
        XCTAssertEqual(search.json?["results"]?[0], ["_id": .string(job.id), "name": .string(job.workflow), "status": "complete"])

        let tasks = try call(
            "POST", "/workflow_engine/tasks/search", ["filter": ["job._id": .string(job.id)], "options": ["query": ["name": "stub"]]])
        XCTAssertEqual(tasks.json?["total"], 1, tasks.text)
        XCTAssertEqual(tasks.json?["results"]?[0]?["job"]?["task"], "a1")
        XCTAssertEqual(tasks.json?["results"]?[0]?["status"], "complete")

        let listed = try call(
            "POST", "/workflow_engine/getJobList/complete",
            [
                "options": [
                    "filter": ["name": .string(job.workflow)], "page": ["skip": 0, "limit": 10],
                    "sort": ["field": "name", "direction": -1],
                ]
            ])
        XCTAssertEqual(listed.json?["results"]?.arrayValue?.compactMap { $0["_id"]?.stringValue }, [job.id], listed.text)
        let unfiltered = try call("GET", "/workflow_engine/getJobList/complete")
        XCTAssertEqual(unfiltered.status, 200, unfiltered.text)
        XCTAssertGreaterThanOrEqual(unfiltered.json?["total"]?.intValue ?? 0, 1)
        XCTAssertEqual(Set(unfiltered.json?["results"]?.arrayValue?.compactMap { $0["status"]?.stringValue } ?? []), ["complete"])
        let running = try call("POST", "/workflow_engine/getJobList/running", ["options": ["filter": ["name": .string(job.workflow)]]])
        XCTAssertEqual(running.json?["total"], 0)
        ItentialSupport.assertMessage(try call("POST", "/workflow_engine/getJobList/finished", [:]), 400)

        let queried = try call(
            "POST", "/workflow_engine/queryJobs", ["query": ["name": .string(job.workflow), "status": ["$in": ["complete", "error"]]]])
        XCTAssertEqual(queried.json?["total"], 1, queried.text)
        let found = try call(
            "POST", "/workflow_engine/jobs/find",
            ["query": ["name": ["$regex": .string("^\(job.workflow)$")], "variables.site": "lab"], "options": ["fields": ["name": 1]]])
        XCTAssertEqual(found.json, [["_id": .string(job.id), "name": .string(job.workflow)]], found.text)
        let none = try call(
            "POST", "/workflow_engine/jobs/find", ["query": ["name": .string(job.workflow), "variables.site": ["$ne": "lab"]]])
        XCTAssertEqual(none.json, [])

        for refused: JSON in [
            ["query": ["$where": "sleep(1)"]], ["query": ["name": ["$regex": "a.*b"]]], ["query": ["name": ["$bogus": 1]]],
            ["query": ["metrics": ["user": "x"]]], ["query": ["name": ["$in": []]]], ["options": ["fields": ["name": 1, "tasks": 0]]],
            ["options": ["limit": -1]], ["options": ["sort": ["name": 1, "status": 1]]],
        ] {
            let body = refused["query"] != nil ? refused : refused.setting("query", to: [:])
            ItentialSupport.assertMessage(try call("POST", "/workflow_engine/jobs/find", body), 400)
        }

        let workflows = try call(
            "POST", "/workflow_engine/workflows/search",
            ["options": ["query": ["name": ["$regex": .string(job.workflow)]], "fields": ["name": 1]]])
        XCTAssertEqual(workflows.json?["total"], 1, workflows.text)
        XCTAssertEqual(workflows.json?["results"]?[0]?["name"], .string(job.workflow))
        XCTAssertNil(workflows.json?["results"]?[0]?["tasks"])
        ItentialSupport.assertMessage(try call("POST", "/workflow_engine/workflows/search", ["options": ["query": ["tasks": "x"]]]), 400)
    }

    func testLegacyJobReadsWatchersGroupsAndWorkflows() throws {
        let job = try oneTaskJob("error")
        let entire = try XCTUnwrap(client.get("/workflow_engine/getEntireJob/\(job.id)", token: admin).json)
        XCTAssertEqual(entire["_id"], .string(job.id))
        XCTAssertNotNil(entire["tasks"]?["a1"]?["variables"])
        let shallow = try XCTUnwrap(client.get("/workflow_engine/getJobShallow/\(job.id)", token: admin).json)
        XCTAssertEqual(shallow["status"], "error")
        XCTAssertEqual(shallow["tasks"]?["workflow_end"]?["status"], "incomplete")
        XCTAssertNil(shallow["tasks"]?["a1"]?["variables"], "shallow leaves out what tasks were given and returned")
        XCTAssertEqual(
            try client.get("/workflow_engine/job/statuses/\(job.id)", token: admin).json,
            ["workflow_start": "complete", "a1": "error", "workflow_end": "incomplete"])
        let output = try XCTUnwrap(client.get("/workflow_engine/job/\(job.id)/output", token: admin).json)
        XCTAssertEqual(output["site"], "lab")
        XCTAssertEqual(output["_id"], .string(job.id))
        ItentialSupport.assertMessage(try client.get("/workflow_engine/getJobShallow/ffffffffffffffffffffffff", token: admin), 404)
        ItentialSupport.assertMessage(try client.get("/workflow_engine/getEntireJob/nope", token: admin), 400)

        let me = try XCTUnwrap(client.get("/whoami", token: admin).json?["id"])
        XCTAssertEqual(try call("PUT", "/workflow_engine/job/\(job.id)/watch").json, me)
        XCTAssertEqual(try client.get("/workflow_engine/getJob/\(job.id)", token: admin).json?["watchers"], [me])
        XCTAssertEqual(try call("DELETE", "/workflow_engine/job/\(job.id)/watch").json, me)
        XCTAssertEqual(try client.get("/workflow_engine/getJob/\(job.id)", token: admin).json?["watchers"], [])
        let added = try call("POST", "/workflow_engine/job/watchers/watch", ["job_id": .string(job.id), "watchers": [me]])
        XCTAssertEqual(added.json, [me], added.text)
        ItentialSupport.assertMessage(
            try call("POST", "/workflow_engine/job/watchers/watch", ["job_id": .string(job.id), "watchers": ["ffffffffffffffffffffffff"]]),
            400)

        let (a, b) = ("aaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbb")
        XCTAssertEqual(try call("POST", "/workflow_engine/jobs/\(job.id)/groups", ["group": .string(a)]).json, [.string(a)])
        let replaced = try call("PUT", "/operations-manager/jobs/\(job.id)/groups", ["groups": [.string(a), .string(b)]])
        XCTAssertEqual(replaced.json?["data"], [.string(a), .string(b)], replaced.text)
        XCTAssertEqual(try call("DELETE", "/workflow_engine/jobs/\(job.id)/groups/\(a)").json, [.string(b)])
        XCTAssertEqual(try client.get("/workflow_engine/jobs/\(job.id)/groups", token: admin).json, [.string(b)])
        let outsider = try TestStack.makeUser(roles: ["apiwrite"], prefix: "legacy-outsider")
        ItentialSupport.assertMessage(try client.get("/workflow_engine/getJobShallow/\(job.id)", token: outsider.token), 403)
        XCTAssertEqual(try call("DELETE", "/operations-manager/jobs/\(job.id)/groups").json?["data"], [])
        XCTAssertEqual(try client.get("/workflow_engine/getJobShallow/\(job.id)", token: outsider.token).status, 200)
        ItentialSupport.assertMessage(try call("POST", "/workflow_engine/jobs/\(job.id)/groups", ["group": "not-hex"]), 400)
        let history = try TestStack.database().execute(
            sql: """
                SELECT count(*) FROM job_events e JOIN jobs j ON j.id = e.job_id
                WHERE j.public_id = $1 AND e.event = 'job_updated' AND e.detail ? 'groups'
                """, [job.id])
        XCTAssertEqual(history.first?.string(0), "4", "every change of a job's groups is in its history")

        let detailed = try XCTUnwrap(client.get("/workflow_engine/workflows/detailed/\(job.workflow)", token: admin).json)
        XCTAssertEqual(detailed["name"], .string(job.workflow))
        ItentialSupport.assertMessage(try client.get("/workflow_engine/workflows/detailed/no-such-workflow", token: admin), 404)
        let variablesWorkflow = try it.workflow(
            [("a1", ItentialFixture.task("newVariable", ["name": "x", "value": "$var.job.device"]))],
            [("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["workflow_end": ItentialFixture.success])],
            inputSchema: ["type": "object", "properties": ["region": ["type": "string"]]])
        XCTAssertEqual(
            try client.get("/workflow_engine/workflows/variables/\(variablesWorkflow)", token: admin).json, ["device", "region"])

        let workflow = try XCTUnwrap(client.get("/workflow_engine/workflows/detailed/\(job.workflow)", token: admin).json)
        for key in ["workflow", "asset"] {
            let validated = try call("POST", "/workflow_engine/workflows/validate", [key: workflow])
            XCTAssertEqual(validated.json?["isValid"], true, "\(key): \(validated.text)")
        }
    }

    /// A lease that just lapsed is taken over at the next poll; only a task abandoned for more
    /// than a minute degrades the probe (a loaded minute must not make load balancers drop us).
    func testTheProbeDegradesOnlyOnATaskAbandonedForAMinute() throws {
        let job = try oneTaskJob()
        let db = try TestStack.database()
        let task = try XCTUnwrap(
            try db.execute(
                sql: """
                    INSERT INTO tasks (job_id, key, kind, automatic, status, lease_owner, lease_expires_at)
                    SELECT id, 'probe', 'test:no-runner-has-this-kind', true, 'running', 'runner:gone', now() - interval '5 seconds'
                    FROM jobs WHERE surface = 'itential' AND public_id = $1 RETURNING id
                    """, [job.id]
            ).first?.int(0))
        defer { _ = try? db.execute(sql: "DELETE FROM tasks WHERE id = $1", [task]) }
        XCTAssertEqual(try client.get("/health/status").status, 200, "lapsed 5 s ago: still keeping up")
        _ = try db.execute(sql: "UPDATE tasks SET lease_expires_at = now() - interval '2 minutes' WHERE id = $1", [task])
        let abandoned = try client.get("/health/status")
        XCTAssertEqual(abandoned.status, 503, abandoned.text)
        XCTAssertEqual(abandoned.json?["apps"], "degraded")
    }

    /// Brief tasks are those of running jobs, chosen before the page is cut: a canceled job's
    /// task sorted first does not leave the page empty.
    func testQueryTasksBriefPagesOverRunningJobsOnly() throws {
        let workflow = try it.workflow(
            [("a1", ItentialFixture.viewData())],
            [("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["workflow_end": ItentialFixture.success])])
        let canceled = try XCTUnwrap(it.start(workflow)["_id"]?.stringValue)
        let running = try XCTUnwrap(it.start(workflow)["_id"]?.stringValue)
        XCTAssertEqual(try call("POST", "/operations-manager/jobs/cancel", ["jobIds": [.string(canceled)]]).status, 200)
        _ = try it.job(canceled, until: ["canceled"])
        let brief = try call(
            "POST", "/workflow_engine/queryTasksBrief",
            ["query": ["job._id": ["$in": [.string(canceled), .string(running)]]], "options": ["limit": 1]])
        XCTAssertEqual(brief.status, 200, brief.text)
        XCTAssertEqual(brief.json?.arrayValue?.compactMap { $0["job"]?["_id"]?.stringValue }, [running], brief.text)
        XCTAssertEqual(brief.json?[0]?["name"], "ViewData")
    }

    func testWhoamiListsTheMethodsOfTheCallersRoles() throws {
        let admin = try XCTUnwrap(client.get("/whoami", token: self.admin).json?["methods"])
        let operations = Set(admin["OperationsManager"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        XCTAssertTrue(
            operations.isSuperset(of: ["claimTask", "startJob", "getJobs", "cancelJobs", "runEndpointTriggerWithPost", "createTrigger"]))
        XCTAssertEqual(admin["WorkFlowEngine"], ["getJobMetrics", "getTaskMetrics"])
        let reader = try TestStack.makeUser(roles: ["apiread"], prefix: "whoami-reader")
        let read = try XCTUnwrap(client.get("/whoami", token: reader.token).json?["methods"]?["OperationsManager"]?.arrayValue)
        XCTAssertTrue(read.contains("getJobs"))
        XCTAssertFalse(read.contains("startJob"))
        XCTAssertFalse(read.contains("claimTask"))

        // What whoami lists is what the routes allow: support may not touch automations, and
        // operators may.
        for role in ["support", "operations", "apiread"] {
            let user = try TestStack.makeUser(roles: [role], prefix: "whoami-\(role)")
            let listed = try XCTUnwrap(client.get("/whoami", token: user.token).json?["methods"])["OperationsManager"]?.arrayValue ?? []
            let create = try client.postJSON(
                "/operations-manager/automations",
                ["name": .string("whoami-\(UUID().uuidString.prefix(8))"), "componentType": "workflows"],
                token: user.token)
            XCTAssertEqual(listed.contains("createAutomation"), create.status == 200, "\(role): \(create.status) \(create.text)")
            let list = try client.get("/operations-manager/automations", token: user.token)
            XCTAssertEqual(listed.contains("getAutomations"), list.status == 200, "\(role): \(list.status)")
        }
    }
}

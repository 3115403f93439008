import Foundation
import JSON
import Postgres
import Scale
import XCTest

/// Scale jobs through nginx: queueing, the executor's claim and reports, and the counts.
final class ScaleJobsTests: XCTestCase {
    var client: HTTPClient!
    var admin = ""

    override func setUpWithError() throws {
        client = try TestStack.client()
        admin = try TestStack.adminToken()
    }

    /// A new job type (unique name) whose manifest declares a `data` error `bad-input`.
    /// Its claims last `timeout` seconds; an hour by default, so that jobs a test leaves RUNNING stay out of the queue.
    func jobType(maxScheduled: Int? = nil, timeout: Int = 3600) throws -> (id: Int, name: String) {
        let name = "jobs-\(UUID().uuidString.prefix(8).lowercased())"
        let base = try ScaleSupport.data("example-seed-random-number.manifest.json")
        let job = try XCTUnwrap(base["job"]).setting("name", to: .string(name)).setting("timeout", to: .number(timeout))
            .setting("errors", to: [["code": 1, "name": "bad-input", "category": "data"]])
        var body: JSON = ["docker_image": "img", "manifest": base.setting("job", to: job)]
        if let maxScheduled { body = body.setting("max_scheduled", to: .number(maxScheduled)) }
        let created = try client.postJSON("/v6/job-types/", body, token: admin)
        XCTAssertEqual(created.status, 201, created.text)
        return (try XCTUnwrap(created.json?["id"]?.intValue), name)
    }

    func queue(_ jobTypeId: Int, _ input: JSON = [:]) throws -> Int {
        let response = try client.postJSON("/v6/jobs/", ["job_type_id": .number(jobTypeId), "input": input], token: admin)
        XCTAssertEqual(response.status, 201, response.text)
        return try XCTUnwrap(response.json?["id"]?.intValue)
    }

    func post(_ path: String, _ body: JSON = [:]) throws -> HTTPResponse { try client.postJSON(path, body, token: admin) }

    func detail(_ response: HTTPResponse, _ status: Int, file: StaticString = #filePath, line: UInt = #line) {
        ScaleSupport.assertDetail(response, status, file: file, line: line)
    }

    func testQueueListDetailsCancelAndRequeue() throws {
        let type = try jobType()
        let queued = try client.postJSON("/v6/jobs/", ["job_type_id": .number(type.id), "input": ["x": 1]], token: admin)
        XCTAssertEqual(queued.status, 201)
        let id = try XCTUnwrap(queued.json?["id"]?.intValue)
        XCTAssertEqual(queued.header("location"), "\(try XCTUnwrap(TestStack.baseURL))/v6/jobs/\(id)/")
        XCTAssertEqual(queued.json?["status"], "QUEUED")
        XCTAssertEqual(queued.json?["input"], ["x": 1])
        XCTAssertEqual(queued.json?["job_type"]?["name"], .string(type.name))
        XCTAssertNotEqual(queued.json?["queued"], .null)
        XCTAssertEqual(queued.json?["started"], .null, "a queued job has not started")
        let other = try queue(type.id)

        let listed = try XCTUnwrap(try client.get("/v6/jobs/?job_type_id=\(type.id)", token: admin).json)
        XCTAssertEqual(listed["count"], 2)
        XCTAssertEqual(try client.get("/v6/jobs/?job_type_name=\(type.name)&status=RUNNING", token: admin).json?["count"], 0)
        XCTAssertEqual(try client.get("/v6/jobs/\(id)/", token: admin).json?["id"]?.intValue, id)
        detail(try client.get("/v6/jobs/999999999/", token: admin), 404)
        detail(try client.get("/v6/jobs/?status=DONE", token: admin), 400)
        detail(try client.get("/v6/jobs/?started=yesterday", token: admin), 400)

        let canceled = try post("/v6/jobs/\(other)/cancel/")
        XCTAssertEqual(canceled.json?["status"], "CANCELED")
        XCTAssertNotEqual(canceled.json?["ended"], .null)
        detail(try post("/v6/jobs/\(other)/cancel/"), 400)
        let requeued = try post("/v6/jobs/\(other)/requeue/")
        XCTAssertEqual(requeued.json?["status"], "QUEUED")
        XCTAssertEqual(requeued.json?["ended"], .null)
        detail(try post("/v6/jobs/999999999/cancel/"), 404)

        detail(try post("/v6/jobs/", ["job_type_id": 999999999]), 404)
        detail(try post("/v6/jobs/", ["job_type_id": "one"]), 400)
        detail(try post("/v6/jobs/", ["job_type_id": .number(type.id), "input": [1]]), 400)
        detail(try post("/v6/jobs/", ["job_type_id": .number(type.id), "priority": 1]), 400)
        let reader = try TestStack.makeUser(roles: ["apiread"])
        detail(try client.postJSON("/v6/jobs/", ["job_type_id": .number(type.id)], token: reader.token), 403)

        let path = "/v6/job-types/\(type.name)/0.1.0/"
        func patch(_ body: JSON) throws {
            XCTAssertEqual(
                try client.request(
                    "PATCH", path, headers: [("Authorization", "Bearer \(admin)"), ("Content-Type", "application/json")],
                    body: Array(body.serialized.utf8)
                ).status, 200)
        }
        try patch(["is_paused": true])
        detail(try post("/v6/jobs/", ["job_type_id": .number(type.id)]), 400)
        try patch(["is_paused": false, "is_active": false])
        detail(try post("/v6/jobs/", ["job_type_id": .number(type.id)]), 400)
        XCTAssertEqual(try client.get("/v6/jobs/?job_type_id=\(type.id)", token: admin).json?["count"], 2, "refusals wrote nothing")
    }

    func testReportsUseTheJobTypesErrorsAndTheLifecycle() throws {
        let type = try jobType()
        let id = try queue(type.id)
        XCTAssertEqual(try post("/v6/jobs/\(id)/status/", ["status": "RUNNING"]).json?["status"], "RUNNING")
        detail(try post("/v6/jobs/\(id)/status/", ["status": "FAILED", "error": "no-such-error"]), 400)
        detail(try post("/v6/jobs/\(id)/status/", ["status": "DONE"]), 400)
        let failed = try post("/v6/jobs/\(id)/status/", ["status": "FAILED", "error": "bad-input"])
        XCTAssertEqual(failed.json?["error"]?["name"], "bad-input")
        XCTAssertEqual(failed.json?["error"]?["category"], "DATA")
        XCTAssertEqual(failed.json?["error"]?["job_type_name"], .string(type.name))
        detail(try post("/v6/jobs/\(id)/status/", ["status": "COMPLETED"]), 400)
        let history = try TestStack.database().execute(
            Statement(
                "t_scale_history",
                """
                SELECT string_agg(coalesce(from_status, '') || '>' || to_status, ',' ORDER BY id) FROM job_events
                WHERE surface = 'scale' AND job_public_id = $1 AND event IN ('job_created', 'job_status_changed')
                """), [String(id)]
        ).first?[0]
        XCTAssertEqual(history, ">QUEUED,QUEUED>RUNNING,RUNNING>FAILED")
    }

    /// A worker that lost the answer to its claim and asks again under the same key gets the
    /// job it already holds, and no second job is claimed for it.
    func testARetriedClaimWithItsKeyGetsTheJobItHolds() throws {
        let type = try jobType()
        for _ in 0..<2 { _ = try queue(type.id) }
        let key = UUID().uuidString
        let claim = { try self.client.postJSON("/v6/jobs/claim/", [:], token: self.admin, headers: [("Idempotency-Key", key)]) }
        // The claim may take an older job another test left queued: count its claims so far.
        func claims(of job: Int) throws -> Int? {
            try TestStack.database().execute(
                Statement(
                    "t_scale_claims_of_job",
                    "SELECT count(*) FROM job_events WHERE surface = 'scale' AND job_public_id = $1 AND to_status = 'RUNNING'"),
                [String(job)]
            ).first?.int(0)
        }
        let first = try claim()
        let held = try XCTUnwrap(first.json?["id"]?.intValue, first.text)
        let claimed = try claims(of: held)
        let again = try claim()
        XCTAssertEqual(again.status, 200, again.text)
        XCTAssertEqual(again.json?["id"]?.intValue, held)
        XCTAssertEqual(again.header("idempotent-replayed"), "true")
        XCTAssertEqual(try claims(of: held), claimed, "the retry claimed nothing again")
        XCTAssertNotEqual(try post("/v6/jobs/claim/").json?["id"]?.intValue, held, "without the key, a claim is a new one")
    }

    func testClaimsHonourMaxScheduledAndPausedTypes() throws {
        let limited = try jobType(maxScheduled: 1)
        let first = try queue(limited.id)
        let second = try queue(limited.id)
        var claimed: [Int] = []
        while let job = try post("/v6/jobs/claim/").json, let id = job["id"]?.intValue {
            claimed.append(id)
            XCTAssertEqual(job["status"], "RUNNING")
        }
        XCTAssertTrue(claimed.contains(first))
        XCTAssertFalse(claimed.contains(second), "max_scheduled 1 holds the second job back")
        XCTAssertEqual(try post("/v6/jobs/claim/").status, 204)
        XCTAssertEqual(try post("/v6/jobs/\(first)/status/", ["status": "COMPLETED"]).status, 200)
        XCTAssertEqual(try post("/v6/jobs/claim/").json?["id"]?.intValue, second)
    }

    /// Queued jobs of a paused or deprecated job type are held out of the claim's index, so
    /// however many there are, a claim never reads them; resuming makes them claimable again.
    func testHeldJobsAreOutsideTheClaimsIndex() throws {
        let type = try jobType()
        let job = try queue(type.id)
        let db = try TestStack.database()
        func held() throws -> Bool? {
            try db.execute(sql: "SELECT scale_held FROM jobs WHERE surface = 'scale' AND public_id = $1", [String(job)]).first?.bool(0)
        }
        func patch(_ body: JSON) throws {
            let response = try client.request(
                "PATCH", "/v6/job-types/\(type.name)/0.1.0/",
                headers: [("Authorization", "Bearer \(admin)"), ("Content-Type", "application/json")],
                body: Array(body.serialized.utf8))
            XCTAssertEqual(response.status, 200, response.text)
        }
        XCTAssertEqual(try held(), false)
        try patch(["is_paused": true])
        XCTAssertEqual(try held(), true, "pausing holds the type's queued jobs")
        var claimed: [Int] = []
        while let id = try post("/v6/jobs/claim/").json?["id"]?.intValue { claimed.append(id) }
        XCTAssertFalse(claimed.contains(job))
        try patch(["is_paused": false, "is_active": false])
        XCTAssertEqual(try held(), true, "so does deprecating")
        try patch(["is_active": true])
        XCTAssertEqual(try held(), false)
        XCTAssertEqual(try post("/v6/jobs/claim/").json?["id"]?.intValue, job)

        // A table this small is cheapest to scan and sort; with both priced out, as they are at
        // any real queue length, and thousands of held jobs in the statistics (rolled back), the
        // claim must read the index that holds its order and leaves the held jobs out (other
        // indexes hold the order of all queued jobs).
        let plan = try db.rolledBack { db in
            _ = try db.execute(
                sql: """
                    INSERT INTO jobs (surface, public_id, status, job_type_id)
                    SELECT 'scale', 'held-' || n, 'QUEUED', $1 FROM generate_series(1, 5000) n
                    """, [type.id])
            try db.run("UPDATE jobs SET scale_held = true WHERE surface = 'scale' AND public_id LIKE 'held-%'")
            try db.run("ANALYZE jobs")
            try db.run("SET LOCAL enable_seqscan = off; SET LOCAL enable_sort = off")
            return try db.execute(sql: "EXPLAIN " + ScaleJobQueries.claim.sql.replacingOccurrences(of: "$1::text", with: "'plan'::text"))
                .rows.map { $0.string(0) }.joined(separator: "\n")
        }
        XCTAssertTrue(plan.contains("jobs_scale_claimable"), plan)
    }

    /// Scale's counts and first pages read narrow indexes (migration 0026), not the jobs they
    /// count. Over 20,000 finished jobs of a type, vacuumed as autovacuum leaves an old history
    /// (and deleted afterwards), with sequential and bitmap scans priced out, each statement has an
    /// index-only scan of its index, and the status-filtered page is that index read in order.
    func testCountsAndFirstPagesAreReadFromIndexes() throws {
        let type = try jobType()
        let db = try TestStack.database()
        defer { _ = try? db.execute(sql: "DELETE FROM jobs WHERE surface = 'scale' AND job_type_id = $1", [type.id]) }
        _ = try db.execute(
            sql: """
                INSERT INTO jobs (surface, public_id, status, job_type_id, error_id, last_status_change)
                SELECT 'scale', 'counted-' || n, (ARRAY['COMPLETED', 'FAILED', 'CANCELED'])[n % 3 + 1], $1,
                       CASE WHEN n % 3 = 1 THEN (SELECT min(id) FROM errors WHERE category = 'SYSTEM') END,
                       now() - n * interval '1 hour'
                FROM generate_series(1, 20000) n
                """, [type.id])
        try db.vacuumAsAnOldHistory(["jobs"])
        let statements = ScaleJobQueries.statements + ScaleCountQueries.statements
        let none: String? = nil
        let noList: [String]? = nil
        let plans = try db.rolledBack { db in
            try db.run("SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off")
            func plan(_ name: String, _ parameters: [any PostgresParameter]) throws -> (nodes: [JSON], text: String) {
                let sql = try XCTUnwrap(statements.first { $0.name == name }?.sql, name)
                let explained = try XCTUnwrap(db.execute(sql: "EXPLAIN (FORMAT JSON) " + sql, parameters).first?.string(0))
                let text = try db.execute(sql: "EXPLAIN " + sql, parameters).rows.compactMap { $0.string(0) }.joined(separator: "\n")
                return (planNodes(try XCTUnwrap(JSON.parse(explained)[0]?["Plan"])), text)
            }
            return [
                "status": try plan("scale_job_list", [["COMPLETED"] as [String], none, noList, none, none, 25, 0]),
                "name": try plan("scale_job_list", [noList, none, [type.name] as [String], none, none, 25, 0]),
                "window": try plan("scale_count_status", ["{\(type.id)}", "PT3H", none]),
                "failures": try plan("scale_count_system_failures", [100, 0]),
            ]
        }
        func assertScans(_ key: String, _ type: String, _ index: String, _ what: String) {
            let plan = plans[key]
            let found = plan?.nodes.contains { $0["Node Type"]?.stringValue == type && $0["Index Name"]?.stringValue == index } ?? false
            XCTAssertTrue(found, "\(what): \(type) of \(index) expected in\n\(plan?.text ?? "")")
        }
        assertScans("status", "Index Only Scan", "jobs_status", "the count of a status")
        assertScans("status", "Index Scan", "jobs_status", "the page of a status")
        XCTAssertFalse(plans["status"]?.nodes.contains { $0["Node Type"]?.stringValue == "Sort" } ?? true, "the page in index order")
        assertScans("name", "Index Only Scan", "jobs_scale_type_window", "the count of a job type's jobs")
        assertScans("window", "Index Only Scan", "jobs_scale_type_window", "the status counts in a window")
        assertScans("failures", "Index Only Scan", "jobs_scale_failures", "the system failures")
    }

    /// Claims until this job is handed out (other tests' queued jobs may come first).
    func claim(_ job: Int) throws {
        for _ in 0..<200 {
            guard let id = try post("/v6/jobs/claim/").json?["id"]?.intValue else { break }
            if id == job { return }
        }
        XCTFail("job \(job) was never handed out")
    }

    func waitForStatus(_ job: Int, _ status: String, within seconds: TimeInterval = 6) throws -> JSON {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            let details = try XCTUnwrap(try client.get("/v6/jobs/\(job)/", token: admin).json)
            if details["status"]?.stringValue == status || Date() > deadline { return details }
            usleep(100_000)
        }
    }

    /// A claim lasts its manifest's timeout: a job whose worker never reports goes back to the
    /// queue, and after `max_tries` fails with a SYSTEM error; a RUNNING report renews the lease.
    func testAClaimNeverReportedIsRequeuedThenFailsAfterItsTries() throws {
        let type = try jobType(timeout: 1)
        try TestStack.database().execute(sql: "UPDATE job_types SET max_tries = 2 WHERE id = $1", [type.id])
        let job = try queue(type.id)
        try claim(job)
        XCTAssertEqual(try waitForStatus(job, "QUEUED")["status"], "QUEUED", "the lapsed claim went back to the queue")
        try claim(job)
        let failed = try waitForStatus(job, "FAILED")
        XCTAssertEqual(failed["status"], "FAILED", "its second and last try lapsed too")
        XCTAssertEqual(failed["error"]?["name"], "system-timeout", failed.serialized)
        XCTAssertEqual(failed["error"]?["category"], "SYSTEM")
        let history = try TestStack.database().execute(
            sql: """
                SELECT string_agg(e.from_status || '>' || e.to_status || coalesce(':' || (e.detail ->> 'lease_expired'), ''), ',' ORDER BY e.id)
                FROM job_events e JOIN jobs j ON j.id = e.job_id WHERE j.surface = 'scale' AND j.public_id = $1 AND e.event = 'job_status_changed'
                """, [String(job)]
        ).first?.string(0)
        XCTAssertEqual(history, "QUEUED>RUNNING,RUNNING>QUEUED:true,QUEUED>RUNNING,RUNNING>FAILED:true", "each lapse handled once")
        XCTAssertEqual(try post("/v6/jobs/\(job)/requeue/").status, 200)
        try claim(job)
        XCTAssertEqual(try waitForStatus(job, "QUEUED")["status"], "QUEUED", "a requeue gives the job its tries again")

        let reported = try queue(type.id)
        try claim(reported)
        detail(try post("/v6/jobs/\(reported)/requeue/"), 400)  // only a lapse re-queues a running job
        for _ in 0..<6 {
            usleep(400_000)
            XCTAssertEqual(try post("/v6/jobs/\(reported)/status/", ["status": "RUNNING"]).status, 200, "a heartbeat")
        }
        XCTAssertEqual(try waitForStatus(reported, "RUNNING", within: 0)["status"], "RUNNING", "2.4 s of reports kept a 1 s lease")
        XCTAssertEqual(try waitForStatus(reported, "QUEUED")["status"], "QUEUED", "and silence let it lapse")
    }

    /// 50 clients claim at once, through nginx and two instances, against 20 queued jobs.
    func testFiftyConcurrentClaimsHandOutEachJobOnce() throws {
        let type = try jobType()
        let ours = Set(try (0..<20).map { _ in try queue(type.id) })
        let token = admin
        let results = try TestStack.concurrently(50) { _ -> Int? in
            let response = try TestStack.client().postJSON("/v6/jobs/claim/", [:], token: token)
            XCTAssertTrue([200, 204].contains(response.status), response.text)
            return response.json?["id"]?.intValue
        }.map { try $0.get() }
        let claimed = results.compactMap { $0 }
        XCTAssertEqual(claimed.count, Set(claimed).count, "no job was handed out twice")
        XCTAssertTrue(ours.isSubset(of: Set(claimed)), "every queued job was handed out")
        let running = try XCTUnwrap(try client.get("/v6/jobs/?job_type_id=\(type.id)&status=RUNNING&page_size=100", token: admin).json)
        XCTAssertEqual(running["count"], 20)
        let starts = try TestStack.database().execute(
            Statement(
                "t_claim_events",
                """
                SELECT count(*) FROM job_events e JOIN jobs j ON j.id = e.job_id
                WHERE j.job_type_id = $1 AND e.event = 'job_status_changed' AND e.to_status = 'RUNNING'
                """), [type.id]
        ).first?.int(0)
        XCTAssertEqual(starts, 20)
    }

    func testCountingRoutesOnRealRows() throws {
        let type = try jobType()
        let db = try TestStack.database()
        let ids = try (0..<5).map { _ in try queue(type.id) }
        XCTAssertEqual(try post("/v6/jobs/\(ids[0])/status/", ["status": "RUNNING"]).status, 200)
        for (id, error) in [(ids[1], "docker-task-launch"), (ids[2], "algorithm-unknown")] {
            XCTAssertEqual(try post("/v6/jobs/\(id)/status/", ["status": "RUNNING"]).status, 200)
            XCTAssertEqual(try post("/v6/jobs/\(id)/status/", ["status": "FAILED", "error": .string(error)]).status, 200)
        }
        XCTAssertEqual(try post("/v6/jobs/\(ids[3])/status/", ["status": "COMPLETED"]).status, 200)
        // Moved back in time: a RUNNING job counts whatever the window, a COMPLETED one does not.
        try db.execute(
            Statement(
                "t_age_jobs",
                """
                UPDATE jobs SET last_status_change = now() - interval '10 days' WHERE surface = 'scale' AND public_id = ANY($1::text[])
                """), [[String(ids[0]), String(ids[3])]])
        try db.execute(
            Statement(
                "t_pending_job",
                """
                INSERT INTO jobs (surface, public_id, job_type_id, status, last_status_change)
                VALUES ('scale', 'p-' || $1, $1::bigint, 'PENDING', now() - interval '2 hours')
                """), [String(type.id)])

        func row(_ path: String) throws -> JSON? {
            try client.get(path, token: admin).json?["results"]?.arrayValue?.first { $0["job_type"]?["id"]?.intValue == type.id }
        }
        let status = try XCTUnwrap(try row("/v6/job-types/status/?page_size=1000&started=PT1H"))
        let counts = (status["job_counts"]?.arrayValue ?? []).map {
            "\($0["status"]?.stringValue ?? ""):\($0["category"]?.stringValue ?? "-"):\($0["count"]?.intValue ?? 0)"
        }
        XCTAssertEqual(counts, ["QUEUED:-:1", "RUNNING:-:1", "FAILED:ALGORITHM:1", "FAILED:SYSTEM:1"])
        let wide = try XCTUnwrap(try row("/v6/job-types/status/?page_size=1000&started=P30D"))
        XCTAssertEqual(wide["job_counts"]?.arrayValue?.count, 6, "PENDING and COMPLETED inside a 30-day window")
        XCTAssertEqual(
            try row("/v6/job-types/status/?page_size=1000&started=P30D&ended=P20D")?["job_counts"]?.arrayValue?
                .compactMap { $0["status"]?.stringValue }, ["RUNNING"])
        detail(try client.get("/v6/job-types/status/?started=2030-01-01T00:00:00Z&ended=2020-01-01T00:00:00Z", token: admin), 400)

        let pending = try XCTUnwrap(try row("/v6/job-types/pending/"))
        XCTAssertEqual(pending["count"], 1)
        XCTAssertNotNil(pending["longest_pending"]?.stringValue)
        let running = try XCTUnwrap(try row("/v6/job-types/running/"))
        XCTAssertEqual(running.objectValue?.map(\.0), ["job_type", "count", "longest_running"])
        XCTAssertEqual(running["count"], 1)
        let failures = try XCTUnwrap(try row("/v6/job-types/system-failures/"))
        XCTAssertEqual(failures["count"], 1)
        XCTAssertEqual(failures["error"]?["name"], "docker-task-launch")
        XCTAssertEqual(failures["error"]?["is_builtin"], true)
        XCTAssertEqual(failures["error"]?["should_be_retried"], true)
    }
}

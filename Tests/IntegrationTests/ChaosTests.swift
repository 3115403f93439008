import Foundation
import JSON
import Postgres
import XCTest

/// Faults under load on every surface, through nginx (about 40 s): instance 1 SIGKILLed and
/// started again, every Flowgate backend terminated 5×/s for 5 s, PostgreSQL restarted. Clients
/// retry an answer of 5xx with the same Idempotency-Key, as README tells them to. Afterwards SQL
/// over the tables and `job_events` checks that nothing happened twice and nothing answered
/// 2xx is missing; the 5xx counts per fault are printed.
final class ChaosTests: XCTestCase {
    /// The fault under way and the 5xx answers seen during each.
    final class Faults: @unchecked Sendable {
        private let lock = NSLock()
        private var phase = "before"
        private var fiveHundreds: [String: Int] = [:]
        private var answers: [String] = []

        var current: String {
            get { lock.withLock { phase } }
            set { lock.withLock { phase = newValue } }
        }

        func count5xx(_ answer: String = "") {
            lock.withLock {
                fiveHundreds[phase, default: 0] += 1
                if answers.count < 5 { answers.append("\(phase): \(answer.prefix(200))") }
            }
        }
        var report: [String: Int] { lock.withLock { fiveHundreds } }
        /// The first few 5xx answers, for the log.
        var examples: [String] { lock.withLock { answers } }
    }

    /// Sends until the answer is not a 5xx (or the transport failed), with one key for every try.
    static func send(_ faults: Faults, _ request: (String) throws -> HTTPResponse) -> HTTPResponse? {
        let key = UUID().uuidString
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let response = try? request(key)
            if let response, response.status < 500 { return response }
            faults.count5xx(response.map { "\($0.status) \($0.text)" } ?? "no answer")
            usleep(100_000)
        }
        return nil
    }

    func testEverySurfaceUnderFaultsWritesExactlyOnce() throws {
        let client = try TestStack.client()
        let admin = try TestStack.adminToken()
        defer {
            _ = try? TestStack.ctl("start-postgres")
            TestStack.restoreInstances()
        }
        let keyed: @Sendable (String) -> [(String, String)] = { [("Idempotency-Key", $0)] }

        // Scale: 400 queued jobs of a new job type.
        let manifest = try ScaleSupport.data("example-seed-random-number.manifest.json")
        let typeName = "chaos-\(UUID().uuidString.prefix(8).lowercased())"
        let jobType = try client.postJSON(
            "/v6/job-types/",
            [
                "docker_image": "i",
                "manifest": manifest.setting(
                    "job", to: try XCTUnwrap(manifest["job"]).setting("name", to: .string(typeName)).setting("timeout", to: 3600)),
            ],
            token: admin)
        let typeId = try XCTUnwrap(jobType.json?["id"]?.intValue, jobType.text)
        for _ in 0..<400 {
            let queued = try client.postJSON("/v6/jobs/", ["job_type_id": .number(typeId)], token: admin)
            XCTAssertEqual(queued.status, 201, queued.text)
        }
        // Workflow Manager: 60 jobs a → b. Itential: a one-stub workflow. Blocks: a user.
        let wm = try WorkflowManagerItem.make()
        let template = try wm.template(diagram: wm.diagram([WorkflowManagerItem.step("a", to: ["b"]), WorkflowManagerItem.step("b")]))
        let wmJobs = try wm.jobs(template: template, ["numberOfJobs": 60])
        let itential = try ItentialFixture(inProcess: false)
        let workflow = try itential.workflow(
            [("a1", ItentialFixture.stub())],
            [("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["workflow_end": ItentialFixture.success])])
        let blocks = try BlocksUser.register("chaos")

        let faults = Faults()
        let stop = Flag()
        let results = TestStack.concurrently(12) { worker -> [String: [String]] in
            var seen: [String: [String]] = [:]
            func note(_ kind: String, _ value: String) { seen[kind, default: []].append(value) }
            switch worker {
            case 0:
                defer { stop.set() }
                Thread.sleep(forTimeInterval: 2)
                faults.current = "instance SIGKILLed"
                _ = try TestStack.ctl("kill-instance", "1")
                Thread.sleep(forTimeInterval: 2)
                _ = try TestStack.ctl("start-instance", "1")
                Thread.sleep(forTimeInterval: 2)
                faults.current = "backends terminated"
                let superuser = try TestStack.superuserDatabase()
                var terminated = 0
                for _ in 0..<25 {
                    terminated += try superuser.run("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'flowgate'")
                        .rows.count
                    usleep(200_000)
                }
                note("backends terminated", String(terminated))
                faults.current = "PostgreSQL restarted"
                XCTAssertEqual(try TestStack.ctl("restart-postgres").status, 0)
                Thread.sleep(forTimeInterval: 3)
                faults.current = "after"
                Thread.sleep(forTimeInterval: 1)
            case 1...3:
                while !stop.isSet {
                    guard let claim = Self.send(faults, { try client.postJSON("/v6/jobs/claim/", [:], token: admin, headers: keyed($0)) })
                    else { continue }
                    guard claim.status == 200, let id = claim.json?["id"]?.intValue else { break }
                    note("scale claimed", String(id))
                    let report = Self.send(faults) {
                        try client.postJSON("/v6/jobs/\(id)/status/", ["status": "COMPLETED"], token: admin, headers: keyed($0))
                    }
                    note("scale reported", "\(id):\(report?.status ?? 0)")
                    usleep(80_000)  // the work spans every fault
                }
            case 4...6:
                for job in wmJobs.enumerated().filter({ $0.offset % 3 == worker - 4 }).map(\.element) where !stop.isSet {
                    for action in ["Run", "Finish"] {
                        let answer = Self.send(faults) {
                            try client.postJSON(
                                "\(wm.base)/jobs/\(job)/action", ["type": .string(action)], token: admin, headers: keyed($0))
                        }
                        let outcome = answer?.json?["stepResponses"]?[0]?["status"]?.stringValue ?? "status \(answer?.status ?? 0)"
                        note("wm \(action)", "\(job):\(outcome)")
                        usleep(250_000)
                    }
                }
            case 7, 8:
                while !stop.isSet {
                    let started = Self.send(faults) {
                        try client.postJSON(
                            "/operations-manager/jobs/start", ["workflow": .string(workflow), "options": [:]], token: admin,
                            headers: keyed($0))
                    }
                    note("itential started", started?.json?["data"]?["_id"]?.stringValue ?? "status \(started?.status ?? 0)")
                    usleep(50_000)
                }
            case 9, 10:
                while !stop.isSet {
                    var form = Multipart()
                    form.field("workflow", Graphs.binary("Addition", "1", "2").serialized)
                    let scheduled = Self.send(faults) {
                        try client.request(
                            "POST", "/api/workflow/schedule",
                            headers: [("Content-Type", form.contentType), ("Cookie", "token=\(blocks.token)"), ("Idempotency-Key", $0)],
                            body: form.body)
                    }
                    note("blocks scheduled", scheduled?.json?["job_id"]?.intValue.map(String.init) ?? "status \(scheduled?.status ?? 0)")
                    usleep(50_000)
                }
            default:
                while !stop.isSet {
                    let read = try client.get("/flowgate/v1/whoami", token: admin)
                    if read.status >= 500 { faults.count5xx("\(read.status) \(read.text)") }
                    usleep(20_000)
                }
            }
            return seen
        }
        var seen: [String: [String]] = [:]
        for result in results { seen.merge(try result.get()) { $0 + $1 } }
        XCTAssertGreaterThan(Int(seen["backends terminated"]?.first ?? "") ?? 0, 25, "the fault happened")
        print(
            "chaos: 5xx answers per fault \(faults.report.sorted { $0.key < $1.key }); requests per kind \(seen.mapValues(\.count)); first 5xx \(faults.examples)"
        )

        let db = try TestStack.database()
        func count(_ sql: String, _ parameters: [any PostgresParameter]) throws -> Int {
            try XCTUnwrap(try db.execute(sql: sql, parameters).first?.int(0))
        }
        // Scale: each job handed out once, every claim answered 200 is COMPLETED, none orphaned RUNNING.
        let claimed = seen["scale claimed", default: []]
        XCTAssertGreaterThan(claimed.count, 20)
        XCTAssertEqual(claimed.count, Set(claimed).count, "a job was handed out twice")
        XCTAssertEqual(seen["scale reported", default: []].filter { !$0.hasSuffix(":200") }, [])
        XCTAssertEqual(
            try count(
                """
                SELECT count(*) FROM (SELECT e.job_id FROM job_events e JOIN jobs j ON j.id = e.job_id
                WHERE j.job_type_id = $1 AND e.to_status = 'RUNNING' GROUP BY e.job_id HAVING count(*) > 1) twice
                """, [typeId]), 0, "one claimant per claimed job")
        XCTAssertEqual(try count("SELECT count(*) FROM jobs WHERE job_type_id = $1 AND status = 'COMPLETED'", [typeId]), claimed.count)
        XCTAssertEqual(try count("SELECT count(*) FROM jobs WHERE job_type_id = $1 AND status = 'RUNNING'", [typeId]), 0, "orphaned claims")

        // Workflow Manager: every Run and Finish succeeded once; step a finished once per job.
        for action in ["Run", "Finish"] {
            XCTAssertEqual(seen["wm \(action)", default: []].filter { !$0.hasSuffix(":Success") }, [], action)
        }
        let finishedJobs = seen["wm Finish", default: []].map { String($0.prefix { $0 != ":" }) }
        XCTAssertGreaterThan(finishedJobs.count, 10)
        XCTAssertEqual(
            try count(
                """
                SELECT count(*) FROM (SELECT e.task_id FROM job_events e JOIN jobs j ON j.id = e.job_id
                WHERE j.surface = 'workflow_manager' AND j.public_id = ANY($1) AND e.event = 'task_finished'
                GROUP BY e.task_id HAVING count(*) > 1) twice
                """, ["{" + finishedJobs.joined(separator: ",") + "}"]), 0, "a step finished twice")

        // Itential and Blocks: one job per answered start, each runs to its end, each task finished once.
        let itentialIds = seen["itential started", default: []]
        XCTAssertEqual(itentialIds.filter { $0.hasPrefix("status") }, [])
        XCTAssertEqual(itentialIds.count, Set(itentialIds).count)
        let blocksIds = seen["blocks scheduled", default: []]
        XCTAssertEqual(blocksIds.filter { $0.hasPrefix("status") }, [])
        XCTAssertEqual(blocksIds.count, Set(blocksIds).count)
        XCTAssertGreaterThan(itentialIds.count + blocksIds.count, 20)
        let ours = """
            (j.surface = 'itential' AND j.public_id = ANY($1)) OR (j.surface = 'blocks' AND j.public_id = ANY($2))
            """
        let idLists: [any PostgresParameter] = [
            "{" + itentialIds.joined(separator: ",") + "}", "{" + blocksIds.joined(separator: ",") + "}",
        ]
        XCTAssertEqual(try count("SELECT count(*) FROM jobs j WHERE \(ours)", idLists), itentialIds.count + blocksIds.count)
        let deadline = Date().addingTimeInterval(40)
        while try count("SELECT count(*) FROM jobs j WHERE (\(ours)) AND j.finished_at IS NULL", idLists) > 0, Date() < deadline {
            usleep(200_000)
        }
        XCTAssertEqual(
            try count("SELECT count(*) FROM jobs j WHERE (\(ours)) AND j.finished_at IS NULL", idLists), 0, "every job ran to its end")
        XCTAssertEqual(
            try count(
                """
                SELECT count(*) FROM (SELECT e.task_id FROM job_events e JOIN jobs j ON j.id = e.job_id
                WHERE (\(ours)) AND e.event IN ('task_finished', 'task_failed') GROUP BY e.task_id HAVING count(*) > 1) twice
                """, idLists), 0, "a task finished twice")
        let startedAgain = try count(
            """
            SELECT count(*) FROM (SELECT e.task_id FROM job_events e JOIN jobs j ON j.id = e.job_id
            WHERE (\(ours)) AND e.event = 'task_started' GROUP BY e.task_id HAVING count(*) > 1) again
            """, idLists)
        let tasks = try count("SELECT count(*) FROM tasks t JOIN jobs j ON j.id = t.job_id WHERE \(ours)", idLists)
        print("chaos: \(startedAgain) of \(tasks) Itential and Blocks tasks were started more than once (a lease taken over)")
        // How soon a lapsed lease was taken over while new tasks kept arriving.
        let takeovers = try TestStack.database().execute(
            sql: """
                SELECT count(*), coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY lapsed), 0)::float8,
                       coalesce(max(lapsed), 0)::float8
                FROM (SELECT (e.detail ->> 'lease_lapsed_seconds')::float8 AS lapsed FROM job_events e JOIN jobs j ON j.id = e.job_id
                      WHERE (\(ours)) AND e.event = 'task_started' AND e.detail ? 'taken_over_from') lapses
                """, idLists
        ).first
        let (lapses, median, longest) = (takeovers?.int(0) ?? 0, takeovers?.double(1) ?? 0, takeovers?.double(2) ?? 0)
        print("chaos: \(lapses) takeovers, \(median) s median and \(longest) s at most after the lease lapsed")
        XCTAssertLessThanOrEqual(longest, 2, "a lapsed lease waits for no queue: it is leased first")
        XCTAssertEqual(
            try count(
                "SELECT count(*) FROM tasks t JOIN jobs j ON j.id = t.job_id WHERE (\(ours)) AND t.lease_expires_at < now() AND t.status = 'running'",
                idLists), 0, "a task left with an expired lease")
    }
}

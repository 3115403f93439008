import Foundation
import JSON
import Postgres
import XCTest

/// Failures of processes under the running stack: instances killed or stopped, PostgreSQL
/// restarted, migrations racing. Each test puts the stack back as it found it.
final class ResilienceTests: XCTestCase {
    let health = "/flowgate/v1/health"

    func instancePID(_ n: Int) throws -> Int32? {
        Int32(try TestStack.ctl("instance-pid", String(n)).output.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    func connections(of instance: String) throws -> Int {
        try TestStack.database().execute(
            Statement("t_activity", "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1"),
            [instance]
        ).first?.int(0) ?? -1
    }

    func testKillingAnInstanceLosesNoRetryableRequest() throws {
        let client = try TestStack.client()
        let health = self.health
        defer { TestStack.restoreInstances() }
        let statuses = TestStack.concurrently(16) { worker -> [Int] in
            var seen: [Int] = []
            for i in 0..<40 {
                if worker == 0 && i == 5 { _ = try TestStack.ctl("kill-instance", "1") }
                seen.append(try client.get(health).status)
            }
            return seen
        }
        let all = try statuses.flatMap { try $0.get() }
        XCTAssertEqual(all.count, 16 * 40)
        XCTAssertEqual(all.filter { $0 != 200 }, [], "nginx should retry the dead instance's requests on the other one")
        XCTAssertNil(try instancePID(1))
    }

    /// The worker process of instance `n`, as its health route reports it straight from its
    /// socket (through nginx, the other instance may answer).
    func workerPID(_ n: Int) throws -> Int32? {
        let socket = try XCTUnwrap(TestStack.stateDirectory) + "/run/flowgate-\(n).sock"
        let answer = try FastCGIClient.request(socket: socket, params: [("REQUEST_METHOD", "GET"), ("REQUEST_URI", health)])
        guard let body = answer.range(of: "\r\n\r\n").map({ answer[$0.upperBound...] }) else { return nil }
        return (try? JSON.parse(String(body)))?["pid"]?.intValue.map(Int32.init)
    }

    func testACrashedWorkerIsReplacedWithinASecondAndNoOtherRequestFails() throws {
        let client = try TestStack.client()
        let health = self.health
        defer { TestStack.restoreInstances() }
        let supervisor = try instancePID(1)

        // SIGKILL, as the kernel's OOM killer or a crash would end it (an external SIGSEGV
        // only makes the Swift runtime print a backtrace).
        let first = try XCTUnwrap(try workerPID(1))
        let killed = Date()
        kill(first, SIGKILL)
        var replacement: Int32?
        repeat {
            replacement = try? workerPID(1)
        } while (replacement == nil || replacement == first) && Date().timeIntervalSince(killed) < 5
        let restart = Date().timeIntervalSince(killed)
        print("crashed worker replaced and serving after \(String(format: "%.3f", restart)) s")
        XCTAssertNotEqual(replacement, first)
        XCTAssertLessThan(restart, 2)

        // Another crash while requests stream in: they go to the other instance or wait in the
        // socket's backlog.
        let second = try XCTUnwrap(replacement)
        let statuses = TestStack.concurrently(8) { worker -> [Int] in
            var seen: [Int] = []
            for i in 0..<40 {
                if worker == 0 && i == 5 { kill(second, SIGKILL) }
                seen.append(try client.get(health).status)
                usleep(10_000)
            }
            return seen
        }
        XCTAssertEqual(try statuses.flatMap { try $0.get() }.filter { $0 != 200 }, [])
        XCTAssertEqual(try instancePID(1), supervisor, "the supervisor itself lives on")
        let log = try String(contentsOfFile: try XCTUnwrap(TestStack.stateDirectory) + "/log/flowgate-1.log", encoding: .utf8)
        XCTAssertTrue(
            log.contains("error instance=flowgate-1 worker exited; starting another cause=\"signal 9 (Killed)\" pid=\(first)"),
            "the crash and its cause are logged")
    }

    func testSIGTERMStopsQuicklyAndClosesEveryConnection() throws {
        let client = try TestStack.client()
        try TestStack.ctl("start-instance", "1")
        defer { TestStack.restoreInstances() }
        try TestStack.waitUntilServing("flowgate-1")
        // Enough parallel requests that several of instance 1's workers open their connection.
        _ = TestStack.concurrently(16) { _ in try client.get("/flowgate/v1/whoami?token=x").status }
        XCTAssertGreaterThan(try connections(of: "flowgate-1"), 0)

        let started = Date()
        let stop = try TestStack.ctl("stop-instance", "1")
        XCTAssertEqual(stop.status, 0, stop.output)
        XCTAssertFalse(stop.output.contains("ignored SIGTERM"), stop.output)
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
        XCTAssertEqual(try connections(of: "flowgate-1"), 0)
    }

    func testADatabaseThatStaysDownGives503AfterTheRetryWindowThenRecovers() throws {
        let client = try TestStack.client()
        let token = try TestStack.adminToken()
        defer { _ = try? TestStack.ctl("start-postgres") }
        XCTAssertEqual(try client.get("/flowgate/v1/whoami", token: token).status, 200)
        let before = try [instancePID(1), instancePID(2)]

        XCTAssertEqual(try TestStack.ctl("stop-postgres").status, 0)
        let run = UUID().uuidString.prefix(8)
        for attempt in 0..<2 {
            let asked = Date()
            let down = try client.get("/flowgate/v1/whoami", token: token, headers: [("X-Request-Id", "down-\(run)-\(attempt)")])
            XCTAssertEqual(down.status, 503, down.text)
            XCTAssertEqual(down.json?["error"]?["status"], 503)
            XCTAssertGreaterThan(Date().timeIntervalSince(asked), 1, "the request waited for the database (FLOWGATE_DB_RETRY_SECONDS)")
        }
        XCTAssertEqual(try client.get(health).status, 503)

        XCTAssertEqual(try TestStack.ctl("start-postgres").status, 0)
        // Stale connections are noticed before use, so no request fails once the server is back.
        for attempt in 0..<32 {
            let up = try client.get("/flowgate/v1/whoami", token: token, headers: [("X-Request-Id", "up-\(run)-\(attempt)")])
            XCTAssertEqual(up.status, 200, up.text)
        }
        XCTAssertEqual(try [instancePID(1), instancePID(2)], before, "the instances were not restarted")

        // Every line logged while serving a request carries its id, the database layer's too.
        let state = try XCTUnwrap(TestStack.stateDirectory)
        let lines = try ["flowgate-1.log", "flowgate-2.log"].flatMap { file in
            try String(contentsOfFile: "\(state)/log/\(file)", encoding: .utf8).split(separator: "\n")
        }
        for attempt in 0..<2 {
            let id = "request_id=down-\(run)-\(attempt)"
            XCTAssertTrue(lines.contains { $0.contains(" warning ") && $0.contains("database unavailable") && $0.contains(id) }, id)
            XCTAssertTrue(
                lines.contains { $0.contains(" info ") && $0.contains(" request ") && $0.contains("status=503") && $0.contains(id) })
        }
        XCTAssertTrue(
            lines.contains { $0.contains("database connection reopened") && $0.contains("request_id=up-\(run)-") },
            "a worker's reconnect is logged with the request it served")
    }

    /// Six clients read (whoami) and write (a workspace named `prefix-…` each) while `fault`
    /// runs on a seventh thread, from a second after the start until `settle` seconds after it
    /// returns; the statuses they saw.
    func statusesUnderLoad(prefix: String, settle: TimeInterval, _ fault: @escaping @Sendable () throws -> Void) throws -> [Int] {
        let client = try TestStack.client()
        let token = try TestStack.adminToken()
        let done = Flag()
        let results = TestStack.concurrently(7) { worker -> [Int] in
            if worker == 6 {
                defer { done.set() }
                Thread.sleep(forTimeInterval: 1)
                try fault()
                Thread.sleep(forTimeInterval: settle)
                return []
            }
            var statuses: [Int] = []
            var n = 0
            while !done.isSet {
                n += 1
                if worker % 2 == 0 {
                    statuses.append(try client.get("/flowgate/v1/whoami", token: token).status)
                } else {
                    let name: JSON = .string("\(prefix)-\(worker)-\(n)")
                    statuses.append(try client.postJSON("/v6/workspaces/", ["name": name], token: token).status)
                    usleep(20_000)  // enough writes to span the fault, few enough rows for other tests' lists
                }
            }
            return statuses
        }
        let statuses = try results.flatMap { try $0.get() }
        XCTAssertGreaterThan(statuses.count, 50)
        let created = try TestStack.database().execute(
            Statement("t_load_workspaces", "SELECT count(*) FROM workspaces WHERE name LIKE $1 || '-%'"), [prefix]
        ).first?.int(0)
        XCTAssertEqual(created, statuses.filter { $0 == 201 }.count, "every 201 is one row")
        return statuses
    }

    /// A PostgreSQL restart under reads and writes costs latency, not errors: every request
    /// waits for the server and runs its transaction on a new connection.
    func testAPostgresRestartUnderLoadFailsNoRequest() throws {
        defer { _ = try? TestStack.ctl("start-postgres") }
        let statuses = try statusesUnderLoad(prefix: "restart-\(UInt32.random(in: 0...UInt32.max))", settle: 2) {
            XCTAssertEqual(try TestStack.ctl("restart-postgres").status, 0)
        }
        XCTAssertEqual(statuses.filter { $0 != 200 && $0 != 201 }, [], "no request failed across the restart")
    }

    /// `ops/restart` under reads and writes: each instance's worker is replaced, and no request
    /// fails (the old worker finishes what it serves while the new one accepts on the socket).
    func testARollingRestartUnderLoadFailsNoRequest() throws {
        let ops = try XCTUnwrap(TestStack.opsDirectory)
        let before = try [workerPID(1), workerPID(2)]
        let statuses = try statusesUnderLoad(prefix: "rolling-\(UInt32.random(in: 0...UInt32.max))", settle: 0) {
            let restart = try Spawn.run(ops + "/restart", [], environment: ProcessInfo.processInfo.environment)
            XCTAssertEqual(restart.status, 0, restart.output)
        }
        XCTAssertEqual(statuses.filter { $0 != 200 && $0 != 201 }, [], "no request failed during the rolling restart")
        let after = try [workerPID(1), workerPID(2)]
        for n in 0..<2 {
            XCTAssertNotNil(after[n])
            XCTAssertNotEqual(after[n], before[n], "instance \(n + 1) serves from a new worker")
        }
    }

    /// With no instance up, nginx answers 502 itself, in the shape of the surface that owns the path.
    func testNginxsOwn502IsInEachSurfacesShapeAndEndsWhenAnInstanceIsBack() throws {
        let client = try TestStack.client()
        defer { TestStack.restoreInstances() }
        for n in 1...2 { XCTAssertEqual(try TestStack.ctl("stop-instance", String(n)).status, 0) }
        let shapes: [(String, (JSON) -> Bool)] = [
            ("/flowgate/v1/whoami", { $0["error"]?["status"] == 502 }),
            ("/api/workflow/schedule", { $0["error"]?.stringValue != nil }),
            ("/v6/jobs/?page=2", { $0["detail"]?.stringValue != nil }),
            ("/operations-manager/jobs", { $0["message"]?.stringValue != nil && $0["data"] == .null }),
            ("/testorg/some-item/jobs/abc", { $0["error"]?["code"] == 502 && $0["error"]?["details"] == [] }),
            ("/sharing/rest/info", { $0["error"]?["code"] == 502 }),
        ]
        for (path, shaped) in shapes {
            let response = try client.get(path)
            XCTAssertEqual(response.status, 502, path)
            XCTAssertEqual(response.header("content-type"), "application/json", path)
            XCTAssertTrue(response.json.map(shaped) ?? false, "\(path): \(response.text)")
        }
        // Every nginx worker has seen both instances fail; none may go on refusing them (as
        // "no live upstreams") once they are back.
        let health = self.health
        _ = TestStack.concurrently(8) { _ in try client.get(health).status }
        TestStack.restoreInstances()
        let statuses = TestStack.concurrently(32) { _ in try client.get(health).status }
        XCTAssertEqual(try statuses.map { try $0.get() }.filter { $0 != 200 }, [])
    }

    func testConcurrentMigrationsDoNotCollideAndServeRefusesAnUnmigratedDatabase() throws {
        let db = try TestStack.superuserDatabase()
        let name = "flowgate_migrate_\(UInt32.random(in: 0...UInt32.max))"
        try db.run("CREATE DATABASE \(name) OWNER flowgate")
        defer { _ = try? db.run("DROP DATABASE \(name) WITH (FORCE)") }
        let url = (TestStack.databaseURL ?? "").replacingOccurrences(of: "dbname=flowgate", with: "dbname=\(name)")

        let refused = try TestStack.ctl("flowgate", "serve", environment: ["FLOWGATE_DATABASE_URL": url])
        XCTAssertEqual(refused.status, 3, refused.output)
        XCTAssertTrue(refused.output.contains("migrations are pending"), refused.output)

        let runs = TestStack.concurrently(3) { _ in try TestStack.ctl("flowgate", "migrate", environment: ["FLOWGATE_DATABASE_URL": url]) }
        for run in runs {
            let result = try run.get()
            XCTAssertEqual(result.status, 0, result.output)
        }
        let fresh = try Connection(conninfo: url)
        let files = try FileManager.default.contentsOfDirectory(atPath: (TestStack.opsDirectory ?? "") + "/../sql/migrations")
        XCTAssertEqual(
            try fresh.run("SELECT count(*), count(DISTINCT version) FROM schema_migrations").first?.values,
            [String(files.count), String(files.count)])
    }
}

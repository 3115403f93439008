import Foundation
import JSON
import Postgres
import XCTest

/// A hot standby of the test stack's cluster (`ops/replica`): jobs written through the API reach
/// its report views, it refuses writes, and a stopped standby catches up when started again.
/// Each test starts its own copy and removes it (slot included), so the primary keeps no WAL for it.
final class ReplicaTests: XCTestCase {
    var it: ItentialFixture!

    /// Runs `ops/replica ARGS` for the test stack and returns its exit status and output.
    @discardableResult
    func replica(_ arguments: String...) throws -> (status: Int32, output: String) {
        guard let ops = TestStack.opsDirectory, TestStack.stateDirectory != nil else {
            throw XCTSkip("FLOWGATE_TEST_OPS and FLOWGATE_STATE_DIR are not set: run with ops/test")
        }
        return try Spawn.run(ops + "/replica", arguments, environment: ProcessInfo.processInfo.environment)
    }

    override func setUpWithError() throws {
        it = try ItentialFixture()
        let started = try replica("start")
        guard started.status == 0 else { throw ClientError("ops/replica start: \(started.status) \(started.output)") }
    }

    override func tearDownWithError() throws {
        let removed = try replica("remove")
        XCTAssertEqual(removed.status, 0, removed.output)
    }

    func standby() throws -> Connection {
        let url = try replica("url")
        XCTAssertEqual(url.status, 0, url.output)
        return try Connection(conninfo: url.output.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// A workflow of one automatic task that succeeds, with a unique name (its report source).
    func succeedingWorkflow() throws -> String {
        try it.workflow(
            [("a1", ItentialFixture.stub())],
            [("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["workflow_end": ItentialFixture.success])])
    }

    /// Starts `count` jobs of `workflow` through nginx and waits until the runners completed them.
    func completeJobs(_ workflow: String, count: Int) throws {
        let ids = try (0..<count).map { _ in try XCTUnwrap(it.start(workflow)["_id"]?.stringValue) }
        for id in ids { XCTAssertEqual(try it.job(id, until: ["complete", "error"])["status"], "complete") }
    }

    /// Started and finished jobs of `source` in the standby's `report_jobs_per_day`, polled until
    /// they are `expected` or 10 s have passed (replay is asynchronous).
    func reportedJobs(_ source: String, on db: Connection, expected: [String]) throws -> [String] {
        let sql = """
            SELECT coalesce(sum(started), 0)::text, coalesce(sum(finished), 0)::text
            FROM report_jobs_per_day WHERE source = '\(source)'
            """
        let deadline = Date().addingTimeInterval(10)
        while true {
            let seen = try db.run(sql).first?.values.map { $0 ?? "NULL" } ?? []
            if seen == expected || Date() > deadline { return seen }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }

    func testReportsOnTheStandbySeeJobsStartedOnThePrimaryAndItRefusesWrites() throws {
        let status = try replica("status")
        XCTAssertEqual(status.status, 0, status.output)
        XCTAssertTrue(status.output.contains("streaming:   yes"), status.output)

        let db = try standby()
        XCTAssertEqual(try db.run("SELECT current_user, pg_is_in_recovery()").first?.values, ["flowgate", "t"])
        let workflow = try succeedingWorkflow()
        XCTAssertEqual(try reportedJobs(workflow, on: db, expected: ["0", "0"]), ["0", "0"])

        try completeJobs(workflow, count: 3)
        XCTAssertEqual(try reportedJobs(workflow, on: db, expected: ["3", "3"]), ["3", "3"])
        XCTAssertEqual(
            try db.run("SELECT completed_jobs FROM report_time_to_complete WHERE source = '\(workflow)'").first?.values, ["3"])

        XCTAssertThrowsError(try db.run("INSERT INTO users (username, password_hash) VALUES ('replica-write-\(workflow)', 'x')")) {
            let refusal = $0 as? PostgresError
            XCTAssertEqual(refusal?.sqlState, "25006", "\($0)")
            XCTAssertEqual(refusal?.message, "cannot execute INSERT in a read-only transaction", "\($0)")
        }
        XCTAssertEqual(
            try TestStack.database().run("SELECT count(*) FROM users WHERE username = 'replica-write-\(workflow)'").first?.values,
            ["0"])
    }

    func testAStoppedStandbyCatchesUpWhenStartedAgain() throws {
        let workflow = try succeedingWorkflow()
        try completeJobs(workflow, count: 1)
        XCTAssertEqual(try reportedJobs(workflow, on: try standby(), expected: ["1", "1"]), ["1", "1"])

        XCTAssertEqual(try replica("stop").status, 0)
        XCTAssertEqual(try replica("stop").status, 0, "stop is idempotent")
        XCTAssertEqual(try replica("status").status, 3, "status of a stopped standby")
        XCTAssertThrowsError(try standby(), "a stopped standby takes no connections")

        // Written while the standby is down: the slot keeps the WAL for it.
        try completeJobs(workflow, count: 2)
        XCTAssertEqual(try replica("start").status, 0)
        XCTAssertEqual(try replica("start").status, 0, "start is idempotent")
        XCTAssertEqual(try reportedJobs(workflow, on: try standby(), expected: ["3", "3"]), ["3", "3"])
    }
}

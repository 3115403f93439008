import Blocks
import Foundation
import JSON
import Postgres
import XCTest

@testable import Engine

/// A task kind for tests: counts its runs and can hold a run until released.
final class CountingKind: TaskKind, @unchecked Sendable {
    let name: String
    private let lock = NSLock()
    private var counts: [String: Int] = [:]
    private let gate: DispatchSemaphore?

    /// Each test uses its own kind name, so the stack's runners (which do not know it) leave
    /// these tasks alone.
    init(gated: Bool = false) {
        name = "test:count-\(UUID().uuidString.prefix(8))"
        gate = gated ? DispatchSemaphore(value: 0) : nil
    }

    func run(_ context: TaskContext) -> TaskOutcome {
        gate?.wait()
        let id = context.input["id"]?.stringValue ?? ""
        lock.lock()
        counts[id, default: 0] += 1
        lock.unlock()
        return .succeeded(["ran": .string(id)])
    }

    func release() { gate?.signal() }

    var runs: [String: Int] {
        lock.lock()
        defer { lock.unlock() }
        return counts
    }
}

final class EngineTests: XCTestCase {
    let surfaces = SurfaceRegistry([BlockJobs.rules])

    /// No runner of the stack knows the tests' kinds: their tasks left ready or running would
    /// wait forever, and the Itential probe reports such a queue as not keeping up.
    override func tearDownWithError() throws {
        _ = try TestStack.database().execute(
            sql:
                "UPDATE tasks SET status = 'canceled', lease_owner = NULL, lease_expires_at = NULL WHERE kind LIKE 'test:%' AND status IN ('ready', 'running')"
        )
    }

    func session() throws -> Session {
        guard let url = TestStack.databaseURL else { throw XCTSkip("FLOWGATE_TEST_DATABASE_URL is not set: run with ops/test") }
        return try Session(conninfo: url, surfaces: surfaces)
    }

    func makeJob(_ session: Session, kind: String, tasks: Int = 1) throws -> JobRef {
        let newTasks = (0..<tasks).map {
            NewTask(
                key: "t\($0)", position: $0, kind: kind, automatic: true,
                input: ["id": .string(UUID().uuidString)])
        }
        return try session.jobs.create(
            NewJob(surface: .blocks, status: "RUNNING", owner: nil, tasks: newTasks),
            actor: .system("test"))
    }

    func eventCount(_ db: Connection, jobId: Int64, event: String? = nil) throws -> Int {
        try db.execute(
            Statement("t_event_count", "SELECT count(*) FROM job_events WHERE job_id = $1 AND ($2::text IS NULL OR event = $2)"),
            [jobId, event]
        ).first?.int(0) ?? -1
    }

    func status(_ db: Connection, jobId: Int64) throws -> String {
        try db.execute(Statement("t_job_status", "SELECT status FROM jobs WHERE id = $1"), [jobId]).first?.string(0) ?? ""
    }

    /// Locks the job and moves it to `status` in one transaction; `then` runs before the commit.
    func move(
        _ db: Connection, _ job: JobRef, to status: String,
        then: (StateMachine, JobRef) throws -> Void = { _, _ in }
    ) throws {
        try db.transaction { tx in
            let machine = StateMachine(tx, surfaces: surfaces)
            let moved = try machine.changeJobStatus(try XCTUnwrap(try machine.lockJob(id: job.id)), to: status, actor: .system("test"))
            try then(machine, moved)
        }
    }

    func testCreatingAJobRecordsItAndReadiesTheFirstTask() throws {
        let session = try session()
        let job = try makeJob(session, kind: "test:never-run", tasks: 3)
        let db = session.connection
        XCTAssertEqual(try eventCount(db, jobId: job.id, event: "job_created"), 1)
        XCTAssertEqual(try eventCount(db, jobId: job.id, event: "task_ready"), 1)
        // The tasks come with the job's one event: nothing else was written.
        XCTAssertEqual(try eventCount(db, jobId: job.id, event: nil), 2)
        let statuses = try db.execute(
            Statement("t_task_statuses", "SELECT key, status FROM tasks WHERE job_id = $1 ORDER BY position"),
            [job.id]
        ).rows.map { "\($0.string(0))=\($0.string(1))" }
        XCTAssertEqual(statuses, ["t0=ready", "t1=pending", "t2=pending"])
    }

    func testIllegalTransitionsAreRefusedAndWriteNothing() throws {
        let session = try session()
        let job = try makeJob(session, kind: "test:never-run")
        let db = session.connection
        let before = try eventCount(db, jobId: job.id)
        XCTAssertThrowsError(
            try move(db, job, to: "COMPLETED") { machine, completed in
                try machine.changeJobStatus(completed, to: "RUNNING", actor: .system("test"))
            }
        ) { XCTAssertEqual(($0 as? EngineError)?.kind, .conflict) }
        XCTAssertEqual(try status(db, jobId: job.id), "RUNNING", "the first change rolled back with the refused one")
        XCTAssertEqual(try eventCount(db, jobId: job.id), before)
        XCTAssertThrowsError(try move(db, job, to: "complete"), "an Itential status is not a Blocks status")
        XCTAssertFalse(TaskStatus.succeeded.canMove(to: .running))
    }

    func testEveryChangeWritesExactlyOneEventInTheSameTransaction() throws {
        struct ForcedFailure: Error {}
        let session = try session()
        let job = try makeJob(session, kind: "test:never-run")
        let db = session.connection
        let before = try eventCount(db, jobId: job.id)

        XCTAssertThrowsError(try move(db, job, to: "FAILED") { _, _ in throw ForcedFailure() })
        XCTAssertEqual(try status(db, jobId: job.id), "RUNNING")
        XCTAssertEqual(try eventCount(db, jobId: job.id), before, "neither the change nor its event survived")

        try move(db, job, to: "FAILED")
        XCTAssertEqual(try status(db, jobId: job.id), "FAILED")
        XCTAssertEqual(try eventCount(db, jobId: job.id), before + 1)
        let event = try db.execute(
            Statement(
                "t_last_event",
                """
                SELECT event, from_status, to_status, actor FROM job_events WHERE job_id = $1 ORDER BY id DESC LIMIT 1
                """), [job.id]
        ).first?.values
        XCTAssertEqual(event, ["job_status_changed", "RUNNING", "FAILED", "test"])
    }

    func testHistoryIsAppendOnlyAndOutlivesItsJob() throws {
        let session = try session()
        let job = try makeJob(session, kind: "test:never-run")
        let db = session.connection
        XCTAssertThrowsError(try db.execute(Statement("t_event_edit", "UPDATE job_events SET actor = 'x' WHERE job_id = $1"), [job.id]))
        XCTAssertThrowsError(try db.execute(Statement("t_event_delete", "DELETE FROM job_events WHERE job_id = $1"), [job.id]))
        let events = try eventCount(db, jobId: job.id)
        try db.execute(Statement("t_job_delete", "DELETE FROM jobs WHERE id = $1"), [job.id])
        let kept = try db.execute(
            Statement("t_orphans", "SELECT count(*) FROM job_events WHERE job_id IS NULL AND job_public_id = $1 AND surface = 'blocks'"),
            [job.publicId]
        ).first?.int(0)
        XCTAssertEqual(kept, events)
    }

    func testAnExpiredLeaseIsRunAgainByAnotherRunnerExactlyOnce() throws {
        let session = try session()
        let kind = CountingKind()
        let job = try makeJob(session, kind: kind.name)
        let registry = TaskKindRegistry([kind])
        let url = try XCTUnwrap(TestStack.databaseURL)
        let doomed = Runner(.init(conninfo: url, owner: "runner:doomed", leaseSeconds: 1), kinds: registry, surfaces: surfaces)
        let survivor = Runner(.init(conninfo: url, owner: "runner:survivor", leaseSeconds: 30), kinds: registry, surfaces: surfaces)

        // The doomed runner leases the task and "dies": it never reports back.
        let lost = try XCTUnwrap(
            try session.connection.transaction { tx in
                try StateMachine(tx, surfaces: surfaces).leaseNextTask(kinds: registry.names, owner: "runner:doomed", leaseSeconds: 1)
            })
        XCTAssertFalse(try survivor.runNextTask(on: session.connection), "a live lease is not taken over")
        Thread.sleep(forTimeInterval: 1.2)
        XCTAssertTrue(try survivor.runNextTask(on: session.connection))
        XCTAssertEqual(try status(session.connection, jobId: job.id), "COMPLETED")

        // The dead runner's late result is refused and changes nothing.
        XCTAssertFalse(
            try session.connection.transaction { tx in
                try StateMachine(tx, surfaces: surfaces).finishLeasedTask(
                    lost, owner: "runner:doomed", outcome: .failed("late"), surfaces: surfaces)
            })
        XCTAssertFalse(try doomed.runNextTask(on: session.connection))
        XCTAssertEqual(kind.runs.values.reduce(0, +), 1)
        XCTAssertEqual(try eventCount(session.connection, jobId: job.id, event: "task_started"), 2)
        XCTAssertEqual(try eventCount(session.connection, jobId: job.id, event: "task_finished"), 1)
        XCTAssertEqual(try eventCount(session.connection, jobId: job.id, event: "task_failed"), 0)
        let takeover = try session.connection.execute(
            Statement(
                "t_takeover",
                """
                SELECT detail ->> 'taken_over_from' FROM job_events WHERE job_id = $1 AND event = 'task_started' ORDER BY id DESC LIMIT 1
                """), [job.id]
        ).first?[0]
        XCTAssertEqual(takeover, "runner:doomed")
    }

    /// A dead runner's task is taken over at the next lease after its expiry, even while ready
    /// tasks keep arriving (it used to wait until the queue was empty).
    func testAnExpiredLeaseIsTakenOverBeforeReadyTasks() throws {
        let session = try session()
        let kind = CountingKind()
        let registry = TaskKindRegistry([kind])
        let abandoned = try makeJob(session, kind: kind.name)
        XCTAssertNotNil(
            try session.connection.transaction { tx in
                try StateMachine(tx, surfaces: surfaces).leaseNextTask(kinds: registry.names, owner: "runner:gone", leaseSeconds: 1)
            })
        Thread.sleep(forTimeInterval: 1.2)
        let arrived = try (0..<3).map { _ in try makeJob(session, kind: kind.name) }
        let survivor = Runner(
            .init(conninfo: try XCTUnwrap(TestStack.databaseURL), owner: "runner:survivor"), kinds: registry, surfaces: surfaces)
        XCTAssertTrue(try survivor.runNextTask(on: session.connection))
        XCTAssertEqual(try status(session.connection, jobId: abandoned.id), "COMPLETED", "the expired lease went first")
        for job in arrived { XCTAssertNotEqual(try status(session.connection, jobId: job.id), "COMPLETED") }
        while try survivor.runNextTask(on: session.connection) {}
        for job in arrived { XCTAssertEqual(try status(session.connection, jobId: job.id), "COMPLETED") }
    }

    func testALiveRunnerKeepsItsLeaseWhileATaskRunsLongerThanTheLease() throws {
        let session = try session()
        let kind = CountingKind(gated: true)
        let job = try makeJob(session, kind: kind.name)
        let url = try XCTUnwrap(TestStack.databaseURL)
        let runners = ["slow", "eager"].map { name in
            Runner(
                .init(
                    conninfo: url, owner: "runner:\(name)-\(UUID().uuidString.prefix(4))", threads: 1, leaseSeconds: 1,
                    pollIntervalMilliseconds: 50), kinds: TaskKindRegistry([kind]), surfaces: surfaces)
        }
        runners[0].start()
        let leased = Statement("t_leased", "SELECT count(*) FROM tasks WHERE job_id = $1 AND status = 'running'")
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline, try session.connection.execute(leased, [job.id]).first?.int(0) != 1 { usleep(20_000) }
        runners[1].start()
        // Three lease periods: without renewal the eager runner would take the task over.
        Thread.sleep(forTimeInterval: 3)
        kind.release()
        kind.release()
        while Date() < deadline + 10, try status(session.connection, jobId: job.id) != "COMPLETED" { usleep(20_000) }
        runners.forEach { $0.stop() }
        runners.forEach { $0.waitUntilStopped() }
        XCTAssertEqual(try status(session.connection, jobId: job.id), "COMPLETED")
        XCTAssertEqual(kind.runs.values.reduce(0, +), 1, "the task ran once")
        XCTAssertEqual(try eventCount(session.connection, jobId: job.id, event: "task_started"), 1, "it was never taken over")
    }

    func testTwoRunnersWithFourThreadsRunAThousandTasksExactlyOnce() throws {
        let session = try session()
        let kind = CountingKind()
        let url = try XCTUnwrap(TestStack.databaseURL)
        var jobs: [Int64] = []
        for _ in 0..<1000 { jobs.append(try makeJob(session, kind: kind.name).id) }
        let runners = (1...2).map { n in
            Runner(
                .init(conninfo: url, owner: "runner:test-\(n)", threads: 4, pollIntervalMilliseconds: 50),
                kinds: TaskKindRegistry([kind]), surfaces: surfaces)
        }
        runners.forEach { $0.start() }
        let deadline = Date().addingTimeInterval(120)
        let remaining = Statement("t_remaining", "SELECT count(*) FROM jobs WHERE id = ANY($1::bigint[]) AND status <> 'COMPLETED'")
        let ids = "{" + jobs.map(String.init).joined(separator: ",") + "}"
        while Date() < deadline, try session.connection.execute(remaining, [ids]).first?.int(0) != 0 {
            Thread.sleep(forTimeInterval: 0.2)
        }
        let stopStarted = Date()
        runners.forEach { $0.stop() }
        runners.forEach { $0.waitUntilStopped() }
        XCTAssertLessThan(Date().timeIntervalSince(stopStarted), 2, "runners stop within a poll interval or two")

        XCTAssertEqual(try session.connection.execute(remaining, [ids]).first?.int(0), 0)
        XCTAssertEqual(kind.runs.count, 1000)
        XCTAssertEqual(Set(kind.runs.values), [1], "every task ran exactly once")
        let history = try session.connection.execute(
            Statement(
                "t_thousand",
                """
                SELECT count(*) FILTER (WHERE event = 'task_started'), count(*) FILTER (WHERE event = 'task_finished'),
                       count(DISTINCT actor) FILTER (WHERE event = 'task_finished')
                FROM job_events WHERE job_id = ANY($1::bigint[])
                """), [ids]
        ).first?.values
        XCTAssertEqual(history?[0], "1000")
        XCTAssertEqual(history?[1], "1000")
        XCTAssertEqual(history?[2], "2", "both runners took part")
    }
}

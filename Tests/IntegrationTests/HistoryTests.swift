import Foundation
import Postgres
import XCTest

/// Retention on known data: `job_events` month partitions, `flowgate prune` with each event
/// policy, and the report views over the range that is kept. The old history lies four and three
/// months back; the cut is the start of the month two months back.
final class HistoryTests: XCTestCase {
    /// The start of the month `back` months before the current one (UTC), as SQL.
    static func month(_ back: Int) -> String {
        "((date_trunc('month', now() AT TIME ZONE 'UTC') - interval '\(back) months') AT TIME ZONE 'UTC')"
    }

    /// The start of today (UTC): today's jobs start and end on one day whatever the hour (two
    /// hours back crossed midnight before 02:00 and split them over two days of the report).
    static let today = "(date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"

    static func partition(_ db: Connection, _ back: Int) throws -> String {
        try db.run("SELECT 'job_events_' || to_char(\(month(back)) AT TIME ZONE 'UTC', 'YYYY_MM')").first?.string(0) ?? ""
    }

    func testPruneDeletesEndedJobsKeepsOrDetachesTheirHistoryAndLeavesTheKeptRangeAlone() throws {
        let db = try TestStack.database()
        let tag = "history-" + UUID().uuidString.prefix(8).lowercased()
        let cut = try XCTUnwrap(db.run("SELECT to_char(\(Self.month(2)) AT TIME ZONE 'UTC', 'YYYY-MM-DD')").first?.string(0))
        try db.run("SELECT job_events_ensure_partitions(\(Self.month(4)))")
        // Eight old jobs (six complete, two still running) and two complete ones from today, each
        // with a task and the events the engine writes for its start and end.
        try db.run(
            """
            INSERT INTO workflows (surface, public_id, name, document) VALUES ('itential', '\(tag)', '\(tag)', '{}');
            INSERT INTO jobs (surface, public_id, workflow_id, name, document, status, created_at, finished_at)
            SELECT 'itential', '\(tag)-' || n, (SELECT id FROM workflows WHERE public_id = '\(tag)'), '\(tag)',
                   jsonb_build_object('name', '\(tag)'),
                   CASE WHEN n IN (7, 8) THEN 'running' ELSE 'complete' END, start, CASE WHEN n NOT IN (7, 8) THEN start + interval '1 minute' END
            FROM generate_series(1, 10) n,
                 LATERAL (SELECT CASE WHEN n > 8 THEN \(Self.today)
                                      ELSE \(Self.month(3)) - (n % 2) * interval '1 month' + interval '3 days' END AS start) s;
            INSERT INTO tasks (job_id, key, kind, automatic, status)
            SELECT id, 'task', 'itential:stub', true, 'succeeded' FROM jobs WHERE public_id LIKE '\(tag)-%';
            INSERT INTO job_events (job_id, surface, job_public_id, event, actor, to_status, at)
            SELECT id, surface, public_id, 'job_created', 'fixture', 'running', created_at FROM jobs WHERE public_id LIKE '\(tag)-%';
            INSERT INTO job_events (job_id, surface, job_public_id, event, actor, from_status, to_status, at)
            SELECT id, surface, public_id, 'job_status_changed', 'fixture', 'running', status, finished_at
            FROM jobs WHERE public_id LIKE '\(tag)-%' AND finished_at IS NOT NULL;
            """)
        let events = "SELECT count(*) FROM job_events WHERE job_public_id LIKE '\(tag)-%'"
        let kept = "SELECT day, started, finished FROM report_jobs_per_day WHERE source = '\(tag)' AND day >= '\(cut)' ORDER BY day"
        let keptReport = try db.run(kept).rows.map(\.values)
        XCTAssertEqual(keptReport.count, 1)
        XCTAssertEqual(try db.run(events).first?.int(0), 18)
        XCTAssertEqual(
            try db.run("SELECT DISTINCT tableoid::regclass::text FROM job_events WHERE job_public_id LIKE '\(tag)-%' ORDER BY 1").rows
                .compactMap { $0.string(0) },
            [try Self.partition(db, 4), try Self.partition(db, 3), try Self.partition(db, 0)])

        // Events kept: the six old complete jobs and their tasks go, their history stays.
        XCTAssertEqual(try TestStack.ctl("flowgate", "prune", "--before", cut, "--surface", "itential").status, 0)
        XCTAssertEqual(
            try db.run("SELECT public_id FROM jobs WHERE public_id LIKE '\(tag)-%' ORDER BY public_id").rows.compactMap { $0.string(0) },
            ["\(tag)-10", "\(tag)-7", "\(tag)-8", "\(tag)-9"])
        XCTAssertEqual(
            try db.run("SELECT count(*) FROM tasks t JOIN jobs j ON j.id = t.job_id WHERE j.public_id LIKE '\(tag)-%'").first?.int(0), 4)
        XCTAssertEqual(try db.run(events).first?.int(0), 18)
        XCTAssertEqual(try db.run(events + " AND job_id IS NULL").first?.int(0), 12)
        XCTAssertEqual(try db.run(kept).rows.map(\.values), keptReport)

        // Events detached: the two old months leave job_events as tables of their own.
        let old = [try Self.partition(db, 4), try Self.partition(db, 3)]
        defer { for table in old { _ = try? db.run("DROP TABLE IF EXISTS \(table)") } }
        XCTAssertEqual(try TestStack.ctl("flowgate", "prune", "--before", cut, "--events", "detach").status, 0)
        XCTAssertEqual(try db.run(events).first?.int(0), 4)
        XCTAssertEqual(
            try db.run(
                """
                SELECT count(*) FROM (SELECT job_public_id FROM \(old[0]) UNION ALL SELECT job_public_id FROM \(old[1])) archived
                WHERE job_public_id LIKE '\(tag)-%'
                """
            ).first?.int(0), 14)
        XCTAssertEqual(
            try db.run("SELECT count(*) FROM pg_inherits WHERE inhrelid IN ('\(old[0])'::regclass, '\(old[1])'::regclass)").first?.int(0), 0
        )
        XCTAssertEqual(try db.run(kept).rows.map(\.values), keptReport)
        XCTAssertEqual(try db.run("SELECT count(*) FROM report_jobs_per_day WHERE source = '\(tag)' AND day < '\(cut)'").first?.int(0), 0)
        // The two running jobs stay, whatever became of their old history.
        XCTAssertEqual(try db.run("SELECT count(*) FROM jobs WHERE public_id LIKE '\(tag)-%'").first?.int(0), 4)
    }

    func testPruneRefusesWhatItCannotRead() throws {
        XCTAssertEqual(try TestStack.ctl("flowgate", "prune", "--before", "last tuesday").status, 64)
        XCTAssertEqual(try TestStack.ctl("flowgate", "prune", "--before", "2020-01-01", "--events", "shred").status, 64)
        XCTAssertEqual(try TestStack.ctl("flowgate", "prune", "--surface", "itential").status, 64)
        XCTAssertEqual(try TestStack.ctl("flowgate", "prune", "--before", "2020-01-01", "--surface", "itentail").status, 64)
    }

    func testMonthsRollOverIntoTheirPartitionsAndStrayRowsIntoTheDefault() throws {
        let db = try TestStack.database()
        let tag = "rollover-" + UUID().uuidString.prefix(8).lowercased()
        // Next month has its partition already (migrate and every instance keep three ahead).
        try db.run(
            """
            INSERT INTO job_events (surface, job_public_id, event, actor, at)
            VALUES ('itential', '\(tag)-next', 'job_created', 'fixture', \(Self.month(-1)) + interval '1 day'),
                   ('itential', '\(tag)-far', 'job_created', 'fixture', \(Self.month(-9)) + interval '1 day')
            """)
        let home = "SELECT tableoid::regclass::text FROM job_events WHERE job_public_id = $1"
        XCTAssertEqual(try db.execute(sql: home, ["\(tag)-next"]).first?.string(0), try Self.partition(db, -1))
        XCTAssertEqual(try db.execute(sql: home, ["\(tag)-far"]).first?.string(0), "job_events_default")
        // Creating the months up to the stray row's leaves its month alone: the row stays readable.
        XCTAssertEqual(try db.run("SELECT job_events_ensure_partitions(now(), 9)").first?.int(0), 5)
        XCTAssertEqual(try db.run("SELECT to_regclass('\(try Self.partition(db, -9))') IS NULL").first?.bool(0), true)
        XCTAssertEqual(try db.execute(sql: home, ["\(tag)-far"]).first?.string(0), "job_events_default")
    }
}

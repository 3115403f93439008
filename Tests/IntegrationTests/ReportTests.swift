import Foundation
import Postgres
import XCTest

/// The report views on a fixture with known answers. The fixture lives in one transaction that
/// is rolled back, and every check is filtered to the fixture's own names (or measured as a
/// difference, for views grouped only by kind).
final class ReportTests: XCTestCase {
    func testReportViewsOnKnownData() throws {
        let db = try TestStack.database()
        let tag = UUID().uuidString.prefix(8).lowercased()
        let workflow = "report-\(tag)"
        let user = "reporter-\(tag)"
        let error = "fixture error \(tag)"
        let manualHolds = "SELECT coalesce(sum(holds), 0), coalesce(sum(total_seconds), 0) FROM report_hold_time WHERE kind = 'manual'"

        try db.run("BEGIN")
        defer { _ = try? db.run("ROLLBACK") }
        // Read inside the transaction, where now() stands still: holds other tests left active
        // count "until now" and would otherwise grow between the two reads.
        let holdsBefore = try db.run(manualHolds).first
        try db.run(
            """
            INSERT INTO users (username, password_hash) VALUES ('\(user)', 'x');
            INSERT INTO workflows (surface, public_id, name, document) VALUES ('itential', '\(workflow)', '\(workflow)', '{}');
            -- Three jobs completed after 10, 20 and 30 s; one stalled in error.
            INSERT INTO jobs (surface, public_id, workflow_id, status, created_at, finished_at)
            SELECT 'itential', '\(tag)-' || n, (SELECT id FROM workflows WHERE public_id = '\(workflow)'),
                   CASE WHEN n = 4 THEN 'error' ELSE 'complete' END,
                   timestamptz '2026-01-15 08:00:00Z',
                   CASE WHEN n = 4 THEN NULL ELSE timestamptz '2026-01-15 08:00:00Z' + n * interval '10 seconds' END
            FROM generate_series(1, 4) n;
            INSERT INTO job_events (job_id, surface, job_public_id, event, actor, to_status, at)
            SELECT id, surface, public_id, 'job_created', 'fixture', 'running', created_at FROM jobs WHERE public_id LIKE '\(tag)-%';
            INSERT INTO job_events (job_id, surface, job_public_id, event, actor, from_status, to_status, at)
            SELECT id, surface, public_id, 'job_status_changed', 'fixture', 'running', status, created_at + interval '1 minute'
            FROM jobs WHERE public_id LIKE '\(tag)-%';
            -- Two tasks claimed by the user 60 s and 120 s after becoming ready; one finished 30 s later.
            INSERT INTO tasks (job_id, key, kind, automatic, status, claimed_by, ready_at, claimed_at, finished_at)
            SELECT (SELECT id FROM jobs WHERE public_id = '\(tag)-4'), 'm' || n, 'itential:ViewData', false,
                   CASE WHEN n = 1 THEN 'succeeded' ELSE 'running' END,
                   (SELECT id FROM users WHERE username = '\(user)'),
                   timestamptz '2026-01-15 09:00:00Z', timestamptz '2026-01-15 09:00:00Z' + n * interval '60 seconds',
                   CASE WHEN n = 1 THEN timestamptz '2026-01-15 09:01:30Z' END
            FROM generate_series(1, 2) n;
            -- Two manual holds, released after 100 s and 300 s.
            INSERT INTO holds (job_id, kind, set_at, released_at)
            SELECT (SELECT id FROM jobs WHERE public_id = '\(tag)-4'), 'manual', timestamptz '2026-01-15 10:00:00Z',
                   timestamptz '2026-01-15 10:00:00Z' + s * interval '1 second'
            FROM (VALUES (100), (300)) v(s);
            -- The same error twice in one job.
            INSERT INTO job_events (job_id, surface, job_public_id, event, actor, detail)
            SELECT id, surface, public_id, 'task_failed', 'fixture', jsonb_build_object('error', '\(error)')
            FROM jobs, generate_series(1, 2) WHERE public_id = '\(tag)-4';
            """)

        XCTAssertEqual(
            try db.run("SELECT day, started, finished, failed, canceled FROM report_jobs_per_day WHERE source = '\(workflow)'").rows.map(
                \.values),
            [["2026-01-15", "4", "3", "1", "0"]])
        XCTAssertEqual(
            try db.run("SELECT completed_jobs, p50_seconds, p95_seconds FROM report_time_to_complete WHERE source = '\(workflow)'").first?
                .values,
            ["3", "20", "29"])
        XCTAssertEqual(
            try db.run(
                """
                SELECT claimed_tasks, finished_tasks, avg_ready_to_claimed_seconds, p50_ready_to_claimed_seconds, avg_claimed_to_finished_seconds
                FROM report_task_claim_times WHERE username = '\(user)'
                """
            ).first?.values.map { $0.map { Double($0) ?? -1 } }, [2, 1, 90, 90, 30])
        XCTAssertEqual(
            try db.run("SELECT surface, open_tasks, claimed_jobs FROM report_open_work WHERE username = '\(user)'").first?.values,
            ["itential", "1", "0"])
        XCTAssertEqual(try db.run("SELECT failures, jobs FROM report_failures WHERE error = '\(error)'").first?.values, ["2", "1"])
        let holdsAfter = try db.run(manualHolds).first
        XCTAssertEqual((holdsAfter?.int(0) ?? 0) - (holdsBefore?.int(0) ?? 0), 2)
        XCTAssertEqual((holdsAfter?.double(1) ?? 0) - (holdsBefore?.double(1) ?? 0), 400, accuracy: 0.001)
    }
}

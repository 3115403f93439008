import Engine
import Foundation
import Itential
import Postgres
import Scale
import WorkflowManager
import XCTest

/// Every statement Flowgate runs, prepared against the migrated schema: the server parses and
/// plans each one, so a wrong column or type in a path no other test takes fails here.
final class StatementCatalogTests: XCTestCase {
    static let catalogs: [any StatementCatalog.Type] = [
        AccountQueries.self, FileQueries.self, IdempotencyKeys.self, JobEvents.self, JobQueries.self, Jobs.self, Session.self,
        WorkGauges.self,
        History.self, ItentialAutomations.self, ItentialJobs.self, ItentialManualTasks.self, ItentialMetrics.self, ItentialTriggers.self,
        ItentialWorkflows.self,
        JobTypeQueries.self, ScaleCountQueries.self, ScaleJobQueries.self, WorkspaceQueries.self,
        Community.self, ItemRecords.self, JobRecords.self, PortalSignIns.self, StepJobs.self, StepQueries.self, WorkflowItems.self,
    ]
    static let statements = catalogs.flatMap { $0.statements }

    static let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Sources")
        .standardizedFileURL

    func testEveryStatementPreparesAgainstTheSchema() throws {
        let db = try TestStack.database()
        var failures: [String] = []
        for statement in Self.statements {
            do { try db.prepare(statement) } catch { failures.append("\(statement.name): \(error)") }
        }
        XCTAssertEqual(failures, [])
        XCTAssertGreaterThan(Self.statements.count, 140)
    }

    func testTheAssembledJobTypeListsPrepareForEveryOrder() throws {
        let db = try TestStack.database()
        for field in JobTypes.orderableFields {
            for descending in [false, true] {
                let order = [JobTypes.Order(field: field, descending: descending)]
                XCTAssertNoThrow(try db.prepare(Statement("", try JobTypes.listSQL(order: order))), "job types ordered by \(field)")
                XCTAssertNoThrow(try db.prepare(Statement("", try JobTypes.namesSQL(order: order))), "names ordered by \(field)")
            }
        }
    }

    func testStatementNamesAreUnique() {
        let names = Self.statements.map(\.name)
        XCTAssertEqual(Set(names).count, names.count, "duplicates: \(Dictionary(grouping: names) { $0 }.filter { $1.count > 1 }.keys)")
    }

    /// A statement defined in Sources but missing from its type's catalog would never be prepared here.
    func testEveryDefinedStatementIsInACatalog() throws {
        let pattern = try NSRegularExpression(pattern: #"static let \w+ = (?:Statement|Query|login)\(\s*"([a-z0-9_]+)""#)
        var defined: Set<String> = []
        for file in try swiftFiles() where !file.path.contains("/Sources/Postgres/") {
            let text = try String(contentsOf: file, encoding: .utf8)
            for match in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                defined.insert(String(text[Range(match.range(at: 1), in: text)!]))
            }
        }
        XCTAssertGreaterThan(defined.count, 140)
        XCTAssertEqual(defined.subtracting(Self.statements.map(\.name)).sorted(), [], "not in any StatementCatalog")
    }

    /// Every SQL-language function of the schema is inlined where a statement calls it (its
    /// label no stricter than its body, no SET, …): one that is not runs as a function of its
    /// own, its body read and planned again in every statement that calls it (migration 0027).
    func testEverySQLFunctionIsInlined() throws {
        let db = try TestStack.database()
        let functions = try db.run(
            """
            SELECT p.proname, array_to_string(array(SELECT format_type(t, NULL) FROM unnest(p.proargtypes) t), ',')
            FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
            WHERE l.lanname = 'sql' AND p.pronamespace = 'public'::regnamespace
            """)
        XCTAssertFalse(functions.rows.isEmpty, "iso_utc at least")
        for function in functions.rows {
            let name = try XCTUnwrap(function.string(0))
            // Each argument a parameter (an InitPlan's), not a constant the planner could fold.
            let arguments = (function.string(1) ?? "").split(separator: ",").map { "(SELECT NULL::\($0))" }
            let plan = try db.run("EXPLAIN (VERBOSE) SELECT \(name)(\(arguments.joined(separator: ", ")))").rows
                .compactMap { $0.string(0) }.joined(separator: "\n")
            XCTAssertFalse(plan.contains("\(name)("), "\(name) is called, not inlined:\n\(plan)")
        }
    }

    /// A token's digest is computed once per statement, not once per row of `tokens` a scan
    /// compares (a stable expression in a filter is evaluated for every row): with only a
    /// sequential scan left to the planner, no scan's filter hashes.
    func testATokenIsDigestedOncePerStatement() throws {
        let names = ["account_user_by_token", "account_inspect_token", "account_revoke_token", "account_revoke_user_tokens"]
        let plans = try TestStack.database().rolledBack { db in
            try db.run("SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off")
            return try names.map { name in
                let statement = try XCTUnwrap(Self.statements.first { $0.name == name }, name)
                let parameters: [any PostgresParameter] = name == "account_revoke_user_tokens" ? [1, "token"] : ["token"]
                return try db.execute(sql: "EXPLAIN (VERBOSE) " + statement.sql, parameters).rows.compactMap { $0.string(0) }
            }
        }
        for (name, plan) in zip(names, plans) {
            let hashingFilters = plan.filter { $0.contains("Filter:") && $0.contains("sha256") }
            XCTAssertEqual(hashingFilters, [], "\(name):\n\(plan.joined(separator: "\n"))")
        }
    }

    /// History has one writer, `record_job_events`; nothing else inserts into the table.
    func testJobEventsHaveOneWriter() throws {
        for file in try swiftFiles() {
            let text = try String(contentsOf: file, encoding: .utf8)
            XCTAssertFalse(text.localizedCaseInsensitiveContains("INSERT INTO job_events"), file.lastPathComponent)
        }
        let db = try TestStack.database()
        let definition = try XCTUnwrap(
            db.run(
                """
                SELECT pg_get_constraintdef(oid) FROM pg_constraint
                WHERE conrelid = 'job_events'::regclass AND conname = 'job_events_event_check'
                """
            ).first?[0])
        let allowed = try NSRegularExpression(pattern: #"'([a-z_]+)'::text"#)
        let words = allowed.matches(in: definition, range: NSRange(definition.startIndex..., in: definition)).map {
            String(definition[Range($0.range(at: 1), in: definition)!])
        }
        XCTAssertEqual(Set(words), Set(JobEventKind.allCases.map(\.rawValue)), "JobEventKind and the table's CHECK agree")
    }

    func testRecordingAnEventForNoJobRollsBack() throws {
        let db = try TestStack.database()
        XCTAssertThrowsError(
            try db.transaction { tx in
                try JobEvents.record([JobEvent(jobId: -1, .jobCreated, actor: .system("test"))], on: tx)
            }
        ) { error in
            XCTAssertTrue("\(error)".contains("name no job"), "\(error)")
        }
    }

    /// An event named by its task's key finds that task among its own job's tasks. The lookup
    /// used to be a join that read (hashed) every row of `tasks` on every history write.
    func testAnEventReadsOnlyItsOwnJobsTasks() throws {
        let db = try TestStack.database()
        let newest = try XCTUnwrap(
            db.run("SELECT job_id, min(key), count(*) FROM tasks GROUP BY job_id ORDER BY job_id DESC LIMIT 1").first)
        let (job, key, tasksOfJob) = (try XCTUnwrap(newest.int64(0)), newest.string(1), try XCTUnwrap(newest.int(2)))
        let total = try XCTUnwrap(db.run("SELECT count(*) FROM tasks").first?.int(0))
        guard total > 1000 else { throw XCTSkip("only \(total) tasks: too few for a plan that reads them all to show") }
        // This transaction's own reads of the table, from the statistics it has not yet reported.
        let read = "SELECT seq_tup_read + coalesce(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables WHERE relname = 'tasks'"
        let rowsRead = try db.rolledBack { tx in
            let before = try XCTUnwrap(tx.run(read).first?.int(0))
            try JobEvents.record([JobEvent(jobId: job, taskKey: key, .taskReady, actor: .system("test"))], on: tx)
            return try XCTUnwrap(tx.run(read).first?.int(0)) - before
        }
        XCTAssertLessThanOrEqual(rowsRead, tasksOfJob, "rows of tasks read for one event, of \(total)")
    }

    private func swiftFiles() throws -> [URL] {
        let enumerator = try XCTUnwrap(FileManager.default.enumerator(at: Self.sources, includingPropertiesForKeys: nil))
        let files = enumerator.compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" }
        XCTAssertGreaterThan(files.count, 50, "found the sources at \(Self.sources.path)")
        return files
    }
}

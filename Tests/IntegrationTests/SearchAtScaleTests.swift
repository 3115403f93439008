import Foundation
import Itential
import JSON
import Postgres
import XCTest

/// Itential searches over a history of 20,000 jobs, cloned from real ones by
/// `sql/bench/clone_history.sql`: every documented filter and sort is served by an index (no
/// sequential scan of jobs, tasks or job_events in its plan), and answers exactly as the same
/// search over the documents themselves. Speed itself is `ops/bench-history`'s to measure.
final class SearchAtScaleTests: ItentialTestCase {
    static let historySize = 20_000
    /// Set up once: the templates' names, the claimant's account, a start-time range.
    nonisolated(unsafe) static var history: (tag: String, owner: String, from: Double, to: Double)?

    override func setUpWithError() throws {
        try super.setUpWithError()
        if Self.history == nil { Self.history = try loadHistory() }
    }

    /// Templates through the API (Itential jobs complete with variables, waiting on manual tasks,
    /// claimed, canceled; Workflow Manager jobs), then clones of them only, and fresh statistics.
    func loadHistory() throws -> (tag: String, owner: String, from: Double, to: Double) {
        let tag = "scale" + UUID().uuidString.prefix(6).lowercased()
        let automatic = try it.workflow(
            [("a1", ItentialFixture.stub())],
            [("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["workflow_end": ItentialFixture.success])])
        let manual = try it.workflow(
            [("a1", ItentialFixture.viewData())],
            [("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["workflow_end": ItentialFixture.success])])
        var ids: [String] = []
        for (index, workflow) in [automatic, automatic, automatic, manual, manual, manual].enumerated() {
            let options: JSON = [
                "description": .string("\(tag) job \(index)"),
                "variables": ["region": .string(index % 2 == 0 ? "emea" : "apac"), "attempt": .number(String(index % 3))],
            ]
            ids.append(try XCTUnwrap(it.start(workflow, options)["_id"]?.stringValue))
        }
        for id in ids.prefix(3) { _ = try it.job(id, until: ["complete"]) }
        let claimed = try client.postJSON("/workflow_engine/claimJob", ["job_id": .string(ids[3]), "user": "admin"], token: admin)
        let owner = try XCTUnwrap(claimed.json?["metrics"]?["owner"]?.stringValue, claimed.text)
        let iteration = try XCTUnwrap(
            it.job(ids[4], until: ["running"])["tasks"]?["a1"]?["iterations"]?.arrayValue?.last?.stringValue)
        XCTAssertEqual(try client.postJSON("/operations-manager/tasks/\(iteration)/claim", [:], token: admin).status, 200)
        XCTAssertEqual(try client.postJSON("/operations-manager/jobs/cancel", ["jobIds": [.string(ids[5])]], token: admin).status, 200)

        // Other surfaces' work beside it, as in a real history (Itential is 40 % of it): the plans
        // of a search that matches most Itential jobs then differ from a scan of the table.
        let item = try WorkflowManagerItem.make()
        let template = try item.template(diagram: item.diagram([WorkflowManagerItem.step("s1")]))
        for _ in 0..<9 { ids += try item.jobs(template: template) }

        let db = try TestStack.database()
        let cloner = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../sql/bench/clone_history.sql")
        try db.run(try String(contentsOf: cloner, encoding: .utf8))
        try db.execute(
            sql: """
                INSERT INTO bench_clone_templates (job_id, ord)
                SELECT id, row_number() OVER (ORDER BY id) FROM jobs WHERE surface IN ('itential', 'workflow_manager') AND public_id = ANY($1::text[])
                """, [ids])
        try db.run("SELECT bench_clone_register_refs()")
        try db.run("SELECT bench_clone_history((SELECT count(*) FROM jobs) + \(Self.historySize))")
        try db.vacuumAsAnOldHistory(["jobs", "tasks", "users"])
        let range = try XCTUnwrap(
            db.run(
                """
                SELECT extract(epoch FROM percentile_disc(0.4) WITHIN GROUP (ORDER BY created_at)) * 1000,
                       extract(epoch FROM percentile_disc(0.45) WITHIN GROUP (ORDER BY created_at)) * 1000
                FROM jobs WHERE surface = 'itential'
                """
            ).first)
        let milliseconds = { (index: Int) -> Double in Double(range.string(index) ?? "") ?? 0 }
        return (tag, owner, milliseconds(0), milliseconds(1))
    }

    typealias Filter = ItentialSearch.Filter

    func searches() throws -> [(name: String, documents: ItentialSearch.Documents, search: ItentialSearch)] {
        let history = try XCTUnwrap(Self.history)
        func search(_ filters: [Filter], sort: [String] = ["metrics", "start_time"], descending: Bool = false) -> ItentialSearch {
            ItentialSearch(filters: filters, sortPath: sort, descending: descending, limit: 25, skip: 0)
        }
        func filter(_ op: ItentialSearch.Operator, _ path: String, _ value: String, _ number: Double? = nil) -> Filter {
            Filter(op, path: path.split(separator: ".").map(String.init), value: value, number: number)
        }
        let jobs = ItentialJobs.searchDocuments
        let tasks = ItentialManualTasks.searchDocuments
        return [
            ("jobs, default sort", jobs, search([])),
            ("jobs, newest first", jobs, search([], descending: true)),
            ("jobs, status", jobs, search([filter(.equals, "status", "complete")])),
            ("jobs, status in", jobs, search([filter(.isIn, "status", "running,canceled")])),
            ("jobs, name contains", jobs, search([filter(.contains, "name", "IT-JOB")])),
            ("jobs, name starts with", jobs, search([filter(.startsWith, "name", "it-job")])),
            ("jobs, name nomatch", jobs, search([filter(.equals, "name", "nomatch")])),
            ("jobs, owner", jobs, search([filter(.equals, "metrics.owner", history.owner)])),
            (
                "jobs, start time range", jobs,
                search([filter(.gte, "metrics.start_time", "", history.from), filter(.lt, "metrics.start_time", "", history.to)])
            ),
            ("jobs, end time", jobs, search([filter(.gt, "metrics.end_time", "", history.from)])),
            ("jobs, a variable", jobs, search([filter(.equals, "variables.region", "apac")])),
            ("jobs, a variable as a number", jobs, search([filter(.equals, "variables.attempt", "2")])),
            ("jobs, by name", jobs, search([], sort: ["name"])),
            ("jobs, by name, complete", jobs, search([filter(.equals, "status", "complete")], sort: ["name"], descending: true)),
            ("tasks, default sort", tasks, search([])),
            ("tasks, status", tasks, search([filter(.equals, "status", "running")])),
            ("tasks, name", tasks, search([filter(.contains, "name", "viewdata")])),
            ("tasks, owner", tasks, search([filter(.equals, "metrics.owner", history.owner)])),
            (
                "tasks, start time range", tasks,
                search([filter(.gte, "metrics.start_time", "", history.from), filter(.lt, "metrics.start_time", "", history.to)])
            ),
        ]
    }

    func testEveryDocumentedSearchUsesAnIndex() throws {
        let db = try TestStack.database()
        for (name, documents, search) in try searches() {
            let (sql, parameters) = search.sql(over: documents)
            let explained = try XCTUnwrap(db.execute(sql: "EXPLAIN (FORMAT JSON) " + sql, parameters).first?.string(0))
            let plan = try XCTUnwrap(JSON.parse(explained)[0]?["Plan"])
            let scanned = planNodes(plan).filter { $0["Node Type"] == "Seq Scan" }.compactMap { $0["Relation Name"]?.stringValue }
            if !scanned.filter({ ["jobs", "tasks"].contains($0) || $0.hasPrefix("job_events") }).isEmpty {
                let text = try db.execute(sql: "EXPLAIN " + sql, parameters).rows.compactMap { $0.string(0) }.joined(separator: "\n")
                XCTFail("\(name) scans \(scanned):\n\(text)")
            }
        }
    }

    func testIndexedSearchesAnswerAsTheDocumentsDo() throws {
        let db = try TestStack.database()
        var nonEmpty = 0
        for (name, documents, search) in try searches() {
            let indexed = try search.run(over: documents, on: db)
            let reference = try search.run(over: documents.unindexed, on: db)
            XCTAssertEqual(indexed.items, reference.items, name)
            XCTAssertEqual(indexed.total, reference.total, name)
            if indexed.total > 0 { nonEmpty += 1 }
        }
        XCTAssertEqual(nonEmpty, try searches().count - 1, "only the nomatch search finds nothing")
    }

    /// A filter no index serves reads only the newest rows of history, not all of it: a job far
    /// ahead in ids (in a transaction rolled back) leaves every other outside the window, while an
    /// indexed filter still reaches them.
    func testAnUnindexedFilterLooksOnlyAtTheNewestRows() throws {
        let db = try TestStack.database()
        let tag = try XCTUnwrap(Self.history?.tag)
        func search(_ filter: Filter) -> ItentialSearch {
            ItentialSearch(filters: [filter], sortPath: ["metrics", "start_time"], descending: false, limit: 25, skip: 0)
        }
        let unindexed = search(Filter(.contains, path: ["description"], value: tag, number: nil))
        let indexed = search(Filter(.equals, path: ["status"], value: "complete", number: nil))
        let jobs = ItentialJobs.searchDocuments
        XCTAssertGreaterThan(try unindexed.run(over: jobs, on: db).total, 6, "the templates and their clones")
        let everyComplete = try indexed.run(over: jobs, on: db).total

        try db.run("BEGIN")
        defer { _ = try? db.run("ROLLBACK") }
        try db.run(
            """
            INSERT INTO jobs (id, surface, public_id, status, document)
            SELECT max(id) + \(ItentialSearch.unindexedWindow) + 1, 'itential', 'window-probe', 'running',
                   jsonb_build_object('description', '\(tag) probe')
            FROM jobs
            """)
        let windowed = try unindexed.run(over: jobs, on: db)
        XCTAssertEqual(windowed.items, ["window-probe"])
        XCTAssertEqual(windowed.total, 1)
        XCTAssertEqual(try indexed.run(over: jobs, on: db).total, everyComplete)
    }
}

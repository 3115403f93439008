import Foundation
import JSON
import XCTest

/// The Operations Manager search grammar on GET /operations-manager/jobs and /tasks, through
/// nginx: filters, paging with an exact total, sort and order, projection, iap-sdk's GET body.
final class ItentialSearchTests: ItentialTestCase {
    override class var inProcess: Bool { true }

    /// Three jobs of a fresh workflow (one waiting at a manual task, two complete), oldest first.
    func startThreeJobs() throws -> (workflow: String, ids: [String]) {
        let name = try it.workflow(
            [("a1", ItentialFixture.stub())],
            [("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["workflow_end": ItentialFixture.success])])
        var ids: [String] = []
        for index in 0..<3 {
            let id = try XCTUnwrap(
                it.start(name, ["description": .string("run \(index)"), "variables": ["n": .number(index)]])["_id"]?.stringValue)
            _ = try it.job(id, until: ["complete"])
            ids.append(id)
        }
        return (name, ids)
    }

    func list(_ query: String, _ path: String = "/operations-manager/jobs") throws -> JSON {
        let response = try client.get("\(path)?\(query)", token: admin)
        XCTAssertEqual(response.status, 200, response.text)
        return try XCTUnwrap(response.json)
    }

    func ids(_ body: JSON) -> [String] { (body["data"]?.arrayValue ?? []).compactMap { $0["_id"]?.stringValue } }

    func testFiltersPagingSortAndProjection() throws {
        let (name, ids) = try startThreeJobs()
        let all = try list("equals[name]=\(name)")
        XCTAssertEqual(all["message"], "Successfully retrieved search results")
        XCTAssertEqual(all["metadata"], ["total": 3, "skip": 0, "limit": 25])
        XCTAssertEqual(self.ids(all), ids, "oldest first by default")
        XCTAssertEqual(self.ids(try list("equals[name]=\(name)&sort=metrics.start_time&order=-1")), ids.reversed())

        // Pages keep the total of all matches, also past the end.
        let second = try list("equals[name]=\(name)&limit=2&skip=2")
        XCTAssertEqual(self.ids(second), [ids[2]])
        XCTAssertEqual(second["metadata"], ["total": 3, "skip": 2, "limit": 2])
        XCTAssertEqual(try list("equals[name]=\(name)&skip=10")["metadata"]?["total"], 3)

        XCTAssertEqual(self.ids(try list("equals[name]=\(name)&equals[description]=run%201")), [ids[1]])
        XCTAssertEqual(self.ids(try list("equals[name]=\(name)&contains[description]=UN%202")), [ids[2]], "contains ignores case")
        XCTAssertEqual(self.ids(try list("equals[name]=\(name)&not-equals[description]=run%201")), [ids[0], ids[2]])
        XCTAssertEqual(self.ids(try list("equals[name]=\(name)&in[_id]=\(ids[0]),\(ids[2])")), [ids[0], ids[2]])
        XCTAssertEqual(self.ids(try list("equals[name]=\(name)&gt[variables.n]=0")), [ids[1], ids[2]], "numbers compare as numbers")
        XCTAssertEqual(self.ids(try list("equals[name]=\(name)&lte[variables.n]=1")), [ids[0], ids[1]])
        XCTAssertEqual(self.ids(try list("starts-with[name]=\(name.prefix(10))&equals[variables.n]=2&equals[status]=complete")), [ids[2]])
        XCTAssertEqual(self.ids(try list("equals[name]=\(name)&exists[variables.n]=false")), [])
        XCTAssertEqual(self.ids(try list("equals[name]=\(name)&gt[metrics.start_time]=2000-01-01T00:00:00")).count, 3, "dates as epoch ms")
        XCTAssertEqual(self.ids(try list("equals[name]=\(name)&gt[metrics.start_time]=2999-01-01")), [])
        XCTAssertEqual(try list("equals[name]=\(name)&bogus[name]=x")["metadata"]?["total"], 3, "unknown operators are ignored")

        let projected = try list("equals[name]=\(name)&limit=1&include=name,metrics.start_time")
        let first = try XCTUnwrap(projected["data"]?[0]?.objectValue?.map(\.0))
        XCTAssertEqual(first, ["_id", "name", "metrics"])
        XCTAssertEqual(projected["data"]?[0]?["metrics"]?.objectValue?.map(\.0), ["start_time"])
        let excluded = try list("equals[name]=\(name)&limit=1&exclude=tasks,transitions")
        XCTAssertNil(excluded["data"]?[0]?["tasks"])
        XCTAssertNotNil(excluded["data"]?[0]?["variables"])
    }

    /// Search and read share one definition of what a job's row adds to its document: an
    /// unclaimed job has no `metrics.owner` in either (the search once matched a null owner).
    func testSearchMatchesTheMetricsAReadShows() throws {
        let name = try it.workflow(
            [("a1", ItentialFixture.viewData())],
            [("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["workflow_end": ItentialFixture.success])])
        let ids = try (0..<2).map { _ in try XCTUnwrap(it.start(name)["_id"]?.stringValue) }
        let claimed = try client.postJSON("/workflow_engine/claimJob", ["job_id": .string(ids[0]), "user": "admin"], token: admin)
        XCTAssertEqual(claimed.status, 200, claimed.text)
        let owner = try XCTUnwrap(claimed.json?["metrics"]?["owner"]?.stringValue)

        XCTAssertEqual(self.ids(try list("equals[name]=\(name)&exists[metrics.owner]=false")), [ids[1]])
        XCTAssertEqual(self.ids(try list("equals[name]=\(name)&equals[metrics.owner]=\(owner)")), [ids[0]])
        XCTAssertEqual(self.ids(try list("equals[name]=\(name)&equals[status]=running")), ids)
    }

    func testBadParametersAreRefused() throws {
        ItentialSupport.assertMessage(try client.get("/operations-manager/jobs?limit=x", token: admin), 400, "limit")
        ItentialSupport.assertMessage(try client.get("/operations-manager/jobs?skip=-1", token: admin), 400, "skip")
        ItentialSupport.assertMessage(try client.get("/operations-manager/jobs?order=up", token: admin), 400, "order")
        ItentialSupport.assertMessage(try client.get("/operations-manager/jobs?include=name&exclude=tasks", token: admin), 400)
        ItentialSupport.assertMessage(try client.get("/operations-manager/jobs"), 401)
    }

    /// iap-sdk sends its query as a JSON body on a GET.
    func testQueryParametersInAGetBody() throws {
        let (name, ids) = try startThreeJobs()
        let body: JSON = [
            "queryParameters": [
                "limit": 2, "include": "name,status", "equals": ["name": .string(name)], "in": ["status": ["complete", "running"]],
            ]
        ]
        let response = try client.request(
            "GET", "/operations-manager/jobs", headers: [("Content-Type", "application/json"), ("Authorization", "Bearer \(admin)")],
            body: Array(body.serialized.utf8))
        XCTAssertEqual(response.status, 200, response.text)
        XCTAssertEqual(self.ids(try XCTUnwrap(response.json)), Array(ids.prefix(2)))
        XCTAssertEqual(response.json?["metadata"]?["total"], 3)
        XCTAssertEqual(response.json?["data"]?[0]?.objectValue?.map(\.0), ["_id", "name", "status"])
    }

    func testTaskSearchFindsWaitingManualTasks() throws {
        let name = try it.workflow(
            [("a1", ItentialFixture.viewData())],
            [("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["workflow_end": ItentialFixture.success])])
        let job = try XCTUnwrap(it.start(name)["_id"]?.stringValue)
        let found = try list("equals[type]=manual&equals[status]=running&equals[job._id]=\(job)", "/operations-manager/tasks")
        XCTAssertEqual(found["metadata"]?["total"], 1)
        let task = try XCTUnwrap(found["data"]?[0])
        XCTAssertEqual(task["job"]?["task"], "a1")
        XCTAssertEqual(task["metrics"]?["owner"], "")
        let iteration = try XCTUnwrap(task["_id"]?.stringValue)
        XCTAssertEqual(try client.get("/operations-manager/tasks/\(iteration)", token: admin).json?["data"], task)
        XCTAssertEqual(try list("equals[job._id]=\(job)&equals[status]=complete", "/operations-manager/tasks")["metadata"]?["total"], 0)
    }
}

import Engine
import Foundation
import HTTP
import JSON
import NativeAPI
import XCTest

/// `GET /flowgate/v1/metrics` through nginx: who may read it, what it counts, and one path per
/// instance so that a scraper reaches each of them behind the one address.
final class MetricsTests: XCTestCase {
    var client: HTTPClient!
    var admin = ""

    override func setUpWithError() throws {
        client = try TestStack.client()
        admin = try TestStack.adminToken()
    }

    func scrape(_ path: String = "/flowgate/v1/metrics") throws -> String {
        let response = try client.get(path, token: admin)
        XCTAssertEqual(response.status, 200, response.text)
        XCTAssertEqual(response.header("content-type"), "text/plain; version=0.0.4; charset=utf-8")
        return response.text
    }

    /// The value of the series whose line starts with `series` (name and labels up to the
    /// instance's, which comes last), or 0 when it is not there yet.
    static func value(_ text: String, _ series: String) -> Double {
        text.split(separator: "\n").first { $0.hasPrefix(series) }.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
    }

    func testOnlyAnAdminReadsTheMetrics() throws {
        NativeSupport.assertError(try client.get("/flowgate/v1/metrics"), 401)
        let user = try TestStack.makeUser(prefix: "metrics")
        NativeSupport.assertError(try client.get("/flowgate/v1/metrics", token: user.token), 403)
        NativeSupport.assertError(try client.get("/flowgate/v1/instances/flowgate-1/metrics", token: user.token), 403)
        XCTAssertFalse(try scrape().isEmpty)
    }

    func testEachInstanceHasItsPathAndCountsItsOwnRequests() throws {
        let whoami = #"flowgate_http_requests_total{surface="native",route="/flowgate/v1/whoami",method="GET",status="200""#
        func served() throws -> Double {
            try ["flowgate-1", "flowgate-2"].map { instance in
                let text = try scrape("/flowgate/v1/instances/\(instance)/metrics")
                XCTAssertTrue(text.contains(#"flowgate_instance="\#(instance)""#), instance)
                XCTAssertFalse(text.contains(#"flowgate_instance="flowgate-\#(instance == "flowgate-1" ? 2 : 1)""#))
                return Self.value(text, whoami)
            }.reduce(0, +)
        }
        let before = try served()
        for _ in 0..<5 { XCTAssertEqual(try client.get("/flowgate/v1/whoami", token: admin).status, 200) }
        XCTAssertEqual(try served() - before, 5, "both instances together served the five")
        // nginx finds no socket for an instance that does not exist.
        NativeSupport.assertError(try client.get("/flowgate/v1/instances/flowgate-9/metrics", token: admin), 502)
    }

    func testTheWorkAndTheProcessAreReported() throws {
        let db = try TestStack.database()
        func jobs() throws -> Double { Double(try db.execute(sql: "SELECT count(*) FROM jobs").first?.int(0) ?? -1) }
        let fewest = try jobs()
        let text = try scrape()
        let most = try jobs()
        let reported = text.split(separator: "\n").filter { $0.hasPrefix("flowgate_jobs{") }
            .compactMap { Double($0.split(separator: " ").last ?? "") }.reduce(0, +)
        XCTAssertTrue((fewest...most).contains(reported), "\(reported) jobs reported, \(fewest)…\(most) in the table")
        for name in [
            "flowgate_runner_ready_tasks{", "flowgate_runner_oldest_ready_task_age_seconds{", "flowgate_runner_tasks_leased_total{",
            "flowgate_runner_tasks_finished_total{", "flowgate_database_reconnects_total{", "flowgate_database_transaction_retries_total{",
            "flowgate_fastcgi_workers{", "process_resident_memory_bytes{", "process_cpu_seconds_total{", "process_open_fds{",
            "process_threads{", "flowgate_http_request_duration_seconds_bucket{",
        ] {
            XCTAssertTrue(text.contains("\n" + name), name)
        }
        XCTAssertGreaterThanOrEqual(Self.value(text, "flowgate_fastcgi_busy_workers{"), 1, "the scrape itself is being served")
        XCTAssertGreaterThan(Self.value(text, "process_threads{"), 8)
    }

    /// `FLOWGATE_METRICS_ACCESS=loopback`: a client on this host needs no token, any other still
    /// needs an admin's (the application in this process, with the peer nginx would pass).
    func testLoopbackAccessLetsOnlyLocalClientsInWithoutAToken() throws {
        let surface = NativeAPI.surface(
            .init(
                instance: "here", version: "test", tokenLifetimeSeconds: 60, metricsFromLoopback: true, metrics: { _ in Array("ok\n".utf8) }
            ))
        let application = Application(surfaces: [surface])
        let session = try XCTUnwrap(try TestStack.databaseURL.map { try Session(conninfo: $0) })
        func status(_ peer: String, token: String? = nil, path: String = "/flowgate/v1/metrics") -> Int {
            application.respond(
                method: "GET", target: path, headers: token.map { ["authorization": "Bearer \($0)"] } ?? [:], body: [],
                context: session, peer: peer
            ).status
        }
        XCTAssertEqual(status("127.0.0.1", path: "/flowgate/v1/instances/here/metrics"), 200)
        XCTAssertEqual(status("127.0.0.1", path: "/flowgate/v1/instances/elsewhere/metrics"), 404, "only the named instance answers")
        XCTAssertEqual(status("127.0.0.1"), 200)
        XCTAssertEqual(status("::1"), 200)
        XCTAssertEqual(status("10.1.2.3"), 401)
        XCTAssertEqual(status("127.0.0.1.evil"), 401, "a name is not an address")
        XCTAssertEqual(status("10.1.2.3", token: admin), 200)
    }
}

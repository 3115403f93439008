import Foundation
import Postgres
import XCTest

@testable import HTTP

/// The PostgreSQL layer against the real server: retries, timeouts, error mapping.
final class PostgresTests: XCTestCase {
    func testSerializationFailuresAreRetried() throws {
        let db = try TestStack.database()
        let table = "retry_probe_\(UInt32.random(in: 0...UInt32.max))"
        try db.run("CREATE TABLE \(table) (id int PRIMARY KEY, n int NOT NULL); INSERT INTO \(table) VALUES (1, 0)")
        defer { _ = try? db.run("DROP TABLE \(table)") }
        let url = try XCTUnwrap(TestStack.databaseURL)
        let results = TestStack.concurrently(2) { _ -> Int in
            let connection = try Connection(conninfo: url)
            var runs = 0
            try connection.transaction(retries: 5, isolation: "SERIALIZABLE") { tx in
                runs += 1
                let n = try tx.run("SELECT n FROM \(table) WHERE id = 1").first?.int(0) ?? -1
                usleep(200_000)  // both read before either writes: one must fail with 40001
                try tx.run("UPDATE \(table) SET n = \(n + 1) WHERE id = 1")
            }
            return runs
        }
        let runs = try results.map { try $0.get() }
        XCTAssertEqual(try db.run("SELECT n FROM \(table)").first?.int(0), 2, "no update was lost")
        XCTAssertEqual(runs.sorted(), [1, 2], "the loser ran once more")
    }

    func testStatementTimeoutIsUnavailableAndMapsTo503() throws {
        let url = try XCTUnwrap(TestStack.databaseURL)
        let connection = try Connection(conninfo: url + " options='-c statement_timeout=100'")
        XCTAssertThrowsError(try connection.run("SELECT pg_sleep(2)")) { error in
            let postgres = error as? PostgresError
            XCTAssertEqual(postgres?.sqlState, "57014")
            XCTAssertEqual(postgres?.isUnavailable, true)
        }
        XCTAssertEqual(try connection.run("SELECT 1").first?.int(0), 1, "the connection is still usable")
    }

    func testSQLStatesMapToStatuses() throws {
        let request = try Request(method: "GET", target: "/", headers: [:], body: [])
        func status(_ state: String?, lost: Bool = false) -> Int {
            Application<Void>.httpError(for: PostgresError(sqlState: state, message: "m", connectionLost: lost), request: request).status
        }
        XCTAssertEqual(status("23505"), 409)
        XCTAssertEqual(status("23503"), 409)
        XCTAssertEqual(status("23514"), 400)
        XCTAssertEqual(status("22P02"), 400)
        XCTAssertEqual(status("40001"), 503)
        XCTAssertEqual(status("57014"), 503)
        XCTAssertEqual(status("08006"), 503)
        XCTAssertEqual(status(nil, lost: true), 503)
        XCTAssertEqual(status("XX000"), 500)
    }
}

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

    /// A table of its own for one test, dropped afterwards.
    func probeTable(_ db: Connection, _ columns: String = "n int NOT NULL") throws -> String {
        let table = "fault_probe_\(UInt32.random(in: 0...UInt32.max))"
        try db.run("CREATE TABLE \(table) (\(columns))")
        addTeardownBlock { _ = try? db.run("DROP TABLE \(table)") }
        return table
    }

    /// Terminates backend `pid` as soon as it runs a statement containing `marker`.
    static func terminate(_ pid: Int, whenRunning marker: String) throws {
        let admin = try TestStack.superuserDatabase()
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            let found = try admin.run(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = \(pid) AND state = 'active' AND strpos(query, '\(marker)') > 0"
            )
            if found.first != nil { return }
            usleep(5_000)
        }
        XCTFail("backend \(pid) never ran \(marker)")
    }

    /// A new connection, and a thread that terminates its backend when it runs `marker`.
    func connectionKilled(whenRunning marker: String) throws -> (Connection, Int) {
        let connection = try Connection(conninfo: try XCTUnwrap(TestStack.databaseURL))
        let pid = try XCTUnwrap(try connection.run("SELECT pg_backend_pid()").first?.int(0))
        Thread { try? PostgresTests.terminate(pid, whenRunning: marker) }.start()
        return (connection, pid)
    }

    func testATransactionWhoseBackendIsKilledBeforeCommitRunsAgainOnANewConnection() throws {
        let db = try TestStack.database()
        let table = try probeTable(db)
        let (connection, pid) = try connectionKilled(whenRunning: "pg_sleep(0.5)")
        var runs = 0
        try connection.transaction { tx in
            runs += 1
            try tx.run("INSERT INTO \(table) VALUES (1)")
            if runs == 1 { try tx.run("SELECT pg_sleep(0.5)") }
        }
        XCTAssertEqual(runs, 2, "the killed attempt ran again")
        XCTAssertEqual(try db.run("SELECT count(*) FROM \(table)").first?.int(0), 1, "and wrote once")
        XCTAssertNotEqual(try connection.run("SELECT pg_backend_pid()").first?.int(0), pid)
    }

    func testAWriteOutsideATransactionIsOneAndSurvivesAKilledBackend() throws {
        let db = try TestStack.database()
        let table = try probeTable(db)
        let marker = "pg_sleep(0.4 + 0 * \(UInt16.random(in: 0...9999)))"
        let (connection, pid) = try connectionKilled(whenRunning: marker)
        // The first run is killed mid-statement; the second runs on a new backend, which the killer leaves alone.
        let inserted = try connection.execute(sql: "INSERT INTO \(table) SELECT 1 FROM \(marker) RETURNING n").rows.count
        XCTAssertEqual(inserted, 1)
        XCTAssertEqual(try db.run("SELECT count(*) FROM \(table)").first?.int(0), 1)
        let second = try XCTUnwrap(try connection.run("SELECT pg_backend_pid()").first?.int(0))
        XCTAssertNotEqual(second, pid)
        Thread { try? PostgresTests.terminate(second, whenRunning: marker) }.start()
        XCTAssertEqual(try connection.run("SELECT n FROM \(table) WHERE \(marker) IS NOT NULL").first?.int(0), 1)
        XCTAssertNotEqual(
            try connection.run("SELECT pg_backend_pid()").first?.int(0), second, "the read was killed too, and ran again")
    }

    /// The connection dies during COMMIT (a deferred trigger sleeps there): the transaction id
    /// says it aborted, so it runs again, once.
    func testAConnectionLostDuringCommitIsSettledByTheTransactionsStatus() throws {
        let db = try TestStack.superuserDatabase(application: true)
        let table = try probeTable(db)
        try db.run(
            """
            GRANT INSERT, SELECT ON \(table) TO flowgate;
            CREATE FUNCTION \(table)_slow() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN IF NEW.n = 1 THEN PERFORM pg_sleep(0.5); END IF; RETURN NULL; END $$;
            CREATE CONSTRAINT TRIGGER slow AFTER INSERT ON \(table) DEFERRABLE INITIALLY DEFERRED
                FOR EACH ROW EXECUTE FUNCTION \(table)_slow();
            """)
        addTeardownBlock { _ = try? db.run("DROP FUNCTION IF EXISTS \(table)_slow() CASCADE") }
        let (connection, pid) = try connectionKilled(whenRunning: "COMMIT")
        var runs = 0
        try connection.transaction { tx in
            runs += 1
            try tx.run("INSERT INTO \(table) VALUES (\(runs))")
        }
        XCTAssertEqual(runs, 2)
        XCTAssertEqual(try db.run("SELECT array_agg(n)::text FROM \(table)").first?.string(0), "{2}", "only the second run committed")
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

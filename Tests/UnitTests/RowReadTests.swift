import Engine
import JSON
import Postgres
import XCTest

/// Reading a row by column name refuses what does not match the declared type, instead of
/// defaulting (`row.string(3)` gave "" for NULL and `int(…)` nil for garbage).
final class RowReadTests: XCTestCase {
    let row = Row(
        values: ["7", nil, "t", "12x", "running", #"{"a": 1}"#, "{broken"],
        columns: ["id", "claimed_by", "automatic", "position", "status", "document", "output"])

    func testDeclaredTypesRead() throws {
        XCTAssertEqual(try row.value("id", as: Int64.self), 7)
        XCTAssertEqual(try row.value("automatic", as: Bool.self), true)
        XCTAssertEqual(try row.value("status", as: TaskStatus.self), .running)
        XCTAssertNil(try row.optional("claimed_by", as: Int64.self))
        XCTAssertEqual(try row.json("document"), ["a": 1])
    }

    func testMismatchesThrowNamingTheColumn() {
        for (column, read) in [
            ("claimed_by", { _ = try self.row.value("claimed_by", as: Int64.self) }),
            ("position", { _ = try self.row.value("position", as: Int.self) }),
            ("missing", { _ = try self.row.optional("missing", as: String.self) }),
            ("id", { _ = try self.row.value("id", as: TaskStatus.self) }),
        ] as [(String, () throws -> Void)] {
            XCTAssertThrowsError(try read(), column) { error in
                XCTAssertEqual((error as? RowReadError)?.column, column)
            }
        }
        XCTAssertThrowsError(try row.json("output")) { XCTAssertEqual(($0 as? StoredJSONError)?.column, "output") }
    }

    func testARepeatedColumnNameReadsTheFirst() throws {
        let joined = Row(values: ["1", "2"], columns: ["id", "id"])
        XCTAssertEqual(try joined.value("id", as: Int.self), 1)
    }
}

final class StatementKindTests: XCTestCase {
    /// Only statements classed read-only run again after a lost connection outside a transaction.
    func testOnlyPlainReadsAreReadOnly() {
        XCTAssertTrue(Statement.readsOnly("SELECT id, name FROM jobs WHERE status = $1"))
        XCTAssertTrue(Statement.readsOnly("  with recent AS (SELECT * FROM job_events) SELECT count(*) FROM recent"))
        XCTAssertTrue(Statement.readsOnly("SELECT last_update, lock_owner FROM tasks"), "words inside names do not count")
        XCTAssertTrue(Statement.readsOnly("SELECT name FROM jobs WHERE name = 'Zürich-Lösung'"), "other scripts are no words")
        for writing in [
            "INSERT INTO jobs VALUES (1)", "WITH x AS (UPDATE jobs SET n = 1 RETURNING id) SELECT * FROM x",
            "SELECT id FROM tasks FOR UPDATE SKIP LOCKED", "SELECT nextval('s')", "SELECT record_job_events($1)",
            "SELECT * INTO copy_of_jobs FROM jobs", "SELECT pg_notify('c', 'x')", "DELETE FROM jobs", "LISTEN flowgate_tasks",
            "CREATE TABLE t (n int)", "", "   ", "SELECT 1 FROM t WHERE a = 'é'||(DELETE)", "SELECT x→insert INTO y",
        ] {
            XCTAssertFalse(Statement.readsOnly(writing), writing)
        }
    }

    /// A terminated backend's FATAL can arrive while libpq still calls the connection OK: its
    /// SQLSTATE alone must mark the connection lost, or the request answers 503 instead of retrying.
    func testSessionEndingStatesAreConnectionLoss() {
        for state in ["57P01", "57P02", "57P03", "08006", "08003"] { XCTAssertTrue(Connection.endsTheSession(state), state) }
        for state in ["57014", "40001", "23505", "XX000"] { XCTAssertFalse(Connection.endsTheSession(state), state) }
    }
}

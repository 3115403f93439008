import Foundation
import JSON
import Postgres
import XCTest

/// `ops/backup` and `ops/restore` round trip: a backup taken while the stack serves, restored
/// beside the live database, holds the same rows, owned by the application role.
final class BackupTests: XCTestCase {
    func testABackupRestoresBesideTheLiveDatabaseWithTheSameRows() throws {
        let ops = try XCTUnwrap(TestStack.opsDirectory)
        let client = try TestStack.client()
        let marker = "backup-\(UUID().uuidString.prefix(8).lowercased())"
        XCTAssertEqual(try client.postJSON("/v6/workspaces/", ["name": .string(marker)], token: try TestStack.adminToken()).status, 201)
        let live = try TestStack.superuserDatabase(application: true)
        let tables = ["users", "jobs", "tasks", "job_events", "workspaces", "idempotency_keys", "schema_migrations"]
        func counts(_ db: Connection) throws -> [String] {
            try tables.map { table in "\(table)=\(try db.run("SELECT count(*) FROM \(table)").first?.int(0) ?? -1)" }
        }
        let file = NSTemporaryDirectory() + "flowgate-\(marker).dump"
        defer { try? FileManager.default.removeItem(atPath: file) }
        let environment = ProcessInfo.processInfo.environment
        // Nothing else writes while this test runs (tests run one at a time), so the counts hold.
        let before = try counts(live)
        let backup = try Spawn.run(ops + "/backup", [file], environment: environment)
        XCTAssertEqual(backup.status, 0, backup.output)

        let name = "flowgate_restore_\(UInt32.random(in: 0...UInt32.max))"
        let admin = try TestStack.superuserDatabase()
        defer { _ = try? admin.run("DROP DATABASE IF EXISTS \(name) WITH (FORCE)") }
        let restore = try Spawn.run(ops + "/restore", [file, "--into", name], environment: environment)
        XCTAssertEqual(restore.status, 0, restore.output)
        let restored = try Connection(
            conninfo: try XCTUnwrap(TestStack.superuserURL).replacingOccurrences(of: "dbname=postgres", with: "dbname=\(name)"))
        defer { restored.close() }
        XCTAssertEqual(try counts(restored), before)
        XCTAssertEqual(try restored.run("SELECT count(*) FROM workspaces WHERE name = '\(marker)'").first?.int(0), 1)
        XCTAssertEqual(
            try restored.run("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner <> 'flowgate'").first?.int(0), 0,
            "every table is the application role's")

        XCTAssertNotEqual(try Spawn.run(ops + "/restore", [file, "--into", name], environment: environment).status, 0, "no overwrite")
        XCTAssertNotEqual(try Spawn.run(ops + "/restore", [file, "--into", "flowgate"], environment: environment).status, 0)
        XCTAssertNotEqual(try Spawn.run(ops + "/restore", [file, "--into", "x; DROP"], environment: environment).status, 0)
    }
}

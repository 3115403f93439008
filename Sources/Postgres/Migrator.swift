import Foundation

/// Applies `NNNN_name.sql` files in order, each in its own transaction, recording each in
/// `schema_migrations`. A session advisory lock makes concurrent migrators (several instances
/// started at once) take turns; the second finds nothing left to do.
public struct Migrator {
    public struct Migration: Sendable {
        public let version: Int
        public let name: String
        public let sql: String

        /// `0001_users`: the name as on disk, without `.sql`.
        public var fileStem: String {
            let digits = String(version)
            return String(repeating: "0", count: max(0, 4 - digits.count)) + digits + "_" + name
        }
    }

    /// Arbitrary but fixed: every Flowgate process contends for the same advisory lock.
    static let advisoryLockKey: Int64 = 0x466C_6F77_6761_7465 & 0x7FFF_FFFF_FFFF_FFFF

    static let createTable = """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version integer PRIMARY KEY,
            name text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now())
        """

    public let migrations: [Migration]
    /// Idempotent SQL (report views) re-applied after every migration run.
    public let reports: [String]

    public init(migrationsDirectory: String, reportsDirectory: String? = nil) throws {
        migrations = try Migrator.sqlFiles(in: migrationsDirectory).map { file in
            let stem = String(file.name.dropLast(4))
            guard let separator = stem.firstIndex(of: "_"), let version = Int(stem[..<separator]) else {
                throw PostgresError(sqlState: nil, message: "migration file \(file.name) is not named NNNN_name.sql")
            }
            return Migration(version: version, name: String(stem[stem.index(after: separator)...]), sql: file.sql)
        }
        reports = try reportsDirectory.map { try Migrator.sqlFiles(in: $0).map(\.sql) } ?? []
        let versions = migrations.map(\.version)
        guard Set(versions).count == versions.count else {
            throw PostgresError(sqlState: nil, message: "two migration files share a version number")
        }
    }

    private static func sqlFiles(in directory: String) throws -> [(name: String, sql: String)] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
            .filter { $0.hasSuffix(".sql") }
            .sorted()
        return try names.map { ($0, try String(contentsOfFile: directory + "/" + $0, encoding: .utf8)) }
    }

    /// Versions on disk that the database has not recorded yet.
    public func pending(on connection: Connection) throws -> [Migration] {
        let exists = try connection.run("SELECT to_regclass('schema_migrations') IS NOT NULL")
        guard exists.first?.bool(0) == true else { return migrations }
        let applied = Set(try connection.run("SELECT version FROM schema_migrations").rows.compactMap { $0.int(0) })
        return migrations.filter { !applied.contains($0.version) }
    }

    /// Applies what is pending and returns the names applied (empty when up to date).
    @discardableResult
    public func migrate(on connection: Connection) throws -> [String] {
        try connection.run("SELECT pg_advisory_lock(\(Migrator.advisoryLockKey))")
        defer { _ = try? connection.run("SELECT pg_advisory_unlock(\(Migrator.advisoryLockKey))") }
        try connection.run(Migrator.createTable)
        var applied: [String] = []
        for migration in try pending(on: connection) {
            try connection.transaction(retries: 0) { tx in
                try tx.run(migration.sql)
                try tx.execute(
                    Statement("record_migration", "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)"),
                    [migration.version, migration.name])
            }
            applied.append(migration.fileStem)
        }
        for report in reports {
            try connection.transaction(retries: 0) { tx in try tx.run(report) }
        }
        return applied
    }
}

import Foundation
import Logging
import Postgres

/// Job history over the years: `job_events` in month partitions (migration 0016) kept ahead of
/// time, and pruning of jobs that ended long ago.
public enum History: StatementCatalog {
    /// What happens to the history of pruned jobs.
    public enum EventPolicy: String, Sendable, CaseIterable {
        /// Events stay in `job_events` (their `job_id` becomes NULL; the public id stays), so
        /// reports still count the pruned jobs.
        case keep
        /// Month partitions wholly before the date leave `job_events` but stay in the database
        /// as tables of their own (`job_events_YYYY_MM`), to dump and drop at leisure.
        case detach
        /// Those month partitions are dropped.
        case drop
    }

    public struct PruneResult: Sendable, Equatable {
        public let jobs: Int
        public let partitions: [String]
    }

    /// Jobs deleted per transaction, so that a prune of years holds no lock for long.
    static let pruneBatch = 1000

    package static let ensurePartitions = Query(
        "history_ensure_partitions", "SELECT job_events_ensure_partitions() AS created", reading: { try $0.value("created", as: Int.self) })

    /// Deletes up to $3 jobs that ended before $1 (of surface $2, or any): their tasks, holds and
    /// files go with them (ON DELETE CASCADE); their events, children and dependants keep
    /// NULL references. A job ends when its surface's lifecycle sets `finished_at`.
    package static let pruneJobs = Query(
        "history_prune_jobs",
        """
        WITH doomed AS (
            SELECT id FROM jobs
            WHERE finished_at < to_timestamp($1::float8) AND ($2::text IS NULL OR surface = $2::text)
            ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED
        ), deleted AS (
            DELETE FROM jobs j USING doomed WHERE j.id = doomed.id RETURNING j.id
        )
        SELECT count(*) AS deleted FROM deleted
        """, binding: Double.self, String?.self, Int.self, reading: { try $0.value("deleted", as: Int.self) })

    /// The month partitions that end by $1 (UTC), oldest first.
    package static let partitionsEndingBy = Query(
        "history_partitions_ending_by",
        """
        SELECT c.relname AS partition FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'job_events'::regclass AND c.relname ~ '^job_events_[0-9]{4}_[0-9]{2}$'
          AND to_date(substr(c.relname, 12), 'YYYY_MM') + interval '1 month' <= (to_timestamp($1::float8) AT TIME ZONE 'UTC')
        ORDER BY c.relname
        """, binding: Double.self, reading: { try $0.value("partition", as: String.self) })

    package static let statements = [ensurePartitions.statement, pruneJobs.statement, partitionsEndingBy.statement]

    /// Creates the month partitions of `job_events` up to three months ahead; returns how many.
    @discardableResult
    public static func ensurePartitions(on connection: Connection) throws -> Int {
        try connection.first(ensurePartitions) ?? 0
    }

    /// Deletes the jobs that ended before `before` (seconds since the epoch), of one surface or
    /// all, in batches of one transaction each, then applies `events` to the month partitions
    /// wholly before both `before` and the current month (one a writer may still use stays).
    public static func prune(before: Double, surface: SurfaceName?, events: EventPolicy, on connection: Connection) throws
        -> PruneResult
    {
        var jobs = 0
        while true {
            let deleted = try connection.transaction { tx in
                try tx.first(pruneJobs, before, surface?.rawValue, pruneBatch) ?? 0
            }
            jobs += deleted
            if deleted < pruneBatch { break }
        }
        guard events != .keep else { return PruneResult(jobs: jobs, partitions: []) }
        let partitions = try connection.rows(partitionsEndingBy, min(before, WallClock.now))
        for partition in partitions {
            // Names come from the catalog and match job_events_YYYY_MM; quoted all the same.
            try connection.transaction { tx in
                try tx.run("ALTER TABLE job_events DETACH PARTITION \"\(partition)\"")
                if events == .drop { try tx.run("DROP TABLE \"\(partition)\"") }
            }
        }
        return PruneResult(jobs: jobs, partitions: partitions)
    }
}

/// Keeps `job_events`' month partitions ahead of time from every instance: at start and hourly
/// (the default partition catches any row in between, so this is housekeeping, not a guard),
/// and deletes idempotency keys past their 24 hours.
public final class HistoryMaintenance: @unchecked Sendable {
    private static let logger = Logger(label: "flowgate.history")
    private let conninfo: String
    private let interval: TimeInterval
    private let finished = DispatchGroup()
    // Written once by stop(); the thread re-reads it every 100 ms.
    private nonisolated(unsafe) var stopping = false

    public init(conninfo: String, interval: TimeInterval = 3600) {
        self.conninfo = conninfo
        self.interval = interval
    }

    public func start() {
        finished.enter()
        let thread = Thread { [self] in
            var next = Date()
            while !stopping {
                if Date() >= next {
                    next = Date().addingTimeInterval(interval)
                    do {
                        let connection = try Connection(conninfo: conninfo)
                        defer { connection.close() }
                        try History.ensurePartitions(on: connection)
                        while try IdempotencyKeys.purgeExpired(on: connection) > 0, !stopping {}
                    } catch {
                        Self.logger.info("history maintenance failed", metadata: ["error": "\(error)"])
                    }
                }
                usleep(100_000)
            }
            finished.leave()
        }
        thread.name = "history-maintenance"
        thread.start()
    }

    public func stop() { stopping = true }

    public func waitUntilStopped() { finished.wait() }
}

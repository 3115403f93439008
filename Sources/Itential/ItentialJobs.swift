import Engine
import JSON
import Postgres

/// An Itential job as its documents are built from: the stored document (the workflow
/// snapshot and the options it started with), its status, its tasks' runtime state, who claimed
/// it, and the errors its history holds.
public struct ItentialJob: Sendable {
    public struct Task: Sendable {
        public let key: String
        public let status: TaskStatus
        public let automatic: Bool
        public let finishState: String?
        public let output: JSON?
        public let error: String?
        /// Milliseconds since the epoch.
        public let startedAt: Double?
        public let finishedAt: Double?
        public let ownerAccountId: String?
        public let claimedAt: Double?
        /// Every iteration, oldest first; the last is the current one.
        public let iterations: [String]
        /// Jobs it spawned: `[{_id, name, iteration}]` (childJob).
        public let childJobs: JSON?
    }

    public struct Failure: Sendable {
        /// A task key, or `job` for a stall.
        public let task: String
        public let message: String
        public let at: Double
    }

    public let id: String
    public let status: String
    public let document: JSON
    public let ownerAccountId: String?
    /// What its row adds to the document: `_id`, `status`, `metrics` (see `rowFields`).
    public let rowFields: JSON
    public let tasks: [Task]
    public let errors: [Failure]
}

/// Starting, reading and claiming Itential jobs. Their tasks run on the shared engine: the
/// runner executes automatic ones, `ItentialFlow` (given by the surface) moves the job on.
public struct ItentialJobs {
    let connection: Connection
    let jobs: Jobs

    /// Creates the job with its tasks in one transaction and starts it.
    /// Creates and starts the job, and answers it as it stood when the start committed (the
    /// runners may move it on at once).
    public func start(_ job: NewJob, by user: User) throws -> ItentialJob {
        try connection.transaction { tx in try Self.start(job, by: user, on: tx, surfaces: jobs.surfaces) }
    }

    /// Starts the job within the caller's transaction `tx`.
    static func start(_ job: NewJob, by user: User, on tx: Connection, surfaces: SurfaceRegistry) throws -> ItentialJob {
        var job = job
        job.owner = user
        let ref = try Jobs.insert(job, parent: nil, actor: .user(user), on: tx, surfaces: surfaces)
        guard let started = try tx.first(Self.read, [ref.publicId]) else {
            throw EngineError(.conflict, "Job \(ref.publicId) could not be read back")
        }
        return started
    }

    public func job(id: String) throws -> ItentialJob? {
        try jobs(ids: [id]).first
    }

    /// The jobs of those ids that exist, in no particular order.
    public func jobs(ids: [String]) throws -> [ItentialJob] {
        try connection.rows(Self.read, ids)
    }

    @Sendable static func decode(_ row: Row) throws -> ItentialJob {
        let tasks = (try row.optionalJSON("tasks")?.arrayValue ?? []).compactMap { task -> ItentialJob.Task? in
            guard let key = task["key"]?.stringValue, let status = task["status"]?.stringValue.flatMap(TaskStatus.init(rawValue:)) else {
                return nil
            }
            return ItentialJob.Task(
                key: key, status: status, automatic: task["automatic"]?.boolValue ?? false,
                finishState: task["finish_state"]?.stringValue, output: task["output"].flatMap { $0.isNull ? nil : $0 },
                error: task["error"]?.stringValue, startedAt: task["started"]?.doubleValue,
                finishedAt: task["finished"]?.doubleValue, ownerAccountId: task["owner"]?.stringValue,
                claimedAt: task["claimed"]?.doubleValue,
                iterations: task["iterations"]?.arrayValue?.compactMap(\.stringValue) ?? [],
                childJobs: task["children"].flatMap { $0.isNull ? nil : $0 })
        }
        let errors = (try row.json("errors").arrayValue ?? []).map { entry in
            ItentialJob.Failure(
                task: entry["task"]?.stringValue ?? "job", message: entry["message"]?.stringValue ?? "",
                at: entry["at"]?.doubleValue ?? 0)
        }
        return ItentialJob(
            id: try row.value("public_id"), status: try row.value("status"), document: try row.json("document"),
            ownerAccountId: try row.optional("owner_account_id"), rowFields: try row.json("row_fields"), tasks: tasks, errors: errors)
    }

    public enum ClaimResult: Sendable {
        case claimed(ItentialJob)
        case alreadyYours
        case claimedByOther(String)
        case finished(String)
        case noSuchJob
        case noSuchUser
    }

    /// Claims a job for `username`: one statement that only succeeds while nobody holds it, so
    /// that of many concurrent claims exactly one wins.
    public func claim(id: String, for username: String, by actor: User) throws -> ClaimResult {
        if let claimed = try connection.first(Self.claim, id, username, actor.id, actor.username, actor.accountId) {
            return .claimed(claimed)
        }
        guard let state = try connection.first(Self.claimState, id, username) else { return .noSuchJob }
        guard state.claimantExists else { return .noSuchUser }
        if ["complete", "canceled"].contains(state.status) { return .finished(state.status) }
        if state.claimedBy == username { return .alreadyYours }
        return .claimedByOther(state.claimedBy ?? "")
    }

    /// Releases a claim held by `user`, or any claim when `asAdmin`; false when there was
    /// nothing this caller may release.
    public func release(id: String, by user: User, asAdmin: Bool) throws -> Bool {
        try connection.first(Self.release, id, user.id, asAdmin, user.username, user.accountId) != nil
    }

    /// Adds accounts to the jobs' `watchers` (each once), or removes them; returns the ids of
    /// the jobs that exist.
    public func watch(ids: [String], accountIds: [String], watching: Bool) throws -> Set<String> {
        Set(try connection.rows(Self.watch, ids, accountIds, watching))
    }

    /// Sets the job's `groups` (who may reach it) to what `change` makes of them, recording
    /// the change in its history; nil when there is no such job.
    public func changeGroups(id: String, by user: User, _ change: ([String]) -> [String]) throws -> [String]? {
        try connection.transaction { tx in
            guard let current = try tx.first(Self.lockGroups, id) else { return nil }
            let before = current.groups.arrayValue?.compactMap(\.stringValue) ?? []
            var after: [String] = []
            for group in change(before) where !after.contains(group) { after.append(group) }
            guard after != before else { return before }
            let groups = JSON.array(after.map(JSON.string))
            try tx.run(Self.setGroups, current.rowId, groups.serialized)
            try JobEvents.record(
                [
                    JobEvent(
                        jobId: current.rowId, .jobUpdated, actor: .user(user), detail: ["groups": ["from": current.groups, "to": groups]])
                ],
                on: tx)
            return after
        }
    }

    // MARK: Statements

    static let lockGroups = Query(
        "itential_job_lock_groups",
        "SELECT id, coalesce(document -> 'groups', '[]') AS groups FROM jobs WHERE surface = 'itential' AND public_id = $1 FOR UPDATE",
        binding: String.self, reading: { row in (rowId: try row.value("id", as: Int64.self), groups: try row.json("groups")) })
    static let setGroups = Query(
        "itential_job_set_groups", "UPDATE jobs SET document = jsonb_set(document, '{groups}', $2::jsonb) WHERE id = $1",
        binding: Int64.self, String.self)

    static let watch = Query(
        "itential_job_watch",
        """
        UPDATE jobs SET document = jsonb_set(document, '{watchers}', CASE
            WHEN $3 THEN coalesce(document->'watchers', '[]') || coalesce((
                SELECT jsonb_agg(account ORDER BY position) FROM (
                    SELECT account, min(position) AS position FROM unnest($2::text[]) WITH ORDINALITY AS given(account, position)
                    WHERE NOT coalesce(document->'watchers', '[]') ? account GROUP BY account) added), '[]')
            ELSE coalesce(document->'watchers', '[]') - $2::text[] END)
        WHERE surface = 'itential' AND public_id = ANY($1::text[])
        RETURNING public_id
        """, binding: [String].self, [String].self, Bool.self, reading: { try $0.value("public_id", as: String.self) })

    /// The fields of a job's document that come from its row `j` (and its `claimer`) rather
    /// than its snapshot: `_id`, `status`, and the metrics in epoch milliseconds (`end_time`
    /// once complete or canceled, `owner` only while claimed). Jobs are read and searched
    /// with this one definition, so a search matches what a read shows.
    static let rowFields = """
        jsonb_build_object('_id', j.public_id, 'status', j.status, 'metrics',
            jsonb_build_object(
                'start_time', round(extract(epoch FROM j.created_at) * 1000),
                'end_time', CASE WHEN j.status IN ('complete', 'canceled') THEN round(extract(epoch FROM j.finished_at) * 1000) END)
            || CASE WHEN claimer.account_id IS NULL THEN '{}' ELSE jsonb_build_object('owner', claimer.account_id) END)
        """

    /// A job's row `j` (with its claimer) as `decode` reads it: timestamps in epoch
    /// milliseconds, as Itential documents carry them.
    static let readColumns = """
        SELECT j.status, j.document, claimer.account_id AS owner_account_id, \(rowFields) AS row_fields, j.id,
               (SELECT json_agg(json_build_object(
                    'key', t.key, 'status', t.status, 'automatic', t.automatic, 'finish_state', t.finish_state,
                    'output', t.output, 'error', t.error, 'started', extract(epoch FROM t.started_at) * 1000,
                    'finished', extract(epoch FROM t.finished_at) * 1000, 'owner', owner.account_id,
                    'claimed', extract(epoch FROM t.claimed_at) * 1000, 'iterations', CASE WHEN t.iteration_id IS NULL THEN t.past_iterations
                                            ELSE t.past_iterations || t.iteration_id END,
                    'children', (SELECT json_agg(json_build_object('_id', c.public_id, 'name', c.name,
                                                                   'iteration', c.document->'parent'->'iteration') ORDER BY c.id)
                                 FROM jobs c WHERE c.parent_task_id = t.id)) ORDER BY t.position, t.id)
                FROM tasks t LEFT JOIN users owner ON owner.id = t.claimed_by WHERE t.job_id = j.id) AS tasks,
               coalesce((SELECT json_agg(json_build_object(
                    'task', CASE WHEN e.event = 'task_failed' THEN e.task_key ELSE 'job' END,
                    'message', e.detail->>'error', 'at', extract(epoch FROM e.at) * 1000) ORDER BY e.id)
                FROM job_events e WHERE e.job_id = j.id AND e.at >= j.created_at AND e.detail ? 'error'
                  AND (e.event = 'task_failed' OR e.event = 'job_status_changed')), '[]') AS errors, j.public_id
        """

    package static let read = Query(
        "itential_job_read",
        """
        \(readColumns)
        FROM jobs j LEFT JOIN users claimer ON claimer.id = j.claimed_by
        WHERE j.surface = 'itential' AND j.public_id = ANY($1::text[])
        """, binding: [String].self, reading: decode)

    /// $1 job, $2 claimant's username, $3/$4/$5 the caller's id, name and account id. Answers
    /// the claimed job as `read` does, so the route needs no second round trip.
    package static let claim = Query(
        "itential_job_claim",
        """
        WITH claimant AS (SELECT id, account_id FROM users WHERE username = $2 AND active),
        claimed AS (
            UPDATE jobs j SET claimed_by = c.id, claimed_at = now(),
                document = j.document || jsonb_build_object(
                    'locked', true,
                    'watchers', CASE WHEN coalesce(j.document->'watchers', '[]') ? c.account_id THEN j.document->'watchers'
                                     ELSE coalesce(j.document->'watchers', '[]') || to_jsonb(c.account_id::text) END,
                    'last_updated', iso_utc(now()), 'last_updated_by', $5::text)
            FROM claimant c
            WHERE j.surface = 'itential' AND j.public_id = $1 AND j.claimed_by IS NULL AND j.status NOT IN ('complete', 'canceled')
            RETURNING j.*
        ), recorded AS (
            SELECT record_job_events(jsonb_agg(jsonb_build_object(
                'job_id', id, 'event', 'job_claimed', 'actor_id', $3::bigint, 'actor', $4::text,
                'detail', jsonb_build_object('user', $2::text)))) AS events
            FROM claimed
        )
        \(readColumns)
        FROM claimed j LEFT JOIN users claimer ON claimer.id = j.claimed_by CROSS JOIN recorded
        """, binding: String.self, String.self, Int64.self, String.self, String.self, reading: decode)

    static let claimState = Query(
        "itential_job_claim_state",
        """
        SELECT j.status, claimer.username, EXISTS (SELECT 1 FROM users WHERE username = $2 AND active) AS claimant_exists
        FROM jobs j LEFT JOIN users claimer ON claimer.id = j.claimed_by
        WHERE j.surface = 'itential' AND j.public_id = $1
        """, binding: String.self, String.self,
        reading: { row in
            (
                status: try row.value("status", as: String.self), claimedBy: try row.optional("username", as: String.self),
                claimantExists: try row.value("claimant_exists", as: Bool.self)
            )
        })

    static let release = Query(
        "itential_job_release",
        """
        WITH released AS (
            UPDATE jobs j SET claimed_by = NULL, claimed_at = NULL,
                document = j.document || jsonb_build_object('locked', false, 'last_updated', iso_utc(now()),
                                                            'last_updated_by', $5::text)
            WHERE j.surface = 'itential' AND j.public_id = $1 AND j.claimed_by IS NOT NULL AND (j.claimed_by = $2 OR $3)
            RETURNING j.id
        )
        SELECT record_job_events(jsonb_agg(jsonb_build_object(
            'job_id', id, 'event', 'job_released', 'actor_id', $2::bigint, 'actor', $4::text))) AS events
        FROM released
        HAVING count(*) > 0
        """, binding: String.self, Int64.self, Bool.self, String.self, String.self, reading: { try $0.value("events", as: Int.self) })
}

extension ItentialJobs: StatementCatalog {
    package static var statements: [Statement] {
        [
            overrideIncoming.statement, watch.statement, read.statement, claim.statement, claimState.statement, release.statement,
            lockGroups.statement, setGroups.statement,
        ]
    }
}

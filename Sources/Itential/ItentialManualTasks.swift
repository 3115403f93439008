import Engine
import JSON
import Postgres

/// One iteration of an Itential task, as `/operations-manager/tasks/{id}` shows it.
public struct ItentialIteration: Sendable {
    public let id: String
    public let key: String
    public let status: TaskStatus
    public let automatic: Bool
    public let definition: JSON
    public let finishState: String?
    public let output: JSON?
    /// Milliseconds since the epoch.
    public let startedAt: Double?
    public let claimedAt: Double?
    public let finishedAt: Double?
    public let ownerAccountId: String?
    public let ownerName: String?
    public let jobId: String
    public let jobName: String
    public let jobStatus: String
    public let jobDocument: JSON
    /// Outputs of the job's tasks by key, to resolve `$var.<task>.<output>`.
    public let outputs: [String: JSON]
}

/// Claims and finishes of Itential manual tasks. Every claim is one conditional `UPDATE`, so
/// of many concurrent claims exactly one wins.
public struct ItentialManualTasks {
    let connection: Connection
    let surfaces: SurfaceRegistry

    public func iteration(_ id: String) throws -> ItentialIteration? {
        try connection.execute(Self.byIteration, [id]).first.flatMap(Self.decode)
    }

    /// The current iteration of a job's task.
    public func iteration(jobId: String, key: String) throws -> ItentialIteration? {
        try connection.execute(Self.byJobTask, [jobId, key]).first.flatMap(Self.decode)
    }

    /// Claims for `claimant`; false when the task is not waiting unclaimed (the caller reads
    /// the iteration to say why).
    public func claim(_ id: String, for claimantId: Int64, by actor: User) throws -> Bool {
        try !connection.execute(Self.claim, [id, claimantId, actor.id, actor.username, false]).isEmpty
    }

    /// Gives the task to another user, whoever held it.
    public func assign(_ id: String, to userId: Int64, by actor: User) throws -> Bool {
        try !connection.execute(Self.claim, [id, userId, actor.id, actor.username, true]).isEmpty
    }

    /// Releases a claim held by `user`, or any claim when `asAdmin`.
    public func release(_ id: String, by user: User, asAdmin: Bool) throws -> Bool {
        try !connection.execute(Self.release, [id, user.id, asAdmin, user.username]).isEmpty
    }

    /// Finishes a waiting, claimed manual task and moves its job on, in one transaction.
    public func finish(jobId: String, key: String, finishState: String, variables: JSON, by user: User, asAdmin: Bool) throws {
        try connection.transaction { tx in
            let machine = StateMachine(tx, surfaces: surfaces)
            guard let job = try machine.lockJob(.itential, publicId: jobId) else {
                throw ManualFinishRefusal.noSuchTask
            }
            try machine.finishManualTask(
                job, key: key, finishState: finishState, output: variables, user: user, asAdmin: asAdmin,
                surfaces: surfaces)
        }
    }

    static func decode(_ row: Row) throws -> ItentialIteration? {
        guard let status = TaskStatus(rawValue: row.string(2)) else { return nil }
        var outputs: [String: JSON] = [:]
        for (key, value) in try row.optionalJSON(17)?.objectValue ?? [] { outputs[key] = value }
        return ItentialIteration(
            id: row.string(0), key: row.string(1), status: status, automatic: row.bool(3),
            definition: try row.optionalJSON(4) ?? [:], finishState: row[5], output: try row.optionalJSON(6),
            startedAt: row.double(7), claimedAt: row.double(8), finishedAt: row.double(9), ownerAccountId: row[10], ownerName: row[11],
            jobId: row.string(12), jobName: row.string(13), jobStatus: row.string(14),
            jobDocument: try row.json(15), outputs: outputs)
    }

    static let columns = """
        SELECT t.iteration_id, t.key, t.status, t.automatic, t.input, t.finish_state, t.output,
               extract(epoch FROM t.ready_at) * 1000, extract(epoch FROM t.claimed_at) * 1000, extract(epoch FROM t.finished_at) * 1000,
               owner.account_id, owner.username, j.public_id, j.name, j.status, j.document, j.id,
               (SELECT json_object_agg(u.key, u.output) FROM tasks u WHERE u.job_id = j.id AND u.output IS NOT NULL)
        FROM tasks t JOIN jobs j ON j.id = t.job_id LEFT JOIN users owner ON owner.id = t.claimed_by
        """
    static let byIteration = Statement("itential_iteration", "\(columns) WHERE t.iteration_id = $1::uuid AND j.surface = 'itential'")
    static let byIterations = Statement(
        "itential_iterations",
        "\(columns) WHERE t.iteration_id = ANY($1::uuid[]) AND j.surface = 'itential'")
    static let byJobTask = Statement(
        "itential_job_task",
        "\(columns) WHERE j.surface = 'itential' AND j.public_id = $1 AND t.key = $2 AND t.iteration_id IS NOT NULL")

    /// $1 iteration, $2 the new owner, $3/$4 actor, $5 take it from a current owner (assign).
    static let claim = Statement(
        "itential_task_claim",
        """
        WITH claimed AS (
            UPDATE tasks t SET claimed_by = $2, claimed_at = now()
            FROM jobs j
            WHERE t.iteration_id = $1::uuid AND j.id = t.job_id AND j.surface = 'itential' AND NOT t.automatic
              AND t.status = 'ready' AND j.status IN ('running', 'paused') AND ($5 OR t.claimed_by IS NULL)
            RETURNING t.id, j.id AS job_id
        )
        SELECT record_job_events(jsonb_agg(jsonb_build_object(
            'job_id', job_id, 'task_id', id, 'event', CASE WHEN $5 THEN 'task_assigned' ELSE 'task_claimed' END,
            'actor_id', $3::bigint, 'actor', $4::text, 'detail', jsonb_build_object('owner', $2::bigint)))) AS events
        FROM claimed
        HAVING count(*) > 0
        """)

    static let release = Statement(
        "itential_task_release",
        """
        WITH released AS (
            UPDATE tasks t SET claimed_by = NULL, claimed_at = NULL
            FROM jobs j
            WHERE t.iteration_id = $1::uuid AND j.id = t.job_id AND j.surface = 'itential' AND t.status = 'ready'
              AND t.claimed_by IS NOT NULL AND (t.claimed_by = $2 OR $3)
            RETURNING t.id, j.id AS job_id
        )
        SELECT record_job_events(jsonb_agg(jsonb_build_object(
            'job_id', job_id, 'task_id', id, 'event', 'task_released', 'actor_id', $2::bigint, 'actor', $4::text))) AS events
        FROM released
        HAVING count(*) > 0
        """)
}

extension ItentialManualTasks: StatementCatalog {
    package static var statements: [Statement] { [byIteration, byIterations, byJobTask, claim, release] }
}

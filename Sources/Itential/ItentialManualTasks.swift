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
        try connection.first(Self.byIteration, id)
    }

    /// The current iteration of a job's task.
    public func iteration(jobId: String, key: String) throws -> ItentialIteration? {
        try connection.first(Self.byJobTask, jobId, key)
    }

    /// Claims for `claimant`; false when the task is not waiting unclaimed (the caller reads
    /// the iteration to say why).
    public func claim(_ id: String, for claimantId: Int64, by actor: User) throws -> Bool {
        try connection.first(Self.claim, id, claimantId, actor.id, actor.username, false) != nil
    }

    /// Gives the task to another user, whoever held it.
    public func assign(_ id: String, to userId: Int64, by actor: User) throws -> Bool {
        try connection.first(Self.claim, id, userId, actor.id, actor.username, true) != nil
    }

    /// Releases a claim held by `user`, or any claim when `asAdmin`.
    public func release(_ id: String, by user: User, asAdmin: Bool) throws -> Bool {
        try connection.first(Self.release, id, user.id, asAdmin, user.username) != nil
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

    @Sendable static func decode(_ row: Row) throws -> ItentialIteration {
        var outputs: [String: JSON] = [:]
        for (key, value) in try row.optionalJSON("outputs")?.objectValue ?? [] { outputs[key] = value }
        return ItentialIteration(
            id: try row.value("iteration_id"), key: try row.value("key"), status: try row.value("status"),
            automatic: try row.value("automatic"), definition: try row.optionalJSON("input") ?? [:],
            finishState: try row.optional("finish_state"), output: try row.optionalJSON("output"), startedAt: try row.optional("ready"),
            claimedAt: try row.optional("claimed"), finishedAt: try row.optional("finished"),
            ownerAccountId: try row.optional("owner_account_id"), ownerName: try row.optional("owner_name"),
            jobId: try row.value("job_public_id"), jobName: try row.value("job_name"), jobStatus: try row.value("job_status"),
            jobDocument: try row.json("job_document"), outputs: outputs)
    }

    /// An iteration with its job, for alias `t` (the task) and `j`; times in epoch milliseconds.
    static let columns = """
        SELECT t.iteration_id, t.key, t.status, t.automatic, t.input, t.finish_state, t.output,
               extract(epoch FROM t.ready_at) * 1000 AS ready, extract(epoch FROM t.claimed_at) * 1000 AS claimed,
               extract(epoch FROM t.finished_at) * 1000 AS finished, owner.account_id AS owner_account_id,
               owner.username AS owner_name, j.public_id AS job_public_id, j.name AS job_name, j.status AS job_status,
               j.document AS job_document,
               (SELECT json_object_agg(u.key, u.output) FROM tasks u WHERE u.job_id = j.id AND u.output IS NOT NULL) AS outputs
        FROM tasks t JOIN jobs j ON j.id = t.job_id LEFT JOIN users owner ON owner.id = t.claimed_by
        """
    static let byIteration = Query(
        "itential_iteration", "\(columns) WHERE t.iteration_id = $1::uuid AND j.surface = 'itential'", binding: String.self, reading: decode
    )
    static let byIterations = Query(
        "itential_iterations",
        "\(columns) WHERE t.iteration_id = ANY($1::uuid[]) AND j.surface = 'itential'", binding: [String].self, reading: decode)
    static let byJobTask = Query(
        "itential_job_task",
        "\(columns) WHERE j.surface = 'itential' AND j.public_id = $1 AND t.key = $2 AND t.iteration_id IS NOT NULL", binding: String.self,
        String.self, reading: decode)

    /// $1 iteration, $2 the new owner, $3/$4 actor, $5 take it from a current owner (assign).
    static let claim = Query(
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
        """, binding: String.self, Int64.self, Int64.self, String.self, Bool.self, reading: { try $0.value("events", as: Int.self) })

    static let release = Query(
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
        """, binding: String.self, Int64.self, Bool.self, String.self, reading: { try $0.value("events", as: Int.self) })
}

extension ItentialManualTasks: StatementCatalog {
    package static var statements: [Statement] {
        [byIteration.statement, byIterations.statement, byJobTask.statement, claim.statement, release.statement]
    }
}

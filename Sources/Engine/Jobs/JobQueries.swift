import Postgres

/// Statements on workflows, jobs, tasks and job_events. Only the engine runs them.
package enum JobQueries {
    static let lockJob = Query(
        "job_lock", "SELECT id, surface, public_id, status FROM jobs WHERE id = $1 FOR NO KEY UPDATE", binding: Int64.self,
        reading: JobRef.init(row:))

    /// Several jobs, locked in ascending id order so that two such requests never deadlock.
    static let lockJobsByPublicId = Query(
        "jobs_lock_by_public_id",
        """
        SELECT id, surface, public_id, status FROM jobs WHERE surface = $1 AND public_id = ANY($2::text[]) ORDER BY id FOR NO KEY UPDATE
        """, binding: String.self, [String].self, reading: JobRef.init(row:))

    /// $3: the new status is terminal, so the job is finished now.
    /// A child job that ends wakes the runners: its parent's task may go on.
    static let setJobStatus = Query(
        "job_set_status",
        """
        WITH changed AS (
            UPDATE jobs SET status = $2, last_status_change = now(),
                finished_at = CASE WHEN $3 THEN now() ELSE NULL END,
                error_message = coalesce($4, error_message)
            WHERE id = $1
            RETURNING parent_task_id
        )
        SELECT pg_notify('flowgate_tasks', '') FROM changed WHERE parent_task_id IS NOT NULL
        """, binding: Int64.self, String.self, Bool.self, String?.self)

    package static let lockTask = Query(
        "task_lock", "SELECT key, status, automatic FROM tasks WHERE id = $1 AND job_id = $2 FOR NO KEY UPDATE", binding: Int64.self,
        Int64.self,
        reading: { row in
            (
                key: try row.value("key", as: String.self), status: try row.value("status", as: TaskStatus.self),
                automatic: try row.value("automatic", as: Bool.self)
            )
        })

    /// Timestamps follow the status: when it became ready, started, finished. Becoming ready
    /// starts a new iteration (the previous one is kept in the list); a claim belongs to the
    /// iteration it was made on. Going back to pending (a rerun) forgets the last result.
    package static let setTaskStatus = Query(
        "task_set_status",
        """
        UPDATE tasks SET status = $2,
            ready_at = CASE WHEN $2 = 'ready' THEN now() ELSE ready_at END,
            past_iterations = CASE WHEN $2 = 'ready' AND iteration_id IS NOT NULL THEN past_iterations || iteration_id
                                   ELSE past_iterations END,
            iteration_id = CASE WHEN $2 = 'ready' THEN gen_random_uuid() ELSE iteration_id END,
            wake_at = CASE WHEN $2 IN ('pending', 'ready') THEN NULL ELSE wake_at END,
            claimed_by = CASE WHEN $2 = 'ready' THEN NULL ELSE claimed_by END,
            claimed_at = CASE WHEN $2 = 'ready' THEN NULL ELSE claimed_at END,
            finish_state = CASE WHEN $2 = 'pending' THEN NULL ELSE finish_state END,
            output = CASE WHEN $2 = 'pending' THEN NULL ELSE output END,
            error = CASE WHEN $2 = 'pending' THEN NULL ELSE error END,
            started_at = CASE WHEN $2 = 'running' THEN coalesce(started_at, now()) WHEN $2 IN ('pending', 'ready') THEN NULL
                              ELSE started_at END,
            finished_at = CASE WHEN $2 IN ('succeeded', 'failed', 'canceled', 'skipped') THEN now() ELSE NULL END
        WHERE id = $1
        """, binding: Int64.self, TaskStatus.self)

    package static let notifyRunners = Query("notify_runners", "SELECT pg_notify('flowgate_tasks', '')")

    // MARK: Creating jobs

    static let insertWorkflow = Query(
        "workflow_insert",
        """
        INSERT INTO workflows (surface, public_id, name, document, created_by)
        VALUES ($1, coalesce($2, encode(gen_random_bytes(16), 'hex')), $3, $4::json, $5)
        RETURNING id
        """, binding: String.self, String?.self, String.self, String.self, Int64?.self, reading: { try $0.value("id", as: Int64.self) })

    /// When $3 (the public id) is NULL, it is the next number of the sequence $2, or with no
    /// sequence 24 random hex digits.
    package static let insertJob = Query(
        "job_insert",
        """
        INSERT INTO jobs (surface, public_id, workflow_id, job_type_id, parent_job_id, name, status, owner_id,
                          priority, started_at, document, parent_task_id)
        VALUES ($1, coalesce($3, CASE WHEN $2::text IS NULL THEN encode(gen_random_bytes(12), 'hex')
                                      ELSE nextval($2::text::regclass)::text END),
                $4, $5, $6, $7, $8, coalesce($9, (SELECT owner_id FROM jobs parent WHERE parent.id = $6)), $10, now(), $11::jsonb,
                $12)
        RETURNING id, surface, public_id, status
        """, binding: String.self, String?.self, String?.self, Int64?.self, Int64?.self, Int64?.self, String.self, String.self, Int64?.self,
        Int.self, String.self, Int64?.self, reading: JobRef.init(row:))

    static let snapshotColumns = "id, key, position, status, automatic, finish_state"
    @Sendable static func snapshot(_ row: Row) throws -> TaskSnapshot {
        TaskSnapshot(
            id: try row.value("id"), key: try row.value("key"), position: try row.value("position"), status: try row.value("status"),
            automatic: try row.value("automatic"), finishState: try row.optional("finish_state"))
    }

    /// A new job's tasks, answered as snapshots (in no particular order) for the flow's start.
    package static let insertTasks = Query(
        "tasks_insert",
        """
        INSERT INTO tasks (job_id, key, position, kind, automatic, status, input)
        SELECT $1, t.key, t.position, t.kind, t.automatic, 'pending', t.input
        FROM json_to_recordset($2::json) AS t(key text, position integer, kind text, automatic boolean, input json)
        RETURNING \(snapshotColumns)
        """, binding: Int64.self, String.self, reading: snapshot)

    package static let taskSnapshots = Query(
        "task_snapshots", "SELECT \(snapshotColumns) FROM tasks WHERE job_id = $1 ORDER BY position, id", binding: Int64.self,
        reading: snapshot)

    // MARK: Runner

    /// Takes a task whose lease expired (its runner died) first, so that a takeover does not wait
    /// for the queue to empty; else the oldest runnable task of a kind this runner knows (a
    /// delayed one once its time has come); else one whose child jobs have all ended. Each
    /// candidate is read only if those before it found nothing (Append stops at the LIMIT), and
    /// an expired lease is one probe of `tasks_leased`. SKIP LOCKED lets many runners poll at
    /// once without waiting on each other. The
    /// candidates are separate ordered index scans: an OR of them made the planner use a bitmap
    /// scan, which never prunes the dead index entries a busy queue leaves behind. With $4, a
    /// ready task starts only while its job's owner has fewer than $4 tasks of these kinds
    /// running (checked as it starts: runners starting at the same moment may each pass it).
    /// A child job has ended once it finished or stalled: $5/$6 pair surfaces with the statuses
    /// their lifecycles call stalled.
    static let leaseTask = Query(
        "task_lease",
        """
        WITH ready AS (
            SELECT id, status, lease_owner, lease_expires_at FROM tasks
            WHERE automatic AND status = 'ready' AND kind = ANY($1::text[]) AND (wake_at IS NULL OR wake_at <= now())
              AND \(notPaused)
              AND ($4::integer IS NULL OR (
                  SELECT count(*) FROM tasks r JOIN jobs rj ON rj.id = r.job_id
                  WHERE r.automatic AND r.status = 'running' AND r.lease_expires_at >= now() AND r.kind = ANY($1::text[])
                    AND rj.owner_id = (SELECT owner_id FROM jobs WHERE id = tasks.job_id)) < $4)
            ORDER BY ready_at, id LIMIT 1 FOR UPDATE SKIP LOCKED
        ), expired AS (
            SELECT id, status, lease_owner, lease_expires_at FROM tasks
            WHERE automatic AND status = 'running' AND lease_expires_at < now() AND kind = ANY($1::text[]) AND \(notPaused)
            ORDER BY lease_expires_at, id LIMIT 1 FOR UPDATE SKIP LOCKED
        ), children_ended AS (
            SELECT id, status, lease_owner, lease_expires_at FROM tasks
            WHERE automatic AND status = 'waiting' AND kind = ANY($1::text[]) AND \(notPaused)
              AND NOT EXISTS (SELECT 1 FROM jobs c WHERE c.parent_task_id = tasks.id AND c.finished_at IS NULL
                              AND (c.surface, c.status) NOT IN (SELECT * FROM unnest($5::text[], $6::text[])))
            ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
        ), previous AS (
            SELECT * FROM expired UNION ALL SELECT * FROM ready UNION ALL SELECT * FROM children_ended LIMIT 1
        )
        UPDATE tasks t SET status = 'running', lease_owner = $2,
            lease_expires_at = now() + make_interval(secs => $3), attempts = t.attempts + 1,
            started_at = coalesce(t.started_at, now())
        FROM previous
        WHERE t.id = previous.id
        RETURNING t.id, t.job_id, t.key, t.kind, t.input, t.attempts, previous.status AS previous_status,
                  previous.lease_owner AS previous_owner, extract(epoch FROM now() - previous.lease_expires_at)::float8 AS lapsed_for,
                  t.wake_at IS NOT NULL AS woken, t.iteration_id,
                  cardinality(t.past_iterations) AS past_iterations
        """, binding: [String].self, String.self, Int.self, Int?.self, [String].self, [String].self, reading: LeasedTask.init(row:))

    /// Extends the leases of the tasks this runner is still running, so that a long task is not
    /// taken over while its runner is alive; a dead runner stops renewing and its leases expire.
    static let renewLeases = Query(
        "task_renew_leases",
        """
        UPDATE tasks SET lease_expires_at = now() + make_interval(secs => $2)
        WHERE lease_owner = $1 AND status = 'running'
          AND (id, attempts) IN (SELECT * FROM unnest($3::bigint[], $4::integer[]))
        """, binding: String.self, Int.self, String.self, String.self)

    /// A paused job starts no new task.
    private static let notPaused = "NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = tasks.job_id AND j.status = 'paused')"

    /// The job of a task being run, with its document less the definition snapshot (`tasks`,
    /// `transitions`): task kinds never read it, and it is most of the document's size.
    static let jobOfTask = Query(
        "task_job_ref",
        """
        SELECT j.id, j.surface, j.public_id, j.status, j.document - 'tasks' - 'transitions' AS document FROM jobs j WHERE j.id = $1
        """, binding: Int64.self, reading: { row in (job: try JobRef(row: row), document: try row.json("document")) })

    /// The child jobs a task spawned in its current iteration, in the order it spawned them.
    static let childJobs = Query(
        "task_child_jobs",
        """
        SELECT public_id, status, coalesce(document->'variables', '{}') AS variables FROM jobs
        WHERE parent_task_id = $1 AND created_at >= (SELECT ready_at FROM tasks WHERE id = $1)
        ORDER BY id
        """, binding: Int64.self,
        reading: { row in
            ChildJob(id: try row.value("public_id"), status: try row.value("status"), variables: try row.json("variables"))
        })

    /// The newest definition of that name on a surface.
    static let workflowByName = Query(
        "workflow_by_name",
        """
        SELECT id, document FROM workflows WHERE surface = $1 AND name = $2 ORDER BY id DESC LIMIT 1
        """, binding: String.self, String.self,
        reading: { row in (rowId: try row.value("id", as: Int64.self), document: try row.json("document")) })

    /// A leased task that waits: for its child jobs (`waiting`), or until a time (`ready` with
    /// `wake_at`). Succeeds only while this runner still holds the lease of that attempt.
    static let parkLeasedTask = Query(
        "task_park_leased",
        """
        UPDATE tasks SET status = $4, wake_at = CASE WHEN $4 = 'ready' THEN now() + make_interval(secs => $5) END, lease_owner = NULL, lease_expires_at = NULL
        WHERE id = $1 AND status = 'running' AND lease_owner = $2 AND attempts = $3
        RETURNING key
        """, binding: Int64.self, String.self, Int.self, TaskStatus.self, Double.self, reading: { try $0.value("key", as: String.self) })

    /// The job's document, for its flow and its tasks' variables.
    static let jobDocument = Query(
        "job_document", "SELECT document FROM jobs WHERE id = $1", binding: Int64.self, reading: { try $0.json("document") })

    /// Merges variables a task set into the job's.
    static let mergeJobVariables = Query(
        "job_merge_variables",
        """
        UPDATE jobs SET document = jsonb_set(document, '{variables}', coalesce(document->'variables', '{}') || $2::jsonb)
        WHERE id = $1
        """, binding: Int64.self, String.self)

    package static let setFinishState = Query(
        "task_set_finish_state", "UPDATE tasks SET finish_state = $2 WHERE id = $1", binding: Int64.self, String.self)

    /// $1 job, $2 task key, $3 finish state, $4 output, $5 user, $6 the user may finish others' claims.
    package static let finishManualTask = Query(
        "task_finish_manual",
        """
        UPDATE tasks SET status = 'succeeded', finish_state = $3, output = $4::json, finished_at = now()
        WHERE job_id = $1 AND key = $2 AND NOT automatic AND status = 'ready' AND claimed_by IS NOT NULL
          AND (claimed_by = $5 OR $6)
        RETURNING id
        """, binding: Int64.self, String.self, String.self, String.self, Int64.self, Bool.self,
        reading: { try $0.value("id", as: Int64.self) })

    package static let manualTaskState = Query(
        "task_manual_state",
        "SELECT automatic, status, claimed_by FROM tasks WHERE job_id = $1 AND key = $2", binding: Int64.self, String.self,
        reading: { row in
            (
                automatic: try row.value("automatic", as: Bool.self), status: try row.value("status", as: TaskStatus.self),
                claimed: try row.optional("claimed_by", as: Int64.self) != nil
            )
        })

    /// Ends a job's unfinished work when it is canceled; returns what changed, for history.
    static let cancelOpenTasks = Query(
        "tasks_cancel_open",
        """
        UPDATE tasks t SET status = 'canceled', finished_at = now(), lease_owner = NULL, lease_expires_at = NULL
        FROM tasks previous
        WHERE t.job_id = $1 AND previous.id = t.id AND t.status IN ('ready', 'running', 'waiting', 'paused')
        RETURNING t.id, t.key, previous.status AS previous_status
        """, binding: Int64.self,
        reading: { row in
            (
                id: try row.value("id", as: Int64.self), key: try row.value("key", as: String.self),
                previous: try row.value("previous_status", as: String.self)
            )
        })

    static let openChildJobs = Query(
        "job_open_children",
        "SELECT id FROM jobs WHERE parent_job_id = $1 AND finished_at IS NULL ORDER BY id", binding: Int64.self,
        reading: { try $0.value("id", as: Int64.self) })

    static let upstreamOutputs = Query(
        "task_upstream_outputs",
        "SELECT key, output FROM tasks WHERE job_id = $1 AND status = 'succeeded' AND output IS NOT NULL", binding: Int64.self,
        reading: { row in (key: try row.value("key", as: String.self), output: try row.optionalJSON("output")) })

    /// Succeeds only while this runner still holds the lease of that attempt.
    static let finishLeasedTask = Query(
        "task_finish_leased",
        """
        UPDATE tasks SET status = $4, output = $5::json, error = $6, finish_state = $7, finished_at = now(),
            lease_owner = NULL, lease_expires_at = NULL
        WHERE id = $1 AND status = 'running' AND lease_owner = $2 AND attempts = $3
        RETURNING key
        """, binding: Int64.self, String.self, Int.self, TaskStatus.self, String?.self, String?.self, String?.self,
        reading: { try $0.value("key", as: String.self) })
}

extension JobQueries: StatementCatalog {
    package static var statements: [Statement] {
        [
            lockJob.statement, lockJobsByPublicId.statement, setJobStatus.statement, lockTask.statement, setTaskStatus.statement,
            notifyRunners.statement, insertWorkflow.statement, insertJob.statement, insertTasks.statement, taskSnapshots.statement,
            leaseTask.statement, renewLeases.statement, jobOfTask.statement, childJobs.statement, workflowByName.statement,
            parkLeasedTask.statement, jobDocument.statement, mergeJobVariables.statement, setFinishState.statement,
            finishManualTask.statement, manualTaskState.statement, cancelOpenTasks.statement, openChildJobs.statement,
            upstreamOutputs.statement, finishLeasedTask.statement,
        ]
    }
}

extension JobRef {
    /// From the `id`, `surface`, `public_id` and `status` columns.
    init(row: Row) throws {
        self.init(
            id: try row.value("id"), surface: SurfaceName(rawValue: try row.value("surface")), publicId: try row.value("public_id"),
            status: try row.value("status"))
    }
}

extension LeasedTask {
    init(row: Row) throws {
        let previousStatus = try row.value("previous_status", as: String.self)
        self.init(
            id: try row.value("id"), jobId: try row.value("job_id"), key: try row.value("key"), kind: try row.value("kind"),
            input: try row.optionalJSON("input") ?? .null, attempt: try row.value("attempts"),
            takenOverFrom: previousStatus == TaskStatus.running.rawValue ? try row.optional("previous_owner") : nil,
            leaseLapsedSeconds: previousStatus == TaskStatus.running.rawValue ? try row.optional("lapsed_for") : nil,
            iteration: try row.optional("iteration_id"), pastIterations: try row.value("past_iterations"),
            waitedForChildren: previousStatus == TaskStatus.waiting.rawValue, woken: try row.value("woken"),
            previousStatus: previousStatus)
    }
}

import Postgres

/// Statements on workflows, jobs, tasks and job_events. Only the engine runs them.
package enum JobQueries {
    static func jobRef(_ row: Row) -> JobRef? {
        guard let id = row.int64(0) else { return nil }
        return JobRef(id: id, surface: SurfaceName(rawValue: row.string(1)), publicId: row.string(2), status: row.string(3))
    }

    static let lockJob = Statement("job_lock", "SELECT id, surface, public_id, status FROM jobs WHERE id = $1 FOR NO KEY UPDATE")

    /// Several jobs, locked in ascending id order so that two such requests never deadlock.
    static let lockJobsByPublicId = Statement(
        "jobs_lock_by_public_id",
        """
        SELECT id, surface, public_id, status FROM jobs WHERE surface = $1 AND public_id = ANY($2::text[]) ORDER BY id FOR NO KEY UPDATE
        """)

    /// $3: the new status is terminal, so the job is finished now.
    /// A child job that ends wakes the runners: its parent's task may go on.
    static let setJobStatus = Statement(
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
        """)

    package static let lockTask = Statement("task_lock", "SELECT key, status FROM tasks WHERE id = $1 AND job_id = $2 FOR NO KEY UPDATE")

    /// Timestamps follow the status: when it became ready, started, finished. Becoming ready
    /// starts a new iteration (the previous one is kept in the list); a claim belongs to the
    /// iteration it was made on. Going back to pending (a rerun) forgets the last result.
    package static let setTaskStatus = Statement(
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
        """)

    package static let notifyRunners = Statement("notify_runners", "SELECT pg_notify('flowgate_tasks', '')")

    // MARK: Creating jobs

    static let insertWorkflow = Statement(
        "workflow_insert",
        """
        INSERT INTO workflows (surface, public_id, name, document, created_by)
        VALUES ($1, coalesce($2, encode(gen_random_bytes(16), 'hex')), $3, $4::json, $5)
        RETURNING id
        """)

    /// When $3 (the public id) is NULL, it is the next number of the sequence $2, or with no
    /// sequence 24 random hex digits.
    package static let insertJob = Statement(
        "job_insert",
        """
        INSERT INTO jobs (surface, public_id, workflow_id, job_type_id, parent_job_id, name, status, owner_id,
                          priority, started_at, document, parent_task_id)
        VALUES ($1, coalesce($3, CASE WHEN $2::text IS NULL THEN encode(gen_random_bytes(12), 'hex')
                                      ELSE nextval($2::text::regclass)::text END),
                $4, $5, $6, $7, $8, coalesce($9, (SELECT owner_id FROM jobs parent WHERE parent.id = $6)), $10, now(), $11::jsonb,
                $12)
        RETURNING id, surface, public_id, status
        """)

    package static let insertTasks = Statement(
        "tasks_insert",
        """
        INSERT INTO tasks (job_id, key, position, kind, automatic, status, input)
        SELECT $1, t.key, t.position, t.kind, t.automatic, 'pending', t.input
        FROM json_to_recordset($2::json) AS t(key text, position integer, kind text, automatic boolean, input json)
        """)

    package static let taskSnapshots = Statement(
        "task_snapshots",
        """
        SELECT id, key, position, status, automatic, finish_state FROM tasks WHERE job_id = $1 ORDER BY position, id
        """)

    // MARK: Runner

    /// Takes the oldest runnable task of a kind this runner knows (a delayed one once its time has
    /// come), else one whose lease expired (its runner died), else one whose child jobs have all
    /// ended. SKIP LOCKED lets many runners poll at once without waiting on each other. The
    /// candidates are separate ordered index scans: an OR of them made the planner use a bitmap
    /// scan, which never prunes the dead index entries a busy queue leaves behind. With $4, a
    /// ready task starts only while its job's owner has fewer than $4 tasks of these kinds
    /// running (checked as it starts: runners starting at the same moment may each pass it).
    /// A child job has ended once it finished or stalled: $5/$6 pair surfaces with the statuses
    /// their lifecycles call stalled.
    static let leaseTask = Statement(
        "task_lease",
        """
        WITH ready AS (
            SELECT id, status, lease_owner FROM tasks
            WHERE automatic AND status = 'ready' AND kind = ANY($1::text[]) AND (wake_at IS NULL OR wake_at <= now())
              AND \(notPaused)
              AND ($4::integer IS NULL OR (
                  SELECT count(*) FROM tasks r JOIN jobs rj ON rj.id = r.job_id
                  WHERE r.automatic AND r.status = 'running' AND r.lease_expires_at >= now() AND r.kind = ANY($1::text[])
                    AND rj.owner_id = (SELECT owner_id FROM jobs WHERE id = tasks.job_id)) < $4)
            ORDER BY ready_at, id LIMIT 1 FOR UPDATE SKIP LOCKED
        ), expired AS (
            SELECT id, status, lease_owner FROM tasks
            WHERE automatic AND status = 'running' AND lease_expires_at < now() AND kind = ANY($1::text[]) AND \(notPaused)
            ORDER BY lease_expires_at, id LIMIT 1 FOR UPDATE SKIP LOCKED
        ), children_ended AS (
            SELECT id, status, lease_owner FROM tasks
            WHERE automatic AND status = 'waiting' AND kind = ANY($1::text[]) AND \(notPaused)
              AND NOT EXISTS (SELECT 1 FROM jobs c WHERE c.parent_task_id = tasks.id AND c.finished_at IS NULL
                              AND (c.surface, c.status) NOT IN (SELECT * FROM unnest($5::text[], $6::text[])))
            ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
        ), previous AS (
            SELECT * FROM ready UNION ALL SELECT * FROM expired UNION ALL SELECT * FROM children_ended LIMIT 1
        )
        UPDATE tasks t SET status = 'running', lease_owner = $2,
            lease_expires_at = now() + make_interval(secs => $3), attempts = t.attempts + 1,
            started_at = coalesce(t.started_at, now())
        FROM previous
        WHERE t.id = previous.id
        RETURNING t.id, t.job_id, t.key, t.kind, t.input, t.attempts, previous.status, previous.lease_owner,
                  t.wake_at IS NOT NULL, t.iteration_id, cardinality(t.past_iterations)
        """)

    /// Extends the leases of the tasks this runner is still running, so that a long task is not
    /// taken over while its runner is alive; a dead runner stops renewing and its leases expire.
    static let renewLeases = Statement(
        "task_renew_leases",
        """
        UPDATE tasks SET lease_expires_at = now() + make_interval(secs => $2)
        WHERE lease_owner = $1 AND status = 'running'
          AND (id, attempts) IN (SELECT * FROM unnest($3::bigint[], $4::integer[]))
        """)

    /// A paused job starts no new task.
    private static let notPaused = "NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = tasks.job_id AND j.status = 'paused')"

    /// The job of a task being run, with its document less the definition snapshot (`tasks`,
    /// `transitions`): task kinds never read it, and it is most of the document's size.
    static let jobOfTask = Statement(
        "task_job_ref",
        """
        SELECT j.id, j.surface, j.public_id, j.status, j.document - 'tasks' - 'transitions' FROM jobs j WHERE j.id = $1
        """)

    /// The child jobs a task spawned in its current iteration, in the order it spawned them.
    static let childJobs = Statement(
        "task_child_jobs",
        """
        SELECT public_id, status, coalesce(document->'variables', '{}') FROM jobs
        WHERE parent_task_id = $1 AND created_at >= (SELECT ready_at FROM tasks WHERE id = $1)
        ORDER BY id
        """)

    /// The newest definition of that name on a surface.
    static let workflowByName = Statement(
        "workflow_by_name",
        """
        SELECT id, document FROM workflows WHERE surface = $1 AND name = $2 ORDER BY id DESC LIMIT 1
        """)

    /// A leased task that waits: for its child jobs (`waiting`), or until a time (`ready` with
    /// `wake_at`). Succeeds only while this runner still holds the lease of that attempt.
    static let parkLeasedTask = Statement(
        "task_park_leased",
        """
        UPDATE tasks SET status = $4, wake_at = CASE WHEN $4 = 'ready' THEN now() + make_interval(secs => $5) END, lease_owner = NULL, lease_expires_at = NULL
        WHERE id = $1 AND status = 'running' AND lease_owner = $2 AND attempts = $3
        RETURNING key
        """)

    /// The job's document, for its flow and its tasks' variables.
    static let jobDocument = Statement("job_document", "SELECT document FROM jobs WHERE id = $1")

    /// Merges variables a task set into the job's.
    static let mergeJobVariables = Statement(
        "job_merge_variables",
        """
        UPDATE jobs SET document = jsonb_set(document, '{variables}', coalesce(document->'variables', '{}') || $2::jsonb)
        WHERE id = $1
        """)

    package static let setFinishState = Statement("task_set_finish_state", "UPDATE tasks SET finish_state = $2 WHERE id = $1")

    /// $1 job, $2 task key, $3 finish state, $4 output, $5 user, $6 the user may finish others' claims.
    package static let finishManualTask = Statement(
        "task_finish_manual",
        """
        UPDATE tasks SET status = 'succeeded', finish_state = $3, output = $4::json, finished_at = now()
        WHERE job_id = $1 AND key = $2 AND NOT automatic AND status = 'ready' AND claimed_by IS NOT NULL
          AND (claimed_by = $5 OR $6)
        RETURNING id
        """)

    package static let manualTaskState = Statement(
        "task_manual_state",
        "SELECT automatic, status, claimed_by FROM tasks WHERE job_id = $1 AND key = $2")

    /// Ends a job's unfinished work when it is canceled; returns what changed, for history.
    static let cancelOpenTasks = Statement(
        "tasks_cancel_open",
        """
        UPDATE tasks t SET status = 'canceled', finished_at = now(), lease_owner = NULL, lease_expires_at = NULL
        FROM tasks previous
        WHERE t.job_id = $1 AND previous.id = t.id AND t.status IN ('ready', 'running', 'waiting', 'paused')
        RETURNING t.id, t.key, previous.status
        """)

    static let openChildJobs = Statement(
        "job_open_children",
        "SELECT id FROM jobs WHERE parent_job_id = $1 AND finished_at IS NULL ORDER BY id")

    static let upstreamOutputs = Statement(
        "task_upstream_outputs",
        "SELECT key, output FROM tasks WHERE job_id = $1 AND status = 'succeeded' AND output IS NOT NULL")

    /// Succeeds only while this runner still holds the lease of that attempt.
    static let finishLeasedTask = Statement(
        "task_finish_leased",
        """
        UPDATE tasks SET status = $4, output = $5::json, error = $6, finish_state = $7, finished_at = now(),
            lease_owner = NULL, lease_expires_at = NULL
        WHERE id = $1 AND status = 'running' AND lease_owner = $2 AND attempts = $3
        RETURNING key
        """)
}

extension JobQueries: StatementCatalog {
    package static var statements: [Statement] {
        [
            lockJob, lockJobsByPublicId, setJobStatus, lockTask, setTaskStatus, notifyRunners, insertWorkflow, insertJob, insertTasks,
            taskSnapshots, leaseTask, renewLeases, jobOfTask, childJobs, workflowByName, parkLeasedTask, jobDocument, mergeJobVariables,
            setFinishState, finishManualTask, manualTaskState, cancelOpenTasks, openChildJobs, upstreamOutputs, finishLeasedTask,
        ]
    }
}

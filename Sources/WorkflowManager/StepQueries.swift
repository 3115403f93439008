import Engine
import Postgres

/// Statements on Workflow Manager jobs, their steps (tasks) and holds.
package enum StepQueries {
    static let surface = SurfaceName.workflowManager.rawValue

    /// When an unreleased hold lapsed, or NULL while it holds: a scheduled hold at its time, a
    /// dependency once the job it waits for is closed or gone, or its step has been finished.
    static let holdLapsedAt = """
        CASE WHEN h.released_at IS NOT NULL THEN NULL
             WHEN h.kind = 'scheduled' AND h.scheduled_release <= now() THEN extract(epoch FROM h.scheduled_release)
             WHEN h.kind IN ('job_dependency', 'step_dependency')
                  AND (dj.id IS NULL OR dj.status = 'closed'
                       OR (h.kind = 'step_dependency' AND EXISTS (
                           SELECT 1 FROM job_events e
                           WHERE e.job_id = dj.id AND e.at >= dj.created_at AND e.task_key = h.depends_on_task_key
                                 AND e.event = 'task_finished')))
                  THEN extract(epoch FROM now())
        END
        """

    /// A job with its diagram, steps and holds, as one row (decoded by `StepJobs.decode`).
    static let jobState = """
        SELECT j.id, j.public_id, j.status, j.document, w.document AS diagram, w.version AS diagram_version,
               j.document->>'createdBy' AS created_by, owner.username AS owned_by, extract(epoch FROM j.created_at) AS created_at,
               extract(epoch FROM j.started_at) AS started_at, extract(epoch FROM j.finished_at) AS finished_at,
               (SELECT json_agg(json_build_array(t.key, t.status, t.is_current, au.username, ag.name, t.arrivals,
                                                 t.output->>'returnCode') ORDER BY t.position, t.id)
                FROM tasks t LEFT JOIN users au ON au.id = t.assignee_id LEFT JOIN groups ag ON ag.id = t.assignee_group_id
                WHERE t.job_id = j.id) AS steps,
               (SELECT json_agg(json_build_array(h.id, h.public_id, t.key, h.kind, su.username, extract(epoch FROM h.set_at),
                                                 extract(epoch FROM h.scheduled_release), dj.public_id, h.depends_on_task_key,
                                                 ru.username, extract(epoch FROM h.released_at), \(holdLapsedAt))
                                ORDER BY h.id)
                FROM holds h JOIN tasks t ON t.id = h.task_id
                LEFT JOIN jobs dj ON dj.id = h.depends_on_job_id
                LEFT JOIN users su ON su.id = h.set_by LEFT JOIN users ru ON ru.id = h.released_by
                WHERE h.job_id = j.id) AS holds,
               extract(epoch FROM now()) AS now, j.item_id, j.name
        FROM jobs j
        JOIN workflows w ON w.id = j.workflow_id
        LEFT JOIN users owner ON owner.id = j.owner_id
        WHERE j.item_id = $1 AND j.surface = '\(surface)' AND j.public_id = $2
        """

    package static let readJob = Query("wm_job_read", jobState, binding: Int64.self, String.self, reading: StepJobs.decode)

    /// Locks the job row only. The state is read by a separate statement afterwards: a statement
    /// that waited for the lock would still see the steps and holds as they were when it began.
    package static let lockJob = Query(
        "wm_job_lock",
        """
        SELECT id FROM jobs WHERE item_id = $1 AND surface = '\(surface)' AND public_id = $2 FOR NO KEY UPDATE
        """, binding: Int64.self, String.self, reading: { try $0.value("id", as: Int64.self) })

    /// Several jobs locked in ascending id order, so that two such requests never deadlock.
    static let lockJobsInOrder = Query(
        "wm_jobs_lock_ordered",
        """
        SELECT id, public_id FROM jobs WHERE item_id = $1 AND surface = '\(surface)' AND public_id = ANY($2::text[])
        ORDER BY id FOR NO KEY UPDATE
        """, binding: Int64.self, [String].self,
        reading: { row in (id: try row.value("id", as: Int64.self), publicId: try row.value("public_id", as: String.self)) })

    /// Writes a plan (see `StepJobs.planJSON`): step rows, added and released holds, the job's
    /// status and document, and the history rows in order, as one statement.
    /// $1 job id, $2 plan, $3 actor id.
    package static let applyPlan = Query(
        "wm_job_apply",
        """
        WITH plan AS (SELECT $2::jsonb AS p),
        step_changes AS (
            UPDATE tasks t SET status = c.status, is_current = c.is_current,
                assignee_id = (SELECT id FROM users WHERE username = c.assigned_user),
                assignee_group_id = (SELECT id FROM groups WHERE name = c.assigned_group),
                arrivals = c.arrivals,
                output = CASE WHEN c.result IS NULL THEN t.output ELSE json_build_object('returnCode', c.result) END,
                ready_at = CASE WHEN c.status = 'ready' AND t.status <> 'ready' THEN now() ELSE t.ready_at END,
                started_at = CASE WHEN c.status = 'running' AND t.status <> 'running' THEN now() ELSE t.started_at END,
                finished_at = CASE WHEN c.status IN ('succeeded', 'failed', 'canceled', 'skipped') THEN now() ELSE NULL END,
                -- "Last run by": who started the step most recently.
                claimed_by = CASE WHEN c.status = 'running' AND t.status <> 'running' THEN $3 ELSE t.claimed_by END,
                claimed_at = CASE WHEN c.status = 'running' AND t.status <> 'running' THEN now() ELSE t.claimed_at END
            FROM plan, jsonb_to_recordset(plan.p->'steps') AS c(key text, status text, is_current boolean,
                assigned_user text, assigned_group text, arrivals integer, result text)
            WHERE t.job_id = $1 AND t.key = c.key
        ),
        added_holds AS (
            INSERT INTO holds (job_id, task_id, kind, set_by, scheduled_release, depends_on_job_id, depends_on_task_key)
            SELECT $1, t.id, h.kind, $3, to_timestamp(h.scheduled_release), h.dependent_job_key, h.dependent_step_id
            FROM plan, jsonb_to_recordset(plan.p->'addedHolds') AS h(step_id text, kind text,
                scheduled_release double precision, dependent_job_key bigint, dependent_step_id text)
            JOIN tasks t ON t.job_id = $1 AND t.key = h.step_id
        ),
        released_holds AS (
            UPDATE holds h SET released_at = coalesce(to_timestamp(r.lapsed_at), now()),
                released_by = CASE WHEN r.lapsed_at IS NULL THEN $3 END
            FROM plan, jsonb_to_recordset(plan.p->'releases') AS r(hold_id bigint, lapsed_at double precision)
            WHERE h.id = r.hold_id AND h.job_id = $1 AND h.released_at IS NULL
        ),
        job_change AS (
            UPDATE jobs SET status = coalesce(plan.p->>'status', jobs.status),
                last_status_change = CASE WHEN plan.p ? 'status' THEN now() ELSE jobs.last_status_change END,
                finished_at = CASE plan.p->>'status' WHEN 'closed' THEN now() WHEN 'open' THEN NULL ELSE jobs.finished_at END,
                document = jobs.document || coalesce(plan.p->'document', '{}')
            FROM plan WHERE jobs.id = $1 AND (plan.p ? 'status' OR plan.p ? 'document')
        )
        SELECT record_job_events(plan.p->'events') FROM plan
        """, binding: Int64.self, String.self, Int64?.self)

    // MARK: Creating jobs

    /// $1 item, $2 diagram workflow row, $3 how many, $4 caller-chosen id or NULL, $5 name or NULL
    /// (JOB_n), $6 document, $7 owner, $8 actor id, $9 actor name.
    static let insertJobs = Query(
        "wm_jobs_insert",
        """
        WITH new_jobs AS (
            INSERT INTO jobs (surface, public_id, workflow_id, item_id, name, status, owner_id, document, started_at)
            SELECT '\(surface)', coalesce($4, translate(encode(gen_random_bytes(15), 'base64'), '+/', '-_')), $2, $1,
                   coalesce($5, 'JOB_' || nextval('wm_job_number')), 'open', $7, $6::jsonb, now()
            FROM generate_series(1, $3)
            RETURNING id, public_id
        ),
        created AS (
            SELECT record_job_events(jsonb_agg(jsonb_build_object(
                'job_id', id, 'event', 'job_created', 'actor_id', $8::bigint, 'actor', $9::text, 'to_status', 'open',
                'detail', '{"action": "Created"}'::jsonb) ORDER BY id)) AS events
            FROM new_jobs
        )
        SELECT id, public_id FROM new_jobs CROSS JOIN created ORDER BY id
        """, binding: Int64.self, Int64.self, Int.self, String?.self, String?.self, String.self, Int64.self, Int64.self, String.self,
        reading: { row in (id: try row.value("id", as: Int64.self), publicId: try row.value("public_id", as: String.self)) })

    /// One task per diagram step for each new job; the initial step is current and ready.
    /// $1 job ids, $2 steps [{key, position, kind}], $3 initial step, $4 user, $5 group, $6 actor id, $7 actor name.
    static let insertSteps = Query(
        "wm_steps_insert",
        """
        WITH new_steps AS (
            INSERT INTO tasks (job_id, key, position, kind, automatic, status, is_current, assignee_id, assignee_group_id, ready_at)
            SELECT job.id, s.key, s.position, s.kind, false, CASE WHEN s.key = $3 THEN 'ready' ELSE 'pending' END, s.key = $3,
                   CASE WHEN s.key = $3 THEN (SELECT id FROM users WHERE username = $4) END,
                   CASE WHEN s.key = $3 THEN (SELECT id FROM groups WHERE name = $5) END,
                   CASE WHEN s.key = $3 THEN now() END
            FROM unnest($1::bigint[]) AS job(id), json_to_recordset($2::json) AS s(key text, position integer, kind text)
            RETURNING id, job_id, is_current
        )
        SELECT record_job_events(jsonb_agg(jsonb_build_object(
            'job_id', job_id, 'task_id', id, 'event', 'task_ready', 'actor_id', $6::bigint, 'actor', $7::text,
            'from_status', 'pending', 'to_status', 'ready', 'detail', '{"action": "Activated"}'::jsonb) ORDER BY job_id))
        FROM new_steps WHERE is_current
        """, binding: [String].self, String.self, String.self, String?.self, String?.self, Int64.self, String.self)

    // MARK: Reading

    /// A job another job's hold may depend on: its id, whether it is closed, its step ids.
    static let dependencyTarget = Query(
        "wm_dependency_target",
        """
        SELECT j.id, j.status = 'closed' AS is_closed, (SELECT json_agg(t.key) FROM tasks t WHERE t.job_id = j.id) AS steps,
               (SELECT json_agg(DISTINCT e.task_key) FROM job_events e WHERE e.job_id = j.id AND e.at >= j.created_at AND e.event = 'task_finished')
                   AS finished
        FROM jobs j WHERE j.item_id = $1 AND j.surface = '\(surface)' AND j.public_id = $2
        """, binding: Int64.self, String.self,
        reading: { row in
            (
                id: try row.value("id", as: Int64.self), isClosed: try row.value("is_closed", as: Bool.self),
                steps: try row.optionalJSON("steps")?.arrayValue?.compactMap(\.stringValue) ?? [],
                finished: try row.optionalJSON("finished")?.arrayValue?.compactMap(\.stringValue) ?? []
            )
        })

    static let history = Query(
        "wm_job_history",
        """
        SELECT to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS date, e.task_key, e.actor, e.event,
               e.from_status, e.to_status, e.detail
        FROM job_events e WHERE e.job_id = $1 AND e.at >= (SELECT created_at FROM jobs WHERE id = $1) ORDER BY e.id
        """, binding: Int64.self,
        reading: { row in
            StepJobHistoryEntry(
                date: try row.value("date"), stepId: try row.optional("task_key"), username: try row.value("actor"),
                event: try row.value("event"), from: try row.optional("from_status"), to: try row.optional("to_status"),
                detail: try row.json("detail"))
        })

    static let deleteJob = Query("wm_job_delete", "DELETE FROM jobs WHERE id = $1", binding: Int64.self)

    static let deletedEvent = Query(
        "wm_job_deleted_event",
        """
        SELECT record_job_events(jsonb_build_array(jsonb_build_object(
            'job_id', id, 'event', 'job_deleted', 'actor_id', $2::bigint, 'actor', $3::text, 'from_status', status,
            'detail', '{"action": "Deleted"}'::jsonb)))
        FROM jobs WHERE id = $1
        """, binding: Int64.self, Int64?.self, String.self)
}

extension StepQueries: StatementCatalog {
    package static var statements: [Statement] {
        [
            readJob.statement, lockJob.statement, lockJobsInOrder.statement, applyPlan.statement, insertJobs.statement,
            insertSteps.statement, dependencyTarget.statement, history.statement, deleteJob.statement, deletedEvent.statement,
        ]
    }
}

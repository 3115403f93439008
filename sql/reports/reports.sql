-- Report views over job history, re-created by every `flowgate migrate`. Plain SQL: query them
-- with psql or any BI tool (README.md has examples). Counts come from job_events, which
-- outlives deleted jobs; durations come from the typed timestamps on jobs, tasks and holds.

-- How each surface's job statuses end: success, failure, cancellation.
CREATE OR REPLACE VIEW report_job_outcome_statuses (surface, status, outcome) AS
VALUES ('blocks', 'COMPLETED', 'succeeded'), ('blocks', 'FAILED', 'failed'),
       ('itential', 'complete', 'succeeded'), ('itential', 'error', 'failed'), ('itential', 'canceled', 'canceled'),
       ('workflow_manager', 'closed', 'succeeded'),
       ('scale', 'COMPLETED', 'succeeded'), ('scale', 'FAILED', 'failed'), ('scale', 'CANCELED', 'canceled');

-- What a job was spawned from, by name: the workflow, else the job type, else the job's name.
CREATE OR REPLACE VIEW report_job_sources AS
SELECT j.id AS job_id, j.surface,
       coalesce(nullif(w.name, ''), jt.name || ':' || jt.version, nullif(j.name, ''), '(unnamed)') AS source
FROM jobs j
LEFT JOIN workflows w ON w.id = j.workflow_id
LEFT JOIN job_types jt ON jt.id = j.job_type_id;

-- Jobs started, finished and failed per day, per surface and workflow or job type.
CREATE OR REPLACE VIEW report_jobs_per_day AS
SELECT (e.at AT TIME ZONE 'UTC')::date AS day, e.surface, coalesce(s.source, '(deleted)') AS source,
       count(*) FILTER (WHERE e.event = 'job_created') AS started,
       count(*) FILTER (WHERE o.outcome = 'succeeded') AS finished,
       count(*) FILTER (WHERE o.outcome = 'failed') AS failed,
       count(*) FILTER (WHERE o.outcome = 'canceled') AS canceled
FROM job_events e
LEFT JOIN report_job_sources s ON s.job_id = e.job_id
LEFT JOIN report_job_outcome_statuses o
       ON e.event = 'job_status_changed' AND o.surface = e.surface AND o.status = e.to_status
WHERE e.event IN ('job_created', 'job_status_changed')
GROUP BY 1, 2, 3;

-- Time from creation to successful completion, per workflow or job type.
CREATE OR REPLACE VIEW report_time_to_complete AS
SELECT s.surface, s.source, count(*) AS completed_jobs,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM j.finished_at - j.created_at)) AS p50_seconds,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM j.finished_at - j.created_at)) AS p95_seconds
FROM jobs j
JOIN report_job_sources s ON s.job_id = j.id
JOIN report_job_outcome_statuses o ON o.surface = j.surface AND o.status = j.status AND o.outcome = 'succeeded'
WHERE j.finished_at IS NOT NULL
GROUP BY s.surface, s.source;

-- Per user: how long claimed tasks waited to be claimed, and how long they took after.
CREATE OR REPLACE VIEW report_task_claim_times AS
SELECT u.username, count(*) AS claimed_tasks,
       count(t.finished_at) AS finished_tasks,
       avg(extract(epoch FROM t.claimed_at - t.ready_at)) AS avg_ready_to_claimed_seconds,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM t.claimed_at - t.ready_at)) AS p50_ready_to_claimed_seconds,
       avg(extract(epoch FROM t.finished_at - t.claimed_at)) AS avg_claimed_to_finished_seconds
FROM tasks t
JOIN users u ON u.id = t.claimed_by
WHERE t.claimed_at IS NOT NULL AND t.ready_at IS NOT NULL
GROUP BY u.username;

-- Time spent on hold per hold kind (a hold still active counts until now; a scheduled hold
-- at most until its release time).
CREATE OR REPLACE VIEW report_hold_time AS
SELECT h.kind, count(*) AS holds, count(*) FILTER (WHERE h.released_at IS NULL
                                                  AND (h.scheduled_release IS NULL OR h.scheduled_release > now())) AS active,
       sum(extract(epoch FROM least(coalesce(h.released_at, now()), coalesce(h.scheduled_release, 'infinity')) - h.set_at))
           AS total_seconds,
       avg(extract(epoch FROM least(coalesce(h.released_at, now()), coalesce(h.scheduled_release, 'infinity')) - h.set_at))
           AS avg_seconds
FROM holds h
GROUP BY h.kind;

-- Failures by error text, from history (tasks that failed and jobs that ended with an error).
CREATE OR REPLACE VIEW report_failures AS
SELECT e.surface, e.detail ->> 'error' AS error, count(*) AS failures,
       count(DISTINCT e.job_public_id) AS jobs, min(e.at) AS first_seen, max(e.at) AS last_seen
FROM job_events e
WHERE e.event = 'task_failed' AND e.detail ? 'error'
GROUP BY e.surface, e.detail ->> 'error';

-- Open work per person: unfinished tasks claimed by or assigned to them, and jobs they claimed.
CREATE OR REPLACE VIEW report_open_work AS
SELECT u.username, w.surface, w.open_tasks, w.claimed_jobs
FROM (
    -- Grouped by user id (usernames are unique) before the names are joined.
    SELECT w.user_id, w.surface, count(*) FILTER (WHERE w.item = 'task') AS open_tasks,
           count(*) FILTER (WHERE w.item = 'job') AS claimed_jobs
    FROM (
        SELECT coalesce(t.claimed_by, t.assignee_id) AS user_id, j.surface, 'task' AS item
        FROM tasks t JOIN jobs j ON j.id = t.job_id
        WHERE t.status IN ('ready', 'running', 'waiting', 'paused') AND coalesce(t.claimed_by, t.assignee_id) IS NOT NULL
        UNION ALL
        SELECT j.claimed_by, j.surface, 'job'
        FROM jobs j LEFT JOIN report_job_outcome_statuses o ON o.surface = j.surface AND o.status = j.status
        WHERE j.claimed_by IS NOT NULL AND o.outcome IS NULL
    ) w
    GROUP BY w.user_id, w.surface
) w
JOIN users u ON u.id = w.user_id;

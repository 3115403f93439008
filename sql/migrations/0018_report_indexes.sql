-- What the report views need at years of history (timed at 10M events, README "Reporting in
-- SQL"). Index builds on job_events block its writers while they run; on a large history,
-- apply this migration in a quiet hour.

-- JIT compiles the expressions of every partition a report touches: seconds of CPU for plans
-- that run in milliseconds once the indexes below serve them (and the runner's lease query
-- paid it on every connection). Only the database's owner may set it; elsewhere it is the
-- administrator's choice.
DO $$
BEGIN
    IF pg_has_role((SELECT datdba FROM pg_database WHERE datname = current_database()), 'USAGE') THEN
        EXECUTE format('ALTER DATABASE %I SET jit = off', current_database());
    END IF;
END $$;

-- report_jobs_per_day filtered by day. Not partial: the planner takes the expression's
-- statistics only from a full index.
CREATE INDEX job_events_day ON job_events (((at AT TIME ZONE 'UTC')::date));
-- report_failures, as an index-only scan.
CREATE INDEX job_events_task_failed ON job_events (surface) INCLUDE (detail, job_public_id, at) WHERE event = 'task_failed';
-- Work per runner (README).
CREATE INDEX job_events_task_finished_actor ON job_events (actor) WHERE event = 'task_finished';
-- report_task_claim_times and report_open_work read these columns from the index.
DROP INDEX tasks_claimed_by;
CREATE INDEX tasks_claimed_by ON tasks (claimed_by) INCLUDE (ready_at, claimed_at, finished_at) WHERE claimed_by IS NOT NULL;
CREATE INDEX tasks_open_work ON tasks (job_id) INCLUDE (claimed_by, assignee_id)
    WHERE status IN ('ready', 'running', 'waiting', 'paused') AND coalesce(claimed_by, assignee_id) IS NOT NULL;
DROP INDEX jobs_claimed_by;
CREATE INDEX jobs_claimed_by ON jobs (claimed_by) INCLUDE (surface, status) WHERE claimed_by IS NOT NULL;

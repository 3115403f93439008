-- job_events partitioned by month of `at` (UTC), so that old history is detached or dropped a
-- month at a time instead of deleted row by row (`flowgate prune --events …`). A default
-- partition takes any row no month partition covers, so a write never fails for want of one;
-- job_events_ensure_partitions, run by `flowgate migrate` and hourly by every instance, creates
-- the months ahead. Existing rows are copied across once.

ALTER TABLE job_events RENAME TO job_events_unpartitioned;
ALTER INDEX job_events_pkey RENAME TO job_events_unpartitioned_pkey;
ALTER INDEX job_events_job RENAME TO job_events_unpartitioned_job;
ALTER INDEX job_events_at RENAME TO job_events_unpartitioned_at;
ALTER INDEX job_events_task RENAME TO job_events_unpartitioned_task;
ALTER SEQUENCE job_events_id_seq OWNED BY NONE;

CREATE TABLE job_events (
    id            bigint NOT NULL DEFAULT nextval('job_events_id_seq'),
    job_id        bigint REFERENCES jobs ON DELETE SET NULL,
    surface       text NOT NULL,
    job_public_id text NOT NULL,
    task_id       bigint REFERENCES tasks ON DELETE SET NULL,
    task_key      text,
    event         text NOT NULL CONSTRAINT job_events_event_check CHECK (event IN (
        'job_created', 'job_status_changed', 'job_claimed', 'job_released', 'job_assigned', 'job_deleted',
        'task_created', 'task_ready', 'task_started', 'task_finished', 'task_failed', 'task_status_changed',
        'task_claimed', 'task_released', 'task_assigned', 'task_deactivated', 'task_reset', 'hold_added', 'hold_released')),
    actor_id      bigint REFERENCES users ON DELETE SET NULL,
    actor         text NOT NULL,
    from_status   text,
    to_status     text,
    detail        jsonb NOT NULL DEFAULT '{}',
    at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT job_events_pkey PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
CREATE TABLE job_events_default PARTITION OF job_events DEFAULT;

-- Creates the month partitions from the month of `since` to `months_ahead` months after the
-- current one, each named job_events_YYYY_MM; returns how many it created. A month that already
-- has rows in the default partition is left there (creating it would fail).
CREATE FUNCTION job_events_ensure_partitions(since timestamptz DEFAULT now(), months_ahead integer DEFAULT 3)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    -- Month arithmetic on UTC wall-clock time, whatever the session's time zone.
    month timestamp := date_trunc('month', least(since, now()) AT TIME ZONE 'UTC');
    last  timestamp := date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => months_ahead);
    partition text;
    created integer := 0;
BEGIN
    -- Several instances run this at start; one at a time.
    PERFORM pg_advisory_xact_lock(hashtext('job_events_ensure_partitions'));
    WHILE month <= last LOOP
        partition := 'job_events_' || to_char(month, 'YYYY_MM');
        IF to_regclass(partition) IS NULL AND NOT EXISTS (
            SELECT 1 FROM job_events_default
            WHERE at >= month AT TIME ZONE 'UTC' AND at < (month + interval '1 month') AT TIME ZONE 'UTC') THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF job_events FOR VALUES FROM (%L) TO (%L)', partition,
                           to_char(month, 'YYYY-MM-DD') || ' 00:00:00+00',
                           to_char(month + interval '1 month', 'YYYY-MM-DD') || ' 00:00:00+00');
            created := created + 1;
        END IF;
        month := month + interval '1 month';
    END LOOP;
    RETURN created;
END $$;

SELECT job_events_ensure_partitions(coalesce((SELECT min(at) FROM job_events_unpartitioned), now()));

INSERT INTO job_events (id, job_id, surface, job_public_id, task_id, task_key, event, actor_id, actor, from_status,
                        to_status, detail, at)
SELECT id, job_id, surface, job_public_id, task_id, task_key, event, actor_id, actor, from_status, to_status, detail, at
FROM job_events_unpartitioned;

-- The report views read the old table; `flowgate migrate` re-creates them after this.
DROP TABLE job_events_unpartitioned CASCADE;
ALTER SEQUENCE job_events_id_seq OWNED BY job_events.id;

CREATE INDEX job_events_job ON job_events (job_id, id);
CREATE INDEX job_events_at ON job_events (at);
CREATE INDEX job_events_task ON job_events (task_id) WHERE task_id IS NOT NULL;

CREATE TRIGGER job_events_append_only BEFORE UPDATE OR DELETE ON job_events
    FOR EACH ROW EXECUTE FUNCTION job_events_append_only();

-- The Scale claim reads only jobs it may take: a queued job of a paused or deprecated job type
-- is `scale_held`, and the claim's index leaves held jobs out, so any number of them costs a
-- claim nothing. Triggers keep the flag true to the job type, whichever statement queues a
-- job or pauses, resumes, deprecates or reactivates its type.
ALTER TABLE jobs ADD COLUMN scale_held boolean NOT NULL DEFAULT false;

-- A job whose type is not there (yet: pg_restore loads tables in its own order) keeps its flag.
CREATE FUNCTION scale_job_held() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.scale_held := coalesce((SELECT NOT (is_active AND NOT is_paused) FROM job_types WHERE id = NEW.job_type_id), NEW.scale_held);
    RETURN NEW;
END $$;
CREATE TRIGGER jobs_scale_held BEFORE INSERT OR UPDATE OF status, job_type_id ON jobs
    FOR EACH ROW WHEN (NEW.surface = 'scale' AND NEW.status = 'QUEUED') EXECUTE FUNCTION scale_job_held();

CREATE FUNCTION scale_job_type_held() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE jobs SET scale_held = NOT (NEW.is_active AND NOT NEW.is_paused)
    WHERE job_type_id = NEW.id AND surface = 'scale' AND status = 'QUEUED'
      AND scale_held IS DISTINCT FROM NOT (NEW.is_active AND NOT NEW.is_paused);
    RETURN NULL;
END $$;
CREATE TRIGGER job_types_scale_held AFTER UPDATE OF is_active, is_paused ON job_types
    FOR EACH ROW WHEN (OLD.is_active IS DISTINCT FROM NEW.is_active OR OLD.is_paused IS DISTINCT FROM NEW.is_paused)
    EXECUTE FUNCTION scale_job_type_held();

UPDATE jobs j SET scale_held = true FROM job_types jt
WHERE jt.id = j.job_type_id AND j.surface = 'scale' AND j.status = 'QUEUED' AND NOT (jt.is_active AND NOT jt.is_paused);

-- Replaces jobs_scale_queue (which walked held jobs too).
CREATE INDEX jobs_scale_claimable ON jobs (last_status_change, id) WHERE surface = 'scale' AND status = 'QUEUED' AND NOT scale_held;
DROP INDEX jobs_scale_queue;

-- Every claimed job is bounded: a claim leases it for its job type's manifest `timeout` (3600 s
-- when the manifest has none) and counts a try; a worker's RUNNING report renews the lease.
-- A lapsed lease re-queues the job until `max_tries`, then fails it with `system-timeout`
-- (ScaleClaimLeases, a runner duty). Jobs running before this migration get a lease from now.
ALTER TABLE jobs ADD COLUMN scale_tries integer NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN scale_lease_expires_at timestamptz;
UPDATE jobs j SET scale_tries = 1,
    scale_lease_expires_at = now() + make_interval(secs => least(greatest(1, coalesce((jt.manifest #>> '{job,timeout}')::numeric, 3600)), 31536000))
FROM job_types jt WHERE jt.id = j.job_type_id AND j.surface = 'scale' AND j.status = 'RUNNING';
CREATE INDEX jobs_scale_leases ON jobs (scale_lease_expires_at) WHERE surface = 'scale' AND status = 'RUNNING';

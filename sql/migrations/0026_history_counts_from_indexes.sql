-- Counts and first pages over a long history read narrow indexes instead of the jobs they
-- count (issue #15, measured at 1M jobs in ops/bench history).

-- Every Scale job has its job type: it is made with one, and job types are never deleted. The
-- list counts its jobs without joining job_types on the strength of it.
ALTER TABLE jobs ADD CONSTRAINT jobs_scale_job_type CHECK (surface <> 'scale' OR job_type_id IS NOT NULL);

-- Scale's status counts per job type over a window (the statuses and errors are in the index).
CREATE INDEX jobs_scale_type_window ON jobs (job_type_id, last_status_change) INCLUDE (status, error_id)
    WHERE surface = 'scale';
DROP INDEX jobs_scale_type_changed;

-- Scale's system failures: failed jobs per error and job type.
CREATE INDEX jobs_scale_failures ON jobs (error_id, job_type_id) INCLUDE (last_status_change)
    WHERE surface = 'scale' AND status = 'FAILED';

-- Workflow Manager searches on a template read it in id order (the default sort), whatever
-- else they filter on; the old index gave every job of the template to a sort.
CREATE INDEX jobs_wm_template_id ON jobs (item_id, (document ->> 'jobTemplateName'), id)
    WHERE surface = 'workflow_manager';
DROP INDEX jobs_wm_template;

-- Itential's starts-with on a job's name: a prefix is a range of an index only in byte order,
-- and the database's collation is not.
CREATE INDEX jobs_itential_name_prefix ON jobs (name text_pattern_ops) WHERE surface = 'itential';

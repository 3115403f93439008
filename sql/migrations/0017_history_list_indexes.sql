-- The first pages of Scale's job list (newest status change first) and of Workflow Manager's
-- searches sorted by creation, read in index order however long the history.
CREATE INDEX jobs_scale_changed ON jobs (last_status_change, id) WHERE surface = 'scale';
CREATE INDEX jobs_wm_created ON jobs (item_id, created_at) WHERE surface = 'workflow_manager';
-- Scale's status counts per job type over a recent window.
CREATE INDEX jobs_scale_type_changed ON jobs (job_type_id, last_status_change) WHERE surface = 'scale';

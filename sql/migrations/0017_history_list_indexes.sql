-- The first pages of Scale's job list (newest status change first) and of Workflow Manager's
-- searches sorted by creation, read in index order however long the history.
CREATE INDEX jobs_scale_changed ON jobs (last_status_change, id) WHERE surface = 'scale';
CREATE INDEX jobs_wm_created ON jobs (item_id, created_at) WHERE surface = 'workflow_manager';

-- The first pages of Scale's job list (newest status change first) and of Workflow Manager's
-- searches sorted by creation, read in index order however long the history.
CREATE INDEX jobs_scale_changed ON jobs (last_status_change, id) WHERE surface = 'scale';
CREATE INDEX jobs_wm_created ON jobs (item_id, created_at) WHERE surface = 'workflow_manager';
-- Scale's status counts per job type over a recent window.
CREATE INDEX jobs_scale_type_changed ON jobs (job_type_id, last_status_change) WHERE surface = 'scale';
-- Workflow Manager searches within an item on status, name, template and start date.
CREATE INDEX jobs_wm_status ON jobs (item_id, status, id) WHERE surface = 'workflow_manager';
CREATE INDEX jobs_wm_name ON jobs (item_id, name) WHERE surface = 'workflow_manager';
CREATE INDEX jobs_wm_template ON jobs (item_id, (document ->> 'jobTemplateName')) WHERE surface = 'workflow_manager';
CREATE INDEX jobs_wm_start ON jobs (item_id, (document ->> 'startDate')) WHERE surface = 'workflow_manager';
-- The runner's lease query asks for ready automatic tasks; ready tasks in a long history are
-- mostly manual ones waiting for people. Without the joint statistics the planner multiplies
-- the two fractions, expects thousands of rows and JIT-compiles the query on every connection.
CREATE STATISTICS tasks_automatic_status (mcv) ON automatic, status FROM tasks;

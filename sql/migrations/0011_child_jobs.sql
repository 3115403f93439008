-- A task can spawn child jobs (Itential childJob) and waits until they end; the runner picks
-- the waiting task up again once none of its children is still open.
ALTER TABLE jobs ADD COLUMN parent_task_id bigint REFERENCES tasks ON DELETE SET NULL;
CREATE INDEX jobs_parent_task ON jobs (parent_task_id) WHERE parent_task_id IS NOT NULL;
CREATE INDEX tasks_waiting_for_children ON tasks (id) WHERE automatic AND status = 'waiting';

-- A delayed task is runnable again from wake_at on.
ALTER TABLE tasks ADD COLUMN wake_at timestamptz;

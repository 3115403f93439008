-- Each activation of a task is an iteration with its own id (Itential addresses manual tasks
-- by it: /operations-manager/tasks/{iterationId}).
ALTER TABLE tasks ADD COLUMN iteration_id uuid;
CREATE UNIQUE INDEX tasks_iteration ON tasks (iteration_id) WHERE iteration_id IS NOT NULL;
-- The work queue: manual tasks waiting for a person.
CREATE INDEX tasks_manual_waiting ON tasks (job_id) WHERE NOT automatic AND status = 'ready';

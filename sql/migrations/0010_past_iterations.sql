-- A task run again (retry, revert, continue) starts a new iteration; the ids of the earlier
-- ones stay listed on the job (Itential: job.tasks[t].iterations).
ALTER TABLE tasks ADD COLUMN past_iterations uuid[] NOT NULL DEFAULT '{}';

-- Tasks going back to not reached when a job is run again from an earlier task.
ALTER TABLE job_events DROP CONSTRAINT job_events_event_check;
ALTER TABLE job_events ADD CONSTRAINT job_events_event_check CHECK (event IN (
    'job_created', 'job_status_changed', 'job_claimed', 'job_released', 'job_assigned', 'job_deleted',
    'task_created', 'task_ready', 'task_started', 'task_finished', 'task_failed', 'task_status_changed',
    'task_claimed', 'task_released', 'task_assigned', 'task_deactivated', 'task_reset', 'hold_added', 'hold_released'));

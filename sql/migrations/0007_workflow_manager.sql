-- Workflow Manager: workflow items, diagrams (rows of `workflows`), job templates, privilege
-- sets ("roles") granted to groups, and what step actions need on the shared tables.

-- A workflow item is one Workflow Manager instance: its own diagrams, templates and jobs,
-- addressed as /{org_id}/{item_id}.
CREATE TABLE wm_items (
    id         bigserial PRIMARY KEY,
    org_id     text NOT NULL CHECK (org_id <> '' AND length(org_id) <= 100),
    item_id    text NOT NULL CHECK (item_id <> '' AND length(item_id) <= 100),
    name       text NOT NULL DEFAULT '',
    created_by bigint REFERENCES users ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, item_id)
);

-- Diagrams are versioned: a job keeps running the version it was created with.
ALTER TABLE workflows ADD COLUMN item_id bigint REFERENCES wm_items ON DELETE CASCADE;
ALTER TABLE workflows DROP CONSTRAINT workflows_surface_public_id_key;
ALTER TABLE workflows ADD CONSTRAINT workflows_surface_public_id_version_key UNIQUE (surface, public_id, version);

CREATE TABLE wm_job_templates (
    id          bigserial PRIMARY KEY,
    item_id     bigint NOT NULL REFERENCES wm_items ON DELETE CASCADE,
    public_id   text NOT NULL UNIQUE DEFAULT translate(encode(gen_random_bytes(15), 'base64'), '+/', '-_'),
    name        text NOT NULL CHECK (name <> ''),
    diagram_id  text NOT NULL,
    state       text NOT NULL CHECK (state IN ('Draft', 'Active', 'Automated', 'Retired')),
    -- The template as sent (defaults for new jobs), without the columns above.
    document    jsonb NOT NULL DEFAULT '{}',
    created_by  bigint REFERENCES users ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  bigint REFERENCES users ON DELETE SET NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX wm_job_templates_item ON wm_job_templates (item_id, name);

ALTER TABLE jobs ADD COLUMN item_id bigint REFERENCES wm_items ON DELETE CASCADE;
CREATE INDEX jobs_item ON jobs (item_id, id) WHERE item_id IS NOT NULL;
-- Names jobs JOB_1, JOB_2 … when their template names none.
CREATE SEQUENCE wm_job_number;

-- Branches that reached a join step while other branches could still reach it too; the step
-- becomes current once the last one arrives.
ALTER TABLE tasks ADD COLUMN arrivals integer NOT NULL DEFAULT 0 CHECK (arrivals >= 0);

-- Workflow Manager roles: named privilege sets, granted to groups. A user's privileges are
-- their own plus those of every set granted to a group they are in.
CREATE TABLE privilege_sets (
    name        text PRIMARY KEY CHECK (name <> '' AND length(name) <= 200),
    description text NOT NULL DEFAULT '',
    privileges  text[] NOT NULL CHECK (privileges <@ ARRAY[
        'adminAdvanced', 'adminBasic', 'jobAssignAny', 'jobAssignGroup', 'jobAssignIndividual', 'jobClose',
        'jobCreate', 'jobDelete', 'jobForceStop', 'jobReopenClosed', 'jobUpdateAttachments', 'jobUpdateDate',
        'jobUpdateDescription', 'jobUpdateExtendedProperties', 'jobUpdateHolds', 'jobUpdateLocation',
        'jobUpdateName', 'jobUpdateNotes', 'jobUpdateOwner', 'jobUpdateParentJob', 'jobUpdatePercentComplete',
        'jobUpdatePriority', 'jobUpdateStatus', 'jobUpgrade', 'workflowSetStepCurrent']::text[])
);

CREATE TABLE group_privilege_sets (
    group_id bigint NOT NULL REFERENCES groups ON DELETE CASCADE,
    set_name text NOT NULL REFERENCES privilege_sets ON DELETE CASCADE ON UPDATE CASCADE,
    PRIMARY KEY (group_id, set_name)
);

-- Step actions write history rows for holds and assignments of Workflow Manager steps too.
ALTER TABLE job_events DROP CONSTRAINT job_events_event_check;
ALTER TABLE job_events ADD CONSTRAINT job_events_event_check CHECK (event IN (
    'job_created', 'job_status_changed', 'job_claimed', 'job_released', 'job_assigned', 'job_deleted',
    'task_created', 'task_ready', 'task_started', 'task_finished', 'task_failed', 'task_status_changed',
    'task_claimed', 'task_released', 'task_assigned', 'task_deactivated', 'hold_added', 'hold_released'));

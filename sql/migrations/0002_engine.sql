-- The shared engine: definitions, jobs, their tasks, holds, and the history of every change.
-- Only the Engine module writes these tables (see ARCHITECTURE.md); status columns change only
-- through its state machine, which writes the matching job_events row in the same transaction.

ALTER TABLE users ADD COLUMN display_name text CHECK (display_name IS NULL OR length(display_name) <= 200);

-- Definitions a job is spawned from: Itential workflows, Workflow Manager diagrams/templates,
-- Blocks graphs. `json`, not `jsonb`: definitions are echoed back exactly as sent (key order,
-- number spelling), which the Blocks seed shows.
CREATE TABLE workflows (
    id         bigserial PRIMARY KEY,
    surface    text NOT NULL CHECK (surface IN ('itential', 'workflow_manager', 'blocks', 'scale')),
    public_id  text NOT NULL,
    name       text NOT NULL DEFAULT '',
    version    integer NOT NULL DEFAULT 1,
    document   json NOT NULL,
    created_by bigint REFERENCES users ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (surface, public_id)
);
CREATE INDEX workflows_surface_name ON workflows (surface, name);

-- Scale job types, one row per (name, version), and their manifest revisions.
CREATE TABLE job_types (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL,
    version       text NOT NULL,
    version_array integer[] NOT NULL DEFAULT '{}',
    is_active     boolean NOT NULL DEFAULT true,
    is_paused     boolean NOT NULL DEFAULT false,
    is_system     boolean NOT NULL DEFAULT false,
    revision_num  integer NOT NULL DEFAULT 1,
    manifest      jsonb NOT NULL DEFAULT '{}',
    configuration jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_modified timestamptz NOT NULL DEFAULT now(),
    deprecated_at timestamptz,
    paused_at     timestamptz,
    UNIQUE (name, version)
);

CREATE TABLE job_type_revisions (
    id           bigserial PRIMARY KEY,
    job_type_id  bigint NOT NULL REFERENCES job_types ON DELETE CASCADE,
    revision_num integer NOT NULL,
    manifest     jsonb NOT NULL,
    docker_image text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (job_type_id, revision_num)
);

-- Blocks numbers its jobs 1, 2, 3 …, independently of the engine's primary keys.
CREATE SEQUENCE blocks_job_number;

CREATE TABLE jobs (
    id                 bigserial PRIMARY KEY,
    surface            text NOT NULL CHECK (surface IN ('itential', 'workflow_manager', 'blocks', 'scale')),
    -- The id the surface shows: Itential 24-hex, Workflow Manager strings, Scale/Blocks integers.
    public_id          text NOT NULL,
    workflow_id        bigint REFERENCES workflows ON DELETE SET NULL,
    job_type_id        bigint REFERENCES job_types ON DELETE SET NULL,
    parent_job_id      bigint REFERENCES jobs ON DELETE SET NULL,
    name               text NOT NULL DEFAULT '',
    status             text NOT NULL,
    owner_id           bigint REFERENCES users ON DELETE SET NULL,
    claimed_by         bigint REFERENCES users ON DELETE SET NULL,
    claimed_at         timestamptz,
    priority           integer NOT NULL DEFAULT 0,
    error_message      text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    started_at         timestamptz,
    finished_at        timestamptz,
    last_status_change timestamptz NOT NULL DEFAULT now(),
    -- The surface's own document (Itential job fields, Workflow Manager job properties, …).
    document           jsonb NOT NULL DEFAULT '{}',
    UNIQUE (surface, public_id),
    CONSTRAINT jobs_status_per_surface CHECK (
        (surface = 'blocks' AND status IN ('RUNNING', 'COMPLETED', 'FAILED'))
        OR (surface = 'itential' AND status IN ('incomplete', 'running', 'paused', 'error', 'complete', 'canceled'))
        OR (surface = 'workflow_manager' AND status IN ('open', 'closed'))
        OR (surface = 'scale' AND status IN ('PENDING', 'BLOCKED', 'QUEUED', 'RUNNING', 'FAILED', 'COMPLETED', 'CANCELED')))
);
CREATE INDEX jobs_owner_list ON jobs (surface, owner_id, id DESC);
CREATE INDEX jobs_status ON jobs (surface, status, last_status_change);
CREATE INDEX jobs_workflow ON jobs (workflow_id);
CREATE INDEX jobs_job_type ON jobs (job_type_id, status);
CREATE INDEX jobs_parent ON jobs (parent_job_id);
CREATE INDEX jobs_claimed_by ON jobs (claimed_by) WHERE claimed_by IS NOT NULL;

-- A job's tasks / steps / blocks. Automatic ones are run by the background runner, which holds
-- a lease (lease_owner, lease_expires_at) while it runs one; an expired lease means its
-- instance died and another runner may take the task over.
CREATE TABLE tasks (
    id               bigserial PRIMARY KEY,
    job_id           bigint NOT NULL REFERENCES jobs ON DELETE CASCADE,
    key              text NOT NULL,
    position         integer NOT NULL DEFAULT 0,
    kind             text NOT NULL,
    automatic        boolean NOT NULL,
    status           text NOT NULL CHECK (status IN
        ('pending', 'ready', 'running', 'waiting', 'paused', 'succeeded', 'failed', 'canceled', 'skipped')),
    is_current       boolean NOT NULL DEFAULT false,
    assignee_id      bigint REFERENCES users ON DELETE SET NULL,
    assignee_group_id bigint REFERENCES groups ON DELETE SET NULL,
    claimed_by       bigint REFERENCES users ON DELETE SET NULL,
    claimed_at       timestamptz,
    ready_at         timestamptz,
    started_at       timestamptz,
    finished_at      timestamptz,
    finish_state     text,
    attempts         integer NOT NULL DEFAULT 0,
    lease_owner      text,
    lease_expires_at timestamptz,
    -- The task's definition as received, and what it produced (both surface payloads).
    input            json NOT NULL DEFAULT '{}',
    output           json,
    error            text,
    UNIQUE (job_id, key),
    CHECK (status <> 'running' OR NOT automatic OR lease_expires_at IS NOT NULL)
);
CREATE INDEX tasks_runnable ON tasks (ready_at, id) WHERE automatic AND status = 'ready';
CREATE INDEX tasks_leased ON tasks (lease_expires_at) WHERE automatic AND status = 'running';
CREATE INDEX tasks_claimed_by ON tasks (claimed_by) WHERE claimed_by IS NOT NULL;
CREATE INDEX tasks_current ON tasks (job_id) WHERE is_current;

CREATE TABLE holds (
    id                 bigserial PRIMARY KEY,
    public_id          text NOT NULL UNIQUE DEFAULT encode(gen_random_bytes(16), 'hex'),
    job_id             bigint NOT NULL REFERENCES jobs ON DELETE CASCADE,
    task_id            bigint REFERENCES tasks ON DELETE CASCADE,
    kind               text NOT NULL CHECK (kind IN ('manual', 'scheduled', 'job_dependency', 'step_dependency')),
    set_by             bigint REFERENCES users ON DELETE SET NULL,
    set_at             timestamptz NOT NULL DEFAULT now(),
    scheduled_release  timestamptz,
    depends_on_job_id  bigint REFERENCES jobs ON DELETE SET NULL,
    depends_on_task_key text,
    released_by        bigint REFERENCES users ON DELETE SET NULL,
    released_at        timestamptz,
    CHECK ((kind = 'scheduled') = (scheduled_release IS NOT NULL)),
    CHECK ((kind = 'step_dependency') = (depends_on_task_key IS NOT NULL))
);
CREATE INDEX holds_active ON holds (job_id, task_id) WHERE released_at IS NULL;
CREATE INDEX holds_dependency ON holds (depends_on_job_id) WHERE released_at IS NULL;

-- Append-only history: one row per change. It outlives its job (job_id becomes NULL, the
-- public id stays), so reports over past work keep working after deletions.
CREATE TABLE job_events (
    id            bigserial PRIMARY KEY,
    job_id        bigint REFERENCES jobs ON DELETE SET NULL,
    surface       text NOT NULL,
    job_public_id text NOT NULL,
    task_id       bigint REFERENCES tasks ON DELETE SET NULL,
    task_key      text,
    event         text NOT NULL CHECK (event IN (
        'job_created', 'job_status_changed', 'job_claimed', 'job_released', 'job_assigned', 'job_deleted',
        'task_created', 'task_ready', 'task_started', 'task_finished', 'task_failed', 'task_status_changed',
        'task_claimed', 'task_released', 'task_assigned', 'hold_added', 'hold_released')),
    actor_id      bigint REFERENCES users ON DELETE SET NULL,
    actor         text NOT NULL,
    from_status   text,
    to_status     text,
    detail        jsonb NOT NULL DEFAULT '{}',
    at            timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX job_events_job ON job_events (job_id, id);
CREATE INDEX job_events_at ON job_events (at);
CREATE INDEX job_events_task ON job_events (task_id) WHERE task_id IS NOT NULL;

-- Refuse edits and deletions; only the foreign keys' ON DELETE SET NULL may touch a row
-- (job_id, task_id and actor_id may become NULL, nothing else may change).
CREATE FUNCTION job_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'job_events is append-only' USING ERRCODE = 'restrict_violation';
    END IF;
    IF (NEW.job_id IS NOT NULL AND NEW.job_id IS DISTINCT FROM OLD.job_id)
       OR (NEW.task_id IS NOT NULL AND NEW.task_id IS DISTINCT FROM OLD.task_id)
       OR (NEW.actor_id IS NOT NULL AND NEW.actor_id IS DISTINCT FROM OLD.actor_id)
       OR (NEW.id, NEW.surface, NEW.job_public_id, NEW.task_key, NEW.event, NEW.actor,
           NEW.from_status, NEW.to_status, NEW.detail::text, NEW.at)
          IS DISTINCT FROM (OLD.id, OLD.surface, OLD.job_public_id, OLD.task_key, OLD.event,
                            OLD.actor, OLD.from_status, OLD.to_status, OLD.detail::text, OLD.at) THEN
        RAISE EXCEPTION 'job_events is append-only' USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER job_events_append_only BEFORE UPDATE OR DELETE ON job_events
    FOR EACH ROW EXECUTE FUNCTION job_events_append_only();

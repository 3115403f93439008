-- Operations Manager automations (a workflow exposed to operators) and the triggers that start
-- their jobs: on request (manual), by a POST to a route (endpoint), or on a schedule. Every
-- firing is a row of itential_trigger_firings, with the job it started or why it started none.
CREATE TABLE itential_automations (
    id              bigserial PRIMARY KEY,
    public_id       text NOT NULL UNIQUE,
    name            text NOT NULL UNIQUE,
    description     text NOT NULL DEFAULT '',
    component_type  text NOT NULL DEFAULT 'workflows' CHECK (component_type = 'workflows'),
    -- The workflow it runs; none until one is chosen, or after that workflow was deleted.
    workflow_id     bigint REFERENCES workflows ON DELETE SET NULL,
    -- Group account ids (groups.account_id) that may change it (write) or see and run it (read).
    gbac_write      text[] NOT NULL DEFAULT '{}',
    gbac_read       text[] NOT NULL DEFAULT '{}',
    created_by      bigint REFERENCES users ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_by      bigint REFERENCES users ON DELETE SET NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX itential_automations_workflow ON itential_automations (workflow_id);

CREATE TABLE itential_triggers (
    id              bigserial PRIMARY KEY,
    public_id       text NOT NULL UNIQUE,
    automation_id   bigint NOT NULL REFERENCES itential_automations ON DELETE CASCADE,
    name            text NOT NULL,
    type            text NOT NULL CHECK (type IN ('manual', 'endpoint', 'schedule', 'eventSystem')),
    enabled         boolean NOT NULL DEFAULT true,
    -- Endpoint triggers: the route under /operations-manager/triggers/endpoint/.
    route_name      text,
    -- The type's own fields as the platform shows them (schema, formData, firstRunAt, …).
    document        jsonb NOT NULL DEFAULT '{}',
    -- Schedule triggers: the next due time; NULL once a one-off schedule has fired.
    next_run_at     timestamptz,
    last_executed   timestamptz,
    created_by      bigint REFERENCES users ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_by      bigint REFERENCES users ON DELETE SET NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT itential_triggers_endpoint_route CHECK ((type = 'endpoint') = (route_name IS NOT NULL))
);
CREATE UNIQUE INDEX itential_triggers_route ON itential_triggers (route_name) WHERE route_name IS NOT NULL;
CREATE INDEX itential_triggers_automation ON itential_triggers (automation_id);
-- What the runners poll: the enabled schedules that are due first.
CREATE INDEX itential_triggers_due ON itential_triggers (next_run_at) WHERE type = 'schedule' AND enabled AND next_run_at IS NOT NULL;

CREATE TABLE itential_trigger_firings (
    id          bigserial PRIMARY KEY,
    -- A firing outlives its trigger: the history keeps which one it was.
    trigger_id  bigint REFERENCES itential_triggers ON DELETE SET NULL,
    trigger_public_id text NOT NULL,
    -- Schedule firings: the due time fired; each fires at most once.
    due_at      timestamptz,
    fired_at    timestamptz NOT NULL DEFAULT now(),
    -- A runner (runner:<instance>) or the user who ran it.
    fired_by    text NOT NULL,
    job_id      bigint REFERENCES jobs ON DELETE SET NULL,
    -- Why no job started (its workflow is gone, or refused the variables).
    error       text,
    UNIQUE (trigger_id, due_at)
);
CREATE INDEX itential_trigger_firings_trigger ON itential_trigger_firings (trigger_id, id);
CREATE INDEX itential_trigger_firings_job ON itential_trigger_firings (job_id);

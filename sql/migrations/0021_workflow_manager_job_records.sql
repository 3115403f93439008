-- What Workflow Manager keeps beside a job's steps: comments, attachments (a file kept here, or
-- a link), and per item the settings and saved searches. Each goes with its job or item.
CREATE TABLE wm_job_comments (
    id         bigserial PRIMARY KEY,
    public_id  text NOT NULL UNIQUE DEFAULT translate(encode(gen_random_bytes(15), 'base64'), '+/', '-_'),
    job_id     bigint NOT NULL REFERENCES jobs ON DELETE CASCADE,
    comment    text NOT NULL,
    created_by bigint REFERENCES users ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX wm_job_comments_job ON wm_job_comments (job_id, id);

CREATE TABLE wm_job_attachments (
    id           bigserial PRIMARY KEY,
    public_id    text NOT NULL UNIQUE DEFAULT translate(encode(gen_random_bytes(15), 'base64'), '+/', '-_'),
    job_id       bigint NOT NULL REFERENCES jobs ON DELETE CASCADE,
    alias        text NOT NULL,
    folder       text,
    -- A file: its content and type; a link: its URL.
    content      bytea,
    content_type text,
    link         text,
    created_by   bigint REFERENCES users ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT wm_job_attachments_file_or_link CHECK ((content IS NULL) <> (link IS NULL))
);
CREATE INDEX wm_job_attachments_job ON wm_job_attachments (job_id, id);

CREATE TABLE wm_settings (
    item_id   bigint NOT NULL REFERENCES wm_items ON DELETE CASCADE,
    prop_name text NOT NULL,
    value     text NOT NULL,
    PRIMARY KEY (item_id, prop_name)
);

CREATE TABLE wm_saved_searches (
    id          bigserial PRIMARY KEY,
    public_id   text NOT NULL UNIQUE DEFAULT translate(encode(gen_random_bytes(15), 'base64'), '+/', '-_'),
    item_id     bigint NOT NULL REFERENCES wm_items ON DELETE CASCADE,
    name        text NOT NULL,
    folder      text,
    search_type text NOT NULL CHECK (search_type IN ('Standard', 'Chart')),
    definition  text NOT NULL,
    color_ramp  text,
    sort_index  text,
    group_ids   text[] NOT NULL DEFAULT '{}',
    created_by  bigint REFERENCES users ON DELETE SET NULL
);
CREATE INDEX wm_saved_searches_item ON wm_saved_searches (item_id, id);

-- A job's properties changed through `jobs/{id}/update`: the fields changed are in detail.
-- NOT VALID: the rows already there met the narrower check, so history is not scanned (and
-- not locked for a scan); new rows are checked.
ALTER TABLE job_events DROP CONSTRAINT job_events_event_check, ADD CONSTRAINT job_events_event_check CHECK (event IN (
    'job_created', 'job_status_changed', 'job_claimed', 'job_released', 'job_assigned', 'job_deleted', 'job_updated',
    'task_created', 'task_ready', 'task_started', 'task_finished', 'task_failed', 'task_status_changed',
    'task_claimed', 'task_released', 'task_assigned', 'task_deactivated', 'task_reset', 'hold_added', 'hold_released')) NOT VALID;

-- Files the engine keeps for surfaces: uploaded modules (Blocks' zip archives, with their
-- palette entries in `metadata`) and files that tasks produce for their job.
CREATE TABLE files (
    id         bigserial PRIMARY KEY,
    surface    text NOT NULL CHECK (surface IN ('itential', 'workflow_manager', 'blocks', 'scale')),
    kind       text NOT NULL CHECK (kind IN ('module', 'job_file')),
    name       text NOT NULL CHECK (name <> '' AND length(name) <= 255),
    job_id     bigint REFERENCES jobs ON DELETE CASCADE,
    content    bytea NOT NULL,
    metadata   jsonb NOT NULL DEFAULT '{}',
    created_by bigint REFERENCES users ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'job_file') = (job_id IS NOT NULL))
);
CREATE UNIQUE INDEX files_module_name ON files (surface, name) WHERE kind = 'module';
CREATE UNIQUE INDEX files_job_file_name ON files (job_id, name) WHERE kind = 'job_file';

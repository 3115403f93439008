-- Scale's workspace registry: where job outputs go. Job type configuration validation checks
-- that the workspaces it names exist (INVALID_WORKSPACE) and are active (DEPRECATED_WORKSPACE).
CREATE TABLE workspaces (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL UNIQUE CHECK (name ~ '^[a-zA-Z0-9_-]{1,50}$'),
    title         text CHECK (length(title) <= 50),
    description   text CHECK (length(description) <= 500),
    base_url      text CHECK (length(base_url) <= 1000),
    is_active     boolean NOT NULL DEFAULT true,
    json_config   jsonb NOT NULL DEFAULT '{}',
    created       timestamptz NOT NULL DEFAULT now(),
    deprecated    timestamptz,
    last_modified timestamptz NOT NULL DEFAULT now()
);

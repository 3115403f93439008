-- Broker credentials of Scale workspaces (`json_config.broker.credentials`), kept apart from
-- the configuration the API returns and never read back by any route, like job_type_secrets.
CREATE TABLE workspace_secrets (
    workspace_id bigint PRIMARY KEY REFERENCES workspaces ON DELETE CASCADE,
    credentials  jsonb NOT NULL
);

INSERT INTO workspace_secrets (workspace_id, credentials)
SELECT id, json_config #> '{broker,credentials}' FROM workspaces WHERE json_config #> '{broker,credentials}' IS NOT NULL;
UPDATE workspaces SET json_config = json_config #- '{broker,credentials}' WHERE json_config #> '{broker,credentials}' IS NOT NULL;

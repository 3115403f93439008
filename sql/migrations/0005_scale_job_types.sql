-- Scale job types in full: the columns Scale shows, their tags (keyword search), and the values
-- of secret settings, kept apart and never returned by any route.
ALTER TABLE job_types
    ADD COLUMN docker_image    text NOT NULL DEFAULT '' CHECK (length(docker_image) <= 500),
    ADD COLUMN icon_code       text CHECK (length(icon_code) <= 20),
    ADD COLUMN is_published    boolean NOT NULL DEFAULT false,
    ADD COLUMN max_scheduled   integer CHECK (max_scheduled >= 1),
    ADD COLUMN max_tries       integer NOT NULL DEFAULT 3,
    ADD COLUMN unmet_resources text,
    -- SemVer precedence as bytes (ScaleAPI's SemVer.sortKey): ORDER BY version_key COLLATE "C".
    ADD COLUMN version_key     text NOT NULL DEFAULT '';
CREATE INDEX job_types_name ON job_types (lower(name), name);

CREATE TABLE job_type_tags (
    job_type_id bigint NOT NULL REFERENCES job_types ON DELETE CASCADE,
    tag         text NOT NULL,
    PRIMARY KEY (job_type_id, tag)
);

CREATE TABLE job_type_secrets (
    job_type_id  bigint NOT NULL REFERENCES job_types ON DELETE CASCADE,
    setting_name text NOT NULL,
    value        text NOT NULL,
    PRIMARY KEY (job_type_id, setting_name)
);

-- Users, roles, privileges, groups and API tokens, shared by every surface.
CREATE EXTENSION IF NOT EXISTS pgcrypto;

-- ISO-8601 in UTC with milliseconds and Z, the form every JSON document here uses.
CREATE FUNCTION iso_utc(ts timestamptz) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');

CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    username      text NOT NULL UNIQUE CHECK (username <> '' AND length(username) <= 200),
    email         text UNIQUE CHECK (email IS NULL OR (email <> '' AND length(email) <= 320)),
    -- bcrypt through pgcrypto: crypt(password, gen_salt('bf', 8)).
    password_hash text NOT NULL,
    -- The 24-hex account id that Itential documents carry (metrics.owner, watchers, created_by).
    account_id    char(24) NOT NULL UNIQUE DEFAULT encode(gen_random_bytes(12), 'hex'),
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Itential role names (route guards).
CREATE TABLE user_roles (
    user_id bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    role    text NOT NULL CHECK (role IN ('admin', 'engineering', 'support', 'apiwrite', 'apiread', 'operations')),
    PRIMARY KEY (user_id, role)
);

-- Workflow Manager privilege names.
CREATE TABLE user_privileges (
    user_id   bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    privilege text NOT NULL CHECK (privilege IN (
        'adminAdvanced', 'adminBasic', 'jobAssignAny', 'jobAssignGroup', 'jobAssignIndividual', 'jobClose',
        'jobCreate', 'jobDelete', 'jobForceStop', 'jobReopenClosed', 'jobUpdateAttachments', 'jobUpdateDate',
        'jobUpdateDescription', 'jobUpdateExtendedProperties', 'jobUpdateHolds', 'jobUpdateLocation',
        'jobUpdateName', 'jobUpdateNotes', 'jobUpdateOwner', 'jobUpdateParentJob', 'jobUpdatePercentComplete',
        'jobUpdatePriority', 'jobUpdateStatus', 'jobUpgrade', 'workflowSetStepCurrent')),
    PRIMARY KEY (user_id, privilege)
);

CREATE TABLE groups (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (name <> '' AND length(name) <= 200),
    account_id char(24) NOT NULL UNIQUE DEFAULT encode(gen_random_bytes(12), 'hex'),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE group_members (
    group_id bigint NOT NULL REFERENCES groups ON DELETE CASCADE,
    user_id  bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

-- Only the SHA-256 digest of a token is stored; the token itself is shown once.
CREATE TABLE tokens (
    digest     bytea PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX tokens_user ON tokens (user_id);

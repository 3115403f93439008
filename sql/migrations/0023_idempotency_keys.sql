-- Answers to writes sent with an Idempotency-Key header, stored in the write's own transaction:
-- a retry with the same key by the same caller gets the stored answer and changes nothing. A
-- key lasts 24 hours; HistoryMaintenance deletes older ones.
CREATE TABLE idempotency_keys (
    caller      text        NOT NULL,   -- 'user:<id>' of the authenticated caller, or 'anonymous'
    key         text        NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    fingerprint bytea       NOT NULL,   -- sha256 of method, path, query and body
    status      integer     NOT NULL,
    headers     jsonb       NOT NULL,   -- [[name, value], ...]
    body        bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

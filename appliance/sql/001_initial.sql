-- 001: the first state database schema.
--
-- Small per-component state that must survive restarts: a CDC source's snapshot
-- progress, its confirmed position, and the like. One row per (scope, key).
CREATE TABLE state (
    scope      TEXT NOT NULL,          -- e.g. "source:erp"
    key        TEXT NOT NULL,          -- e.g. "snapshot"
    value      TEXT NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;

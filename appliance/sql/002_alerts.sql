-- 002: alerts and their lifecycle (appliance/src/alerts.c).
--
-- One row per alert: open → acknowledged → resolved. A condition keeps one row for as long
-- as it is unresolved (count says how often it was raised meanwhile); once resolved, the
-- same condition coming back is a new alert with a new id, so what an operator acknowledged
-- or resolved keeps its meaning.
--
-- AUTOINCREMENT: ids are quoted in notifications, mail and the audit log; a purged alert's
-- id must never be handed to a different alert.
CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    rule            TEXT NOT NULL,          -- mismatch, negative_stock, stale_source, …
    dedup_key       TEXT NOT NULL,          -- e.g. "mismatch|SKU-00042|S12"
    severity        TEXT NOT NULL CHECK (severity IN ('warning', 'critical')),
    sku             TEXT,
    location        TEXT,
    source          TEXT,
    summary         TEXT NOT NULL,          -- one human sentence
    details         TEXT NOT NULL DEFAULT '{}',  -- JSON object
    contacts        TEXT NOT NULL DEFAULT '[]',  -- JSON array of addresses
    state           TEXT NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
    opened_ms       INTEGER NOT NULL,
    last_seen_ms    INTEGER NOT NULL,
    count           INTEGER NOT NULL DEFAULT 1,   -- times raised while unresolved
    acknowledged_ms INTEGER,
    acknowledged_by TEXT,
    resolved_ms     INTEGER,
    resolved_by     TEXT,                   -- a user name, or "auto" when the condition cleared
    note            TEXT
);

-- The deduplication itself: two processes raising the same condition at once still end up
-- with one unresolved alert (the loser's insert becomes an update, see alerts_raise()).
CREATE UNIQUE INDEX alerts_unresolved_key ON alerts (dedup_key) WHERE state != 'resolved';

-- The dashboard's and the API's filters, each newest first.
CREATE INDEX alerts_by_state ON alerts (state, id);
CREATE INDEX alerts_by_location ON alerts (location, id);
CREATE INDEX alerts_by_rule ON alerts (rule, id);

-- relay's SQLite schema, version 1. Times are UNIX seconds (REAL) so that comparisons
-- such as "lease expired" or "timer due" are plain indexed number comparisons.

CREATE TABLE definitions (
    hash        TEXT PRIMARY KEY,
    workflow    TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  REAL NOT NULL
);

CREATE TABLE runs (
    id                TEXT PRIMARY KEY,
    workflow          TEXT NOT NULL,
    workflow_name     TEXT NOT NULL,
    definition_hash   TEXT NOT NULL REFERENCES definitions(hash),
    status            TEXT NOT NULL,
    inputs            TEXT NOT NULL,
    outputs           TEXT,
    error             TEXT,
    created_at        REAL NOT NULL,
    updated_at        REAL NOT NULL,
    started_by        TEXT NOT NULL,
    cwd               TEXT,
    env               TEXT NOT NULL,
    parent_run_id     TEXT,
    parent_step       TEXT,
    root_run_id       TEXT,
    trigger_event     TEXT,
    idempotency_key   TEXT UNIQUE,
    trigger_key       TEXT UNIQUE,
    start_seq         INTEGER NOT NULL,
    deadline_at       REAL,
    wake_at           REAL,
    signal_seq        INTEGER NOT NULL DEFAULT 0,
    cancel_requested  INTEGER NOT NULL DEFAULT 0,
    cancel_reason     TEXT,
    lease_owner       TEXT,
    lease_expires_at  REAL
);
CREATE INDEX runs_active ON runs(status, wake_at) WHERE status IN ('pending', 'running', 'waiting');
CREATE INDEX runs_created ON runs(created_at);
CREATE INDEX runs_workflow ON runs(workflow, created_at);
CREATE INDEX runs_lease ON runs(lease_owner) WHERE lease_owner IS NOT NULL;
CREATE INDEX runs_parent ON runs(parent_run_id) WHERE parent_run_id IS NOT NULL;

CREATE TABLE steps (
    run_id       TEXT NOT NULL,
    step_id      TEXT NOT NULL,
    position     INTEGER NOT NULL,
    name         TEXT NOT NULL,
    status       TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    started_at   REAL,
    finished_at  REAL,
    output       TEXT,
    error        TEXT,
    wake_at      REAL,
    waiting      TEXT,
    gate_passed  INTEGER NOT NULL DEFAULT 0,
    state        TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (run_id, step_id)
) WITHOUT ROWID;

CREATE TABLE attempts (
    run_id       TEXT NOT NULL,
    step_id      TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    started_at   REAL NOT NULL,
    finished_at  REAL,
    status       TEXT NOT NULL,
    error        TEXT,
    worker       TEXT,
    PRIMARY KEY (run_id, step_id, attempt)
) WITHOUT ROWID;

-- Append-only: rows are inserted, never updated or deleted (so a plain rowid key never
-- reuses a number, without AUTOINCREMENT's extra page write per insert).
CREATE TABLE history (
    seq      INTEGER PRIMARY KEY,
    run_id   TEXT NOT NULL,
    step_id  TEXT,
    kind     TEXT NOT NULL,
    at       REAL NOT NULL,
    data     TEXT NOT NULL
);
CREATE INDEX history_run ON history(run_id, seq);

-- Events are never deleted, so the rowid `seq` is never reused and "after_seq" cursors
-- stay valid forever. Every index here costs one page write per append: keep them few.
CREATE TABLE events (
    seq              INTEGER PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
    type             TEXT NOT NULL,
    source           TEXT NOT NULL,
    data             TEXT NOT NULL,
    correlation_id   TEXT,
    idempotency_key  TEXT,
    created_at       REAL NOT NULL
);
CREATE UNIQUE INDEX events_idempotency ON events(idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX events_type ON events(type, seq);
CREATE INDEX events_source ON events(source, seq);
CREATE INDEX events_correlation ON events(correlation_id, seq) WHERE correlation_id IS NOT NULL;

CREATE TABLE event_waits (
    run_id       TEXT NOT NULL,
    step_id      TEXT NOT NULL,
    type         TEXT NOT NULL,
    match        TEXT NOT NULL,
    after_seq    INTEGER NOT NULL,
    matched_seq  INTEGER,
    PRIMARY KEY (run_id, step_id)
) WITHOUT ROWID;
CREATE INDEX event_waits_open ON event_waits(type) WHERE matched_seq IS NULL;

CREATE TABLE approvals (
    id               TEXT PRIMARY KEY,
    run_id           TEXT NOT NULL,
    workflow         TEXT NOT NULL,
    step_id          TEXT NOT NULL,
    message          TEXT NOT NULL,
    approvers        TEXT NOT NULL,
    channels         TEXT NOT NULL,
    allow_self       INTEGER NOT NULL,
    requested_by     TEXT NOT NULL,
    status           TEXT NOT NULL,
    requested_at     REAL NOT NULL,
    expires_at       REAL,
    decided_by       TEXT,
    decided_channel  TEXT,
    decided_at       REAL,
    comment          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX approvals_status ON approvals(status, requested_at);
CREATE INDEX approvals_run ON approvals(run_id);

CREATE TABLE tasks (
    id          TEXT PRIMARY KEY,
    run_id      TEXT NOT NULL,
    workflow    TEXT NOT NULL,
    step_id     TEXT NOT NULL,
    to_name     TEXT NOT NULL,
    task        TEXT NOT NULL,
    context     TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    expires_at  REAL,
    claimed_by  TEXT,
    result      TEXT,
    error       TEXT
);
CREATE INDEX tasks_to ON tasks(to_name, status);
CREATE INDEX tasks_run ON tasks(run_id);

CREATE TABLE participants (
    name       TEXT PRIMARY KEY,
    last_seen  REAL NOT NULL
);

-- Shared positions in the event log (e.g. how far event triggers have been matched).
CREATE TABLE cursors (
    name  TEXT PRIMARY KEY,
    seq   INTEGER NOT NULL
);

-- Live engine processes, for "is anyone there to run this?" (heartbeat every lease/3).
CREATE TABLE workers (
    id           TEXT PRIMARY KEY,
    participant  TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    host         TEXT NOT NULL,
    started_at   REAL NOT NULL,
    last_seen    REAL NOT NULL
);

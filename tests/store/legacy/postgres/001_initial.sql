-- relay's PostgreSQL schema, version 1 (SQLite's 001 and 002 in one). Times are UNIX
-- seconds (DOUBLE PRECISION) and JSON is text, as in SQLite, so that both backends share
-- one row encoding (relay.store.rows) and "lease expired" is a plain number comparison.

-- A save's fence (relay.store.postgres_save) calls this when the run is not the saver's
-- to write: the error aborts the transaction, and the saver finds out why.
CREATE FUNCTION relay_fence_refused() RETURNS BIGINT LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the run is not this saver''s to write' USING ERRCODE = 'RL001';
END
$$;

CREATE TABLE definitions (
    hash        TEXT PRIMARY KEY,
    workflow    TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  DOUBLE PRECISION NOT NULL
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
    created_at        DOUBLE PRECISION NOT NULL,
    updated_at        DOUBLE PRECISION NOT NULL,
    started_by        TEXT NOT NULL,
    cwd               TEXT,
    env               TEXT NOT NULL,
    parent_run_id     TEXT,
    parent_step       TEXT,
    root_run_id       TEXT,
    trigger_event     TEXT,
    idempotency_key   TEXT UNIQUE,
    trigger_key       TEXT UNIQUE,
    start_seq         BIGINT NOT NULL,
    deadline_at       DOUBLE PRECISION,
    wake_at           DOUBLE PRECISION,
    signal_seq        BIGINT NOT NULL DEFAULT 0,
    cancel_requested  BIGINT NOT NULL DEFAULT 0,
    cancel_reason     TEXT,
    lease_owner       TEXT,
    lease_expires_at  DOUBLE PRECISION,
    last_save         TEXT  -- the token of the holder's last save: was an unsure commit made?
);
CREATE INDEX runs_active ON runs(status, wake_at) WHERE status IN ('pending', 'running', 'waiting');
CREATE INDEX runs_created ON runs(created_at);
CREATE INDEX runs_workflow ON runs(workflow, created_at);
CREATE INDEX runs_lease ON runs(lease_owner) WHERE lease_owner IS NOT NULL;
CREATE INDEX runs_parent ON runs(parent_run_id) WHERE parent_run_id IS NOT NULL;

CREATE TABLE steps (
    run_id       TEXT NOT NULL,
    step_id      TEXT NOT NULL,
    position     BIGINT NOT NULL,
    name         TEXT NOT NULL,
    status       TEXT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    started_at   DOUBLE PRECISION,
    finished_at  DOUBLE PRECISION,
    output       TEXT,
    error        TEXT,
    wake_at      DOUBLE PRECISION,
    waiting      TEXT,
    gate_passed  BIGINT NOT NULL DEFAULT 0,
    state        TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (run_id, step_id)
);

CREATE TABLE attempts (
    run_id       TEXT NOT NULL,
    step_id      TEXT NOT NULL,
    attempt      BIGINT NOT NULL,
    started_at   DOUBLE PRECISION NOT NULL,
    finished_at  DOUBLE PRECISION,
    status       TEXT NOT NULL,
    error        TEXT,
    worker       TEXT,
    PRIMARY KEY (run_id, step_id, attempt)
);

-- Append-only: rows are inserted, never updated or deleted.
CREATE TABLE history (
    seq      BIGSERIAL PRIMARY KEY,
    run_id   TEXT NOT NULL,
    step_id  TEXT,
    kind     TEXT NOT NULL,
    at       DOUBLE PRECISION NOT NULL,
    data     TEXT NOT NULL
);
CREATE INDEX history_run ON history(run_id, seq);

-- Events are never deleted, so `seq` is never reused and "after_seq" cursors stay valid
-- forever. A sequence would hand out numbers in the order transactions ask, not the order
-- they commit, and a reader could then pass over an event committed late under a smaller
-- seq: instead each appending transaction takes the next number from the one row of
-- event_clock, whose row lock it holds until it commits, so seqs become visible in order.
-- Registering an event wait takes the same lock (see relay.store.postgres_ops).
CREATE TABLE event_clock (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL
);
INSERT INTO event_clock VALUES (1, 0);

CREATE TABLE events (
    seq              BIGINT PRIMARY KEY,  -- from event_clock, in commit order
    id               TEXT NOT NULL UNIQUE,
    type             TEXT NOT NULL,
    source           TEXT NOT NULL,
    data             TEXT NOT NULL,
    correlation_id   TEXT,
    idempotency_key  TEXT,
    created_at       DOUBLE PRECISION NOT NULL
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
    after_seq    BIGINT NOT NULL,
    matched_seq  BIGINT,
    PRIMARY KEY (run_id, step_id)
);
CREATE INDEX event_waits_open ON event_waits(type) WHERE matched_seq IS NULL;

CREATE TABLE approvals (
    id               TEXT PRIMARY KEY,
    run_id           TEXT NOT NULL,
    workflow         TEXT NOT NULL,
    step_id          TEXT NOT NULL,
    message          TEXT NOT NULL,
    approvers        TEXT NOT NULL,
    channels         TEXT NOT NULL,
    allow_self       BIGINT NOT NULL,
    requested_by     TEXT NOT NULL,
    status           TEXT NOT NULL,
    requested_at     DOUBLE PRECISION NOT NULL,
    expires_at       DOUBLE PRECISION,
    decided_by       TEXT,
    decided_channel  TEXT,
    decided_at       DOUBLE PRECISION,
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
    created_at  DOUBLE PRECISION NOT NULL,
    updated_at  DOUBLE PRECISION NOT NULL,
    expires_at  DOUBLE PRECISION,
    claimed_by  TEXT,
    result      TEXT,
    error       TEXT
);
CREATE INDEX tasks_to ON tasks(to_name, status);
CREATE INDEX tasks_run ON tasks(run_id);

CREATE TABLE participants (
    name       TEXT PRIMARY KEY,
    last_seen  DOUBLE PRECISION NOT NULL
);

-- Shared positions in the event log (e.g. how far event triggers have been matched).
CREATE TABLE cursors (
    name  TEXT PRIMARY KEY,
    seq   BIGINT NOT NULL
);

-- Live engine processes, for "is anyone there to run this?" (heartbeat every lease/3).
CREATE TABLE workers (
    id           TEXT PRIMARY KEY,
    participant  TEXT NOT NULL,
    pid          BIGINT NOT NULL,
    host         TEXT NOT NULL,
    started_at   DOUBLE PRECISION NOT NULL,
    last_seen    DOUBLE PRECISION NOT NULL
);

-- The durable notification outbox. A notification is written in the same transaction as
-- the state change that causes it, then delivered by a background sender. Within a
-- thread (destination, channel, thread_key) delivery is in id order, one at a time.

CREATE TABLE outbox (
    id               BIGSERIAL PRIMARY KEY,
    created_at       DOUBLE PRECISION NOT NULL,
    destination      TEXT NOT NULL,             -- slack | webhook
    channel          TEXT NOT NULL,             -- as configured; '' for a webhook
    run_id           TEXT,
    thread_key       TEXT,                      -- NULL: a top-level post of no thread
    kind             TEXT NOT NULL,             -- root | reply | update | post
    payload          TEXT NOT NULL,             -- JSON: text, blocks, attachments...
    status           TEXT NOT NULL DEFAULT 'pending',  -- pending | sent | dead
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  DOUBLE PRECISION NOT NULL,
    claimed_by       TEXT,
    claimed_until    DOUBLE PRECISION,                      -- in flight until then (a sender's lease)
    last_error       TEXT,                      -- never a secret: the client's messages
    ts               TEXT,                      -- Slack's ts of the posted message
    thread_ts        TEXT,                      -- the root's ts it was posted under
    sent_at          DOUBLE PRECISION
);

CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_thread ON outbox (destination, channel, thread_key, status, id);
CREATE INDEX outbox_run ON outbox (run_id);

-- A thread's root message, once posted: its replies go under root_ts, its edits to it.
CREATE TABLE slack_threads (
    destination   TEXT NOT NULL,
    channel       TEXT NOT NULL,
    thread_key    TEXT NOT NULL,
    root_channel  TEXT NOT NULL,                -- the channel id Slack answered
    root_ts       TEXT NOT NULL,
    created_at    DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (destination, channel, thread_key)
);

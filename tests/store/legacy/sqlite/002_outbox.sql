-- The durable notification outbox. A notification is written in the same transaction as
-- the state change that causes it, then delivered by a background sender. Within a
-- thread (destination, channel, thread_key) delivery is in id order, one at a time.

CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at       REAL NOT NULL,
    destination      TEXT NOT NULL,             -- slack | webhook
    channel          TEXT NOT NULL,             -- as configured; '' for a webhook
    run_id           TEXT,
    thread_key       TEXT,                      -- NULL: a top-level post of no thread
    kind             TEXT NOT NULL,             -- root | reply | update | post
    payload          TEXT NOT NULL,             -- JSON: text, blocks, attachments...
    status           TEXT NOT NULL DEFAULT 'pending',  -- pending | sent | dead
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  REAL NOT NULL,
    claimed_by       TEXT,
    claimed_until    REAL,                      -- in flight until then (a sender's lease)
    last_error       TEXT,                      -- never a secret: the client's messages
    ts               TEXT,                      -- Slack's ts of the posted message
    thread_ts        TEXT,                      -- the root's ts it was posted under
    sent_at          REAL
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
    created_at    REAL NOT NULL,
    PRIMARY KEY (destination, channel, thread_key)
);

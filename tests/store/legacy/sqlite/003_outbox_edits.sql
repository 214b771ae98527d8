-- Messages that a later notification edits (an approval request, once decided): the
-- edit names the message by `message_key`, and finds its (channel_id, ts) once posted.

ALTER TABLE outbox ADD COLUMN message_key TEXT;
ALTER TABLE outbox ADD COLUMN channel_id TEXT;  -- the channel id Slack answered

CREATE INDEX outbox_message_key ON outbox (message_key);

"""Notifications: the outbox sender and the channels it delivers through.

`channels` is the one protocol the engine and the services use (run notices, decided
approvals, messages, process notices); `outbox` is the sender that claims due
notifications from the store's outbox role and delivers them with retries, pacing and
dead letters. Slack: `slack_client` talks to Slack's Web API and classifies every answer
into one error class of `errors` the outbox can act on; `messages` renders Block Kit
payloads within Slack's limits; `signature` verifies interaction requests;
`interactions` reads their clicks. `apprise_channel` sends to Apprise destinations;
`lifecycle` words run notices; `redact` keeps secrets out of what is sent.
"""

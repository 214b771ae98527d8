"""Notifications: Slack's Web API and incoming webhooks, Block Kit layouts, click signatures.

`slack_client` talks to Slack and classifies every answer into one error class the outbox
can act on; `messages` renders pure Block Kit payloads within Slack's limits; `signature`
verifies the `X-Slack-Signature` of interaction requests.
"""

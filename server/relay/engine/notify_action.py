"""The `notify` action: a message of the workflow's own, to Slack (in the run's thread)
and to the Apprise destinations named in RELAY_NOTIFY_URLS.

The notification is not sent from the action: it rides on the step's completion into
the same transaction (the durable outbox), so a restart can neither lose it nor, once
the step has completed, post it twice. With no Slack configured the step still
completes, with `delivered: false` and the reason: a missing Slack never breaks a run.
"""

import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from relay.engine.actions import ActionContext, ActionSpec
from relay.errors import UsageError
from relay.model.notification import NewNotification
from relay.notify.apprise_channel import DESTINATION as APPRISE
from relay.notify.apprise_channel import apprise_payload
from relay.notify.lifecycle import SlackRoute
from relay.notify.messages import Status, notification_message, status_from_word

log = logging.getLogger("relay.workflow")

SLACK_NOT_CONFIGURED = (
    "Slack is not configured: set SLACK_BOT_TOKEN and SLACK_CHANNEL, or SLACK_WEBHOOK_URL"
)


class NotifyParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    message: str = Field(min_length=1)
    title: str | None = None
    status: str | None = None  # a lifecycle status or success/failure/warning/info
    fields: dict[str, Any] = Field(default_factory=dict)
    channel: str | None = None
    channels: list[str] = Field(default_factory=list)
    attach_report: bool = False  # the seed's: point to the run, whose thread holds its report

    @field_validator("status")
    @classmethod
    def _known_status(cls, value: str | None) -> str | None:
        try:
            status_from_word(value)
        except UsageError as exc:
            raise ValueError(str(exc)) from None  # a params error, located when it loads
        return value


def notify_spec(route: SlackRoute | None, others: frozenset[str] = frozenset()) -> ActionSpec:
    """The action, for this process's Slack `route` and named Apprise destinations."""

    async def notify(params: NotifyParams, ctx: ActionContext) -> dict[str, Any]:
        named = _named(params)
        elsewhere = [c for c in named if c in others]
        slack_named = [c for c in named if c not in others]
        to_slack = bool(slack_named) or not named  # no names: the run's own channel
        queued: list[str] = []
        if route is not None and to_slack:
            queued += _queue_slack(params, ctx, route, slack_named)
        if elsewhere:
            queued += _queue_elsewhere(params, ctx, elsewhere)
        result: dict[str, Any] = {"delivered": False, "queued": bool(queued)}
        if queued:
            result["channels"] = queued
        if route is None and to_slack:
            log.warning("run %s step %s: notify not delivered to Slack: %s", ctx.run_id,
                        ctx.step_id, SLACK_NOT_CONFIGURED)  # fmt: skip
            result["reason"] = SLACK_NOT_CONFIGURED
        return result

    return ActionSpec("notify", NotifyParams, notify, description="Post a message to Slack")


def _named(params: NotifyParams) -> list[str]:
    return list(dict.fromkeys([*([params.channel] if params.channel else []), *params.channels]))


def _queue_slack(
    params: NotifyParams, ctx: ActionContext, route: SlackRoute, named: list[str]
) -> list[str]:
    """The run's channel (thread), or the Slack channels the step names (a webhook has
    only its own)."""
    note = notification_message(
        params.title or ctx.workflow, params.message, status=_status(params),
        fields=_fields(params), run_id=ctx.run_id, source=ctx.participant,
    )  # fmt: skip
    channels = named if route.destination == "slack" and named else [route.channel]
    for channel in channels:
        ctx.outbox.append(NewNotification(
            channel, note.as_payload(), destination=route.destination,
            thread_key=ctx.run_id if channel == route.channel else None, run_id=ctx.run_id,
        ))  # fmt: skip
    return [c or "webhook" for c in channels]


def _queue_elsewhere(params: NotifyParams, ctx: ActionContext, names: list[str]) -> list[str]:
    """The Apprise destinations named in RELAY_NOTIFY_URLS: a title and a plain body."""
    title = params.title or ctx.workflow
    lines = [params.message, *(f"{k}: {v}" for k, v in _fields(params).items())]
    lines.append(f"run {ctx.run_id} ({ctx.workflow})")
    status = _status(params)
    payload = apprise_payload(title, "\n".join(lines), status, f"{title}: {params.message}")
    for name in names:
        ctx.outbox.append(NewNotification(name, payload, destination=APPRISE, run_id=ctx.run_id))
    return names


def _status(params: NotifyParams) -> Status:
    return status_from_word(params.status)


def _fields(params: NotifyParams) -> dict[str, Any]:
    if params.attach_report:
        return {**params.fields, "Report": "the run's thread holds its steps and outputs"}
    return params.fields

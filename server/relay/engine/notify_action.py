"""The `notify` action: a message of the workflow's own, to Slack (in the run's thread).

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


def notify_spec(route: SlackRoute | None) -> ActionSpec:
    async def notify(params: NotifyParams, ctx: ActionContext) -> dict[str, Any]:
        if route is None:
            log.warning("run %s step %s: notify not delivered: %s", ctx.run_id, ctx.step_id,
                        SLACK_NOT_CONFIGURED)  # fmt: skip
            return {"delivered": False, "queued": False, "reason": SLACK_NOT_CONFIGURED}
        note = notification_message(
            params.title or ctx.workflow, params.message, status=_status(params),
            fields=_fields(params), run_id=ctx.run_id, source=ctx.participant,
        )  # fmt: skip
        channels = _channels(params, route)
        for channel in channels:
            ctx.outbox.append(NewNotification(
                channel, note.as_payload(), destination=route.destination,
                thread_key=ctx.run_id if channel == route.channel else None, run_id=ctx.run_id,
            ))  # fmt: skip
        return {"delivered": False, "queued": True, "channels": [c or "webhook" for c in channels]}

    return ActionSpec("notify", NotifyParams, notify, description="Post a message to Slack")


def _status(params: NotifyParams) -> Status:
    return status_from_word(params.status)


def _fields(params: NotifyParams) -> dict[str, Any]:
    if params.attach_report:
        return {**params.fields, "Report": "the run's thread holds its steps and outputs"}
    return params.fields


def _channels(params: NotifyParams, route: SlackRoute) -> list[str]:
    """The run's channel, unless the step names others (a webhook has only its own)."""
    named = [*([params.channel] if params.channel else []), *params.channels]
    if route.destination != "slack" or not named:
        return [route.channel]
    return list(dict.fromkeys(named))

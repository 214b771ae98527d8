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
from relay.notify.channels import Channels, Message
from relay.notify.messages import status_from_word

log = logging.getLogger("relay.workflow")


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


def notify_spec(channels: Channels) -> ActionSpec:
    """The action, over this process's notification channels."""

    async def notify(params: NotifyParams, ctx: ActionContext) -> dict[str, Any]:
        message = Message(
            params.title or ctx.workflow, params.message, status_from_word(params.status),
            _fields(params), ctx.run_id, ctx.participant, ctx.workflow,
        )  # fmt: skip
        queued = channels.message(message, _named(params))
        ctx.outbox.extend(queued.notifications)
        result: dict[str, Any] = {"delivered": False, "queued": bool(queued.notifications)}
        if queued.channels:
            result["channels"] = list(queued.channels)
        if queued.not_sent is not None:
            log.warning("run %s step %s: notify not delivered to Slack: %s", ctx.run_id,
                        ctx.step_id, queued.not_sent)  # fmt: skip
            result["reason"] = queued.not_sent
        return result

    return ActionSpec("notify", NotifyParams, notify, description="Post a message to Slack")


def _named(params: NotifyParams) -> list[str]:
    return list(dict.fromkeys([*([params.channel] if params.channel else []), *params.channels]))


def _fields(params: NotifyParams) -> dict[str, Any]:
    if params.attach_report:
        return {**params.fields, "Report": "the run's thread holds its steps and outputs"}
    return params.fields

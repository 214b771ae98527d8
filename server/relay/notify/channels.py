"""Where relay's notifications go: `Channels`, the one protocol the engine and the service
know. They hand it what happened (a run's moment, a `notify` step's message, a decided
approval) and queue the notifications it returns in the durable outbox; which destination
(Slack with threads, a webhook, Apprise's channels) and what payload is this module's
business alone. A new channel is added here and in the outbox sender, never in the engine.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from relay.model.notification import NewNotification
from relay.model.run import Approval
from relay.model.workflow import Workflow
from relay.notify.apprise_channel import DESTINATION as APPRISE
from relay.notify.apprise_channel import apprise_payload
from relay.notify.lifecycle import RunNotices, SlackRoute, approval_decided_notice, process_notice
from relay.notify.messages import Status, notification_message

SLACK_NOT_CONFIGURED = (
    "Slack is not configured: set SLACK_BOT_TOKEN and SLACK_CHANNEL, or SLACK_WEBHOOK_URL"
)


@dataclass(frozen=True)
class Message:
    """A message of a workflow's (a `notify` step) or a participant's own (`notify_slack`)."""

    title: str
    text: str
    status: Status
    fields: Mapping[str, Any]
    run_id: str | None
    source: str
    workflow: str | None = None


@dataclass(frozen=True)
class Queued:
    """What a message comes to: the notifications to queue, the names of the channels
    they go to, and why none went to the run's own channel when none could."""

    notifications: tuple[NewNotification, ...]
    channels: tuple[str, ...]
    not_sent: str | None = None


class Channels(Protocol):
    """The notification channels this process knows (see the module docstring)."""

    def run_notices(self, workflow: Workflow) -> RunNotices | None: ...
    def decided(self, approval: Approval, source: str | None) -> NewNotification | None: ...
    def message(
        self, message: Message, names: Sequence[str] = (), *, slack_only: bool = False
    ) -> Queued: ...
    def process(
        self, moment: str, process_id: str, name: str, source: str, **shown: Any
    ) -> list[NewNotification]: ...


@dataclass(frozen=True)
class ConfiguredChannels:
    """Slack (a bot token's channel with threads, or a webhook) and the Apprise
    destinations named in RELAY_NOTIFY_URLS, as this process's settings configure them."""

    slack: SlackRoute | None = None
    named: frozenset[str] = frozenset()  # RELAY_NOTIFY_URLS' names

    def run_notices(self, workflow: Workflow) -> RunNotices | None:
        return None if self.slack is None else self.slack.for_workflow(workflow)

    def decided(self, approval: Approval, source: str | None) -> NewNotification | None:
        return approval_decided_notice(approval, source)

    def message(
        self, message: Message, names: Sequence[str] = (), *, slack_only: bool = False
    ) -> Queued:
        """To the Apprise destinations among `names` (unless `slack_only`), and to Slack:
        the channels named there, else the run's own channel (its thread)."""
        elsewhere = [] if slack_only else [n for n in names if n in self.named]
        in_slack = [n for n in names if n not in elsewhere]
        to_slack = bool(in_slack) or not names
        queued: list[NewNotification] = []
        channels: list[str] = []
        if self.slack is not None and to_slack:
            queued += self._to_slack(message, in_slack)
            channels += [n.channel or "webhook" for n in queued]
        for name in elsewhere:
            queued.append(_to_apprise(message, name))
            channels.append(name)
        not_sent = SLACK_NOT_CONFIGURED if self.slack is None and to_slack else None
        return Queued(tuple(queued), tuple(channels), not_sent)

    def _to_slack(self, message: Message, named: Sequence[str]) -> list[NewNotification]:
        route = self.slack
        assert route is not None
        note = notification_message(
            message.title, message.text, status=message.status, fields=message.fields,
            run_id=message.run_id, source=message.source,
        )  # fmt: skip
        # A webhook has only its own channel; a bot token posts where the step says.
        channels = list(named) if route.destination == "slack" and named else [route.channel]
        return [
            NewNotification(
                channel,
                note.as_payload(),
                destination=route.destination,
                thread_key=message.run_id if channel == route.channel else None,
                run_id=message.run_id,
            )
            for channel in channels
        ]

    def process(
        self, moment: str, process_id: str, name: str, source: str, **shown: Any
    ) -> list[NewNotification]:
        """A Python process's moment in its own Slack thread (none without Slack)."""
        if self.slack is None:
            return []
        return [process_notice(self.slack, moment, process_id, name, source, **shown)]


def _to_apprise(message: Message, name: str) -> NewNotification:
    """An Apprise destination's notification: a title and a plain body."""
    lines = [message.text, *(f"{k}: {v}" for k, v in message.fields.items())]
    if message.run_id is not None:
        lines.append(f"run {message.run_id} ({message.workflow})")
    summary = f"{message.title}: {message.text}"
    payload = apprise_payload(message.title, "\n".join(lines), message.status, summary)
    return NewNotification(name, payload, destination=APPRISE, run_id=message.run_id)

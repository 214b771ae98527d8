"""The notification outbox as callers see it: a message of one's own (`notify_slack`),
what is queued or given up on, and waiting for this process to deliver a run's."""

from collections.abc import Mapping
from typing import Any

from relay.errors import ConfigError
from relay.model.notification import Notification, NotificationStatus
from relay.notify.channels import SLACK_NOT_CONFIGURED, Message
from relay.notify.messages import status_from_word
from relay.notify.outbox import OutboxSender
from relay.service import delivery
from relay.service.delivery import Undelivered
from relay.service.host import Host
from relay.service.paging import MAX_PAGE, status_filter


class Notifications:
    def __init__(self, host: Host, sender: OutboxSender | None = None) -> None:
        self.host = host
        self.sender = sender  # this process's, when it delivers

    async def notify_slack(
        self,
        message: str,
        *,
        by: str | None = None,
        title: str | None = None,
        status: str | None = None,
        run_id: str | None = None,
        fields: Mapping[str, str] | None = None,
        channel: str | None = None,
    ) -> dict[str, Any]:
        """Queue a message for Slack in the durable outbox (in `run_id`'s thread when
        given); the background sender delivers it."""
        store = self.host.store
        if run_id is not None:
            await store.runs.get_run(run_id)  # RunNotFound
        who = await self.host.act(by)
        said = Message(
            title or "Notification",
            message,
            status_from_word(status),
            dict(fields or {}),
            run_id,
            who,
        )
        names = [channel] if channel else []
        queued = self.host.rt.channels.message(said, names, slack_only=True)
        if not queued.notifications:
            raise ConfigError(queued.not_sent or SLACK_NOT_CONFIGURED)
        [note] = queued.notifications
        [notification_id] = await store.outbox.enqueue_notification(note)
        return {
            "notification_id": str(notification_id),
            "delivered": False,
            "queued": True,
            "channel": note.channel or None,
            "ts": None,
            "thread_ts": None,
        }

    async def list_notifications(self, status: str | None = "pending") -> list[Notification]:
        """The outbox: pending (not yet delivered), dead (given up), sent, or all (None)."""
        wanted = status_filter(NotificationStatus, status, "notification")
        return await self.host.store.outbox.list_notifications(wanted, limit=MAX_PAGE)

    async def flush_notifications(
        self, wait_seconds: float, *, run_id: str | None = None, thread_key: str | None = None
    ) -> Undelivered:
        """Wait (at most `wait_seconds`, and only while the destination answers) until
        this process has delivered the queued notifications of a run (or of a thread);
        what is still pending, any sender delivers later."""
        return await delivery.flush(
            self.host.store, self.sender, wait_seconds, run_id=run_id, thread_key=thread_key
        )

"""A plain Python process's lifecycle (the seed's hooks): an event, and its Slack notice.

`relay.notify_process_started|completed|failed` and `@relay.with_workflow_notifications`
emit the seed's events (`process_started`, `process_complete`, `process_failed`) and,
when Slack is configured, queue a notice in the process's own thread, written in the
same transaction as the event. The hook's own process delivers it before returning when
it can; otherwise a running `relay serve` or `relay worker` with the same Slack settings
does.
"""

from collections.abc import Mapping
from typing import Any

from relay.model.events import NewEvent
from relay.model.notification import NewNotification
from relay.notify.channels import Channels

EVENT_TYPES = {
    "started": "process_started",
    "completed": "process_complete",
    "failed": "process_failed",
}


def _details(moment: str, data: Mapping[str, Any]) -> tuple[dict[str, object], str | None]:
    """The fields and the note a process's Slack message shows for `moment`."""
    if moment == "failed":
        return {}, str(data.get("error") or "failed")
    fields: dict[str, object] = {}
    for key, value in dict(data.get("metadata") or data.get("results") or {}).items():
        fields[str(key)] = value
    next_steps = data.get("next_steps")
    if next_steps:
        fields["Next steps"] = ", ".join(str(s) for s in next_steps)
    return fields, None


def process_records(
    channels: Channels | None, moment: str, data: Mapping[str, Any], source: str
) -> tuple[NewEvent, list[NewNotification]]:
    """The moment's event and, unless `channels` is None (the hook said not to notify),
    the notices the channels make of it."""
    process_id = str(data["process_id"])
    event = NewEvent(type=EVENT_TYPES[moment], source=source, data=dict(data),
                     correlation_id=process_id)  # fmt: skip
    if channels is None:
        return event, []
    fields, note = _details(moment, data)
    notices = channels.process(moment, process_id, str(data["process_name"]), source,
                               details=fields, note=note)  # fmt: skip
    return event, notices

"""Channels beyond Slack (email, Teams, Discord, PagerDuty, ntfy...) through Apprise.

Each destination is an Apprise URL given a name in configuration (RELAY_NOTIFY_URLS);
workflows name it (`notify` with `channel: ops-email`) and the outbox stores only the
name, so the URL (a credential: it holds tokens and passwords) stays in the settings and
here. Apprise is synchronous and answers only True or False, so each send runs in a
worker thread and a False is retried by the outbox like any transient failure.

Apprise is an optional extra: `pip install 'relay-mcp[apprise]'`.
"""

import re
from collections.abc import Mapping
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import anyio

from relay.errors import (
    ConfigError,
    DeliveryTransient,
    DestinationNotConfigured,
)
from relay.notify.messages import Status
from relay.notify.redact import register_secret

DESTINATION = "apprise"
# Apprise's message types, by relay's statuses.
TYPES: Mapping[str, str] = {
    Status.COMPLETED: "success",
    Status.APPROVED: "success",
    Status.FAILED: "failure",
    Status.REJECTED: "failure",
    Status.PENDING_APPROVAL: "warning",
}
# Parts of a URL this short are words such as `api`, not secrets worth masking.
MIN_SECRET_PART = 6
SERVICES_LIST = "https://github.com/caronc/apprise/wiki"
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]{0,31}")


def secret_parts(url: str) -> set[str]:
    """The parts of an Apprise URL that may be credentials: the whole URL, its user and
    password, and its longer path segments and query values (tokens live there, and a
    plugin may log the request it builds from them)."""
    parts = urlsplit(url)
    found = {url}
    if parts.username:
        found.add(unquote(parts.username))
    if parts.password:
        found.add(unquote(parts.password))
    found.update(unquote(p) for p in parts.path.split("/"))
    found.update(v for _, v in parse_qsl(parts.query))
    return {p for p in found if len(p) >= MIN_SECRET_PART}


def apprise_payload(title: str, body: str, status: Status, text: str) -> dict[str, Any]:
    """What the outbox keeps for an Apprise destination (`text` is the listing's summary)."""
    return {"text": text, "title": title, "body": body, "type": TYPES.get(status, "info")}


def check_apprise_urls(urls: Mapping[str, str]) -> ModuleType:
    """Apprise itself, once every URL is one it can use (and its secrets are masked in
    Apprise's log lines).

    Raises:
        ConfigError: Apprise is not installed, or it does not know an entry's scheme or
            cannot use its URL; the message names the entry, never its URL.
    """
    try:
        import apprise  # an optional extra: loaded only when configured
        from apprise.manager_plugins import NotificationManager
    except ImportError:
        raise ConfigError(
            "RELAY_NOTIFY_URLS needs Apprise: pip install 'relay-mcp[apprise]'"
        ) from None
    # Apprise's own registry of schemes (one per process); its module has no annotations.
    known = NotificationManager()  # type: ignore[no-untyped-call]
    for name, url in urls.items():
        for part in secret_parts(url):
            register_secret(part)
        scheme = url.partition("://")[0].lower()
        if scheme not in known:
            shown = f"'{scheme}://'" if _SCHEME.fullmatch(scheme) else "a scheme"
            raise ConfigError(
                f"RELAY_NOTIFY_URLS: the entry {name!r} uses {shown}, which Apprise does not "
                f"know (its services and their URLs: {SERVICES_LIST})"
            )
        if apprise.Apprise.instantiate(url) is None:
            raise ConfigError(
                f"RELAY_NOTIFY_URLS: Apprise does not understand the URL named {name!r} "
                f"(its scheme is known; see {SERVICES_LIST} for that service's URL format)"
            )
    return apprise


class AppriseChannels:
    """The named Apprise destinations of this process; `send` delivers one message."""

    def __init__(self, urls: Mapping[str, str]) -> None:
        self._apprise = check_apprise_urls(urls)
        self._urls = dict(urls)

    def __repr__(self) -> str:
        return f"AppriseChannels(names={sorted(self._urls)!r})"

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._urls)

    async def send(self, name: str, payload: Mapping[str, Any]) -> None:
        """Deliver one message to the destination `name`.

        Raises:
            DeliveryTransient: Apprise reported a failure (it says no more): the outbox
                retries it later.
            DestinationNotConfigured: `name` is not configured here (another process
                may know it).
        """
        url = self._urls.get(name)
        if url is None:
            raise DestinationNotConfigured(
                f"no notification URL named {name!r} in this process's RELAY_NOTIFY_URLS",
                method=DESTINATION,
            )
        title = str(payload.get("title") or "")
        body = str(payload.get("body") or payload.get("text") or " ")
        kind = str(payload.get("type") or "info")
        sent = await anyio.to_thread.run_sync(self._send, url, title, body, kind)
        if not sent:
            raise DeliveryTransient(f"Apprise destination {name!r} did not accept the message",
                               method=DESTINATION)  # fmt: skip

    def _send(self, url: str, title: str, body: str, kind: str) -> bool:
        sender = self._apprise.Apprise()
        sender.add(url)
        result = sender.notify(body=body, title=title, notify_type=kind)
        return bool(result)

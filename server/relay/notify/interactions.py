"""Slack's side of a button click: the `block_actions` payload, and the private answer.

Slack POSTs a click as `payload=<url-encoded JSON>` (form-encoded), signed over the raw
body (see `relay.notify.signature`). `parse_click` reads what relay needs from it: which
button (`relay.approve` / `relay.reject`), the approval id (the button's value), who
clicked, and the `response_url` through which the clicker alone can be told why a click
changed nothing (an ephemeral reply: Slack ignores the body of a `block_actions` answer).
"""

import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2

from relay.errors import UsageError
from relay.notify.messages import APPROVE_ACTION_ID, MAX_FALLBACK_TEXT, REJECT_ACTION_ID, cut
from relay.notify.redact import forget_secret, register_secret

log = logging.getLogger("relay.notify.interactions")

# Slack's own host for response URLs; tests point SLACK_API_BASE_URL's host at a fake.
RESPONSE_URL_HOST = "hooks.slack.com"
EPHEMERAL_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Click:
    """A click on an approval button."""

    approval_id: str
    approved: bool
    user_id: str
    response_url: str | None

    @property
    def approver(self) -> str:
        """How relay records the clicker: `slack:<user id>`."""
        return f"slack:{self.user_id}"


def parse_click(body: bytes) -> Click | None:
    """The approval click in a (verified) interaction body; None for any other interaction
    (another action, a shortcut...), which relay acknowledges and ignores.

    Raises:
        UsageError: the body is not a Slack interaction payload.
    """
    try:
        fields = parse_qs(body.decode("utf-8"), strict_parsing=False)
        payload = json.loads(fields["payload"][0])
    except (UnicodeDecodeError, KeyError, IndexError, ValueError):
        raise UsageError(
            "expected a form-encoded `payload` field holding JSON (a Slack interaction)"
        ) from None
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return None
    action = _approval_action(payload.get("actions"))
    user = payload.get("user")
    if action is None:
        return None
    user_id = user.get("id") if isinstance(user, dict) else None
    if not isinstance(user_id, str) or not user_id:
        raise UsageError("the interaction payload names no `user.id`")
    response_url = payload.get("response_url")
    return Click(
        approval_id=str(action.get("value") or ""),
        approved=action.get("action_id") == APPROVE_ACTION_ID,
        user_id=user_id,
        response_url=response_url if isinstance(response_url, str) else None,
    )


def _approval_action(actions: Any) -> dict[str, Any] | None:
    if not isinstance(actions, list):
        return None
    for action in actions:
        if isinstance(action, dict) and action.get("action_id") in (
            APPROVE_ACTION_ID,
            REJECT_ACTION_ID,
        ):
            return action
    return None


def response_url_allowed(url: str, api_base_url: str) -> bool:
    """Only Slack's hooks host (or the host SLACK_API_BASE_URL points at) gets a reply."""
    parts = urlsplit(url)
    allowed = {RESPONSE_URL_HOST, urlsplit(api_base_url).hostname}
    return parts.scheme in ("https", "http") and parts.hostname in allowed


def ephemeral_reply(text: str) -> dict[str, Any]:
    """A reply only the clicker sees, leaving the original message as it is."""
    return {
        "response_type": "ephemeral",
        "replace_original": False,
        "text": cut(text, MAX_FALLBACK_TEXT),
    }


async def post_ephemeral(response_url: str, text: str) -> None:
    """Tell the clicker `text` through the click's `response_url` (best effort: the click
    changed nothing, so a lost explanation loses no state)."""
    register_secret(response_url)
    try:
        async with httpx2.AsyncClient(timeout=EPHEMERAL_TIMEOUT_SECONDS) as http:
            response = await http.post(response_url, json=ephemeral_reply(text))
    except httpx2.TransportError as exc:
        # The class name only: the response URL is a credential of sorts.
        log.warning("could not answer a Slack click privately (%s)", type(exc).__name__)
        return
    finally:
        forget_secret(response_url)
    if response.status_code != 200:
        log.warning("Slack refused a private answer to a click: HTTP %s", response.status_code)

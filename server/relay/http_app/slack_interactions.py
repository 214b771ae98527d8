"""`POST /slack/interactions`: Slack's Approve / Reject clicks.

The Guard lets this path through without relay's bearer token: Slack cannot send one.
Instead every request must carry Slack's signature over its raw body, made with
SLACK_SIGNING_SECRET and no older than 5 minutes; anything else gets 401 and changes
nothing. The decision is recorded before the answer (one local transaction, well within
Slack's 3 seconds); the edit of the Slack message goes out through the outbox. A click
that decides nothing gets 200 and a private (ephemeral) explanation.
"""

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from relay.config import Settings
from relay.errors import UsageError
from relay.notify.interactions import (
    ephemeral_reply,
    parse_click,
    post_ephemeral,
    response_url_allowed,
)
from relay.notify.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_slack_signature
from relay.service.services import Services

PATH = "/slack/interactions"
# Slack's payloads carry the whole clicked message; 1 MiB is far above any real one.
MAX_BODY_BYTES = 1 << 20
NOT_CONFIGURED = (
    "Slack interactions are off: set SLACK_SIGNING_SECRET (the Slack app's signing secret) "
    "to accept button clicks"
)


class _TooLarge(Exception):
    pass


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def slack_interactions_route(relay: Services, settings: Settings) -> Route:
    """The route, bound to this process's Services and signing secret."""
    secret = (
        settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    )
    api_base_url = settings.slack_api_base_url

    async def interactions(request: Request) -> Response:
        if not secret:
            return JSONResponse({"error": NOT_CONFIGURED}, 503)
        try:
            body = await _body(request)
        except _TooLarge:
            return JSONResponse({"error": f"body over {MAX_BODY_BYTES} bytes"}, 413)
        headers = request.headers
        if not verify_slack_signature(
            secret, headers.get(TIMESTAMP_HEADER), body, headers.get(SIGNATURE_HEADER)
        ):
            return JSONResponse({"error": "missing, invalid or stale Slack signature"}, 401)
        try:
            click = parse_click(body)
        except UsageError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        if click is None:
            return Response(status_code=200)  # not an approval button: nothing to do
        outcome = await relay.coordination.slack_click(click)
        if outcome.decided:
            return Response(status_code=200)
        task = None
        if click.response_url and response_url_allowed(click.response_url, api_base_url):
            task = BackgroundTask(post_ephemeral, click.response_url, outcome.explanation)
        return JSONResponse(ephemeral_reply(outcome.explanation), 200, background=task)

    return Route(PATH, interactions, methods=["POST"])

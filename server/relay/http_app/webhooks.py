"""`POST /hooks/{name}`: any system that can send an HTTP request emits an event.

The event's type is `name`, its source `webhook`, its data the JSON body (an object; any
other JSON value arrives as `{"body": value}`). `Idempotency-Key` makes a retried
delivery append nothing (GitHub's `X-GitHub-Delivery` counts too), and
`X-Relay-Correlation-Id` ties the event to a run. Runs waiting for the event resume and
triggers on it start, exactly as for `relay emit` or the `emit_event` tool. The Guard
asks for RELAY_AUTH_TOKEN when one is set, like every other route but /healthz.
"""

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from relay.errors import RelayError
from relay.http_app.errors import status_of
from relay.model.events import event_type_problem
from relay.service.services import Services

PATH = "/hooks/{name:path}"  # any rest of the path, so a bad name gets a clear answer
SOURCE = "webhook"
MAX_BODY_BYTES = 1 << 20  # far above any real webhook payload
IDEMPOTENCY_HEADERS = ("idempotency-key", "x-github-delivery")
CORRELATION_HEADER = "x-relay-correlation-id"


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BadRequest(413, f"the body is over {MAX_BODY_BYTES} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BadRequest(413, f"the body is over {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def event_data(body: bytes) -> dict[str, Any]:
    """The event's data: the JSON object sent, `{"body": value}` for other JSON, {} for none."""
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise BadRequest(400, f"the body is not JSON ({where}): send a JSON object") from None
    except UnicodeDecodeError:
        raise BadRequest(400, "the body is not UTF-8 JSON: send a JSON object") from None
    return value if isinstance(value, dict) else {"body": value}


def _header(request: Request, names: tuple[str, ...]) -> str | None:
    for name in names:
        value = request.headers.get(name, "").strip()
        if value:
            if len(value) > 200:
                raise BadRequest(400, f"the {name} header is over 200 characters")
            return value
    return None


def webhook_route(relay: Services) -> Route:
    """The route, bound to this process's Services."""

    async def hook(request: Request) -> Response:
        name = request.path_params["name"]
        problem = event_type_problem(name)
        if problem is not None:  # no such hook: what `relay emit` refuses, in its words
            return JSONResponse({"error": problem}, 404)
        try:
            data = event_data(await _body(request))
            key = _header(request, IDEMPOTENCY_HEADERS)
            correlation = _header(request, (CORRELATION_HEADER,))
        except BadRequest as exc:
            return JSONResponse({"error": str(exc)}, exc.status)
        try:
            result = await relay.events.emit(
                name, data, source=SOURCE, correlation_id=correlation, idempotency_key=key
            )
        except RelayError as exc:
            return JSONResponse({"error": str(exc)}, status_of(exc))
        return JSONResponse(result.view(), 200 if result.duplicate else 202)

    return Route(PATH, hook, methods=["POST"])

"""A fake Slack on 127.0.0.1 for tests: a real HTTP server (Starlette + uvicorn in a thread).

It implements `chat.postMessage`, `chat.update`, `auth.test`, incoming webhooks and
`response_url`s as SLACK.md §7 specifies, records every call and message (per channel and
thread), injects faults (429 + Retry-After, 5xx, hangs past the client's timeout, outages,
any `ok: false` code), and plays Slack's side of a button click with a signed request.

    with FakeSlack.running() as slack:
        token = slack.add_token()
        channel = slack.add_channel("general")
        client = SlackClient(token, base_url=slack.api_base)
"""

import asyncio
import contextlib
import hashlib
import hmac
import json
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx2
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

SERVER_ERROR_HTML = "<html><body><h1>Server Error</h1></body></html>"


@contextlib.contextmanager
def serve(app: ASGIApp) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 (a kernel-chosen port) in a thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the fake server did not start")
        time.sleep(0.005)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)
        sock.close()


def closed_port_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@dataclass
class StoredMessage:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    attachments: list[dict[str, Any]]
    thread_ts: str | None
    reply_broadcast: bool
    metadata: dict[str, Any] | None
    token: str
    edits: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Channel:
    id: str
    name: str
    archived: bool = False
    is_member: bool = True


@dataclass
class Fault:
    kind: str  # ratelimit | ok_false | server_error | hang
    scope: str | None  # a method ("chat.postMessage"), "webhook", or None for any
    retry_after: str | None = None
    code: str = ""
    status: int = 500
    seconds: float = 0.0
    then: str = "drop"


@dataclass
class Call:
    method: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float


@dataclass
class ClickResult:
    status_code: int
    body: str
    latency_seconds: float


class FakeSlack:
    """State, faults and the Starlette app of the fake; see the module docstring."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.channels: dict[str, Channel] = {}
        self.tokens: dict[str, bool] = {}
        self.messages: dict[tuple[str, str], StoredMessage] = {}
        self.webhooks: dict[str, tuple[str, int, str]] = {}  # secret → (name, status, body)
        self.webhook_messages: dict[str, list[dict[str, Any]]] = {}
        self.response_url_posts: list[dict[str, Any]] = []
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self.outage_until = 0.0
        self.base_url = ""
        self._seq = 0
        self.app = Starlette(
            routes=[
                Route("/api/{method}", self._api, methods=["POST"]),
                Route("/services/{team}/{bot}/{secret}", self._webhook, methods=["POST"]),
                Route("/actions/{team}/{id}/{secret}", self._response_url, methods=["POST"]),
            ]
        )

    @classmethod
    @contextlib.contextmanager
    def running(cls) -> Iterator["FakeSlack"]:
        fake = cls()
        with serve(fake.app) as url:
            fake.base_url = url
            yield fake

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/api"

    def add_token(self, token: str | None = None) -> str:
        token = token or f"xoxb-{secrets.token_hex(8)}"
        self.tokens[token] = True
        return token

    def revoke_token(self, token: str) -> None:
        self.tokens[token] = False

    def add_channel(self, name: str, *, archived: bool = False, is_member: bool = True) -> str:
        channel_id = f"C{len(self.channels) + 1:08d}"
        self.channels[channel_id] = Channel(channel_id, name, archived, is_member)
        return channel_id

    def webhook_url(self, name: str, *, status: int = 200, body: str = "ok") -> str:
        """A new webhook URL for `name`; it answers `status` / `body` (e.g. 404 no_service)."""
        secret = secrets.token_hex(12)
        self.webhooks[secret] = (name, status, body)
        self.webhook_messages.setdefault(name, [])
        return f"{self.base_url}/services/T0001/B0001/{secret}"

    def ratelimit(self, retry_after: str | None = "1", scope: str | None = None) -> None:
        self.faults.append(Fault("ratelimit", scope, retry_after=retry_after))

    def ok_false(self, code: str, scope: str | None = None) -> None:
        self.faults.append(Fault("ok_false", scope, code=code))

    def server_error(self, status: int = 500, count: int = 1, scope: str | None = None) -> None:
        self.faults.extend(Fault("server_error", scope, status=status) for _ in range(count))

    def hang(self, seconds: float, then: str = "drop", scope: str | None = None) -> None:
        self.faults.append(Fault("hang", scope, seconds=seconds, then=then))

    def outage(self, seconds: float) -> None:
        """Every request gets 503 for `seconds`."""
        self.outage_until = time.monotonic() + seconds

    def _next_fault(self, scope: str) -> Fault | None:
        with self.lock:
            for i, fault in enumerate(self.faults):
                if fault.scope in (None, scope):
                    return self.faults.pop(i)
        return None

    def thread(self, channel: str, root_ts: str) -> list[StoredMessage]:
        """The root and its replies, in posting order."""
        in_thread = [
            m
            for m in self.messages.values()
            if m.channel == channel and root_ts in (m.ts, m.thread_ts)
        ]
        return sorted(in_thread, key=lambda m: m.ts)

    def top_level(self, channel: str) -> list[StoredMessage]:
        found = [m for m in self.messages.values() if m.channel == channel and not m.thread_ts]
        return sorted(found, key=lambda m: m.ts)

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def _faulted(self, scope: str) -> Response | None:
        if time.monotonic() < self.outage_until:
            return PlainTextResponse(SERVER_ERROR_HTML, status_code=503, media_type="text/html")
        fault = self._next_fault(scope)
        if fault is None:
            return None
        if fault.kind == "ratelimit":
            headers = {} if fault.retry_after is None else {"Retry-After": fault.retry_after}
            return JSONResponse({"ok": False, "error": "ratelimited"}, 429, headers=headers)
        if fault.kind == "ok_false":
            return JSONResponse({"ok": False, "error": fault.code})
        if fault.kind == "server_error":
            return PlainTextResponse(SERVER_ERROR_HTML, fault.status, media_type="text/html")
        await asyncio.sleep(fault.seconds)
        if fault.then == "commit":
            return None
        return PlainTextResponse(SERVER_ERROR_HTML, status_code=504, media_type="text/html")

    async def _api(self, request: Request) -> Response:
        method = request.path_params["method"]
        raw = await request.body()
        body = _parse_body(raw, request.headers.get("content-type", ""))
        self.calls.append(Call(method, dict(request.headers), body, time.monotonic()))
        faulted = await self._faulted(method)
        if faulted is not None:
            return faulted
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if not token:
            return _error("not_authed")
        if not self.tokens.get(token):
            return _error("invalid_auth")
        handler = {"chat.postMessage": self._post, "chat.update": self._update,
                   "auth.test": self._auth_test}.get(method)  # fmt: skip
        if handler is None:
            return _error("unknown_method")
        data = handler(body, token)
        if data.get("ok") and "charset" not in request.headers.get("content-type", ""):
            data["warning"] = "missing_charset"
        return JSONResponse(data)

    def _auth_test(self, body: dict[str, Any], token: str) -> dict[str, Any]:
        return {"ok": True, "team_id": "T0001", "team": "Fake", "user_id": "U0", "bot_id": "B0001"}

    def _channel(self, ref: str) -> Channel | None:
        ref = ref.removeprefix("#")
        return self.channels.get(ref) or next(
            (c for c in self.channels.values() if c.name == ref), None
        )

    def _post(self, body: dict[str, Any], token: str) -> dict[str, Any]:
        channel = self._channel(str(body.get("channel", "")))
        problem = _channel_problem(channel) or _content_problem(body)
        thread_ts = body.get("thread_ts")
        if not problem and thread_ts:
            root = self.messages.get((channel.id, thread_ts)) if channel else None
            problem = "thread_not_found" if root is None or root.thread_ts else None
        if problem or channel is None:
            return {"ok": False, "error": problem or "channel_not_found"}
        text, warnings = _truncated(str(body.get("text") or ""))
        with self.lock:
            self._seq += 1
            ts = f"{int(time.time())}.{self._seq:06d}"
            self.messages[(channel.id, ts)] = StoredMessage(
                channel.id, ts, text, list(body.get("blocks") or []),
                list(body.get("attachments") or []), thread_ts,
                bool(body.get("reply_broadcast")) and bool(thread_ts), body.get("metadata"), token,
            )  # fmt: skip
        message = {"type": "message", "text": text, "ts": ts, "thread_ts": thread_ts}
        result = {"ok": True, "channel": channel.id, "ts": ts, "message": message}
        if warnings:
            result["response_metadata"] = {"warnings": warnings}
        return result

    def _update(self, body: dict[str, Any], token: str) -> dict[str, Any]:
        key = (str(body.get("channel", "")), str(body.get("ts", "")))
        stored = self.messages.get(key)
        if stored is None:
            return {"ok": False, "error": "message_not_found"}
        if stored.token != token:
            return {"ok": False, "error": "cant_update_message"}
        problem = _content_problem(body)
        if problem:
            return {"ok": False, "error": problem}
        with self.lock:
            stored.edits.append({"text": stored.text, "blocks": stored.blocks})
            stored.text, _ = _truncated(str(body.get("text") or ""))
            # As Slack does: text without blocks drops the blocks.
            stored.blocks = list(body.get("blocks") or [])
            if "attachments" in body:
                stored.attachments = list(body["attachments"] or [])
        return {"ok": True, "channel": key[0], "ts": key[1], "text": stored.text}

    async def _webhook(self, request: Request) -> Response:
        raw = await request.body()
        self.calls.append(Call("webhook", dict(request.headers), {}, time.monotonic()))
        faulted = await self._faulted("webhook")
        if faulted is not None:
            return faulted
        hook = self.webhooks.get(request.path_params["secret"])
        if hook is None:
            return PlainTextResponse("no_service", 404)
        name, status, answer = hook
        try:
            payload = json.loads(raw)
        except ValueError:
            return PlainTextResponse("invalid_payload", 400)
        if status != 200:
            return PlainTextResponse(answer, status)
        self.webhook_messages[name].append(payload)
        return PlainTextResponse("ok")

    async def _response_url(self, request: Request) -> Response:
        payload = json.loads(await request.body())
        self.response_url_posts.append(payload)
        uses = len(self.response_url_posts)
        if uses > 5:
            return PlainTextResponse("used_too_many_times", 404)
        return PlainTextResponse("ok")

    def click_payload(self, message: StoredMessage, action_id: str, user_id: str) -> dict[str, Any]:
        """A `block_actions` payload for a click on `action_id` in `message`."""
        block_id, value = _find_button(message, action_id)
        channel = self.channels[message.channel]
        return {
            "type": "block_actions",
            "user": {"id": user_id, "username": user_id.lower(), "name": user_id.lower(),
                     "team_id": "T0001"},
            "team": {"id": "T0001", "domain": "fake"},
            "api_app_id": "A0001",
            "container": {"type": "message", "message_ts": message.ts,
                          "channel_id": message.channel, "is_ephemeral": False},
            "channel": {"id": channel.id, "name": channel.name},
            "message": {"ts": message.ts, "text": message.text, "blocks": message.blocks},
            "actions": [{"action_id": action_id, "block_id": block_id, "value": value,
                         "type": "button", "action_ts": f"{time.time():.6f}"}],
            "response_url": f"{self.base_url}/actions/T0001/{secrets.token_hex(4)}/x",
            "trigger_id": secrets.token_hex(8),
        }  # fmt: skip

    async def click(
        self,
        url: str,
        message: StoredMessage,
        action_id: str,
        user_id: str,
        *,
        signing_secret: str,
        skew_seconds: float = 0,
        tamper: bool = False,
        omit_headers: bool = False,
    ) -> ClickResult:
        """POST a signed click to the app's interaction `url`, as Slack would."""
        payload = self.click_payload(message, action_id, user_id)
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return await post_signed(
            url, body, signing_secret=signing_secret, skew_seconds=skew_seconds, tamper=tamper,
            omit_headers=omit_headers,
        )  # fmt: skip


async def post_signed(
    url: str,
    body: bytes,
    *,
    signing_secret: str,
    skew_seconds: float = 0,
    tamper: bool = False,
    omit_headers: bool = False,
) -> ClickResult:
    """POST `body` with Slack's signature headers (computed here, independently of relay)."""
    timestamp = str(int(time.time() + skew_seconds))
    base = b"v0:" + timestamp.encode() + b":" + body
    signature = "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    if tamper:
        body += b"&tampered=1"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if not omit_headers:
        headers |= {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}
    started = time.monotonic()
    async with httpx2.AsyncClient(timeout=10) as client:
        response = await client.post(url, content=body, headers=headers)
    return ClickResult(response.status_code, response.text, time.monotonic() - started)


def _find_button(message: StoredMessage, action_id: str) -> tuple[str, str]:
    for block in message.blocks:
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return str(block.get("block_id", "")), str(element.get("value", ""))
    raise LookupError(f"no button {action_id!r} in message {message.ts}")


def _parse_body(raw: bytes, content_type: str) -> dict[str, Any]:
    if content_type.startswith("application/json"):
        data = json.loads(raw or b"{}")
        return data if isinstance(data, dict) else {}
    return {k: v[0] for k, v in parse_qs(raw.decode()).items()}


def _error(code: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": code})


def _channel_problem(channel: Channel | None) -> str | None:
    if channel is None:
        return "channel_not_found"
    if channel.archived:
        return "is_archived"
    return None if channel.is_member else "not_in_channel"


def _content_problem(body: dict[str, Any]) -> str | None:
    if not (body.get("text") or body.get("blocks") or body.get("attachments")):
        return "no_text"
    blocks = list(body.get("blocks") or [])
    for attachment in body.get("attachments") or []:
        blocks += attachment.get("blocks") or []
    if len(body.get("blocks") or []) > 50 or any(_block_too_big(b) for b in blocks):
        return "invalid_blocks"
    return None


# Slack's documented per-block limits: (text, items, item text) by block type.
_LIMITS = {"header": (150, 0, 0), "section": (3000, 10, 2000), "actions": (0, 25, 75),
           "context": (0, 10, 3000)}  # fmt: skip


def _block_too_big(block: dict[str, Any]) -> bool:
    text_max, items_max, item_max = _LIMITS.get(block.get("type", ""), (0, 0, 0))
    items = block.get("fields") or block.get("elements") or []
    texts = [
        i["text"]["text"] if isinstance(i.get("text"), dict) else i.get("text", "") for i in items
    ]
    text = block.get("text", {}).get("text", "")
    too_long = bool(text_max) and len(text) > text_max
    too_many = bool(items_max) and len(items) > items_max
    return too_long or too_many or (bool(item_max) and any(len(t) > item_max for t in texts))


def _truncated(text: str) -> tuple[str, list[str]]:
    if len(text) > 40_000:
        return text[:40_000], ["message_truncated"]
    return text, []

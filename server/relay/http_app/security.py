"""Who may talk to the HTTP app: one ASGI middleware in front of every route.

Every request passes three checks, in this order, before any route sees it:

1. `Host` must name this server: a loopback name, the address it was bound to, or a
   name in RELAY_ALLOWED_HOSTS. Anything else is DNS rebinding (a page on evil.example
   whose name now resolves to 127.0.0.1): 421 Misdirected Request.
2. `Origin`, when a browser sends one, must name the same hosts: 403 otherwise.
3. With RELAY_AUTH_TOKEN set, `Authorization: Bearer <token>`: 401 otherwise. The public
   paths (`/healthz`, which reveals nothing, and the Slack route, which checks Slack's
   own signature) need no token. A client address that sent too many wrong tokens (or
   session cookies) lately gets 429 without its credentials being looked at
   (relay.http_app.throttle).

With `browser` access (the dashboard), two more rules hold under `/ui/` and `/api/`:
the session cookie set by the login page counts as the token (pages without either
redirect to the login page; the API answers 401), and a state-changing request (POST...)
without a bearer token must carry an Origin (or, failing that, a Referer) naming this
server: 403 otherwise, even with no token configured.

Names are compared without ports (a rebinding attack changes the name, not the port).
"""

import hashlib
import hmac
import ipaddress
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from urllib.parse import quote, urlsplit

from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from relay.config import Settings
from relay.http_app.throttle import SignInThrottle

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
WILDCARD_ADDRESSES = frozenset({"0.0.0.0", "::", ""})  # bind to every interface
PUBLIC_PATHS = frozenset({"/healthz", "/slack/interactions"})
WEBSOCKET_POLICY_VIOLATION = 1008
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_COOKIE = "relay_session"


def session_value(token: str) -> str:
    """The dashboard's session cookie for `token`: derived from it (so the cookie is not
    the token itself, and changing the token ends every session), never stored."""
    return hmac.new(token.encode(), b"relay dashboard session v1", hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class BrowserAccess:
    """Where the dashboard lives: its pages, its API, and the paths open to anyone (the
    login page, and the package's own CSS and JavaScript)."""

    pages: str = "/ui"
    api: str = "/api"
    login: str = "/ui/login"
    public_prefixes: tuple[str, ...] = ("/ui/static/",)

    def covers(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in (self.pages, self.api))

    def is_public(self, path: str) -> bool:
        return path == self.login or path.startswith(self.public_prefixes)

    def is_page(self, path: str) -> bool:
        return path == self.pages or path.startswith(self.pages + "/")


def auth_token(settings: Settings) -> str | None:
    """RELAY_AUTH_TOKEN, or None when it is unset or blank."""
    token = settings.auth_token.get_secret_value().strip() if settings.auth_token else ""
    return token or None


def is_loopback(host: str) -> bool:
    """True for `localhost` and any loopback address (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def hostname(authority: str) -> str:
    """The lower-case name in a `Host` value or an RELAY_ALLOWED_HOSTS entry, no port:
    `Example.com:8765` → `example.com`, `[::1]:8765` → `::1`."""
    authority = authority.strip().lower()
    if authority.startswith("["):
        return authority[1:].partition("]")[0]
    if authority.count(":") == 1:  # name:port; more than one colon is a bare IPv6 address
        return authority.partition(":")[0]
    return authority


def allowed_names(extra_hosts: str, bind_host: str) -> frozenset[str]:
    """Loopback names, the address the server is bound to (unless it is every
    interface), and the comma-separated RELAY_ALLOWED_HOSTS."""
    names = set(LOOPBACK_NAMES)
    if hostname(bind_host) not in WILDCARD_ADDRESSES:
        names.add(hostname(bind_host))
    names.update(hostname(h) for h in extra_hosts.split(",") if h.strip())
    return frozenset(names)


def sdk_transport_security(names: Iterable[str]) -> TransportSecuritySettings:
    """The same rule in the SDK's own format, so that its transports agree with the
    guard (and still protect themselves if they are ever mounted without it)."""
    hosts: list[str] = []
    origins: list[str] = []
    for name in sorted(names):
        host = f"[{name}]" if ":" in name else name
        hosts += [host, f"{host}:*"]
        origins += [
            f"{scheme}://{host}{port}" for scheme in ("http", "https") for port in ("", ":*")
        ]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


class Guard:
    """The ASGI middleware that applies the checks above to every HTTP request."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        names: Collection[str],
        token: str | None,
        public_paths: Collection[str] = PUBLIC_PATHS,
        browser: BrowserAccess | None = None,
        throttle: SignInThrottle | None = None,
    ) -> None:
        self.app = app
        self.names = frozenset(names)
        self.token = None if token is None else token.encode()
        self.public_paths = frozenset(public_paths)
        self.browser = browser
        self.session = None if token is None else session_value(token).encode()
        self.throttle = throttle or SignInThrottle()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):  # lifespan
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        if refusal is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": WEBSOCKET_POLICY_VIOLATION})
        else:
            await self.response(scope, *refusal)(scope, receive, send)

    def response(self, scope: Scope, status: int, message: str) -> Response:
        """The refusal as a response: a dashboard page without a session goes to the
        login page instead of reading a 401."""
        path = scope["path"]
        if status == 401 and self.browser is not None and self.browser.is_page(path):
            query = scope.get("query_string", b"").decode("latin-1")
            wanted = path + (f"?{query}" if query else "")
            return RedirectResponse(f"{self.browser.login}?next={quote(wanted, safe='')}", 303)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if status == 429:
            wait = self.throttle.retry_after(client_address(scope)) or 1
            headers = {"Retry-After": str(wait)}
        return JSONResponse({"error": message}, status, headers)

    def refusal(self, scope: Scope) -> tuple[int, str] | None:
        """(status, reason) when the request must be refused, else None."""
        headers = Headers(scope=scope)
        if hostname(headers.get("host", "")) not in self.names:
            return 421, "unknown Host; add its name to RELAY_ALLOWED_HOSTS to allow it"
        origin = headers.get("origin")
        if origin is not None and not self._is_own_origin(origin):
            return 403, "requests from this Origin are not allowed"
        path, authorization = scope["path"], headers.get("authorization", "")
        in_browser = self.browser is not None and self.browser.covers(path)
        # The cookie is only looked at where it is needed: a stale one (the token changed)
        # that a browser sends with the login page and its assets is no guess.
        needs_token = self._needs_token(path)
        with_cookie = in_browser and needs_token and self.session is not None
        cookie = _session_cookie(headers) if with_cookie else None
        if self.token is not None and (authorization or cookie is not None or needs_token):
            address = client_address(scope)
            wait = self.throttle.retry_after(address)
            if wait is not None:
                return 429, f"too many wrong tokens from this address; retry in {wait} s"
            has_token = self._has_token(authorization)
            has_session = cookie is not None and self._is_session(cookie)
            if (authorization and not has_token) or (cookie is not None and not has_session):
                self.throttle.failed(address)
        else:
            has_token = has_session = False
        if needs_token and not (has_token or has_session):
            return 401, "missing or wrong bearer token (Authorization: Bearer <token>)"
        changes_state = scope.get("method", "GET") not in SAFE_METHODS
        own_page = self._is_own_origin(origin or headers.get("referer", ""))
        if in_browser and changes_state and not has_token and not own_page:
            return 403, "a state-changing request must come from this server's own pages"
        return None

    def _needs_token(self, path: str) -> bool:
        if self.browser is not None and self.browser.is_public(path):
            return False
        return self.token is not None and path not in self.public_paths

    def _is_session(self, cookie: str) -> bool:
        assert self.session is not None
        return hmac.compare_digest(cookie.encode(), self.session)

    def _is_own_origin(self, origin: str) -> bool:
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and (parts.hostname or "") in self.names

    def _has_token(self, authorization: str) -> bool:
        scheme, _, given = authorization.partition(" ")
        assert self.token is not None
        # compare_digest: the time taken does not reveal how much of the token matched.
        is_match = hmac.compare_digest(given.strip().encode(), self.token)
        return scheme.lower() == "bearer" and is_match


def _session_cookie(headers: Headers) -> str | None:
    """The session cookie's value, if the request carries one."""
    cookie = SimpleCookie()
    try:
        cookie.load(headers.get("cookie", ""))
    except CookieError:  # a malformed Cookie header is no session
        return None
    morsel = cookie.get(SESSION_COOKIE)
    return None if morsel is None else morsel.value


def client_address(scope: Scope) -> str:
    """The peer's address (behind a reverse proxy, the proxy's)."""
    client = scope.get("client")
    return str(client[0]) if client else ""

"""What every dashboard handler shares: the services and the participant the dashboard
acts as, the templates, and how a relay error becomes an HTTP status."""

from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from relay.config import Settings
from relay.errors import RelayError
from relay.http_app.errors import status_of
from relay.http_app.security import auth_token
from relay.http_app.throttle import SignInThrottle
from relay.service.services import Services
from relay.service.wording import seconds_text, time_text

HERE = Path(__file__).parent
ACTOR = "dashboard"  # who acts from the dashboard when RELAY_PARTICIPANT is unset
CHANNEL = "dashboard"  # the approval channel (an approval's `channels` may name it)


def _when(value: str | None) -> str:
    """An ISO time as `2026-11-25 21:30:05 UTC`: the server cannot know the reader's zone."""
    return time_text(value, UTC)


def templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every template; SVG pictures are escaped by their builders
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["seconds"] = seconds_text
    env.filters["percent"] = lambda v: "\u2013" if v is None else f"{100 * v:.1f} %"
    return env


@dataclass(frozen=True)
class Board:
    relay: Services
    actor: str  # the participant the dashboard acts as
    env: jinja2.Environment
    token: str | None
    throttle: SignInThrottle  # shared with the app's guard: wrong tokens count in both

    @classmethod
    def create(cls, relay: Services, settings: Settings, throttle: SignInThrottle) -> "Board":
        actor = settings.participant or ACTOR
        return cls(relay, actor, templates(), auth_token(settings), throttle)

    def page(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        template = self.env.get_template(name)
        html = template.render(
            request=request,
            path=request.url.path,
            actor=self.actor,
            has_login=self.token is not None,
            **context,
        )
        return HTMLResponse(html, status, headers=SECURITY_HEADERS)

    def error_page(self, request: Request, exc: RelayError) -> HTMLResponse:
        return self.page(request, "error.html", status_of(exc), message=str(exc))


# No script or style from elsewhere, no framing by another site, no sniffing.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

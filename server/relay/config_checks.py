"""Checks of the settings that their types cannot express, made once at start.

`check_settings` is called by every process before it opens the store or starts a run
(and by `relay serve` before it answers), so that a setting that can never work is a
`ConfigError` naming the variable, not a run whose notifications fail one by one. The
messages say what is wrong with a secret (a webhook URL, a token, an Apprise URL)
without ever quoting it.
"""

import re
from urllib.parse import SplitResult, urlsplit

from relay.config import Settings
from relay.errors import ConfigError
from relay.notify.apprise_channel import check_apprise_urls

_SCHEME = re.compile(r"[a-z][a-z0-9+.-]{0,31}")
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
WEBHOOK_SHAPE = "https://hooks.slack.com/services/T.../B.../..."


def check_settings(settings: Settings) -> None:
    """Raise one ConfigError listing every problem of the notification settings."""
    problems = [p for p in _slack_problems(settings) if p]
    if problems:
        raise ConfigError("; ".join(problems))
    destinations = settings.notify_destinations()  # ConfigError for a malformed entry
    if destinations:
        check_apprise_urls(destinations)


def _slack_problems(settings: Settings) -> list[str | None]:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    webhook = settings.slack_webhook_url
    return [
        _pairing(bool(token), bool(settings.slack_channel)),
        _token_problem(token) if token else None,
        url_problem("SLACK_WEBHOOK_URL", webhook.get_secret_value(), WEBHOOK_SHAPE)
        if webhook
        else None,
        url_problem("SLACK_API_BASE_URL", settings.slack_api_base_url),
    ]


def _pairing(token: bool, channel: bool) -> str | None:
    if token and not channel:
        return (
            "SLACK_BOT_TOKEN is set but SLACK_CHANNEL is not: set SLACK_CHANNEL to the "
            "channel that runs post to (a name such as #deploys, or an id such as C0123ABCD)"
        )
    if channel and not token:
        return (
            "SLACK_CHANNEL is set but SLACK_BOT_TOKEN is not: posting to a channel needs a "
            "bot token (xoxb-...); an incoming webhook (SLACK_WEBHOOK_URL) posts to its own "
            "channel and needs no SLACK_CHANNEL"
        )
    return None


def _token_problem(token: str) -> str | None:
    if token != token.strip() or any(c.isspace() for c in token):
        return "SLACK_BOT_TOKEN has spaces or line breaks in it (copied with them?)"
    if token[0] in "\"'":
        return "SLACK_BOT_TOKEN is wrapped in quotes: set it without them"
    if not token.startswith("xox"):
        return "SLACK_BOT_TOKEN is not a Slack token: a bot token starts with xoxb-"
    return None


def url_problem(name: str, url: str, shape: str = "https://...") -> str | None:
    """What makes `url` unusable as an HTTP(S) endpoint, in words that never quote it."""
    if url != url.strip() or any(c.isspace() for c in url):
        return f"{name} has spaces or line breaks in it"
    if url[:1] in "\"'":
        return f"{name} is wrapped in quotes: set it without them"
    parts = urlsplit(url)
    if not parts.scheme or "://" not in url:
        return f"{name} is not a URL: expected {shape}"
    if parts.scheme not in ("http", "https"):
        shown = f"'{parts.scheme}'" if _SCHEME.fullmatch(parts.scheme) else "another scheme"
        return f"{name} uses {shown}: expected an https:// URL"
    return _host_problem(name, parts)


def _host_problem(name: str, parts: SplitResult) -> str | None:
    try:
        parts.port  # noqa: B018 - parsing it is the check
    except ValueError:
        return f"{name} has an invalid port number"
    if not parts.hostname:
        return f"{name} names no host: expected https://host/..."
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        # The URL (a webhook's) or the token it carries would cross the network in clear.
        return f"{name} uses http:// to another host: use https://"
    return None

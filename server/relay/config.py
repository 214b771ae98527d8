"""Settings: the only code that reads environment variables."""

import json
import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from relay.errors import ConfigError

MCP_SERVERS_FILE = "mcp_servers.json"  # in RELAY_HOME; Claude Desktop's `mcpServers` format
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class Settings(BaseSettings):
    """Process configuration, read once at start-up. Environment prefix RELAY_."""

    model_config = SettingsConfigDict(env_prefix="RELAY_", extra="ignore", populate_by_name=True)

    home: Path = Field(default_factory=lambda: Path.home() / ".relay")
    database_url: str | None = None  # default: sqlite:///{home}/relay.db
    workflows_path: str | None = None  # os.pathsep-separated; default ./workflows, {home}/workflows
    participant: str | None = None
    plugins: str = ""  # comma-separated module names that register @relay.action
    lease_seconds: float = Field(default=15.0, gt=0)
    poll_interval_seconds: float = Field(default=0.01, gt=0)
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    max_concurrent_runs: int = Field(default=256, ge=1)
    allow_inline_code: bool = False
    auth_token: SecretStr | None = None
    allowed_hosts: str = ""
    # JSON text, {"mcpServers": {...}} or just {...} (or that object, from Python). Checked by
    # mcp_server_table, whose errors (unlike pydantic's) never quote it: it may hold a token.
    mcp_servers: Any = None
    mcp_config: Path | None = None  # a file in that format; default {home}/mcp_servers.json
    # Slack, under Slack's own variable names (no RELAY_ prefix). Secrets stay SecretStr.
    slack_bot_token: SecretStr | None = Field(None, validation_alias="SLACK_BOT_TOKEN")
    slack_channel: str | None = Field(None, validation_alias="SLACK_CHANNEL")
    slack_webhook_url: SecretStr | None = Field(None, validation_alias="SLACK_WEBHOOK_URL")
    slack_api_base_url: str = Field("https://slack.com/api", validation_alias="SLACK_API_BASE_URL")
    slack_signing_secret: SecretStr | None = Field(None, validation_alias="SLACK_SIGNING_SECRET")
    # The outbox's delivery (RELAY_SLACK_...): tests shorten these.
    slack_timeout_seconds: float = Field(default=10.0, gt=0)
    slack_pace_seconds: float = Field(default=1.0, ge=0)  # per channel
    slack_backoff_base_seconds: float = Field(default=2.0, gt=0)
    slack_backoff_cap_seconds: float = Field(default=300.0, gt=0)
    slack_auth_pause_seconds: float = Field(default=600.0, gt=0)
    slack_max_attempts: int = Field(default=15, ge=1)  # then a notification is dead-lettered
    # Channels beyond Slack (the `apprise` extra): `name=apprise-url` pairs, whitespace-
    # separated; a `notify` step names them as its channel. Secret: the URLs hold tokens.
    notify_urls: SecretStr | None = None

    @field_validator("home", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    def slack_configured(self) -> bool:
        """A bot token and a channel (threads), or a webhook URL (flat messages)."""
        return bool(self.slack_bot_token and self.slack_channel) or bool(self.slack_webhook_url)

    def notify_destinations(self) -> dict[str, str]:
        """RELAY_NOTIFY_URLS as {name: url}; errors name the entry, never its URL."""
        if self.notify_urls is None:
            return {}
        return parse_notify_urls(self.notify_urls.get_secret_value())

    def store_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'relay.db'}"

    def workflow_dirs(self) -> list[Path]:
        if self.workflows_path:
            return [Path(p).expanduser() for p in self.workflows_path.split(os.pathsep) if p]
        return [Path("workflows"), self.home / "workflows"]

    def plugin_modules(self) -> list[str]:
        return [name.strip() for name in self.plugins.split(",") if name.strip()]

    def mcp_server_table(self) -> dict[str, Any]:
        """The named MCP servers of `mcp_call`: RELAY_MCP_SERVERS, else the file
        RELAY_MCP_CONFIG names, else {home}/mcp_servers.json when it exists. `${VAR}` and
        `${VAR:-default}` in its strings are read from the environment (keep tokens there)."""
        if isinstance(self.mcp_servers, str):
            try:
                data = json.loads(self.mcp_servers)
            except json.JSONDecodeError as exc:
                where = f"line {exc.lineno} column {exc.colno}"
                raise ConfigError(f"RELAY_MCP_SERVERS is not valid JSON ({where})") from None
            return _mcp_servers(data, "RELAY_MCP_SERVERS")
        if self.mcp_servers is not None:
            return _mcp_servers(self.mcp_servers, "RELAY_MCP_SERVERS")
        path = self.mcp_config.expanduser() if self.mcp_config else self.home / MCP_SERVERS_FILE
        if self.mcp_config is None and not path.is_file():
            return {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read MCP server config {path}: {exc.strerror}") from None
        except ValueError as exc:
            raise ConfigError(f"MCP server config {path} is not valid JSON: {exc}") from None
        return _mcp_servers(data, str(path))


def load_settings() -> Settings:
    """The process's settings from the environment.

    Raises:
        ConfigError: naming each variable that is wrong and why (never its value).
    """
    try:
        return Settings()
    except ValidationError as exc:
        problems = [f"{_variable(e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)]
        raise ConfigError(f"bad settings: {'; '.join(problems)}") from None


def _variable(loc: tuple[int | str, ...]) -> str:
    name = "_".join(str(part) for part in loc).upper()
    field = Settings.model_fields.get(name.lower())
    alias = field.validation_alias if field is not None else None
    return alias if isinstance(alias, str) else f"RELAY_{name}"


_NOTIFY_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def parse_notify_urls(text: str, source: str = "RELAY_NOTIFY_URLS") -> dict[str, str]:
    """`name=url` pairs separated by whitespace (newlines included) → {name: url}.

    Raises:
        ConfigError: a malformed pair or a repeated name; the message never quotes a URL.
    """
    found: dict[str, str] = {}
    for i, pair in enumerate(text.split(), start=1):
        name, sep, url = pair.partition("=")
        if not sep or not _NOTIFY_NAME.fullmatch(name) or "://" not in url:
            shown = repr(name) if _NOTIFY_NAME.fullmatch(name) else f"entry {i}"
            raise ConfigError(
                f"{source}: {shown} is not `name=scheme://...` (names: letters, digits, "
                "'_', '.', '-'; pairs separated by spaces or newlines)"
            )
        if name in found:
            raise ConfigError(f"{source}: the name {name!r} is given twice")
        found[name] = url
    return found


def _mcp_servers(data: Any, source: str) -> dict[str, Any]:
    if isinstance(data, dict) and "mcpServers" in data:
        data = data["mcpServers"]
    if not isinstance(data, dict):
        raise ConfigError(f'{source}: expected {{"mcpServers": {{name: server, ...}}}}')
    expanded: dict[str, Any] = _expanded(data, source)
    return expanded


def _expanded(value: Any, source: str) -> Any:
    if isinstance(value, dict):
        return {key: _expanded(item, source) for key, item in value.items()}
    if isinstance(value, list):
        return [_expanded(item, source) for item in value]
    if isinstance(value, str):
        return _ENV_REFERENCE.sub(lambda match: _env_value(match, source), value)
    return value


def _env_value(match: re.Match[str], source: str) -> str:
    name, default = match.group(1), match.group(2)
    value = os.environ.get(name)
    if default is not None and not value:
        return default
    if value is None:
        raise ConfigError(f"{source} refers to ${{{name}}}, which is not set")
    return value


def process_environment() -> dict[str, str]:
    """The environment, for `${VAR:-default}` in workflow files and for shell steps."""
    return dict(os.environ)

"""Settings: the only code that reads environment variables."""

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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

    @field_validator("home", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    def store_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'relay.db'}"

    def workflow_dirs(self) -> list[Path]:
        if self.workflows_path:
            return [Path(p).expanduser() for p in self.workflows_path.split(os.pathsep) if p]
        return [Path("workflows"), self.home / "workflows"]

    def plugin_modules(self) -> list[str]:
        return [name.strip() for name in self.plugins.split(",") if name.strip()]


def process_environment() -> dict[str, str]:
    """The environment, for `${VAR:-default}` in workflow files and for shell steps."""
    return dict(os.environ)

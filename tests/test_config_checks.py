"""Notification settings that can never work are a ConfigError at start, naming the
variable and never quoting a secret; `open_relay` refuses them before opening the store."""

from pathlib import Path
from typing import Any

import pytest

from relay.bootstrap import Role, open_relay
from relay.config import Settings
from relay.config_checks import check_settings
from relay.errors import ConfigError

SECRET = "s3cr3t-9f1c2e"
WEBHOOK = f"https://hooks.slack.com/services/T0001/B0001/{SECRET}"
TOKEN = f"xoxb-{SECRET}"


@pytest.fixture(autouse=True)
def _no_slack_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SLACK_BOT_TOKEN", "SLACK_CHANNEL", "SLACK_WEBHOOK_URL", "SLACK_API_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def _settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(home=tmp_path / "home", **values)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"SLACK_WEBHOOK_URL": f"hooks.slack.com/services/T/B/{SECRET}"},
         "SLACK_WEBHOOK_URL is not a URL: expected https://hooks.slack.com/services/"),
        ({"SLACK_WEBHOOK_URL": f"ftp://hooks.slack.com/{SECRET}"},
         "SLACK_WEBHOOK_URL uses 'ftp': expected an https:// URL"),
        ({"SLACK_WEBHOOK_URL": f"https:///services/{SECRET}"}, "SLACK_WEBHOOK_URL names no host"),
        ({"SLACK_WEBHOOK_URL": f"https://hooks.slack.com:99x/{SECRET}"},
         "SLACK_WEBHOOK_URL has an invalid port number"),
        ({"SLACK_WEBHOOK_URL": f"{WEBHOOK}\n"}, "SLACK_WEBHOOK_URL has spaces or line breaks"),
        ({"SLACK_WEBHOOK_URL": f'"{WEBHOOK}"'}, "SLACK_WEBHOOK_URL is wrapped in quotes"),
        ({"SLACK_WEBHOOK_URL": f"http://hooks.slack.com/services/{SECRET}"},
         "SLACK_WEBHOOK_URL uses http:// to another host: use https://"),
        ({"SLACK_BOT_TOKEN": TOKEN}, "SLACK_BOT_TOKEN is set but SLACK_CHANNEL is not"),
        ({"SLACK_CHANNEL": "#deploys"}, "SLACK_CHANNEL is set but SLACK_BOT_TOKEN is not"),
        ({"SLACK_CHANNEL": "#deploys", "SLACK_WEBHOOK_URL": WEBHOOK},
         "SLACK_CHANNEL is set but SLACK_BOT_TOKEN is not"),
        ({"SLACK_BOT_TOKEN": f"xapp-{SECRET}", "SLACK_CHANNEL": "C1"},
         "SLACK_BOT_TOKEN is not a Slack token: a bot token starts with xoxb-"),
        ({"SLACK_BOT_TOKEN": f"{TOKEN} ", "SLACK_CHANNEL": "C1"},
         "SLACK_BOT_TOKEN has spaces or line breaks"),
        ({"SLACK_BOT_TOKEN": TOKEN, "SLACK_CHANNEL": "C1",
          "SLACK_API_BASE_URL": "slack.example/api"}, "SLACK_API_BASE_URL is not a URL"),
        ({"RELAY_NOTIFY_URLS": f"ops json://{SECRET}@host"}, "RELAY_NOTIFY_URLS: 'ops' is not"),
    ],
)  # fmt: skip
def test_each_setting_that_cannot_work_is_refused_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, values: dict[str, str], message: str
) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        check_settings(_settings(tmp_path))
    assert message in str(caught.value)
    assert SECRET not in str(caught.value)


def test_every_problem_is_named_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "not a url")
    with pytest.raises(ConfigError) as caught:
        check_settings(_settings(tmp_path))
    assert "SLACK_CHANNEL is not" in str(caught.value)
    assert "SLACK_WEBHOOK_URL has spaces" in str(caught.value)


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"SLACK_WEBHOOK_URL": WEBHOOK},
        {"SLACK_BOT_TOKEN": TOKEN, "SLACK_CHANNEL": "#deploys"},
        {"SLACK_BOT_TOKEN": TOKEN, "SLACK_CHANNEL": "C1", "SLACK_WEBHOOK_URL": WEBHOOK},
        # the fake Slack of the tests: plain HTTP on the loopback interface
        {"SLACK_WEBHOOK_URL": "http://127.0.0.1:8123/services/T/B/x",
         "SLACK_API_BASE_URL": "http://localhost:8123/api"},
    ],
)  # fmt: skip
def test_settings_that_can_work_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, values: dict[str, str]
) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    check_settings(_settings(tmp_path))


async def test_open_relay_refuses_them_before_opening_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    settings = _settings(tmp_path)
    with pytest.raises(ConfigError, match="SLACK_CHANNEL"):
        async with open_relay(settings, Role.SERVER, participant="pytest"):
            pass
    assert not settings.home.exists()

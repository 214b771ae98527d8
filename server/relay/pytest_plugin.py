"""pytest plugin: `pytest --relay-emit` emits `test_complete` with the session's counts,
so a workflow can wait for a test run (`wait_for_event: {type: test_complete}`)."""

import time
from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("relay")
    group.addoption(
        "--relay-emit",
        action="store_true",
        default=False,
        help="emit a relay `test_complete` event when the session ends",
    )
    group.addoption(
        "--relay-source",
        default=None,
        help="the event's source (default: RELAY_PARTICIPANT, else 'pytest')",
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_STARTED] = time.monotonic()


_STARTED = pytest.StashKey[float]()


def _counts(session: pytest.Session) -> dict[str, int]:
    reporter: Any = session.config.pluginmanager.get_plugin("terminalreporter")
    stats: dict[str, list[Any]] = getattr(reporter, "stats", {}) if reporter else {}

    def count(key: str) -> int:
        return len(
            [r for r in stats.get(key, []) if getattr(r, "when", "call") in ("call", "setup")]
        )

    return {
        "passed": count("passed"),
        "failed": count("failed"),
        "skipped": count("skipped"),
        "errors": count("error"),
        "xfailed": count("xfailed"),
        "xpassed": count("xpassed"),
    }


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if not config.getoption("relay_emit"):
        return
    from relay.hooks import emit_event

    started = config.stash.get(_STARTED, time.monotonic())
    data = {
        **_counts(session),
        "exit_status": int(exitstatus),
        "collected": session.testscollected,
        "duration_seconds": round(time.monotonic() - started, 3),
        "test_suite": " ".join(str(a) for a in config.args),
    }
    source = config.getoption("relay_source") or None
    event = emit_event("test_complete", data, source=source or _default_source())
    reporter: Any = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"relay: emitted test_complete (seq {event.seq})")


def _default_source() -> str:
    from relay.config import Settings

    return Settings().participant or "pytest"

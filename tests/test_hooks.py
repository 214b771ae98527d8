"""The Python hooks and the pytest plugin write to the same store as every surface."""

import subprocess
import sys
from pathlib import Path

import anyio
import pytest

import relay
from relay.bootstrap import Role, open_relay
from relay.config import Settings


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("RELAY_HOME", str(home))
    monkeypatch.setenv("RELAY_WORKFLOWS_PATH", str(tmp_path / "none"))
    return home


async def _events(home: Path) -> list[dict[str, object]]:
    async with open_relay(Settings(home=home), Role.CLIENT, participant="reader") as r:
        return [e.as_dict() for e in await r.events.list_events(limit=100)]


def test_emit_event_appends_to_the_store(home: Path) -> None:
    event = relay.emit_event("manual", {"x": 1}, source=relay.ProcessSource.CLAUDE_CODE)
    assert event.type == "manual"
    assert event.source == "claude_code"
    assert event.data == {"x": 1}


def test_emit_event_with_an_idempotency_key_appends_once(home: Path) -> None:
    first = relay.emit_event("manual", idempotency_key="k1")
    second = relay.emit_event("manual", idempotency_key="k1")
    assert first.seq == second.seq


async def test_emit_event_works_inside_a_running_event_loop(home: Path) -> None:
    event = relay.emit_event("manual", {"from": "async"})
    assert event.seq >= 1


def test_process_notifications_emit_the_seeds_event_types(home: Path) -> None:
    started = relay.notify_process_started("p1", "Analysis", "pycharm", {"q": "lakers"})
    done = relay.notify_process_completed("p1", "Analysis", "pycharm", {"rows": 3}, ["review"])
    failed = relay.notify_process_failed("p2", "Other", "api", "boom")
    assert [started.type, done.type, failed.type] == [
        "process_started",
        "process_complete",
        "process_failed",
    ]
    assert done.correlation_id == "p1"
    assert done.data["next_steps"] == ["review"]
    assert failed.data["error"] == "boom"


def test_decorator_reports_a_sync_function_and_its_failure(home: Path) -> None:
    @relay.with_workflow_notifications("Sync job", source="api")
    def job(ok: bool) -> dict[str, int]:
        if not ok:
            raise ValueError("bad input")
        return {"n": 1}

    assert job(True) == {"n": 1}
    with pytest.raises(ValueError, match="bad input"):
        job(False)


async def test_decorator_reports_an_async_function(home: Path) -> None:
    @relay.with_workflow_notifications("Async job", source=relay.ProcessSource.MCP_SERVER)
    async def job() -> dict[str, str]:
        return {"status": "fine"}

    assert await job() == {"status": "fine"}
    events = await _events(home)
    kinds = [(e["type"], e["source"]) for e in events]
    assert ("process_started", "mcp_server") in kinds
    assert ("process_complete", "mcp_server") in kinds
    done = next(e for e in events if e["type"] == "process_complete")
    assert done["data"]["results"] == {"status": "fine"}  # type: ignore[index]


def test_pytest_plugin_emits_test_complete_with_counts(home: Path, tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_sample.py").write_text(
        "import pytest\n"
        "def test_a(): pass\n"
        "def test_b(): pass\n"
        "def test_c(): assert False\n"
        "@pytest.mark.skip\n"
        "def test_d(): pass\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--relay-emit",
            "--relay-source",
            "pytest-ci",
            str(suite),
        ],
        capture_output=True,
        text=True,
        cwd=suite,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "emitted test_complete" in done.stdout
    events = [e for e in anyio.run(_events, home) if e["type"] == "test_complete"]
    assert len(events) == 1
    data = events[0]["data"]
    assert (data["passed"], data["failed"], data["skipped"]) == (2, 1, 1)  # type: ignore[index]
    assert events[0]["source"] == "pytest-ci"

"""What relay tells people: the `relay ...` command that unblocks a waiting run (derived
from the wait's facts), durations, and times that carry their zone."""

import shlex
from datetime import UTC, datetime, timedelta, timezone

import pytest

from relay.service.wording import (
    awaited_event,
    seconds_text,
    time_text,
    unblock_command,
)


def event_wait(match: dict[str, object]) -> dict[str, object]:
    return {"kind": "event", "step": "hear", "detail": {"type": "go", "match": match}}


def test_an_event_wait_on_its_source_prints_the_source_flag() -> None:
    command = unblock_command("r1", event_wait({"source": "claude code", "data.ok": True}))

    assert command is not None
    assert shlex.split(command) == [
        "relay", "emit", "go", "--data", '{"ok": true}', "--source", "claude code",
    ]  # fmt: skip


def test_nested_data_paths_become_nested_data_and_a_correlation_its_flag() -> None:
    event = awaited_event(
        {"type": "go", "match": {"data.build.ok": True, "data.build.n": 2, "correlation_id": "r9"}}
    )

    assert event.data == {"build": {"ok": True, "n": 2}}
    assert event.fields == {"correlation_id": "r9"}
    assert event.emit_command() == (
        'relay emit go --data \'{"build": {"ok": true, "n": 2}}\' --correlation-id r9'
    )


def test_a_wait_no_emitted_event_can_match_gets_no_command() -> None:
    event = awaited_event({"type": "go", "match": {"seq": 4, "data.ok": True}})

    assert event.unsettable == ("seq",)
    assert event.emit_command() is None


def test_an_approval_for_named_approvers_decides_as_one_of_them() -> None:
    waiting = {"kind": "approval", "step": "gate", "detail": {"approvers": ["alice", "bob"]}}

    assert unblock_command("r1", waiting) == "relay approve r1 --step gate --as alice"


def test_an_approval_that_a_shell_may_not_decide_gets_no_command() -> None:
    detail = {"approvers": [], "channels": ["slack", "dashboard"]}

    assert unblock_command("r1", {"kind": "approval", "step": "gate", "detail": detail}) is None


@pytest.mark.parametrize(
    ("waiting", "command"),
    [
        ({"kind": "task", "step": "s", "detail": {"task_id": "t1"}},
         "relay complete t1 --result '{}'"),
        ({"kind": "run", "step": "s", "detail": {"run_id": "c1"}}, "relay status c1 --wait 60"),
        ({"kind": "timer", "step": "s", "detail": {"until": "2026-01-01T00:00:00+00:00"}},
         None),
    ],
)  # fmt: skip
def test_each_kind_of_wait_has_its_command(waiting: dict[str, object], command: str | None) -> None:
    assert unblock_command("r1", waiting) == command


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "\u2013"),
        (0.25, "250 ms"),
        (12.34, "12.3 s"),
        (245, "4 min 5 s"),
        (7380, "2 h 3 min"),
    ],
)
def test_durations_read_in_units_people_use(seconds: float | None, text: str) -> None:
    assert seconds_text(seconds) == text


def test_a_time_carries_its_zone() -> None:
    moment = datetime(2026, 11, 25, 20, 30, 5, tzinfo=UTC)
    paris = timezone(timedelta(hours=1), "CET")

    assert time_text(moment, UTC) == "2026-11-25 20:30:05 UTC"
    assert time_text(moment.isoformat(), paris) == "2026-11-25 21:30:05 CET"
    assert time_text(moment, paris, with_date=False) == "21:30:05 CET"
    assert time_text(None, missing="-") == "-"


def test_the_mcp_hint_for_an_event_wait_is_a_call_that_matches_it() -> None:
    event = awaited_event(
        {"type": "go", "match": {"source": "ci", "correlation_id": "r9", "data.build.ok": True}}
    )

    assert event.emit_call() == (
        'emit_event(type="go", source="ci", correlation_id="r9", data={"build": {"ok": true}})'
    )

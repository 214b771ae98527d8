"""Conversions between relay's models and database rows.

Times are stored as UNIX seconds and JSON as text, on both backends alike.
"""

import json
import secrets
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from relay.model.events import Event, matches
from relay.model.run import (
    Approval,
    Attempt,
    EventWait,
    HistoryEntry,
    Run,
    StepRun,
    Task,
    Waiting,
)
from relay.store.base import RunQuery

Row = Mapping[str, Any]


def ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def now_ts() -> float:
    return datetime.now(UTC).timestamp()


def uuid7() -> str:
    """A time-ordered UUID (RFC 9562 version 7): new ids land at the right edge of the
    index instead of on a random page, so an append writes fewer pages."""
    millis = time.time_ns() // 1_000_000
    value = (millis & (2**48 - 1)) << 80 | secrets.randbits(80)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return str(uuid.UUID(int=value))


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def run_values(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "workflow": run.workflow,
        "workflow_name": run.workflow_name,
        "definition_hash": run.definition_hash,
        "status": run.status.value,
        "inputs": dumps(run.inputs),
        "outputs": None if run.outputs is None else dumps(run.outputs),
        "error": run.error,
        "created_at": ts(run.created_at),
        "updated_at": ts(run.updated_at),
        "started_by": run.started_by,
        "cwd": run.cwd,
        "env": dumps(run.env),
        "parent_run_id": run.parent_run_id,
        "parent_step": run.parent_step,
        "root_run_id": run.root_run_id,
        "trigger_event": None if run.trigger_event is None else dumps(run.trigger_event),
        "idempotency_key": run.idempotency_key,
        "start_seq": run.start_seq,
        "deadline_at": ts(run.deadline_at),
        "wake_at": ts(run.wake_at),
        "signal_seq": run.signal_seq,
        "cancel_requested": int(run.cancel_requested),
        "cancel_reason": run.cancel_reason,
        "lease_owner": run.lease_owner,
        "lease_expires_at": ts(run.lease_expires_at),
    }


RUN_COLUMNS = [
    "id",
    "workflow",
    "workflow_name",
    "definition_hash",
    "status",
    "inputs",
    "outputs",
    "error",
    "created_at",
    "updated_at",
    "started_by",
    "cwd",
    "env",
    "parent_run_id",
    "parent_step",
    "root_run_id",
    "trigger_event",
    "idempotency_key",
    "start_seq",
    "deadline_at",
    "wake_at",
    "signal_seq",
    "cancel_requested",
    "cancel_reason",
    "lease_owner",
    "lease_expires_at",
]

# Run fields a lease holder may change through RunSave.run, and how each is encoded.
RUN_PATCH_ENCODERS: dict[str, Any] = {
    "status": lambda v: v.value if hasattr(v, "value") else v,
    "outputs": lambda v: None if v is None else dumps(v),
    "error": lambda v: v,
    "wake_at": ts,
    "deadline_at": ts,
    "updated_at": ts,
}


def run_from_row(row: Row, steps: tuple[StepRun, ...] = ()) -> Run:
    return Run(
        id=row["id"],
        workflow=row["workflow"],
        workflow_name=row["workflow_name"],
        definition_hash=row["definition_hash"],
        status=row["status"],
        inputs=loads(row["inputs"]),
        outputs=loads(row["outputs"]),
        error=row["error"],
        created_at=dt(row["created_at"]),
        updated_at=dt(row["updated_at"]),
        started_by=row["started_by"],
        cwd=row["cwd"],
        env=loads(row["env"]),
        parent_run_id=row["parent_run_id"],
        parent_step=row["parent_step"],
        root_run_id=row["root_run_id"],
        trigger_event=loads(row["trigger_event"]),
        idempotency_key=row["idempotency_key"],
        start_seq=row["start_seq"],
        deadline_at=dt(row["deadline_at"]),
        wake_at=dt(row["wake_at"]),
        signal_seq=row["signal_seq"],
        cancel_requested=bool(row["cancel_requested"]),
        cancel_reason=row["cancel_reason"],
        lease_owner=row["lease_owner"],
        lease_expires_at=dt(row["lease_expires_at"]),
        steps=steps,
    )


STEP_COLUMNS = [
    "run_id",
    "step_id",
    "position",
    "name",
    "status",
    "attempts",
    "started_at",
    "finished_at",
    "output",
    "error",
    "wake_at",
    "waiting",
    "gate_passed",
    "state",
]


def step_values(run_id: str, position: int, step: StepRun) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "step_id": step.id,
        "position": position,
        "name": step.name,
        "status": step.status.value,
        "attempts": step.attempts,
        "started_at": ts(step.started_at),
        "finished_at": ts(step.finished_at),
        "output": None if step.output is None else dumps(step.output),
        "error": step.error,
        "wake_at": ts(step.wake_at),
        "waiting": None if step.waiting is None else step.waiting.model_dump_json(),
        "gate_passed": int(step.gate_passed),
        "state": dumps(step.state),
    }


def step_from_row(row: Row) -> StepRun:
    waiting = row["waiting"]
    return StepRun(
        id=row["step_id"],
        name=row["name"],
        status=row["status"],
        attempts=row["attempts"],
        started_at=dt(row["started_at"]),
        finished_at=dt(row["finished_at"]),
        output=loads(row["output"]),
        error=row["error"],
        wake_at=dt(row["wake_at"]),
        waiting=None if waiting is None else Waiting.model_validate_json(waiting),
        gate_passed=bool(row["gate_passed"]),
        state=loads(row["state"]) or {},
    )


def attempt_values(a: Attempt) -> dict[str, Any]:
    return {
        "run_id": a.run_id,
        "step_id": a.step_id,
        "attempt": a.attempt,
        "started_at": ts(a.started_at),
        "finished_at": ts(a.finished_at),
        "status": a.status.value,
        "error": a.error,
        "worker": a.worker,
    }


def attempt_from_row(row: Row) -> Attempt:
    return Attempt(
        run_id=row["run_id"],
        step_id=row["step_id"],
        attempt=row["attempt"],
        started_at=dt(row["started_at"]),
        finished_at=dt(row["finished_at"]),
        status=row["status"],
        error=row["error"],
        worker=row["worker"],
    )


def history_values(h: HistoryEntry) -> dict[str, Any]:
    return {
        "run_id": h.run_id,
        "step_id": h.step_id,
        "kind": h.kind,
        "at": ts(h.at),
        "data": dumps(h.data),
    }


def history_from_row(row: Row) -> HistoryEntry:
    return HistoryEntry(
        seq=row["seq"],
        run_id=row["run_id"],
        step_id=row["step_id"],
        kind=row["kind"],
        at=dt(row["at"]),
        data=loads(row["data"]),
    )


def event_from_row(row: Row) -> Event:
    return Event(
        seq=row["seq"],
        id=row["id"],
        type=row["type"],
        source=row["source"],
        data=loads(row["data"]),
        correlation_id=row["correlation_id"],
        idempotency_key=row["idempotency_key"],
        created_at=dt(row["created_at"]),
    )


def approval_values(a: Approval) -> dict[str, Any]:
    return {
        "id": a.id,
        "run_id": a.run_id,
        "workflow": a.workflow,
        "step_id": a.step_id,
        "message": a.message,
        "approvers": dumps(list(a.approvers)),
        "channels": dumps(list(a.channels)),
        "allow_self": int(a.allow_self),
        "requested_by": a.requested_by,
        "status": a.status.value,
        "requested_at": ts(a.requested_at),
        "expires_at": ts(a.expires_at),
        "decided_by": a.decided_by,
        "decided_channel": a.decided_channel,
        "decided_at": ts(a.decided_at),
        "comment": a.comment,
    }


def approval_from_row(row: Row) -> Approval:
    return Approval(
        id=row["id"],
        run_id=row["run_id"],
        workflow=row["workflow"],
        step_id=row["step_id"],
        message=row["message"],
        approvers=tuple(loads(row["approvers"])),
        channels=tuple(loads(row["channels"])),
        allow_self=bool(row["allow_self"]),
        requested_by=row["requested_by"],
        status=row["status"],
        requested_at=dt(row["requested_at"]),
        expires_at=dt(row["expires_at"]),
        decided_by=row["decided_by"],
        decided_channel=row["decided_channel"],
        decided_at=dt(row["decided_at"]),
        comment=row["comment"],
    )


def task_values(t: Task) -> dict[str, Any]:
    return {
        "id": t.id,
        "run_id": t.run_id,
        "workflow": t.workflow,
        "step_id": t.step_id,
        "to_name": t.to,
        "task": t.task,
        "context": dumps(t.context),
        "status": t.status.value,
        "created_at": ts(t.created_at),
        "updated_at": ts(t.updated_at),
        "expires_at": ts(t.expires_at),
        "claimed_by": t.claimed_by,
        "result": None if t.result is None else dumps(t.result),
        "error": t.error,
    }


def task_from_row(row: Row) -> Task:
    return Task(
        id=row["id"],
        run_id=row["run_id"],
        workflow=row["workflow"],
        step_id=row["step_id"],
        to=row["to_name"],
        task=row["task"],
        context=loads(row["context"]),
        status=row["status"],
        created_at=dt(row["created_at"]),
        updated_at=dt(row["updated_at"]),
        expires_at=dt(row["expires_at"]),
        claimed_by=row["claimed_by"],
        result=loads(row["result"]),
        error=row["error"],
    )


def wait_from_row(row: Row) -> EventWait:
    return EventWait(
        run_id=row["run_id"],
        step_id=row["step_id"],
        type=row["type"],
        match=loads(row["match"]),
        after_seq=row["after_seq"],
        matched_seq=row["matched_seq"],
    )


def waits_hit(waits: Sequence[Row], event: Event) -> list[tuple[str, str]]:
    """The (run_id, step_id) of the registered waits (rows of event_waits) that `event`
    satisfies: appended after the wait's look-back point, and matching its `match`."""
    document = event.as_dict()
    return [
        (w["run_id"], w["step_id"])
        for w in waits
        if w["after_seq"] < event.seq and matches(loads(w["match"]), document)
    ]


def run_query_params(query: RunQuery) -> dict[str, Any]:
    """`list_runs`' named parameters."""
    return {
        "status": None if query.status is None else query.status.value,
        "workflow": query.workflow,
        "started_by": query.started_by,
        "limit": query.limit,
        "offset": query.offset,
    }

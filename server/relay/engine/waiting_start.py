"""Starting a waiting step: approval gates, event waits, handoffs, delays, child runs.

`start_waiting` says what happened (the step now waits; or, for `run_workflow` without
`wait`, it completed) and the driver records it: this module reads the run, it does not
reach into the driver.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from relay.engine.actions import ActionSpec
from relay.engine.runtime import Runtime
from relay.engine.steps import render_params
from relay.engine.waiting import (
    ApprovalParams,
    DelayParams,
    HandoffParams,
    RunWorkflowParams,
    Suspension,
    WaitForEventParams,
    gate_params,
    suspend_approval,
    suspend_child,
    suspend_delay,
    suspend_event,
    suspend_handoff,
)
from relay.errors import ParamsError, RelayError
from relay.model.inputs import validate_inputs
from relay.model.run import HistoryEntry, Run, StepRun, new_run
from relay.model.workflow import Step, Workflow
from relay.store.base import NewRun


@dataclass(frozen=True)
class WaitStarted:
    """How starting a waiting step went: it waits (`suspension`), or it is done at once
    with `output` (a child run started without waiting for it)."""

    suspension: Suspension | None = None
    output: Any = None
    look_again: bool = False  # what it waits for may have happened already (a child found)


async def start_waiting(
    rt: Runtime,
    wf: Workflow,
    run: Run,
    state: StepRun,
    step: Step,
    spec: ActionSpec,
    context: dict[str, Any],
    now: datetime,
) -> WaitStarted:
    """What starting `step` (a waiting action, or a gate before an action) comes to."""
    if step.requires_approval and not state.gate_passed and spec.name != "approval":
        suspension = suspend_approval(run, step, gate_params(step, run.workflow_name), now)
        suspension.state["gate"] = True
        return WaitStarted(suspension)
    params = render_params(wf, step, spec, context)
    if isinstance(params, RunWorkflowParams):
        return await _start_child(rt, run, state, step, params)
    return WaitStarted(_suspension(run, step, params, now))


def _suspension(run: Run, step: Step, params: Any, now: datetime) -> Suspension:
    if isinstance(params, ApprovalParams):
        return suspend_approval(run, step, params, now)
    if isinstance(params, WaitForEventParams):
        return suspend_event(run, step, params, now)
    if isinstance(params, HandoffParams):
        return suspend_handoff(run, step, params, now)
    if isinstance(params, DelayParams):
        return suspend_delay(step, params, now)
    raise ParamsError(
        f"step {step.id!r}: unsupported waiting action params {type(params).__name__}"
    )


async def _start_child(
    rt: Runtime, run: Run, state: StepRun, step: Step, p: RunWorkflowParams
) -> WaitStarted:
    if rt.workflows is None:
        raise ParamsError(
            f"step {step.id!r}: this process has no workflow catalog to start {p.workflow!r}"
        )
    try:
        child_wf = rt.workflows.get(p.workflow)
        inputs = validate_inputs(child_wf, p.inputs)
    except RelayError as exc:
        raise ParamsError(f"step {step.id!r}: cannot start workflow {p.workflow!r}: {exc}") from exc
    # Each start of the step (a resume starts it again) gets its own child; a process
    # that dies before recording the child finds it again by this key.
    attempt = state.attempts + 1
    child = new_run(
        child_wf,
        inputs,
        started_by=run.started_by,
        cwd=run.cwd,
        env=run.env,
        parent=(run.id, step.id, run.root_run_id or run.id),
        idempotency_key=f"{run.id}/{step.id}/{attempt}",
    )
    created, _ = await rt.store.runs.create_run(
        NewRun(run=child, definition=child_wf.snapshot(), history=[_created(child)])
    )
    if p.wait:
        # The child found by its key may have finished already, and rung nobody since.
        suspension = suspend_child(step, created.id, p.workflow, attempt)
        return WaitStarted(suspension, look_again=True)
    return WaitStarted(
        output={"run_id": created.id, "status": created.status.value, "outputs": None}
    )


def _created(run: Run) -> HistoryEntry:
    return HistoryEntry(
        run_id=run.id,
        kind="run.created",
        at=run.created_at,
        data={"by": run.started_by, "parent_run_id": run.parent_run_id},
    )

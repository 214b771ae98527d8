"""Starting a waiting step: approval gates, event waits, handoffs, delays, child runs."""

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from relay.engine.actions import ActionSpec
from relay.engine.runtime import utcnow
from relay.engine.steps import ParamsError, render_params
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
from relay.errors import RelayError
from relay.model.inputs import validate_inputs
from relay.model.run import HistoryEntry, Run, RunStatus, StepRun
from relay.model.workflow import Step, Workflow
from relay.store.base import NewRun

if TYPE_CHECKING:
    from relay.engine.driver import RunDriver


async def start_waiting(
    driver: "RunDriver", step: Step, spec: ActionSpec, context: dict[str, Any], now: datetime
) -> None:
    """Record that `step` now waits (or, for `run_workflow` without wait, completes)."""
    run, rec = driver.run, driver.rec
    state = driver.steps[step.id]
    if step.requires_approval and not state.gate_passed and spec.name != "approval":
        suspension = suspend_approval(run, step, gate_params(step, run.workflow_name), now)
        suspension.state["gate"] = True
        rec.suspended(step.id, suspension, now)
        return
    params = render_params(driver.wf, step, spec, context)
    if isinstance(params, RunWorkflowParams):
        await _start_child(driver, step, params, now)
        return
    rec.suspended(step.id, _suspension(run, step, params, now), now)


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
    driver: "RunDriver", step: Step, p: RunWorkflowParams, now: datetime
) -> None:
    rt, run = driver.rt, driver.run
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
    attempt = driver.steps[step.id].attempts + 1
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
        driver.rec.suspended(step.id, suspend_child(step, created.id, p.workflow, attempt), now)
        # The child found by its key may have finished already, and rung nobody since.
        driver.check_waits = True
        return
    output = {"run_id": created.id, "status": created.status.value, "outputs": None}
    driver._end(step.id, driver.rec.completed(step.id, output, now))


def _created(run: Run) -> HistoryEntry:
    return HistoryEntry(
        run_id=run.id,
        kind="run.created",
        at=run.created_at,
        data={"by": run.started_by, "parent_run_id": run.parent_run_id},
    )


def new_run(
    workflow: Workflow,
    inputs: dict[str, Any],
    *,
    started_by: str,
    cwd: str | None,
    env: dict[str, str] | None = None,
    parent: tuple[str, str, str] | None = None,
    idempotency_key: str | None = None,
    trigger_event: dict[str, Any] | None = None,
) -> Run:
    """A fresh run of `workflow`, every step pending."""
    now = utcnow()
    run_id = uuid.uuid4().hex[:12]
    deadline = (
        None
        if workflow.deadline_seconds is None
        else now + timedelta(seconds=workflow.deadline_seconds)
    )
    return Run(
        id=run_id,
        workflow=workflow.id,
        workflow_name=workflow.name,
        definition_hash=workflow.definition_hash(),
        status=RunStatus.PENDING,
        inputs=inputs,
        created_at=now,
        updated_at=now,
        started_by=started_by,
        cwd=cwd,
        env=env or {},
        parent_run_id=parent[0] if parent else None,
        parent_step=parent[1] if parent else None,
        root_run_id=parent[2] if parent else run_id,
        trigger_event=trigger_event,
        idempotency_key=idempotency_key,
        deadline_at=deadline,
        steps=tuple(StepRun(id=s.id, name=s.name) for s in workflow.steps),
    )

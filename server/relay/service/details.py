"""Everything known about one run, for a page that shows it whole: the run's view, its
definition's step graph (each step's layer and status), attempts, history, events,
approvals and tasks. (A workflow's whole: `Workflows.workflow_detail`.)"""

from typing import Any

from relay.model.graph import step_depths
from relay.model.run import Attempt, HistoryEntry, Run
from relay.model.workflow import Workflow
from relay.service.views import approval_view, event_view, iso, run_view, task_view
from relay.store.base import EventQuery, Store

EVENTS_SHOWN = 200


def graph_view(workflow: Workflow, run: Run | None = None) -> dict[str, Any]:
    """Nodes (id, name, action, layer, status, gate, conditional) and edges."""
    depths = step_depths(workflow)
    status = {s.id: s.status.value for s in run.steps} if run is not None else {}
    nodes = [
        {
            "id": step.id,
            "name": step.name,
            "action": step.action,
            "depth": depths[step.id],
            "status": status.get(step.id, "pending" if run is not None else "defined"),
            "gate": step.requires_approval or step.action == "approval",
            "conditional": step.if_ is not None,
        }
        for step in workflow.steps
    ]
    edges = [
        {"from": need, "to": step.id, "conditional": step.if_ is not None}
        for step in workflow.steps
        for need in workflow.dependencies()[step.id]
        if need in depths
    ]
    return {"nodes": nodes, "edges": edges}


def attempt_view(a: Attempt) -> dict[str, Any]:
    return {
        "step": a.step_id,
        "attempt": a.attempt,
        "status": a.status.value,
        "started_at": iso(a.started_at),
        "finished_at": iso(a.finished_at),
        "error": a.error,
        "worker": a.worker,
    }


def history_view(h: HistoryEntry) -> dict[str, Any]:
    return {"kind": h.kind, "at": iso(h.at), "step": h.step_id, "data": h.data}


async def run_detail(store: Store, run: Run, workflow: Workflow) -> dict[str, Any]:
    """`run` with its definition's graph, attempts, history, events, approvals, tasks."""
    events = await store.events.list_events(
        EventQuery(correlation_id=run.id, limit=EVENTS_SHOWN, newest=True)
    )
    tasks = [t for t in await store.coordination.list_tasks(None, None) if t.run_id == run.id]
    return {
        "run": run_view(run),
        "graph": graph_view(workflow, run),
        "attempts": [attempt_view(a) for a in await store.runs.attempts(run.id)],
        "history": [history_view(h) for h in await store.runs.history(run.id)],
        "events": [event_view(e) for e in events],
        "approvals": [
            approval_view(a) for a in await store.coordination.list_approvals(None, run.id)
        ],
        "tasks": [task_view(t) for t in tasks],
    }

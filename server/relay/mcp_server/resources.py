"""relay's resources: `relay://` URIs over the same service calls and views as the tools.

Every reader is a closure over the process's `RelayHandle` (a static resource may not
take a `Context`), so the updates watcher can re-read any subscribed URI outside a request.
Ids in URIs are checked before any lookup; lookups are by id in the catalog or the
store, never by joining paths, so no URI reaches a file it does not name. The workflow
model is imported when a reader needs it: `relay serve` answers its first requests
before it loads the rest of relay.
"""

import json
import re
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError

from relay.mcp_server.errors import as_resource_errors
from relay.mcp_server.handle import RelayHandle
from relay.service.views import (
    event_view,
    participant_view,
    run_summary,
    run_view,
    task_view,
)

JSON = "application/json"
YAML = "text/yaml"
MERMAID = "text/vnd.mermaid"

RECENT = 50  # events in relay://events/recent, runs in relay://runs
_ID = re.compile(r"[A-Za-z0-9_.-]+")

# The URIs whose changes are published to subscribers: runs and events.
EVENTS_URI = "relay://events/recent"
RUN_URI = "relay://runs/{run_id}"


def checked_id(kind: str, value: str) -> str:
    """`value` when it is a plausible id, else a clear not-found error."""
    if not _ID.fullmatch(value) or set(value) == {"."}:
        raise ResourceNotFoundError(
            f"{value!r} is not a valid {kind} id (letters, digits, '_', '.', '-')"
        )
    return value


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, default=str)


def _json_once(output: Any) -> str:
    """A step's output as JSON text; an output that is already JSON text (a `python`
    step returning a JSON document, say) is that text, not a JSON string holding it."""
    if isinstance(output, str):
        try:
            return _json(json.loads(output))
        except ValueError:
            pass
    return _json(output)


def _workflow_readers(server: MCPServer[Any], handle: RelayHandle) -> None:

    @server.resource("relay://workflows", name="workflows", mime_type=JSON)
    async def workflows() -> str:
        """Every workflow on RELAY_WORKFLOWS_PATH (as list_workflows returns them)."""
        with as_resource_errors():
            relay = await handle.relay()
        return _json(relay.workflows.list_workflows())

    @server.resource("relay://workflows/{id}", name="workflow", mime_type=YAML)
    async def workflow_file(id: str) -> str:  # noqa: A002 - the URI template's variable
        """A workflow's YAML file, as written."""
        with as_resource_errors():
            relay = await handle.relay()
            return relay.workflows.workflow_source(checked_id("workflow", id))

    @server.resource("relay://workflows/{id}/diagram", name="workflow-diagram", mime_type=MERMAID)
    async def workflow_diagram(id: str) -> str:  # noqa: A002 - the URI template's variable
        """A workflow's steps as a Mermaid flowchart."""
        with as_resource_errors():
            relay = await handle.relay()
            from relay.model.graph import to_mermaid  # loaded when read: see the docstring

            return to_mermaid(relay.workflows.workflow_for(workflow=checked_id("workflow", id)))

    @server.resource("relay://schema/workflow", name="workflow-schema", mime_type=JSON)
    def workflow_schema() -> str:
        """The JSON Schema of relay's workflow YAML format."""
        from relay.model.schema import workflow_json_schema_text  # see the docstring

        return workflow_json_schema_text()


def _run_readers(server: MCPServer[Any], handle: RelayHandle) -> None:

    @server.resource("relay://runs", name="runs", mime_type=JSON)
    async def runs() -> str:
        """The most recent runs, newest first."""
        with as_resource_errors():
            relay = await handle.relay()
        return _json({"runs": [run_summary(r) for r in await relay.runs.list_runs(limit=RECENT)]})

    @server.resource(RUN_URI, name="run", mime_type=JSON)
    async def run(run_id: str) -> str:
        """One run: steps, waiting_for, next, outputs. Subscribe to hear of its changes."""
        with as_resource_errors():
            relay = await handle.relay()
            return _json(run_view(await relay.runs.get_run(checked_id("run", run_id))))

    @server.resource(
        "relay://runs/{run_id}/steps/{step_id}/output", name="step-output", mime_type=JSON
    )
    async def step_output(run_id: str, step_id: str) -> str:
        """A step's whole output (run views cut large ones and point here)."""
        with as_resource_errors():
            relay = await handle.relay()
            found = await relay.runs.get_run(checked_id("run", run_id))
        for step in found.steps:
            if step.id == checked_id("step", step_id):
                return _json_once(step.output)
        steps = ", ".join(s.id for s in found.steps)
        raise ResourceNotFoundError(f"run {run_id!r} has no step {step_id!r}; its steps: {steps}")


def _coordination_readers(server: MCPServer[Any], handle: RelayHandle) -> None:

    @server.resource(EVENTS_URI, name="recent-events", mime_type=JSON)
    async def recent_events() -> str:
        """The newest events of the shared log. Subscribe to hear of new ones."""
        with as_resource_errors():
            relay = await handle.relay()
        events, last_seq = await relay.events.event_page(limit=RECENT)
        return _json({"events": [event_view(e) for e in events], "last_seq": last_seq})

    @server.resource("relay://approvals/pending", name="pending-approvals", mime_type=JSON)
    async def pending_approvals() -> str:
        """Approval gates waiting for a decision, across all runs."""
        with as_resource_errors():
            relay = await handle.relay()
        return _json({"approvals": await relay.coordination.list_approvals("pending")})

    @server.resource("relay://tasks/open", name="open-tasks", mime_type=JSON)
    async def open_tasks() -> str:
        """Every participant's open tasks (handoffs waiting to be done)."""
        with as_resource_errors():
            relay = await handle.relay()
        return _json(
            {"tasks": [task_view(t) for t in await relay.coordination.list_tasks("*", "open")]}
        )

    @server.resource("relay://notifications/pending", name="pending-notifications", mime_type=JSON)
    async def pending_notifications() -> str:
        """Notifications in the outbox not delivered yet (Slack down, paused, rate limited)."""
        with as_resource_errors():
            relay = await handle.relay()
        found = await relay.notifications.list_notifications("pending")
        return _json({"notifications": [n.as_dict() for n in found]})

    @server.resource("relay://notifications/dead", name="dead-notifications", mime_type=JSON)
    async def dead_notifications() -> str:
        """Notifications given up on (e.g. channel not found), with the reason."""
        with as_resource_errors():
            relay = await handle.relay()
        found = await relay.notifications.list_notifications("dead")
        return _json({"notifications": [n.as_dict() for n in found]})

    @server.resource("relay://participants", name="participants", mime_type=JSON)
    async def participants() -> str:
        """Participants seen recently, with their open tasks."""
        with as_resource_errors():
            relay = await handle.relay()
        found = await relay.presence.list_participants()
        return _json({"participants": [participant_view(p) for p in found]})


def register(server: MCPServer[Any], handle: RelayHandle) -> None:
    """Add relay's resources and resource templates to `server`."""
    _workflow_readers(server, handle)
    _run_readers(server, handle)
    _coordination_readers(server, handle)

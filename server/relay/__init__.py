"""relay: a durable workflow orchestrator that AI chats drive natively over MCP.

The public Python API: register actions, emit events, and report a process's lifecycle
into the same store that the CLI and the MCP servers use.
"""

from relay.engine.actions import ActionContext, action
from relay.hooks import (
    ProcessSource,
    aemit_event,
    emit_event,
    notify_process_completed,
    notify_process_failed,
    notify_process_started,
    with_workflow_notifications,
)

__version__ = "0.1.0"

__all__ = [
    "ActionContext",
    "ProcessSource",
    "__version__",
    "action",
    "aemit_event",
    "emit_event",
    "notify_process_completed",
    "notify_process_failed",
    "notify_process_started",
    "with_workflow_notifications",
]

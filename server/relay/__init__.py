"""relay: a durable workflow orchestrator that AI chats drive natively over MCP.

The public Python API: register actions, emit events, and report a process's lifecycle
into the same store that the CLI and the MCP servers use.

The names are imported on first use (PEP 562), so that `import relay.<module>` (the CLI,
`relay serve`) does not load the engine, the store and the notifier before it needs them:
a chat spawns `relay serve` and waits for its first answer.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Each public name and the module that defines it.
_HOME = {
    "ActionContext": "relay.engine.actions",
    "action": "relay.engine.actions",
    "ProcessSource": "relay.hooks",
    "aemit_event": "relay.hooks",
    "emit_event": "relay.hooks",
    "notify_process_completed": "relay.hooks",
    "notify_process_failed": "relay.hooks",
    "notify_process_started": "relay.hooks",
    "with_workflow_notifications": "relay.hooks",
}

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


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'relay' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOME])

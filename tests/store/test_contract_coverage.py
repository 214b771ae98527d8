"""The contract covers the whole store: every operation of each of the `Store`'s roles is
called by the store's tests (which all run on both backends)."""

import ast
import inspect
from pathlib import Path

from relay.store.base import Coordination, EventLog, Outbox, Presence, RunStore, Store
from relay.store.feed import ChangeFeed

ROLES = (RunStore, EventLog, Coordination, Outbox, Presence, ChangeFeed, Store)


def _called_methods() -> set[str]:
    names: set[str] = set()
    for path in Path(__file__).parent.glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                names.add(node.func.attr)
    return names


def test_every_store_operation_is_called_by_the_store_tests() -> None:
    operations = {
        name
        for role in ROLES
        for name, _ in inspect.getmembers(role, inspect.isfunction)
        if not name.startswith("_") and name not in {"changed", "rang"}  # the backends' own
    }
    assert operations - _called_methods() == set()

"""The contract covers the whole store: every operation of the `Store` protocol is called
by the store's tests (which all run on both backends)."""

import ast
import inspect
from pathlib import Path

from relay.store.base import Store


def _called_methods() -> set[str]:
    names: set[str] = set()
    for path in Path(__file__).parent.glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                names.add(node.func.attr)
    return names


def test_every_store_operation_is_called_by_the_store_tests() -> None:
    operations = {n for n, _ in inspect.getmembers(Store, inspect.isfunction) if n[0] != "_"}
    assert operations - _called_methods() == set()

"""The tree is the architecture: lower layers never import higher ones, and no module
grows past 600 lines."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "server" / "relay"
# What each layer may import from relay (besides itself, relay.errors and relay.model).
ALLOWED = {
    "model": set(),
    "store": set(),
    "engine": {"store", "notify"},
    "service": {"store", "engine", "catalog", "notify"},
    "notify": {"store"},  # the outbox sender takes the store's outbox role and change feed
    "dashboard": {"config", "http_app", "service"},  # pages and API call the service only
}


def _relay_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("relay."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("relay."))
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_what_is_below_it(layer: str) -> None:
    for path in (PACKAGE / layer).rglob("*.py"):
        imported = _relay_imports(path) - {layer, "errors", "model"}
        assert imported <= ALLOWED[layer], f"{path.relative_to(PACKAGE)} imports {imported}"


def test_only_bootstrap_names_the_sqlite_backend() -> None:
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "store":
            continue
        text = path.read_text()
        assert "relay.store.sqlite" not in text, path


def test_no_module_is_over_600_lines() -> None:
    for path in PACKAGE.rglob("*.py"):
        assert len(path.read_text().splitlines()) <= 600, path

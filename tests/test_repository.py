"""What someone with only this repository reads: the README's first screen works in a
clone and with the package installed elsewhere, the LICENSE matches the metadata, and
every skip reason makes sense without anything outside the repository."""

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
FIRST_SCREEN = "\n".join(README.splitlines()[:40])


def test_the_first_screen_works_in_a_clone_and_outside_it() -> None:
    clone = [
        "python3 -m venv .venv && .venv/bin/pip install -e '.[dev]' && .venv/bin/relay run hello",
        ".venv/bin/python -m pytest",
    ]
    for line in clone:
        assert f"\n{line}\n" in FIRST_SCREEN  # CI pastes these two lines
    assert "pipx install relay-mcp" in FIRST_SCREEN
    assert "\nrelay init && relay run hello\n" in FIRST_SCREEN


def test_the_readme_names_the_node_version_the_inspector_asks_for() -> None:
    inspector = next(line for line in README.splitlines() if line.startswith("**MCP Inspector**"))
    assert "Node.js 22.19 or newer" in inspector


def test_the_license_file_matches_the_metadata() -> None:
    metadata = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")

    assert metadata["license"] == "MIT"
    assert text.startswith("MIT License\n")
    assert "Permission is hereby granted, free of charge" in text


def _skip_reasons(path: Path) -> list[str]:
    """The string literals given to pytest.skip, importorskip and skipif."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") in (
            "skip",
            "skipif",
            "importorskip",
        ):
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                found += [
                    n.value
                    for n in ast.walk(arg)
                    if isinstance(n, ast.Constant) and isinstance(n.value, str)
                ]
    return found


def test_skip_reasons_make_sense_with_only_this_repository() -> None:
    reasons = [r for path in (ROOT / "tests").rglob("*.py") for r in _skip_reasons(path)]

    assert len(reasons) >= 8
    for reason in reasons:
        assert "DESIGN" not in reason, reason
        assert "../" not in reason or "next to this repository" in reason, reason

"""Text as MCP clients show it to people and models: raw, so without the line breaks that
source code needs."""

import inspect
import re

_ITEM = re.compile(r"\s*(?:[-*]|\d+[.)])\s")


def prose(text: str | None) -> str:
    """Docstring-style text without source indentation and without hard line breaks
    inside a paragraph. Paragraphs stay apart, and a line that starts a list item (`- `,
    `* `, `1. `) keeps its own line."""
    paragraphs = inspect.cleandoc(text or "").split("\n\n")
    return "\n\n".join(_joined(p.splitlines()) for p in paragraphs)


def _joined(lines: list[str]) -> str:
    out: list[str] = []
    for line in lines:
        if out and not _ITEM.match(line):
            out[-1] = f"{out[-1]} {line.strip()}"
        else:
            out.append(line.rstrip())
    return "\n".join(out)

"""Everything the CLI writes: text for people, JSON documents for programs, errors.

Reports go to stdout and diagnostics to stderr, so that `relay ... --json | jq` sees one
JSON document and nothing else. The rest of the CLI writes through these functions only.
"""

import json
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TextIO

from relay.service.wording import time_text

# Free text (errors, task descriptions, event data) is cut to this in tables and lines.
SHORT_TEXT = 80


def write(text: str = "", stream: TextIO | None = None) -> None:
    """One line (or block) of text for people on stdout."""
    out = stream or sys.stdout
    out.write(text + "\n")
    out.flush()


def write_json(document: Any) -> None:
    """Exactly one JSON document on stdout."""
    write(json.dumps(document, indent=2, default=str))


def write_json_line(document: Any) -> None:
    """One compact JSON document per line (for streams such as `events --follow --json`)."""
    write(json.dumps(document, default=str))


def error(message: str) -> None:
    """`relay: error: ...` on stderr, one line per line of `message`."""
    for line in message.splitlines() or ["failed"]:
        write(f"relay: error: {line}", sys.stderr)


def note(message: str) -> None:
    """A remark for the person at the terminal, on stderr (never part of a report)."""
    write(f"relay: {message}", sys.stderr)


def short(value: Any, limit: int = SHORT_TEXT) -> str:
    """`value` as one line of at most `limit` characters."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def local_time(value: datetime | str | None, *, with_date: bool = True) -> str:
    """An aware timestamp (or its ISO text) in this machine's zone, to the second and
    with the zone's name; `-` for none."""
    return time_text(value, with_date=with_date, missing="-")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, empty: str) -> None:
    """Rows in aligned columns under `headers`; `empty` when there are none."""
    if not rows:
        write(empty)
        return
    cells = [[str(h) for h in headers], *[["-" if c is None else str(c) for c in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())

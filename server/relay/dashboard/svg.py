"""Pictures drawn on the server as SVG (no script, no library): a run's or workflow's
step graph in layers by dependency depth, and a timeline of step attempts.

Every piece of text in them is escaped here; the result is marked safe for templates.
"""

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape

from relay.service.wording import seconds_text

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 176, 46, 28, 40, 12
# Text is measured by its length: at most this many pixels a character (12 px sans-serif,
# bold), so that a box or a label column is always wide enough for its whole text.
CHAR_PX = 8
LABEL_W = 190  # the timeline's label column, at least
TIMELINE_W, ROW_H = 520, 22  # the timeline's bars: the longest spans this many pixels


def text_width(texts: Iterable[str], least: int, padding: int = 16) -> int:
    """Pixels that hold the longest of `texts` whole, and at least `least`."""
    return max([least, *(len(t) * CHAR_PX + padding for t in texts)])


def _caption(node: Mapping[str, Any]) -> str:
    return f"{node['action']}{' · gate' if node['gate'] else ''}"


def _layout(
    nodes: Sequence[Mapping[str, Any]], node_w: int
) -> tuple[dict[str, tuple[float, float]], int, int]:
    """Top-left corner of each node: one row per depth, nodes in file order."""
    rows: dict[int, list[str]] = {}
    for node in nodes:
        rows.setdefault(int(node["depth"]), []).append(str(node["id"]))
    widest = max((len(ids) for ids in rows.values()), default=1)
    width = PAD * 2 + widest * node_w + (widest - 1) * GAP_X
    places: dict[str, tuple[float, float]] = {}
    for depth, ids in rows.items():
        row_width = len(ids) * node_w + (len(ids) - 1) * GAP_X
        left = (width - row_width) / 2
        for index, node_id in enumerate(ids):
            places[node_id] = (left + index * (node_w + GAP_X), PAD + depth * (NODE_H + GAP_Y))
    height = PAD * 2 + len(rows) * NODE_H + max(0, len(rows) - 1) * GAP_Y
    return places, int(width), int(height)


def dag_svg(graph: Mapping[str, Any], *, link_steps: bool = False) -> Markup:
    """The step graph (`relay.service.details.graph_view`), each node coloured by status."""
    nodes: list[Mapping[str, Any]] = list(graph["nodes"])
    node_w = text_width((t for n in nodes for t in (str(n["name"]), _caption(n))), NODE_W)
    places, width, height = _layout(nodes, node_w)
    parts = [
        f'<svg class="dag" role="img" aria-label="step graph" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z"/>'
        "</marker></defs>",
    ]
    for edge in graph["edges"]:
        (x1, y1), (x2, y2) = places[edge["from"]], places[edge["to"]]
        dash = ' stroke-dasharray="5 4"' if edge["conditional"] else ""
        parts.append(
            f'<line class="edge" x1="{x1 + node_w / 2:.0f}" y1="{y1 + NODE_H:.0f}" '
            f'x2="{x2 + node_w / 2:.0f}" y2="{y2:.0f}" marker-end="url(#arrow)"{dash}/>'
        )
    for node in nodes:
        parts.append(_node(node, places[str(node["id"])], node_w, link_steps))
    parts.append("</svg>")
    return Markup("".join(parts))


def _node(node: Mapping[str, Any], place: tuple[float, float], node_w: int, link: bool) -> str:
    x, y = place
    step_id, status = escape(node["id"]), escape(node["status"])
    shape = (
        f'<rect x="{x:.0f}" y="{y:.0f}" width="{node_w}" height="{NODE_H}" rx="'
        f'{14 if node["gate"] else 6}"/>'
    )
    middle = x + node_w / 2
    body = (
        f'<g class="node st-{status}" data-step="{step_id}" data-status="{status}">'
        f"<title>{escape(node['name'])} ({escape(node['action'])}): {status}</title>{shape}"
        f'<text x="{middle:.0f}" y="{y + 19:.0f}" class="name">{escape(node["name"])}</text>'
        f'<text x="{middle:.0f}" y="{y + 36:.0f}" class="action">'
        f"{escape(_caption(node))}</text></g>"
    )
    return f'<a href="#step-{step_id}">{body}</a>' if link else body


def _parse(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _bar_label(attempt: Mapping[str, Any]) -> str:
    return f"{attempt['step']} {'#' + str(attempt['attempt']) if attempt['attempt'] else '(waits)'}"


def timeline_svg(attempts: Sequence[Mapping[str, Any]], start: str, now: datetime) -> Markup:
    """A Gantt-like chart: one bar per step attempt (attempt 0: a step's wait), from its
    start to its end (or now), each labelled in full."""
    if not attempts:
        return Markup('<p class="muted">No step has started yet.</p>')
    origin = _parse(start) or now
    spans: list[tuple[Mapping[str, Any], float, float]] = []
    for a in attempts:
        started = _parse(a["started_at"]) or origin
        finished = _parse(a["finished_at"]) or now
        spans.append((a, (started - origin).total_seconds(), (finished - origin).total_seconds()))
    total = max(max(e for _, _, e in spans), 0.001)
    label_w = text_width((_bar_label(a) for a in attempts), LABEL_W)
    width, height = label_w + TIMELINE_W + 90, 30 + ROW_H * len(spans)
    parts = [
        f'<svg class="timeline" role="img" aria-label="step timeline" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="{label_w}" y="14" class="axis">0 s</text>',
        f'<text x="{label_w + TIMELINE_W}" y="14" class="axis" text-anchor="end">'
        f"{escape(seconds_text(total))}</text>",
    ]
    for row, (a, begin, end) in enumerate(spans):
        x = label_w + TIMELINE_W * begin / total
        w = max(2.0, TIMELINE_W * (end - begin) / total)
        parts.append(_bar(a, 24 + row * ROW_H, label_w, (x, w), end - begin))
    parts.append("</svg>")
    return Markup("".join(parts))


def _bar(
    attempt: Mapping[str, Any], y: int, label_w: int, span: tuple[float, float], took: float
) -> str:
    (x, w), label, status = span, escape(_bar_label(attempt)), escape(attempt["status"])
    return (
        f'<g class="bar st-{status}"><title>{label}: {status}, '
        f"{escape(seconds_text(took))}</title>"
        f'<text x="{label_w - 8}" y="{y + 13}" text-anchor="end">{label}</text>'
        f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{ROW_H - 6}" rx="3"/>'
        f'<text x="{x + w + 6:.1f}" y="{y + 13}" class="axis">'
        f"{escape(seconds_text(took))}</text></g>"
    )

"""Pictures drawn on the server as SVG (no script, no library): a run's or workflow's
step graph in layers by dependency depth, and a timeline of step attempts.

Every piece of text in them is escaped here; the result is marked safe for templates.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 176, 46, 28, 40, 12
LABEL_CHARS = 24


def _short(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _layout(nodes: Sequence[Mapping[str, Any]]) -> tuple[dict[str, tuple[float, float]], int, int]:
    """Top-left corner of each node: one row per depth, nodes in file order."""
    rows: dict[int, list[str]] = {}
    for node in nodes:
        rows.setdefault(int(node["depth"]), []).append(str(node["id"]))
    widest = max((len(ids) for ids in rows.values()), default=1)
    width = PAD * 2 + widest * NODE_W + (widest - 1) * GAP_X
    places: dict[str, tuple[float, float]] = {}
    for depth, ids in rows.items():
        row_width = len(ids) * NODE_W + (len(ids) - 1) * GAP_X
        left = (width - row_width) / 2
        for index, node_id in enumerate(ids):
            places[node_id] = (left + index * (NODE_W + GAP_X), PAD + depth * (NODE_H + GAP_Y))
    height = PAD * 2 + len(rows) * NODE_H + max(0, len(rows) - 1) * GAP_Y
    return places, int(width), int(height)


def dag_svg(graph: Mapping[str, Any], *, link_steps: bool = False) -> Markup:
    """The step graph (`relay.service.details.graph_view`), each node coloured by status."""
    nodes: list[Mapping[str, Any]] = list(graph["nodes"])
    places, width, height = _layout(nodes)
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
            f'<line class="edge" x1="{x1 + NODE_W / 2:.0f}" y1="{y1 + NODE_H:.0f}" '
            f'x2="{x2 + NODE_W / 2:.0f}" y2="{y2:.0f}" marker-end="url(#arrow)"{dash}/>'
        )
    for node in nodes:
        parts.append(_node(node, places[str(node["id"])], link_steps))
    parts.append("</svg>")
    return Markup("".join(parts))


def _node(node: Mapping[str, Any], place: tuple[float, float], link: bool) -> str:
    x, y = place
    step_id, status = escape(node["id"]), escape(node["status"])
    shape = (
        f'<rect x="{x:.0f}" y="{y:.0f}" width="{NODE_W}" height="{NODE_H}" rx="'
        f'{14 if node["gate"] else 6}"/>'
    )
    caption = escape(_short(f"{node['action']}{' · gate' if node['gate'] else ''}"))
    body = (
        f'<g class="node st-{status}" data-step="{step_id}" data-status="{status}">'
        f"<title>{escape(node['name'])} ({escape(node['action'])}): {status}</title>{shape}"
        f'<text x="{x + NODE_W / 2:.0f}" y="{y + 19:.0f}" class="name">'
        f"{escape(_short(str(node['name'])))}</text>"
        f'<text x="{x + NODE_W / 2:.0f}" y="{y + 36:.0f}" class="action">{caption}</text></g>'
    )
    return f'<a href="#step-{step_id}">{body}</a>' if link else body


def _parse(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def timeline_svg(attempts: Sequence[Mapping[str, Any]], start: str, now: datetime) -> Markup:
    """A Gantt-like chart: one bar per step attempt (attempt 0: a step's wait), from its
    start to its end (or now)."""
    if not attempts:
        return Markup('<p class="muted">No step has started yet.</p>')
    origin = _parse(start) or now
    spans: list[tuple[Mapping[str, Any], float, float]] = []
    for a in attempts:
        started = _parse(a["started_at"]) or origin
        finished = _parse(a["finished_at"]) or now
        spans.append((a, (started - origin).total_seconds(), (finished - origin).total_seconds()))
    total = max(max(e for _, _, e in spans), 0.001)
    label_w, chart_w, row_h = 190, 520, 22
    width, height = label_w + chart_w + 90, 30 + row_h * len(spans)
    parts = [
        f'<svg class="timeline" role="img" aria-label="step timeline" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="{label_w}" y="14" class="axis">0 s</text>',
        f'<text x="{label_w + chart_w}" y="14" class="axis" text-anchor="end">'
        f"{escape(seconds_text(total))}</text>",
    ]
    for row, (a, begin, end) in enumerate(spans):
        y = 24 + row * row_h
        x = label_w + chart_w * begin / total
        w = max(2.0, chart_w * (end - begin) / total)
        which = f"#{a['attempt']}" if a["attempt"] else "(waits)"
        label = escape(_short(f"{a['step']} {which}", 26))
        status = escape(a["status"])
        parts.append(
            f'<g class="bar st-{status}"><title>{label}: {status}, '
            f"{escape(seconds_text(end - begin))}</title>"
            f'<text x="{label_w - 8}" y="{y + 13}" text-anchor="end">{label}</text>'
            f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row_h - 6}" rx="3"/>'
            f'<text x="{x + w + 6:.1f}" y="{y + 13}" class="axis">'
            f"{escape(seconds_text(end - begin))}</text></g>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def seconds_text(seconds: float | None) -> str:
    """A duration for people: 850 ms, 12.3 s, 4 min 5 s, 2 h 3 min."""
    if seconds is None:
        return "\u2013"  # an en dash: no figure
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"

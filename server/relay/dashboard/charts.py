"""Analytics charts drawn on the server as SVG: runs per day (stacked by outcome) and
the slowest steps (horizontal bars). Text is escaped here."""

from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup, escape

from relay.service.wording import seconds_text


def runs_per_day_svg(per_day: Sequence[Mapping[str, Any]]) -> Markup:
    """One column per day: completed, failed and other runs stacked."""
    bar_w, gap, chart_h, top, bottom = 16, 4, 110, 14, 22
    peak = max((int(d["runs"]) for d in per_day), default=0) or 1
    width = 60 + len(per_day) * (bar_w + gap)
    height = top + chart_h + bottom
    parts = [
        f'<svg class="chart" role="img" aria-label="runs per day" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="0" y="{top + 4}" class="axis">{peak}</text>',
        f'<line class="baseline" x1="30" y1="{top + chart_h}" x2="{width}" y2="{top + chart_h}"/>',
    ]
    for index, day in enumerate(per_day):
        x = 34 + index * (bar_w + gap)
        other = int(day["runs"]) - int(day["completed"]) - int(day["failed"])
        y = float(top + chart_h)
        title = (
            f"{day['day']}: {day['runs']} runs ({day['completed']} completed, "
            f"{day['failed']} failed)"
        )
        parts.append(
            f'<g class="day" data-day="{escape(day["day"])}"><title>{escape(title)}</title>'
        )
        for kind, count in (("completed", day["completed"]), ("failed", day["failed"]),
                            ("other", other)):  # fmt: skip
            h = chart_h * int(count) / peak
            y -= h
            if count:
                parts.append(
                    f'<rect class="st-{kind}" x="{x}" y="{y:.1f}" width="{bar_w}" '
                    f'height="{h:.1f}"/>'
                )
        parts.append("</g>")
        if index % 7 == 0 or index == len(per_day) - 1:
            parts.append(
                f'<text x="{x}" y="{top + chart_h + 16}" class="axis">'
                f"{escape(str(day['day'])[5:])}</text>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def slowest_steps_svg(steps: Sequence[Mapping[str, Any]]) -> Markup:
    """One bar per step: its mean duration, the longest bar being the slowest."""
    if not steps:
        return Markup('<p class="muted">No completed step yet.</p>')
    label_w, chart_w, row_h = 160, 300, 22
    peak = max(float(s["mean_seconds"]) for s in steps) or 1.0
    width, height = label_w + chart_w + 110, 8 + row_h * len(steps)
    parts = [
        f'<svg class="chart" role="img" aria-label="slowest steps" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for row, step in enumerate(steps):
        y = 4 + row * row_h
        w = max(2.0, chart_w * float(step["mean_seconds"]) / peak)
        label = escape(str(step["step"])[:24])
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 13}" text-anchor="end">{label}</text>'
            f'<rect class="st-running" x="{label_w}" y="{y}" width="{w:.1f}" '
            f'height="{row_h - 6}" rx="3"/><text x="{label_w + w + 6:.1f}" y="{y + 13}" '
            f'class="axis">{escape(seconds_text(float(step["mean_seconds"])))}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))

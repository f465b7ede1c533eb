"""Charts drawn on the server as inline SVG: no script, no library, nothing fetched.

`bar_chart` draws requests per bucket as bars with the blocked part in a second colour;
`week_picture` draws a schedule's minute-of-week intervals on seven day rows. Both scale
with the viewBox, so one drawing fits a 360 px phone and a desktop; colours come from
CSS classes, and every chart has a <title> and a text summary for screen readers.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

from guardian.logstore.queries import SeriesPoint
from guardian.policy.schedules import DAY_NAMES

WIDTH, HEIGHT, LEFT, BOTTOM = 600, 190, 56, 32
# The charts scale with the page, so a label's size on screen is its font size times the
# drawing's scale: style.css sets the tick size per screen width so labels stay >= 11 px.


def _nice_max(value: int) -> int:
    """A round number at or above `value` for the axis (1, 2, 5 × 10^n)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def bar_chart(points: Sequence[SeriesPoint], labels: Sequence[str], title: str) -> Markup:
    """Bars for `points`; `labels[i]` names bucket i (only some are printed under the axis)."""
    top = _nice_max(max((p.requests for p in points), default=0) or 1)
    plot_w, plot_h = WIDTH - LEFT - 4, HEIGHT - BOTTOM - 8
    slot = plot_w / max(len(points), 1)
    bar_w = max(slot * 0.8, 1)
    every = max(1, len(points) // 8)  # at most about eight labels, or they collide on a phone
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>",
             f'<line class="axis" x1="{LEFT}" y1="{8 + plot_h}" x2="{WIDTH - 4}" y2="{8 + plot_h}"/>',
             f'<text class="tick" x="{LEFT - 4}" y="20" text-anchor="end">{top}</text>',
             f'<text class="tick" x="{LEFT - 4}" y="{8 + plot_h}" text-anchor="end">0</text>']
    for i, (point, label) in enumerate(zip(points, labels, strict=True)):
        x = LEFT + i * slot + (slot - bar_w) / 2
        total_h = plot_h * point.requests / top
        blocked_h = plot_h * point.blocked / top
        tip = f"{label}: {point.requests} requests, {point.blocked} blocked"
        parts.append(f'<g><title>{escape(tip)}</title>'
                     f'<rect class="bar" x="{x:.1f}" y="{8 + plot_h - total_h:.1f}" width="{bar_w:.1f}" '
                     f'height="{total_h:.1f}"/>'
                     f'<rect class="bar-blocked" x="{x:.1f}" y="{8 + plot_h - blocked_h:.1f}" '
                     f'width="{bar_w:.1f}" height="{blocked_h:.1f}"/></g>')
        if i % every == 0:
            parts.append(f'<text class="tick" x="{x + bar_w / 2:.1f}" y="{HEIGHT - 7}" '
                         f'text-anchor="middle">{escape(label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def week_picture(intervals: Sequence[tuple[int, int]], title: str) -> Markup:
    """Seven rows (Monday first) of 24 hours; shaded where the intervals (minutes of the
    week, [start, end)) cover."""
    row_h, left, width = 22, 40, 400
    plot_w = width - left - 4
    height = 7 * row_h + 20
    parts = [f'<svg class="week" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>"]
    for day, name in enumerate(DAY_NAMES):
        y = day * row_h
        parts.append(f'<text class="tick" x="{left - 4}" y="{y + 16}" text-anchor="end">{name[:3]}</text>'
                     f'<rect class="day" x="{left}" y="{y + 2}" width="{plot_w}" height="{row_h - 4}"/>')
        for lo, hi in intervals:
            start, end = max(lo, day * 1440), min(hi, (day + 1) * 1440)
            if start < end:
                x = left + plot_w * (start - day * 1440) / 1440
                w = plot_w * (end - start) / 1440
                parts.append(f'<rect class="off" x="{x:.1f}" y="{y + 2}" width="{w:.1f}" height="{row_h - 4}"/>')
    for hour in (0, 6, 12, 18, 24):
        x = left + plot_w * hour / 24
        anchor = "end" if hour == 24 else "middle"  # centred, "24:00" would run past the edge
        parts.append(f'<text class="tick" x="{x:.1f}" y="{height - 3}" text-anchor="{anchor}">{hour:02d}:00</text>')
    parts.append("</svg>")
    return Markup("".join(parts))

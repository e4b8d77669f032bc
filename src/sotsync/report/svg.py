"""Inline SVG charts for the report page: weekly bars and a snapshot timeline.

Pure string building: every text is escaped, every size is computed, nothing is fetched.  The
charts carry ``<title>`` elements, so a browser shows exact values on hover without script.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape

BAR_AREA = 640
BAR_HEIGHT = 140
TIMELINE_WIDTH = 720
ROW_HEIGHT = 28
MAX_BAR = 36
LABELLED_BARS = 20  # up to this many bars, each shows its count
LABEL_WIDTH = 150


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def bar_chart(points: Sequence[tuple[str, int]], label: str) -> str:
    """Vertical bars, one per (week start, count); the first and last week are labelled."""
    if not points:
        return '<p class="empty">no dated entries</p>'
    top = max(count for _week, count in points) or 1
    step = min(BAR_AREA / len(points), MAX_BAR)
    width = max(step - 2, 1)
    labelled = len(points) <= LABELLED_BARS
    parts = [
        f'<svg class="bars" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'aria-label="{escape(label)}" width="{BAR_AREA + 40}" height="{BAR_HEIGHT + 36}" '
        f'viewBox="0 0 {BAR_AREA + 40} {BAR_HEIGHT + 36}">',
        f'<text x="0" y="12" class="axis">{top}</text>',
        f'<line x1="30" y1="{BAR_HEIGHT + 16}" x2="{BAR_AREA + 34}" y2="{BAR_HEIGHT + 16}" '
        'class="base"/>',
    ]
    for n, (week, count) in enumerate(points):
        height = BAR_HEIGHT * count / top
        x = 32 + n * step
        y = BAR_HEIGHT + 16 - height
        parts.append(
            f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(width)}" height="{_num(height)}">'
            f"<title>week of {escape(week)}: {count} entr{'y' if count == 1 else 'ies'}</title>"
            "</rect>"
        )
        if labelled and count:
            parts.append(
                f'<text x="{_num(x + width / 2)}" y="{_num(y - 3)}" class="axis" '
                f'text-anchor="middle">{count}</text>'
            )
    end = 32 + (len(points) - 1) * step + width
    first, last = escape(points[0][0]), escape(points[-1][0])
    if len(points) == 1 or end - 32 < 180:  # too narrow for two labels: one range label
        text = first if len(points) == 1 else f"{first} – {last}"
        parts.append(f'<text x="32" y="{BAR_HEIGHT + 32}" class="axis">{text}</text>')
    else:
        parts.append(f'<text x="32" y="{BAR_HEIGHT + 32}" class="axis">{first}</text>')
        parts.append(
            f'<text x="{_num(end)}" y="{BAR_HEIGHT + 32}" class="axis" text-anchor="end">'
            f"{last}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def timeline(devices: Sequence[tuple[str, Sequence[tuple[datetime, str]]]]) -> str:
    """One row per device, one dot per snapshot (time, tooltip), on a shared time axis."""
    moments = [when for _device, shots in devices for when, _tip in shots]
    if not moments:
        return '<p class="empty">no snapshots</p>'
    first, last = min(moments), max(moments)
    span = max((last - first).total_seconds(), 1.0)
    plot = TIMELINE_WIDTH - LABEL_WIDTH - 20
    height = ROW_HEIGHT * len(devices) + 30
    parts = [
        f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'aria-label="snapshot timeline" width="{TIMELINE_WIDTH}" height="{height}" '
        f'viewBox="0 0 {TIMELINE_WIDTH} {height}">'
    ]
    for row, (device, shots) in enumerate(devices):
        y = 18 + row * ROW_HEIGHT
        parts.append(f'<text x="0" y="{y + 4}" class="device">{escape(device)}</text>')
        parts.append(
            f'<line x1="{LABEL_WIDTH}" y1="{y}" x2="{LABEL_WIDTH + plot}" y2="{y}" class="base"/>'
        )
        for when, tip in shots:
            x = LABEL_WIDTH + plot * (when - first).total_seconds() / span
            parts.append(
                f'<circle cx="{_num(x)}" cy="{y}" r="5"><title>{escape(tip)}</title></circle>'
            )
    axis_y = height - 4
    parts.append(
        f'<text x="{LABEL_WIDTH}" y="{axis_y}" class="axis">'
        f"{first.strftime('%Y-%m-%d %H:%MZ')}</text>"
    )
    parts.append(
        f'<text x="{LABEL_WIDTH + plot}" y="{axis_y}" class="axis" text-anchor="end">'
        f"{last.strftime('%Y-%m-%d %H:%MZ')}</text>"
    )
    parts.append("</svg>")
    return "".join(parts)

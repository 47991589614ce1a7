"""Bar charts drawn on the server as inline SVG: no script, no CDN.

Colours are CSS classes (``admin.css``) and the axis text uses the admin's own colour
variables, so a chart follows the light and the dark theme. Each chart carries its text
alternative: a title and summary for screen readers, and the figures as a table.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

WIDTH, HEIGHT = 560, 180
LEFT, RIGHT, TOP, BOTTOM = 34, 8, 10, 34


@dataclass(frozen=True)
class Series:
    """One stacked layer: its name, its CSS class suffix, one value per bar."""

    label: str
    css: str
    values: list[int]


def _ceiling(value: int) -> int:
    """A round top for the y axis: 1, 2, 5, 10, 20, 50, ..."""
    top = 1
    while True:
        for step in (1, 2, 5):
            if top * step >= value:
                return top * step
        top *= 10


def stacked_bars(title: str, labels: list[str], series: list[Series]) -> SafeString:
    """An SVG of one bar per label, the series stacked, with a table of the figures."""
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    top = _ceiling(max(totals, default=0) or 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(labels), 1)
    bar = slot * 0.7
    parts: list[str] = []
    for fraction in (0, 0.5, 1):
        y = TOP + plot_h * (1 - fraction)
        parts.append(
            format_html(
                '<line class="laaffic-chart-grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
                '<text class="laaffic-chart-axis" x="{}" y="{}" text-anchor="end">{}</text>',
                LEFT,
                WIDTH - RIGHT,
                f"{y:.1f}",
                f"{y:.1f}",
                LEFT - 4,
                f"{y + 4:.1f}",
                _number(top * fraction),
            )
        )
    for i, label in enumerate(labels):
        x = LEFT + slot * i + (slot - bar) / 2
        base: float = TOP + plot_h
        for layer in series:
            value = layer.values[i]
            if not value:
                continue
            height = plot_h * value / top
            base -= height
            parts.append(
                format_html(
                    '<rect class="laaffic-chart-{}" x="{}" y="{}" width="{}" height="{}">'
                    "<title>{}: {} {}</title></rect>",
                    layer.css,
                    f"{x:.1f}",
                    f"{base:.1f}",
                    f"{bar:.1f}",
                    f"{height:.1f}",
                    label,
                    layer.label,
                    value,
                )
            )
        if i % 2 == 0 or len(labels) <= 7:
            parts.append(
                format_html(
                    '<text class="laaffic-chart-axis" x="{}" y="{}" text-anchor="middle">{}</text>',
                    f"{x + bar / 2:.1f}",
                    HEIGHT - BOTTOM + 16,
                    label,
                )
            )
    total = sum(totals)
    summary = gettext("%(total)d in all; most on one day: %(most)d.") % {
        "total": total,
        "most": max(totals, default=0),
    }
    legend = format_html_join(
        "",
        '<li><span class="laaffic-chart-key laaffic-chart-{}"></span>{}</li>',
        ((s.css, s.label) for s in series if len(series) > 1),
    )
    svg = format_html(
        '<svg class="laaffic-chart" viewBox="0 0 {} {}" role="img" aria-label="{}">'
        "<title>{}</title><desc>{}</desc>{}</svg>",
        WIDTH,
        HEIGHT,
        f"{title}. {summary}",
        title,
        summary,
        mark_safe("".join(parts)),  # each part built by format_html above
    )
    return format_html(
        '<figure class="laaffic-chart-figure"><figcaption>{}</figcaption>{}{}{}</figure>',
        title,
        svg,
        format_html('<ul class="laaffic-chart-legend">{}</ul>', legend) if legend else "",
        _table(title, labels, series, totals),
    )


def _table(title: str, labels: list[str], series: list[Series], totals: list[int]) -> str:
    head = "".join(f"<th scope='col'>{escape(s.label)}</th>" for s in series)
    rows = "".join(
        "<tr><th scope='row'>{}</th>{}{}</tr>".format(
            escape(label),
            "".join(f"<td>{s.values[i]}</td>" for s in series),
            f"<td>{totals[i]}</td>" if len(series) > 1 else "",
        )
        for i, label in enumerate(labels)
    )
    total_head = f"<th scope='col'>{escape(gettext('Total'))}</th>" if len(series) > 1 else ""
    return format_html(
        '<details class="laaffic-chart-data"><summary>{}</summary>'
        '<table><caption class="visually-hidden">{}</caption>'
        "<thead><tr><th scope='col'>{}</th>{}</tr></thead><tbody>{}</tbody></table></details>",
        gettext("Figures as a table"),
        title,
        gettext("Day"),
        mark_safe(head + total_head),  # escaped above
        mark_safe(rows),  # labels escaped above, values are integers
    )


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"

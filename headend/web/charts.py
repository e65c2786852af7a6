"""The county pages' charts, drawn on the server as SVG with pygal: readable without JavaScript,
printable, in Chinese with the CJK font the pages use. pygal's inline configuration script is
removed (the charts need none), so every chart is plain markup."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pygal
from markupsafe import Markup
from pygal.style import Style

FONT = '"WenQuanYi Micro Hei", "Noto Sans CJK SC", sans-serif'
STYLE = Style(
    font_family=FONT,
    title_font_family=FONT,
    label_font_family=FONT,
    legend_font_family=FONT,
    value_font_family=FONT,
    major_label_font_family=FONT,
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1d2329",
    foreground_strong="#1d2329",
    foreground_subtle="#5b6570",
    colors=("#b3261e", "#1f6fb2", "#2e7d32", "#8e6c00"),
    title_font_size=18,
    label_font_size=14,
    major_label_font_size=14,
    legend_font_size=15,
    value_font_size=14,
)
_SCRIPT = re.compile(r"<script\b.*?</script>", re.S)
_TITLE = re.compile(r"<title>Pygal</title>")


def _number(value: float | None) -> str:
    """Axis and tooltip numbers as people write them: 1,234 or 12.5, never 2817.1428."""
    if value is None:
        return ""
    return f"{value:,.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:,.1f}"


def _common(title: str, width: int, height: int) -> dict:
    return {
        "title": title,
        "js": [],
        "disable_xml_declaration": True,
        "style": STYLE,
        "width": width,
        "height": height,
        "legend_at_bottom": True,
        "no_data_text": "暂无数据",
        "print_values": False,
        "margin": 12,
        "explicit_size": False,
        "truncate_label": -1,  # never "…": Chinese labels are short
        "truncate_legend": -1,
        "value_formatter": _number,
        "formatter": _number,
    }


def _svg(chart, title: str) -> Markup:
    svg = chart.render(is_unicode=True)
    svg = _SCRIPT.sub("", svg)
    svg = _TITLE.sub(f"<title>{Markup.escape(title)}</title>", svg, count=1)
    return Markup(svg.replace("<svg ", '<svg role="img" ', 1))


def trend(
    title: str, labels: Sequence[str], person_times: Sequence[int | None], hours: Sequence[float | None]
) -> Markup:
    """人次 as bars and study hours as a line (its own axis), one point a month; None: no data."""
    chart = pygal.Bar(**_common(title, 720, 300), x_label_rotation=0, show_minor_x_labels=True)
    chart.x_labels = list(labels)
    if any(v is not None for v in person_times):  # pygal cannot scale a series with no value at all
        chart.add("人次", list(person_times))
        chart.add("学习时长（小时）", [round(h, 1) if h is not None else None for h in hours], secondary=True)
    return _svg(chart, title)


def ranking(title: str, names: Sequence[str], values: Sequence[float], unit: str) -> Markup:
    """A horizontal bar per name (highest first as given)."""
    height = 60 + 28 * max(1, len(names))
    chart = pygal.HorizontalBar(**_common(title, 720, height), show_legend=False)
    chart.x_labels = list(reversed(names))
    chart.add(unit, list(reversed([round(v, 1) for v in values])))
    return _svg(chart, title)


def line(title: str, labels: Sequence[str], values: Sequence[float | None], series: str, top: float = 100) -> Markup:
    """One value per label as a line from 0 to ``top``; None where nothing is known."""
    chart = pygal.Line(
        **_common(title, 720, 260),
        range=(0, top),
        show_legend=False,
        x_labels_major_every=max(1, len(labels) // 8),
        show_minor_x_labels=False,
        dots_size=2,
    )
    chart.x_labels = list(labels)
    if any(v is not None for v in values):
        chart.add(series, [round(v, 1) if v is not None else None for v in values])
    return _svg(chart, title)


def share(title: str, labels: Sequence[str], shares: Sequence[float | None]) -> Markup:
    """A share (0–1) over time, drawn as 0–100 %."""
    return line(title, labels, [100 * s if s is not None else None for s in shares], "在线站点占比 %")

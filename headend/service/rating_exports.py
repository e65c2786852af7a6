"""A rating table as the county circulates it: rows of cells (the ranking page, ``headend
ratings``), CSV as Excel opens it (UTF-8 with a BOM) and XLSX (openpyxl), the Chinese intact.
A station that is not ranked says why (数据不全) instead of a rank."""

from __future__ import annotations

import io

from catalogue.plausibility import GROUP_WORDS, Flag
from headend.service.exports import csv_text
from headend.service.ratings import Entry, RatingTable

STAR = "★"


def stars_text(stars: int) -> str:
    return STAR * stars if stars else "未达星级"


def flag_state_words(flag: Flag) -> str:
    """What became of a flag's figures, in the words the page, the CLI and the XLSX all use."""
    return "已复核，计入" if flag.counted else GROUP_WORDS[flag.voids]


def head(t: RatingTable) -> list[str]:
    return [
        "县内排名",
        "镇内排名",
        "站点编号",
        "站点名称",
        "地区",
        "总分",
        "星级",
        "状态",
        "数据覆盖",
        "较上期",
        "存疑标记",
        *(f"{i.label}({i.weight:g})" for i in t.rubric.indicators),
    ]


def row(e: Entry) -> list[object]:
    r = e.rating
    ranked = r.status == "ranked"
    points = {s.indicator: s.points for s in r.scores}
    change = e.change
    return [
        e.county_rank if ranked else r.status_words,
        e.township_rank if ranked else "",
        e.station.id,
        e.station.name,
        "/".join(e.station.region),
        r.total,
        stars_text(r.stars) if ranked else r.status_words,
        r.status_words,
        f"{r.coverage * 100:.0f}%",
        "" if change is None else f"{change:+g}",
        sum(1 for f in r.flags if not f.counted),
        *points.values(),
    ]


def rows(t: RatingTable) -> list[list[object]]:
    return [row(e) for e in t.entries]


def as_csv(t: RatingTable) -> bytes:
    return csv_text(head(t), rows(t)).encode("utf-8")


def as_xlsx(t: RatingTable) -> bytes:
    """The ranking as a worksheet, with a second sheet explaining each station's indicators."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "排名"
    title = f"{t.rubric.title}　{t.period.label}（{t.state_words}）"
    ws.append([title])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append(head(t))
    for cell in ws[2]:
        cell.font = Font(bold=True)
    for r in rows(t):
        ws.append(r)
    ws.freeze_panes = "A3"
    for col, width in zip("ABCDEFGHIJK", (9, 9, 24, 26, 36, 8, 10, 10, 9, 8, 9), strict=True):
        ws.column_dimensions[col].width = width
    why = wb.create_sheet("评分说明")
    why.append(["站点编号", "站点名称", "指标", "得分", "满分", "说明"])
    for e in t.entries:
        for s in e.rating.scores:
            why.append([e.station.id, e.station.name, s.label, s.points, s.weight, s.reason])
        for f in e.rating.flags:
            state = flag_state_words(f)
            why.append([e.station.id, e.station.name, f"存疑：{f.label}", "", "", f"{f.day} {f.evidence}（{state}）"])
    why.column_dimensions["F"].width = 80
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()

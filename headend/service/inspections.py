"""What county staff add to a station's star rating by hand: an inspection score from a visit
(an item of the rubric's ``[[inspection]]`` list, 0 … its ``max``, with a note and an optional
photo kept as ``<root>/evidence/<sha256>.<ext>``) and an admin's override of a plausibility flag
(a written reason; its figures count again while the flag's evidence stays the one judged).
Both are checked here, stored through ``db.ratings`` and audit-logged; the web page only reads
the form and calls these. Blocking: the web layer calls them in a thread. Mistakes are
``BadRequest`` (400) saying what to change; a flag that is not there is ``NotFound``.

The newest visit of an item is the one that counts, so a date may not quietly replace another
inspector's score: an inspection dated before the latest recorded visit of the same item at the
station, or more than ``MAX_BACKDATE_DAYS`` ago, is refused unless an admin records it."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from catalogue.periods import Period
from catalogue.rubric import InspectionItem
from headend.db import now_iso
from headend.db.records import Station
from headend.errors import BadRequest, NotFound
from headend.service.audit import Actor, audit
from headend.service.ratings import check_override, current_rubric, ratings_table, today_china
from headend.service.root import Headend
from playlists.atomic import atomic_write

MAX_PHOTO_BYTES = 5 * 1024 * 1024
MAX_NOTE_CHARS = 500
MIN_REASON_CHARS, MAX_REASON_CHARS = 4, 500
MAX_BACKDATE_DAYS = 92  # an inspection older than this needs an admin
EVIDENCE_NAME = re.compile(r"[0-9a-f]{64}\.(jpg|png)\Z")
_MAGIC = ((b"\xff\xd8\xff", "jpg"), (b"\x89PNG\r\n\x1a\n", "png"))
CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png"}


@dataclass(frozen=True)
class InspectionForm:
    """An inspection as the page posted it (text as typed; ``photo`` the file's bytes, or None)."""

    item: str
    score: str
    on: str  # ISO date, "" for today
    note: str = ""
    photo: bytes | None = None


def photo_kind(data: bytes) -> str | None:
    """ "jpg" or "png" by the file's first bytes (whatever its name says); None for anything else."""
    return next((ext for magic, ext in _MAGIC if data.startswith(magic)), None)


def store_photo(h: Headend, data: bytes) -> str:
    """Keep a JPEG or PNG photo under ``<root>/evidence/`` named by its sha256; its file name."""
    if len(data) > MAX_PHOTO_BYTES:
        raise BadRequest(
            f"照片 {len(data) / 1048576:.1f} MB，超过 {MAX_PHOTO_BYTES // 1048576} MB 的上限；请缩小后再上传",
            field="photo",
        )
    ext = photo_kind(data)
    if ext is None:
        raise BadRequest("照片只能是 JPEG 或 PNG 图片（这个文件不是）；请换一张照片", field="photo")
    name = f"{hashlib.sha256(data).hexdigest()}.{ext}"
    path = h.cfg.evidence_dir / name
    if not path.exists():
        atomic_write(path, data, mode=0o644)
    return name


def evidence_file(h: Headend, name: str) -> Path:
    """The stored photo called ``name``; NotFound for any other name or a missing file."""
    path = h.cfg.evidence_dir / name
    if not EVIDENCE_NAME.match(name) or not path.is_file():
        raise NotFound(f"没有这张照片（no evidence {name[:80]}）")
    return path


def _score(text: str, top: float, label: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        value = float("nan")
    if not 0 <= value <= top:  # also NaN
        raise BadRequest(f"{label}的得分应在 0 到 {top:g} 分之间（填的是 {text.strip()[:20] or '空'}）", field="score")
    return value


def _day(text: str, today: date) -> date:
    text = text.strip()
    if not text:
        return today
    try:
        on = date.fromisoformat(text[:10])
    except ValueError:
        raise BadRequest(f"检查日期 {text[:20]!r} 无法识别；请按 2026-11-20 的格式填写", field="on") from None
    if on > today:
        raise BadRequest(f"检查日期 {on.isoformat()} 还没到；只能登记今天或以前的检查", field="on")
    return on


def _check_order(h: Headend, station: Station, item: InspectionItem, on: date, today: date) -> None:
    """Refuse a date that would replace a newer visit's score, or one long past (admins may)."""
    if (today - on).days > MAX_BACKDATE_DAYS:
        raise BadRequest(
            f"检查日期 {on.isoformat()} 已是 {(today - on).days} 天以前（超过 {MAX_BACKDATE_DAYS} 天）；"
            "请填写实际检查日期，确需补登这么早的检查请由管理员登记",
            field="on",
        )
    latest = next((v for v in h.db.ratings.inspections(station.id) if v.item == item.id), None)
    if latest is not None and on.isoformat() < latest.inspected_on:
        raise BadRequest(
            f"{station.name}的{item.label}已有 {latest.inspected_on} 的检查记录（检查人 {latest.inspector}），"
            f"检查日期 {on.isoformat()} 比它早，登记后会改变已有的评分；"
            f"请填写 {latest.inspected_on} 或以后的实际检查日期，确需补登更早的检查请由管理员登记",
            field="on",
        )


def record_inspection(
    h: Headend,
    actor: Actor,
    station: Station,
    form: InspectionForm,
    now: datetime | None = None,
    *,
    admin: bool = False,
) -> int:
    """Check and store one inspection score by ``actor`` (the inspector); its id. Audit-logged.
    ``admin``: the account is an admin, who may date it before the latest visit or long ago."""
    today = today_china(now or datetime.now(UTC))
    rubric = current_rubric(h)
    item = rubric.inspection(form.item.strip())
    if item is None:
        items = "、".join(f"{i.label}（{i.id}）" for i in rubric.inspections) or "无"
        raise BadRequest(f"没有检查项 {form.item[:40]!r}；评分标准中的检查项：{items}", field="item")
    score = _score(form.score, item.max, item.label)
    on = _day(form.on, today)
    if not admin:
        _check_order(h, station, item, on, today)
    note = form.note.strip()
    if len(note) > MAX_NOTE_CHARS:
        raise BadRequest(f"备注 {len(note)} 字，最多 {MAX_NOTE_CHARS} 字；请删短一些", field="note")
    photo = store_photo(h, form.photo) if form.photo else ""
    new_id = h.db.ratings.add_inspection(station.id, item.id, score, note, photo, on, actor.name, now_iso())
    audit(
        h,
        actor,
        "rating.inspection",
        f"{station.id}/{item.id}",
        {"id": new_id, "item": item.label, "score": score, "on": on.isoformat(), "note": note, "photo": photo},
        station.region,
    )
    return new_id


def override_flag(h: Headend, actor: Actor, station: Station, period: Period, day: str, rule: str, reason: str) -> bool:
    """An admin says a flag of ``station`` in ``period`` is wrong, and why: its figures count
    again from the next look, while the flag's evidence stays what the admin saw (worse figures
    later flag the day again). False when that evidence was already overridden (the first reason
    stands). Only a flag the station has in a provisional period; audit-logged."""
    check_override(rule, day)
    reason = reason.strip()
    if not MIN_REASON_CHARS <= len(reason) <= MAX_REASON_CHARS:
        raise BadRequest(
            f"请写明复核理由（{MIN_REASON_CHARS} 到 {MAX_REASON_CHARS} 字，现在 {len(reason)} 字）", field="reason"
        )
    table = ratings_table(h, period, stations=[station])
    if table.state == "frozen":
        raise BadRequest(f"{period.label}的评定已定稿，存疑标记不能再复核", field="period")
    entry = table.entry(station.id)
    flag = next((f for f in entry.rating.flags if (f.rule, f.day) == (rule, day)), None) if entry else None
    if flag is None:
        raise NotFound(f"{station.name}在{period.label}没有这个存疑标记（{day} {rule}）")
    if not h.db.ratings.add_override(station.id, day, rule, actor.name, reason, now_iso(), evidence=flag.evidence):
        return False
    audit(
        h,
        actor,
        "rating.override",
        f"{station.id}/{day}/{rule}",
        {
            "period": period.name,
            "day": day,
            "rule": rule,
            "label": flag.label,
            "evidence": flag.evidence,
            "reason": reason,
        },
        station.region,
    )
    return True

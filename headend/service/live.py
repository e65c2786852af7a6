"""Live classes (网络党课) for the county: schedule one (``add_live``: an editor on /county/live or
``headend live add``), cancel it, and list them with what the encoder says (``classes``). The
schedule entry reaches the audience's TVs through the next publish (``repository.live``); at its
time ``headend serve`` encodes the source (``loops.live``); afterwards the recording becomes the
replay course."""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from catalogue.categories import find_category
from catalogue.course import MAX_DESCRIPTION_CHARS, MAX_TITLE_CHARS, course_id_for
from catalogue.ids import ID_RULE, is_id
from headend.courseware.live import LiveStatus, live_dir, read_status
from headend.courseware.profiles import profiles_for
from headend.db import LiveClass, now_iso
from headend.db.records import User
from headend.errors import AccessDenied, BadRequest, NotFound
from headend.repository.live import audience_of, end_of, playlist_name, start_of
from headend.service.audit import Actor, audit
from headend.service.live_scope import check_reach, station_regions, touches, within
from headend.service.root import Headend
from playlists import INDEX_NAME, Audience, Index, RepositoryError
from playlists.atomic import atomic_write, fsync_dir

MAX_DURATION_MIN = 12 * 60


def add_live(
    h: Headend,
    actor: Actor,
    live_id: str,
    title: str,
    start: datetime,
    duration_min: float,
    audience: Audience,
    category: str = "party",
    description: str = "",
    source: str = "",
    now: datetime | None = None,
    account: User | None = None,
) -> LiveClass:
    """Schedule a class; BadRequest (naming the field) for anything wrong, nothing stored.
    ``account`` (the county page's editor; None at the command line) may only reach stations of
    its own region (``check_reach``)."""
    now = now or datetime.now(UTC)
    if not is_id(live_id):
        raise BadRequest(
            f"编号“{live_id[:80]}”不合规则：只用小写字母、数字和“-”，1–64 个字，以字母或数字开头（{ID_RULE}）",
            field="id",
        )
    title = title.strip()
    if not title or len(title) > MAX_TITLE_CHARS:
        raise BadRequest(f"标题须为 1–{MAX_TITLE_CHARS} 个字（title: 1-{MAX_TITLE_CHARS} characters）", field="title")
    if not 1 <= duration_min <= MAX_DURATION_MIN:
        raise BadRequest(
            f"时长须为 1–{MAX_DURATION_MIN} 分钟（duration: 1-{MAX_DURATION_MIN} minutes）", field="duration"
        )
    if start.tzinfo is None:
        raise BadRequest("开始时间须带时区（start needs a time zone）", field="start")
    try:
        (start + timedelta(minutes=duration_min)).astimezone(UTC), start.astimezone(UTC)
    except OverflowError:  # year 1 or 9999: no time to broadcast in
        raise BadRequest("开始时间超出了日历（start: outside the calendar）", field="start") from None
    if start + timedelta(minutes=duration_min) <= now:
        raise BadRequest("这个时间已经过去了（the class would already be over）", field="start")
    found = find_category(category)
    if found is None:
        raise BadRequest(f"没有这个分类：{category[:40]}（unknown category）", field="category")
    if len(description.strip()) > MAX_DESCRIPTION_CHARS:
        raise BadRequest(
            f"简介最多 {MAX_DESCRIPTION_CHARS} 个字（description: at most {MAX_DESCRIPTION_CHARS} characters）",
            field="description",
        )
    if any(c in source for c in "\r\n\0") or len(source) > 2000:
        raise BadRequest("信号源地址不对（source: one line, at most 2000 characters）", field="source")
    if account is not None:
        check_reach(account, audience, station_regions(h))
    clash = [
        x
        for x in h.db.live.all(now_iso())
        if not x.cancelled_at
        and start_of(x) < start + timedelta(minutes=duration_min)
        and end_of(x) > start
        and _shares_stations(x, audience)
    ]
    if clash:
        x = clash[0]
        raise BadRequest(
            f"与直播《{x.title}》（{x.id}）时间重叠、观众相同；请换个时间（overlaps live class {x.id}）", field="start"
        )
    live = LiveClass(
        id=live_id,
        title=title,
        category=found.id,
        description=description.strip(),
        start_at=start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        duration_s=float(duration_min) * 60,
        audience={
            "stations": audience.stations,
            "regions": tuple("/".join(r) for r in audience.regions),
            "tags": audience.tags,
        },
        source=source.strip(),
        created_by=actor.name,
        created_at=now_iso(),
    )
    if not h.db.live.add(live):
        raise BadRequest(f"编号 {live_id} 已经用过了（the id is taken）", field="id")
    audit(
        h,
        actor,
        "live.add",
        live_id,
        {"title": title, "start": live.start_at, "audience": audience.describe()},
        _audit_region(audience),
    )
    return live


def _audit_region(audience: Audience) -> tuple[str, ...]:
    """The region an audit entry belongs to: the audience's one region, or none (every admin sees it)."""
    return audience.regions[0] if len(audience.regions) == 1 and not (audience.stations or audience.tags) else ()


def _shares_stations(x: LiveClass, audience: Audience) -> bool:
    """Whether two audiences may reach one station (conservatively: both everyone, or a common
    station, tag or a region one of them contains)."""
    other = Audience(
        stations=x.audience.get("stations", ()),
        regions=tuple(tuple(r.split("/")) for r in x.audience.get("regions", ())),
        tags=x.audience.get("tags", ()),
    )
    if other.everyone or audience.everyone:
        return True
    if set(other.stations) & set(audience.stations) or set(other.tags) & set(audience.tags):
        return True
    return any(a[: len(b)] == b or b[: len(a)] == a for a in other.regions for b in audience.regions)


def cancel_live(h: Headend, actor: Actor, live_id: str, account: User | None = None) -> LiveClass:
    """Withdraw a class (at the next publish). ``account`` (the county page's; None at the command
    line): a class it cannot see is a NotFound, one reaching beyond its region an AccessDenied."""
    x = get_live(h, live_id)
    if account is not None:
        regions = station_regions(h)
        if not touches(x, account.region, regions):
            raise NotFound(f"没有这个直播：{live_id}（no such live class）")
        if not within(x, account, regions):
            raise AccessDenied(
                f"直播 {live_id} 面向的站点超出账号 {account.name} 的地区，只能由不限地区的账号取消"
                "（the class reaches beyond the account's region）"
            )
    if not h.db.live.cancel(live_id, now_iso()):
        raise BadRequest(f"直播 {live_id} 已经取消了（already cancelled）", field="id")
    audit(h, actor, "live.cancel", live_id, {"title": x.title}, _audit_region(audience_of(x)))
    return x


def get_live(h: Headend, live_id: str) -> LiveClass:
    x = h.db.live.get(live_id) if is_id(live_id) else None
    if x is None:
        raise NotFound(f"没有这个直播：{live_id[:80]}（no such live class）")
    return x


def published_classes(h: Headend) -> set[str]:
    """The ids of the classes whose playlist the published index names (the stations get them)."""
    try:
        index = Index.from_bytes((h.cfg.repo_dir / INDEX_NAME).read_bytes())
    except (OSError, RepositoryError):  # none published yet, or one the publishing page names as broken
        return set()
    names = {p.name for p in index.playlists}
    return {x.id for x in h.db.live.all() if playlist_name(x.id) in names}


@dataclass(frozen=True)
class Item:
    """A class as the county page and ``headend live list`` show it."""

    live: LiveClass
    state: str  # scheduled, soon, on_air, waiting, ended, failed, cancelled
    words: str
    encoder: LiveStatus | None  # what the encoder last wrote (None before it started)
    over: bool = False  # cancelled, or its time is past (a class that failed on air is not over yet)


STATE_WORDS = {
    "scheduled": "未开始",
    "soon": "即将开始",
    "on_air": "直播中",
    "waiting": "信号中断，等待重连",
    "ended": "已结束",
    "failed": "编码失败",
    "cancelled": "已取消",
}


def _status(h: Headend, live_id: str) -> LiveStatus | None:
    try:
        return read_status(h.cfg, live_id)
    except (OSError, ValueError, TypeError):  # a damaged status file says nothing
        return None


def classes(h: Headend, now: datetime | None = None, region: Sequence[str] = ()) -> list[Item]:
    """Every class (that may reach a station of ``region``: ``touches``), the coming and running
    first (by start), then the past (newest first)."""
    now = now or datetime.now(UTC)
    out = []
    regions = station_regions(h) if region else {}
    for x in h.db.live.all():
        if region and not touches(x, region, regions):
            continue
        enc = _status(h, x.id)
        start, end = start_of(x), end_of(x)
        said = enc.state if enc else ""
        if x.cancelled_at:
            state = "cancelled"
        elif now >= end:
            state = "failed" if said == "failed" else "ended"
        elif said in ("failed", "waiting"):
            state = said
        elif now >= start:
            state = "on_air"
        elif now >= start - timedelta(seconds=h.cfg.live.start_early_s):
            state = "soon"
        else:
            state = "scheduled"
        out.append(Item(x, state, STATE_WORDS[state], enc, over=bool(x.cancelled_at) or now >= end))
    coming = sorted((i for i in out if not i.over), key=lambda i: i.live.start_at)
    past = sorted((i for i in out if i.over), key=lambda i: i.live.start_at, reverse=True)
    return coming + past


FAILED_SHOWN_S = 24 * 3600  # the overview keeps a class that failed in view this long after its end


def headline(items: Sequence[Item], now: datetime | None = None) -> tuple[Item | None, list[Item]]:
    """What the overview's card says: the next class to start, and the classes on air, waiting
    for their signal, or failed (a failed one until ``FAILED_SHOWN_S`` after its end)."""
    now = now or datetime.now(UTC)
    coming = [i for i in items if i.state in ("scheduled", "soon")]
    current = [
        i
        for i in items
        if i.state in ("on_air", "waiting")
        or (i.state == "failed" and (now - end_of(i.live)).total_seconds() < FAILED_SHOWN_S)
    ]
    return (min(coming, key=lambda i: i.live.start_at) if coming else None), current


def item_json(i: Item) -> dict:
    """A class as ``headend live list --json`` and ``/api/v1/live`` give it."""
    x = i.live
    return {
        "id": x.id,
        "title": x.title,
        "category": x.category,
        "start": x.start_at,
        "end": end_of(x).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "audience": {k: list(v) for k, v in x.audience.items()},
        "state": i.state,
        "state_words": i.words,
        "encoder": json.loads(i.encoder.to_json()) if i.encoder else None,
        "replay": x.replay_course,
        "replay_published_at": x.replay_published_at,
        "cancelled_at": x.cancelled_at,
    }


# ---- what headend serve does at a class's time (loops.live) ------------------------------------


def source_of(h: Headend, x: LiveClass) -> str:
    """What the encoder reads: the class's own source, else ``[live] input`` for it."""
    return x.source or h.cfg.live.input.replace("{id}", x.id)


def due(h: Headend, now: datetime) -> list[LiveClass]:
    """The classes to encode now: not cancelled, from ``start_early_s`` before their start to
    their end."""
    early = timedelta(seconds=h.cfg.live.start_early_s)
    return [x for x in h.db.live.all(now_iso()) if not x.cancelled_at and start_of(x) - early <= now < end_of(x)]


def hand_over_recordings(h: Headend, now: datetime) -> list[str]:
    """Each ended class whose recording is made and not yet handed on: into the inbox with a
    sidecar (title, category, description from the class; the file linked, or copied, whole
    before it gets its name), its replay course id recorded. The ids of the classes handed on."""
    done = []
    recent = (now - timedelta(days=h.cfg.live.keep_days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for x in h.db.live.all(recent):  # (older ones are off the schedules: no replay for them now)
        if x.cancelled_at or x.recording_sha256 or end_of(x) > now:
            continue
        enc = _status(h, x.id)
        if enc is None or enc.state != "ended" or not enc.recording:
            continue
        src = live_dir(h.cfg, x.id) / enc.recording
        digest = hashlib.sha256()
        with open(src, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        sha = digest.hexdigest()
        inbox = h.cfg.inbox_dir
        inbox.mkdir(parents=True, exist_ok=True)
        name = f"live-{x.id}{src.suffix}"
        sidecar = {
            "title": x.title,
            "category": x.category,
            "description": x.description or f"直播课回看（{x.start_at[:10]}）",
            "tags": ["直播回看"],
        }
        atomic_write(inbox / f"live-{x.id}.toml", _toml(sidecar).encode("utf-8"))
        tmp = inbox / f".{name}.tmp"  # the watcher ignores it until it has its name
        tmp.unlink(missing_ok=True)
        try:
            os.link(src, tmp)
        except OSError:  # another file system: a copy
            with open(src, "rb") as a, open(tmp, "wb") as b:
                for block in iter(lambda: a.read(1 << 20), b""):
                    b.write(block)
                b.flush()
                os.fsync(b.fileno())
        os.replace(tmp, inbox / name)
        fsync_dir(inbox)
        if h.db.live.recorded(x.id, sha, course_id_for(sha)):
            done.append(x.id)
    return done


def _toml(d: dict) -> str:
    """A sidecar's TOML: its texts as JSON strings (a TOML basic string reads the same escapes)."""
    q = functools.partial(json.dumps, ensure_ascii=False)
    return "".join(f"{k} = {q(v)}\n" for k, v in d.items())


def replays_ready(h: Headend, now: datetime | None = None) -> list[LiveClass]:
    """Classes whose replay course now has a rendition for every player and was not published."""
    out = []
    recent = ((now or datetime.now(UTC)) - timedelta(days=h.cfg.live.keep_days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    candidates = [x for x in h.db.live.all(recent) if x.replay_course and not x.replay_published_at]
    profiles = profiles_for(h.cfg) if candidates else []
    for x in candidates:
        if not x.replay_course or x.replay_published_at or x.cancelled_at or not x.recording_sha256:
            continue
        if h.db.course(x.replay_course) is None:
            continue
        if all(h.db.rendition(x.recording_sha256, p.name, p.fingerprint) for p in profiles):
            out.append(x)
    return out

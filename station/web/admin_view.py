"""What the admin page shows, as plain values: the sync record with its progress bar, the last
error and since when, what is still to come, each mirror's health, the figures, the five-ones
labels, the star rating the county sent back, the villagers' questions with where the county has
them (pure; the template only prints these). Times are China time; failure reasons are named in
the page's language (``station.web.reasons``) with the engine's own words folded beside them.
``_`` is the request's translator (``station.i18n``)."""

from __future__ import annotations

from catalogue.display import china_time, duration, size
from catalogue.questions import ANSWERED, ASSIGNED, CLOSED, NEW, TOPICS
from players import ProfileError, profile
from station.i18n import N_, Gettext
from station.model import InstalledSet, MirrorHealth, Question, SyncStatus
from station.model.attendance import JournalUsage
from station.model.rating import HeldRating, PeriodRating
from station.model.reporting import UploadState
from station.web.reasons import explain

_STATES = {
    "ok": (N_("OK"), "ok"),
    "partial": (N_("Incomplete"), "bad"),
    "failed": (N_("Failed"), "bad"),
    "running": (N_("Syncing"), "busy"),
}
_COURSE_STATES = {
    "queued": N_("queued"),
    "downloading": N_("downloading"),
    "failed": N_("failed"),
}
FIVES_LABELS = {
    "place": N_("A fixed place"),
    "equipment": N_("A set of equipment"),
    "administrator": N_("One information administrator"),
    "rules": N_("A set of management rules"),
    "assessment": N_("A set of assessment methods"),
}
FIVES_HINTS = {
    "place": N_("Address or room, e.g. village committee meeting room"),
    "equipment": N_("TV, set-top box or mini-PC, broadband"),
    "administrator": N_("Name and phone of the administrator"),
    "rules": N_("Where the rules are posted"),
    "assessment": N_("How use is assessed, e.g. monthly review"),
}


def sync_view(_: Gettext, status: SyncStatus) -> dict:
    msg, css = _STATES.get(status.state, (N_("Never synced"), "none"))
    rows = [(_("Last attempt"), china_time(status.last_attempt)), (_("Last success"), china_time(status.last_success))]
    if status.index_version is not None:
        rows.append((_("Content version"), str(status.index_version)))
    if status.courses_installed is not None or status.courses_total is not None:
        rows.append(
            (
                _("Courses"),
                _(
                    "%(done)s installed of %(total)s",
                    done=_number(status.courses_installed),
                    total=_number(status.courses_total),
                ),
            )
        )
    if status.bytes_downloaded:
        last = _("%(size)s (%(n)d files)", size=size(status.bytes_downloaded), n=status.files_downloaded or 0)
        if status.downloaded_at:
            last += " · " + china_time(status.downloaded_at, seconds=False)
        rows.append((_("Last download"), last))
    if status.mirror:
        rows.append((_("Content source"), status.mirror))
    done, total, in_bytes = status.fraction()
    prog = status.progress
    bar = None
    if total:
        detail = (
            _("%(done)s of %(total)s", done=size(done), total=size(total))
            if in_bytes
            else _("%(done)d of %(total)d courses", done=int(done), total=int(total))
        )
        if status.running and prog and prog.rate_bytes_per_s:
            detail += " · " + _("%(rate)s/s", rate=size(prog.rate_bytes_per_s))
        if status.running and prog and prog.eta_s:
            detail += " · " + _("about %(left)s left", left=duration(_, prog.eta_s))
        bar = {"pct": int(100 * done / total), "detail": detail}
    if status.running and prog and prog.current:
        rows.append((_("Downloading now"), prog.current))
    if status.next_window:
        rows.append((_("Next download window"), china_time(status.next_window, seconds=False)))
    if status.space_needed_bytes:
        rows.append((_("Space still needed"), size(status.space_needed_bytes)))
    pending = [
        {
            "title": c.title,
            "state": _(_COURSE_STATES.get(c.state, N_("waiting"))),
            "reason": explain(_, c.reason).text,
            "bad": c.state == "failed",
        }
        for c in status.courses
        if c.state != "have"
    ]
    failures = list(status.failures)
    error = status.last_error or ""
    if error and failures and error == "; ".join(failures):
        error = ""  # the list below says the same, line by line
    return {
        "label": _(msg),
        "css": css,
        "running": status.running,
        "rows": rows,
        "bar": bar,
        "error": explain(_, "" if status.running else error),
        "error_since": china_time(status.error_since, seconds=False)
        if status.last_error and status.error_since
        else "",
        "failures": [explain(_, f) for f in failures],
        "pending": pending,
    }


def mirrors_view(_: Gettext, mirrors: list[tuple[str, MirrorHealth]]) -> list[dict]:
    """Each configured mirror: when it last worked, and its last error with the time."""
    return [
        {
            "url": url,
            "success": china_time(h.last_success),
            "error": explain(_, h.last_error),
            "error_at": china_time(h.last_error_at),
        }
        for url, h in mirrors
    ]


def _number(n: int | None) -> str:
    return "—" if n is None else str(n)


def player_label(name: str) -> str:
    try:
        return f"{profile(name).label}（{name}）"
    except ProfileError:
        return name


def figures_view(_, f) -> list[tuple[str, str]]:
    return [
        (
            _("Study sessions"),
            _("%(n)d (%(short)d more too short to count)", n=f.sessions, short=f.short_sessions)
            if f.short_sessions
            else str(f.sessions),
        ),
        (
            _("Person-times"),
            _(
                "%(total)d (sessions %(s)d, individual %(i)d)",
                total=f.person_times,
                s=f.session_person_times,
                i=f.individual_plays,
            ),
        ),
        (_("Hours watched"), f"{f.hours:.1f}"),
        (_("Lessons completed"), _("%(done)d of %(plays)d plays", done=f.completed, plays=f.plays)),
        (
            _("Live classes watched"),
            _(
                "%(n)d times, %(minutes)d minutes in all",
                n=f.live_plays,
                minutes=round(f.live_watched_s / 60),
            ),
        ),
        (_("Wrong admin PINs"), str(f.failed_logins)),
    ]


def journal_view(_: Gettext, u: JournalUsage) -> dict:
    """How full the attendance journal is, and the warning once it nears its budget."""
    used, budget = size(u.bytes), size(u.budget_bytes)
    warning = ""
    if u.full:
        warning = _(
            "The attendance journal is full (%(used)s of %(budget)s). Plays on the TV are not recorded "
            "until the headend has received the records; study sessions, the logbook and the five-ones "
            "are still recorded. Make sure the station can reach the headend, or raise budget_mb under "
            "[journal] in station.toml.",
            used=used,
            budget=budget,
        )
    elif u.near:
        warning = _(
            "The attendance journal is nearly full (%(used)s of %(budget)s). Once it is full, plays on "
            "the TV are no longer recorded (nothing already recorded is deleted). Make sure the station "
            "can reach the headend, or raise budget_mb under [journal] in station.toml.",
            used=used,
            budget=budget,
        )
    return {"used": _("%(used)s of %(budget)s", used=used, budget=budget), "warning": warning}


REPORT_LABELS = {
    "never": (N_("Not reported yet"), "warn"),
    "ok": (N_("Up to date"), "ok"),
    "partial": (N_("Sending"), "warn"),
    "failed": (N_("Failing"), "bad"),
    "revoked": (N_("Token revoked"), "bad"),
    "off": (N_("Off"), "warn"),
}

REPORT_ERRORS = {
    "revoked": N_(
        "The county has revoked this station's reporting token: nothing is sent until a new one is set. "
        "Ask the county for a new token and put it under [report] in station.toml. Every record is kept "
        "and sent once the new token works."
    ),
    "unknown": N_(
        "The headend does not know this station's token. Check token under [report] in station.toml "
        "(as the county gave it). Every record is kept."
    ),
    "forbidden": N_(
        "The token belongs to another station. Check id under [station] and token under [report] in "
        "station.toml. Every record is kept."
    ),
    "refused": N_(
        "The headend refused some records; they are kept and sent again later. Tell the county staff "
        "(the details name what was refused)."
    ),
    "busy": N_("The headend is busy; the station sends the records a little later by itself."),
    "unreachable": N_(
        "The headend cannot be reached; the records are kept and sent by themselves once the link works."
    ),
    "stalled": N_("The headend did not accept the records it was sent; the station tries again later."),
}


def reporting_view(_: Gettext, state: UploadState, backlog: int, url: str, write_error: str | None) -> dict:
    """How reporting to the headend stands: state, backlog, last upload, clock offset, what to do."""
    shown = "partial" if state.state == "ok" and backlog else state.state  # events journalled since
    label, css = REPORT_LABELS.get(shown, (N_("Unknown"), "warn"))
    offset = ""
    if state.offset_s is not None and abs(state.offset_s) >= 1:
        key = (
            N_("This box's clock is %(s)d seconds behind the headend's.")
            if state.offset_s > 0
            else N_("This box's clock is %(s)d seconds ahead of the headend's.")
        )
        offset = _(key, s=round(abs(state.offset_s)))
    error = ""
    if state.state in ("failed", "revoked") and state.error_kind:
        kind = "refused" if state.error_kind == "too_large" else state.error_kind
        error = _(REPORT_ERRORS.get(kind, REPORT_ERRORS["unreachable"]))
    disk = ""
    if write_error:
        disk = _(
            "The disk is full: new records cannot be written (%(why)s). Nothing already recorded is lost. "
            "Free some space on the box (or ask the county to).",
            why=write_error,
        )
    return {
        "label": _(label),
        "css": css,
        "off": state.state == "off" or not url,
        "backlog": backlog,
        "last_success": china_time(state.last_success) if state.last_success else _("never"),
        "last_attempt": china_time(state.last_attempt) if state.last_attempt else _("never"),
        "error": error,
        "raw": state.last_error or "",
        "error_since": china_time(state.error_since) if state.error_since else "",
        "offset": offset,
        "stream": state.stream,
        "disk": disk,
    }


def _points(value: float) -> str:
    """72.5 → "72.5", 100.0 → "100"."""
    return f"{value:.1f}".removesuffix(".0")


def _rank(_: Gettext, rank: int | None, ranked: int, why: str) -> str:
    if rank is None:
        return _("Not ranked (%(why)s)", why=why)
    if ranked >= rank:
        return _("No. %(rank)d of %(n)d ranked stations", rank=rank, n=ranked)
    return _("No. %(rank)d", rank=rank)


def _period_view(_: Gettext, p: PeriodRating) -> dict:
    stars = max(0, min(5, p.stars))
    return {
        "label": p.label,
        "state": p.state_words,
        "frozen": p.state == "frozen",
        "stars": "★" * stars + "☆" * (5 - stars),
        "stars_words": _("%(n)d stars", n=stars) if stars else _("No star yet"),
        "total": _("%(total)s of %(max)s points", total=_points(p.total), max=_points(p.max_total)),
        "county": _rank(_, p.county_rank, p.county_ranked, p.status_words),
        "township": _rank(_, p.township_rank, p.township_ranked, p.status_words),
        "indicators": [
            {
                "label": i.label,
                "points": _("%(points)s of %(weight)s", points=_points(i.points), weight=_points(i.weight)),
                "reason": i.reason,
            }
            for i in p.indicators
        ],
        "flags": [
            {
                "day": f.day,
                "label": f.label,
                "evidence": f.evidence,
                "counted": f.counted,
                "mark": _("counted after review") if f.counted else _("not counted"),
            }
            for f in p.flags
        ],
        "flags_more": _("%(n)d more flags are not listed here.", n=p.flags_more) if p.flags_more else "",
    }


def rating_view(_: Gettext, held: HeldRating | None) -> dict | None:
    """The star rating the county sent back, newest period first (None: none yet)."""
    if held is None or not held.periods:
        return None
    return {
        "received": china_time(held.received_at) if held.received_at else "",
        "periods": [_period_view(_, p) for p in reversed(held.periods)],
    }


QUESTION_STATES = {
    "waiting": (N_("Recorded, waiting for the county to take it up"), "none"),
    NEW: (N_("Taken up by the county"), "busy"),
    ASSIGNED: (N_("Assigned, being handled"), "busy"),
    ANSWERED: (N_("Answered"), "ok"),
    CLOSED: (N_("Closed"), "ok"),
}


def questions_view(_: Gettext, asked: list[Question], installed: InstalledSet, station_id: str) -> list[dict]:
    """This station's questions, newest first, each with where the county has it: not yet in the
    installed answers ("waiting": not uploaded, or not published back yet), then its status and,
    once answered, the answer."""
    held = installed.own_answers(station_id)
    out = []
    for q in asked:
        a = held.get(q.number)
        label, css = QUESTION_STATES.get(a.status if a else "waiting", QUESTION_STATES["waiting"])
        out.append(
            {
                "number": q.number,
                "topic": TOPICS.get(q.topic, q.topic),
                "text": q.text,
                "asker": q.asker,
                "publish": q.publish,
                "asked": china_time(q.asked, seconds=False) if q.asked else "",
                "state": _(label),
                "css": css,
                "answer": a.answer if a else "",
                "answered": china_time(a.answered, seconds=False) if a and a.answered else "",
            }
        )
    return out

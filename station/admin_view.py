"""What the admin page shows, as plain values: byte sizes, times, the sync record with its
progress bar and what is still to come, the figures, the five-ones labels (pure; the template
only prints these). ``_`` is the request's translator (``station.i18n``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from players import ProfileError, profile
from station import tv_model
from station.attendance import N_

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


def fmt_bytes(n: Any) -> str:
    try:
        value = float(n)
    except (TypeError, ValueError):
        return "—"
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"  # pragma: no cover


def fmt_time(value: Any) -> str:
    """ISO text or epoch seconds as local ``YYYY-MM-DD HH:MM:SS``; anything else as given."""
    if value is None or value == "":
        return "—"
    try:
        if isinstance(value, (int, float)):
            dt = datetime.fromtimestamp(value)
        else:
            dt = datetime.fromisoformat(str(value))
            if dt.tzinfo is not None:
                dt = dt.astimezone()
        return dt.strftime("%Y-%m-%d %H:%M:%S")
    except (ValueError, OverflowError, OSError):
        return str(value)


def fmt_duration(_, seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = int(seconds)
    if s >= 3600:
        return _("%(h)d h %(m)d min", h=s // 3600, m=s % 3600 // 60)
    if s >= 60:
        return _("%(m)d min", m=s // 60)
    return _("%(s)d s", s=s)


def sync_view(_, status: dict) -> dict:
    msg, css = _STATES.get(status.get("state", ""), (N_("Never synced"), "none"))
    rows = [(_("Last attempt"), fmt_time(status.get("last_attempt"))), (_("Last success"), fmt_time(status.get("last_success")))]
    if "index_version" in status:
        rows.append((_("Content version"), str(status["index_version"])))
    if "courses_installed" in status or "courses_total" in status:
        rows.append((_("Courses"), _("%(done)s installed of %(total)s", done=status.get("courses_installed", "—"),
                                     total=status.get("courses_total", "—"))))
    if "bytes_downloaded" in status:
        rows.append((_("Downloaded"), fmt_bytes(status["bytes_downloaded"])))
    if status.get("mirror"):
        rows.append((_("Content source"), str(status["mirror"])))
    running = status.get("state") == "running"
    done, total = tv_model.progress(status)
    bar = None
    if total:
        rate, eta = tv_model.rate_and_eta(status)
        bytes_based = total != status.get("courses_total")
        detail = (_("%(done)s of %(total)s", done=fmt_bytes(done), total=fmt_bytes(total)) if bytes_based
                  else _("%(done)d of %(total)d courses", done=int(done), total=int(total)))
        if running and rate:
            detail += " · " + _("%(rate)s/s", rate=fmt_bytes(rate))
        if running and eta:
            detail += " · " + _("about %(left)s left", left=fmt_duration(_, eta))
        bar = {"pct": int(100 * done / total), "detail": detail}
    prog = status.get("progress") if isinstance(status.get("progress"), dict) else {}
    if running and prog.get("current"):
        rows.append((_("Downloading now"), str(prog["current"])))
    if status.get("next_window"):
        rows.append((_("Next download window"), fmt_time(status["next_window"])))
    if status.get("space_needed_bytes"):
        rows.append((_("Space still needed"), fmt_bytes(status["space_needed_bytes"])))
    pending = []
    for cid, c in (status.get("courses") or {}).items() if isinstance(status.get("courses"), dict) else ():
        if isinstance(c, dict) and c.get("state") != "have":
            pending.append({"title": str(c.get("title") or cid), "state": _(_COURSE_STATES.get(str(c.get("state")), N_("waiting"))),
                            "reason": str(c.get("reason") or ""), "bad": c.get("state") == "failed"})
    failures = [str(f) for f in status.get("failures") or []]
    error = str(status.get("last_error") or "") if status.get("state") not in ("ok", "running") else ""
    if error and failures and error == "; ".join(failures):
        error = ""  # the list below says the same, line by line
    return {
        "label": _(msg),
        "css": css,
        "running": running,
        "rows": rows,
        "bar": bar,
        "message": str(status.get("message") or ""),
        "error": error,
        "failures": failures,
        "pending": pending,
    }


def player_label(name: str) -> str:
    try:
        return f"{profile(name).label}（{name}）"
    except ProfileError:
        return name


def figures_view(_, f) -> list[tuple[str, str]]:
    return [
        (_("Study sessions"), str(f.sessions)),
        (_("Person-times"), _("%(total)d (sessions %(s)d, individual %(i)d)", total=f.person_times,
                              s=f.session_person_times, i=f.individual_plays)),
        (_("Hours watched"), f"{f.hours:.1f}"),
        (_("Lessons completed"), _("%(done)d of %(plays)d plays", done=f.completed, plays=f.plays)),
        (_("Wrong admin PINs"), str(f.failed_logins)),
    ]

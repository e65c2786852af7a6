"""Questions from the villages (答疑, issue 14): the county's queue, the steps of a question and
the figures the county is held to.

A station records a question on its admin page; it reaches the headend through the report path
(``db.questions``, once per station and number). The deadline is ``[questions] answer_days`` after
the headend received it (a question cannot be answered before it arrives), "due soon" after
``warn_days``. Staff see the questions of their region (``User.sees``); editors and admins assign,
answer and close them, each step audit-logged (``question.assign``, ``question.answer``,
``question.close``). An answer may go to every station of the answering account's region as an
FAQ entry when the asker allowed publishing. The next publish carries answers back
(``headend.repository.answers``). Overdue questions raise the ``question_overdue`` alert
(``headend.service.alerts``).

Refusals: NotFound (404: no such question, or beyond the account's region), AccessDenied (403: a
viewer), BadRequest (400: not in a state for this step, an empty or overlong answer, FAQ without
the asker's consent, an assignee who cannot handle it)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from catalogue.clocks import CHINA
from catalogue.questions import ANSWERED, ASSIGNED, CLOSED, MAX_ANSWER_CHARS, NEW, TOPICS
from headend.db.records import Question, User
from headend.errors import AccessDenied, BadRequest, NotFound
from headend.service.audit import Actor, audit
from headend.service.dashboard import moment
from headend.service.root import Headend

STATUS_LABELS = {NEW: "新提问", ASSIGNED: "已分派", ANSWERED: "已答复", CLOSED: "已办结"}
TOPIC_LABELS = TOPICS


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Item:
    """A question in the queue with its deadline and where it stands against it."""

    question: Question
    due: datetime
    timing: str  # overdue, due_soon, waiting (open, in time), on_time, late (answered after the deadline)
    words: str  # "逾期 1 天 3 小时", "剩余 20 小时", "按时答复", "超时答复（晚 5 小时）"

    @property
    def open(self) -> bool:
        return self.question.answered_at is None


def _span(seconds: float) -> str:
    s = max(0, int(seconds))
    days, hours = s // 86400, (s % 86400) // 3600
    if days:
        return f"{days} 天 {hours} 小时" if hours else f"{days} 天"
    return f"{hours} 小时" if hours else f"{max(1, s // 60)} 分钟"


def item(h: Headend, q: Question, now: datetime) -> Item:
    qs = h.cfg.questions
    received = moment(q.received_at) or now
    due = received + timedelta(days=qs.answer_days)
    answered = moment(q.answered_at)
    if answered is not None:
        if answered <= due:
            return Item(q, due, "on_time", "按时答复")
        return Item(q, due, "late", f"超时答复（晚 {_span((answered - due).total_seconds())}）")
    if now > due:
        return Item(q, due, "overdue", f"逾期 {_span((now - due).total_seconds())}")
    left = f"剩余 {_span((due - now).total_seconds())}"
    if now >= received + timedelta(days=qs.warn_days):
        return Item(q, due, "due_soon", f"即将到期，{left}")
    return Item(q, due, "waiting", left)


def queue(
    h: Headend,
    user: User,
    region: Sequence[str] = (),
    status: str = "",
    now: datetime | None = None,
    days: int = 90,
) -> list[Item]:
    """The questions of the stations under ``region`` within the account's: every open one and
    those received in the last ``days``; open ones first (the most urgent first), then the rest
    newest first. ``status``: only those in it ("" all; "overdue": open past the deadline)."""
    now = now or datetime.now(UTC)
    region = tuple(region)
    rows = h.db.questions.listing(iso(now - timedelta(days=days)))
    items = [item(h, q, now) for q in rows if user.sees(q.region) and tuple(q.region[: len(region)]) == region]
    if status == "overdue":
        items = [i for i in items if i.timing == "overdue"]
    elif status:
        items = [i for i in items if i.question.status == status]
    open_ = sorted((i for i in items if i.open), key=lambda i: i.due)
    done = sorted((i for i in items if not i.open), key=lambda i: i.question.received_at, reverse=True)
    return open_ + done


def get(h: Headend, user: User, key: str, now: datetime | None = None) -> Item:
    """One question by ``<station>/<number>``; NotFound also for one beyond the account's region
    (what lies outside it is not there for this account)."""
    station, _, number = key.partition("/")
    q = h.db.questions.get(station, number) if station and number else None
    if q is None or not user.sees(q.region):
        raise NotFound(f"没有这个问题 {key[:80]}（no question {key[:80]}）")
    return item(h, q, now or datetime.now(UTC))


def _editor(user: User) -> None:
    if not user.can("editor"):
        raise AccessDenied("只有编辑或管理员可以办理群众提问（an editor or admin handles questions）")


def assign(h: Headend, actor: Actor, user: User, key: str, assignee: str) -> Item:
    """Give an open question to ``assignee``, an editor or admin whose region covers its station."""
    _editor(user)
    it = get(h, user, key)
    q = it.question
    who = h.db.users.get(assignee)
    if who is None or not who.can("editor") or not who.sees(q.region):
        raise BadRequest(
            f"不能分派给 {assignee[:40]}：需要一个负责该站点所在地区的编辑或管理员账号"
            "（assign to an editor or admin whose region covers the station）"
        )
    if not h.db.questions.assign(q.station, q.number, who.name, iso(datetime.now(UTC))):
        raise BadRequest(f"问题 {key} 已答复或已办结，不能再分派（already answered or closed）")
    audit(h, actor, "question.assign", key, {"assignee": who.name}, q.region)
    return get(h, user, key)


def answer(h: Headend, actor: Actor, user: User, key: str, text: str, faq: bool = False) -> Item:
    """Write (or correct, until closed) the answer; ``faq``: publish it as an FAQ entry to every
    station of the account's region (all stations for an account bound to none) — only when the
    asker allowed publishing."""
    _editor(user)
    it = get(h, user, key)
    q = it.question
    text = (text or "").strip()
    if not text:
        raise BadRequest("请填写答复内容（the answer is empty）")
    if len(text) > MAX_ANSWER_CHARS:
        raise BadRequest(f"答复最多 {MAX_ANSWER_CHARS} 字，现在 {len(text)} 字（the answer is too long）")
    if faq and not q.publishable:
        raise BadRequest("提问群众没有同意公开，这条答复不能作为常见问答发布（the asker did not allow publishing）")
    region = user.region if faq else ()
    if not h.db.questions.answer(q.station, q.number, text, user.name, iso(datetime.now(UTC)), faq, region):
        raise BadRequest(f"问题 {key} 已办结，不能再修改答复（the question is closed）")
    detail = {"faq": faq, "faq_region": "/".join(region) or "全部站点", "corrected": q.answered_at is not None}
    audit(h, actor, "question.answer", key, detail, q.region)
    return get(h, user, key)


def close(h: Headend, actor: Actor, user: User, key: str) -> Item:
    """Close an answered question (办结)."""
    _editor(user)
    it = get(h, user, key)
    q = it.question
    if not h.db.questions.close(q.station, q.number, user.name, iso(datetime.now(UTC))):
        raise BadRequest(f"问题 {key} 还没有答复（或已办结），不能办结（answer it first）")
    audit(h, actor, "question.close", key, {}, q.region)
    return get(h, user, key)


# ---- the county's figures ----------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """How a region answered the questions it received in a period (受理、办结、时限)."""

    received: int
    answered: int
    on_time: int
    overdue: int  # answered after the deadline, or still open past it
    open: int
    median_hours: float | None  # time from receipt to the first answer
    p90_hours: float | None

    @property
    def answer_rate(self) -> float | None:
        return self.answered / self.received if self.received else None


def _percentile(values: list[float], share: float) -> float | None:
    """Nearest rank: the smallest value at least ``share`` of the values do not exceed."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def figures_of(items: Sequence[Item]) -> Figures:
    hours = [
        (moment(i.question.answered_at) - moment(i.question.received_at)).total_seconds() / 3600
        for i in items
        if not i.open
    ]
    return Figures(
        received=len(items),
        answered=len(hours),
        on_time=sum(i.timing == "on_time" for i in items),
        overdue=sum(i.timing in ("overdue", "late") for i in items),
        open=sum(i.open for i in items),
        median_hours=_percentile(hours, 0.5),
        p90_hours=_percentile(hours, 0.9),
    )


def figures(
    h: Headend, user: User, region: Sequence[str], first: date, last: date, now: datetime | None = None
) -> Figures:
    """The figures of the questions received on China days [first, last] from the stations under
    ``region`` within the account's."""
    now = now or datetime.now(UTC)
    start = datetime.combine(first, datetime.min.time(), CHINA)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), CHINA)
    region = tuple(region)
    rows = h.db.questions.received_between(iso(start), iso(end))
    return figures_of(
        [item(h, q, now) for q in rows if user.sees(q.region) and tuple(q.region[: len(region)]) == region]
    )


def overdue_by_station(h: Headend, now: datetime) -> dict[str, list[tuple[str, float]]]:
    """Each station's open questions past their deadline: (number, seconds late), for the alerts."""
    out: dict[str, list[tuple[str, float]]] = {}
    for q in h.db.questions.listing(iso(now)):  # every open question (and none received later)
        if q.answered_at is None and (received := moment(q.received_at)) is not None:
            late = (now - received).total_seconds() - h.cfg.questions.answer_days * 86400
            if late > 0:
                out.setdefault(q.station, []).append((q.number, late))
    return out

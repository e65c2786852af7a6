"""``headend questions``: the villages' questions (群众提问) — the queue (the most urgent open
question first, each with its deadline in words) and the figures of a period (this month by
default, China days), in words or ``--json``; the operator sees every region unless ``--region``
narrows it. ``questions assign|answer|close KEY --as ACCOUNT``: the operator takes a step for a
county account (its role and region decide, as on the page; the audit log names the operator)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from catalogue.clocks import CHINA
from catalogue.display import people_time
from catalogue.periods import PeriodError, parse_period, period_of
from headend.cli.table import table
from headend.db.records import User
from headend.errors import NotFound
from headend.service import Headend, open_root, questions
from headend.service.audit import Actor
from headend.service.dashboard import moment
from headend.service.questions import STATUS_LABELS, TOPIC_LABELS, Figures, Item

FILTERS = ("new", "assigned", "answered", "closed", "overdue")
OPERATOR = User("cli", "viewer", (), False, "", "")  # reads every region; takes no step itself


def item_json(i: Item) -> dict:
    q = i.question
    return {
        "key": q.key,
        "station": q.station,
        "station_name": q.station_name,
        "region": list(q.region),
        "number": q.number,
        "topic": q.topic,
        "topic_label": TOPIC_LABELS.get(q.topic, q.topic),
        "text": q.text,
        "asker": q.asker,
        "publishable": q.publishable,
        "asked_at": q.asked_at,
        "received_at": q.received_at,
        "due": questions.iso(i.due),
        "timing": i.timing,
        "words": i.words,
        "status": q.status,
        "status_label": STATUS_LABELS.get(q.status, q.status),
        "assignee": q.assignee,
        "answer": q.answer,
        "answered_by": q.answered_by,
        "answered_at": q.answered_at,
        "faq": q.faq,
        "faq_region": list(q.faq_region),
        "closed_by": q.closed_by,
        "closed_at": q.closed_at,
    }


def figures_json(f: Figures) -> dict:
    return {**f.__dict__, "answer_rate": f.answer_rate}


def _hours(hours: float | None) -> str:
    return "—" if hours is None else f"{hours:.1f} 小时"


def cmd_questions(args: argparse.Namespace) -> int:
    if not args.root:
        print("headend questions: the following arguments are required: --root", file=sys.stderr)
        return 2
    region = tuple(p for p in (args.region or "").split("/") if p)
    try:
        period = parse_period(args.period) if args.period else period_of("month", datetime.now(CHINA).date())
    except PeriodError as exc:
        print(f"headend questions: --period: {exc}", file=sys.stderr)
        return 2
    now = datetime.now(UTC)
    with open_root(args.root) as h:
        items = questions.queue(h, OPERATOR, region, args.status or "", now, int(h.cfg.questions.keep_days))
        f = questions.figures(h, OPERATOR, region, period.first, period.last, now)
        rule = h.cfg.questions
    if args.json:
        doc = {
            "region": list(region),
            "period": {"name": period.name, "from": period.first.isoformat(), "to": period.last.isoformat()},
            "figures": figures_json(f),
            "questions": [item_json(i) for i in items],
        }
        print(json.dumps(doc, ensure_ascii=False, indent=1))
        return 0
    print(
        f"收到后 {rule.answer_days:g} 天内答复，{rule.warn_days:g} 天时提醒 (answer within {rule.answer_days:g} days)"
    )
    if not items:
        print("no questions" + (f" under {args.region}" if args.region else ""))
    else:
        head = [
            "提问 question",
            "站点 station",
            "类别 topic",
            "收到 received",
            "期限 due",
            "时限 deadline",
            "状态 status",
        ]
        rows = [
            [
                i.question.key,
                i.question.station_name,
                TOPIC_LABELS.get(i.question.topic, i.question.topic),
                people_time(moment(i.question.received_at)),
                people_time(i.due),
                i.words,
                STATUS_LABELS.get(i.question.status, i.question.status)
                + (f"（{i.question.assignee}）" if i.question.assignee else ""),
            ]
            for i in items
        ]
        print(table(head, rows))
    rate = f"{f.answer_rate * 100:.0f}%" if f.answer_rate is not None else "—"
    print(
        f"{period.label}: 受理 {f.received}，已答复 {f.answered}（答复率 {rate}），按时答复 {f.on_time}，"
        f"逾期 {f.overdue}，未答复 {f.open}；中位用时 {_hours(f.median_hours)}，90% 用时 {_hours(f.p90_hours)}"
    )
    return 0


def _account(h: Headend, name: str) -> User:
    user = h.db.users.get(name)
    if user is None:
        raise NotFound(f"没有账号 {name[:40]}（no account {name[:40]}; see `headend user list`）")
    return user


def _step(args: argparse.Namespace, h: Headend) -> Item:
    user, actor = _account(h, args.account), Actor.cli()
    if args.sub == "assign":
        return questions.assign(h, actor, user, args.key, args.to)
    if args.sub == "answer":
        return questions.answer(h, actor, user, args.key, args.text, args.faq)
    return questions.close(h, actor, user, args.key)


def cmd_step(args: argparse.Namespace) -> int:
    """``questions assign|answer|close``: a refusal (NotFound, AccessDenied, BadRequest) is the
    command's one-line error (exit 1)."""
    with open_root(args.root) as h:
        i = _step(args, h)
    q = i.question
    then = f"; the next publish (`headend publish --root {args.root}`) carries it to the station" if q.answer else ""
    print(f"question {q.key}: {STATUS_LABELS.get(q.status, q.status)} {q.status}, {i.words}{then}")
    return 0


def add_commands(sub, root: argparse.ArgumentParser) -> None:
    s = sub.add_parser("questions", help="the villages' questions: the queue and this month's figures")
    s.add_argument("--root", help="the headend's data root")
    s.add_argument("--region", help="the stations under a region prefix, e.g. 广东省/肇庆市/高要市")
    s.add_argument("--status", choices=FILTERS, help="only these (overdue: open past the deadline)")
    s.add_argument("--period", help="the figures' period: 2026-12 (default this month), 2026-Q4, 2026-W49 …")
    s.add_argument("--json", action="store_true", help="JSON")
    s.set_defaults(func=cmd_questions)
    steps = s.add_subparsers(dest="sub")
    for name, what in (
        ("assign", "give an open question to an editor or admin (分派)"),
        ("answer", "answer a question, or correct the answer until it is closed (答复)"),
        ("close", "close an answered question (办结)"),
    ):
        p = steps.add_parser(name, parents=[root], help=what)
        p.add_argument("key", metavar="STATION/NUMBER", help="the question, e.g. xiangang-xianyi/20261207-01")
        p.add_argument(
            "--as", dest="account", required=True, metavar="ACCOUNT", help="the county account taking this step"
        )
        if name == "assign":
            p.add_argument("--to", required=True, metavar="ACCOUNT", help="the editor or admin to handle it")
        if name == "answer":
            p.add_argument("--text", required=True, help="the answer (at most 2000 characters)")
            p.add_argument("--faq", action="store_true", help="also publish it as an FAQ entry (asker allowed)")
        p.set_defaults(func=cmd_step)

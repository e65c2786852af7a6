"""Villagers' questions on the county pages (issue 14): four questions reach the headend through
the real collector (report batches with injected receive times) — 蚬一村's four days ago (past
the 3-day deadline), 河台村's two and a half days ago (due soon), 蚬二村's an hour ago (the asker
did not allow publishing) and one from 四会市, outside the county. A county editor's queue lists
the county's three, the most urgent first, and the county's figures; a township account sees its
township's; an editor assigns, answers (an FAQ only when the asker allowed it) and closes, each
step on the page and in the audit log; a viewer's POST is a 403, a POST without the page's token
is refused, an unknown question is a 404, an empty answer a 400; ``headend questions --json``
lists the deadline words and the figures."""

from __future__ import annotations

import asyncio
import csv
import fcntl
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from catalogue.clocks import CHINA
from catalogue.display import people_time
from catalogue.periods import period_of
from catalogue.questions import question_number
from headend.config import load_config
from headend.service import open_root
from headend.service.stations import add_station
from headend.web.app import create_app
from headend.web.keys import PUBLISHER
from headend.web.questions import hours_words
from tests.alerts_kit import COUNTY, HETAI, XIANER, XIANYI, county_root, send
from tests.conftest import run_cli
from tests.county_kit import add_user, login_as
from tests.report_batches import china_iso

pytestmark = pytest.mark.one_engine  # about the pages: one engine (tests/conftest.py)

NOW = datetime.now(UTC).replace(microsecond=0)
SIHUI = "sihui-dasha"  # 四会市: another county
OVERDUE_AT = NOW - timedelta(days=4)
DUE_SOON_AT = NOW - timedelta(days=2, hours=12)
FRESH_AT = NOW - timedelta(hours=1)
EDITOR, TOWNSHIP, VIEWER = "li-bianji", "xiangang-kan", "wang-chakan"


def number(at: datetime) -> str:
    return question_number(at.astimezone(CHINA).date(), 1)


def asked(at: datetime, text: str, asker: str = "张大爷", publish: bool = True, topic: str = "agriculture") -> dict:
    return {
        "kind": "question",
        "ts": china_iso(at),
        "number": number(at),
        "topic": topic,
        "text": text,
        "asker": asker,
        "publish": publish,
    }


OVERDUE = f"{XIANYI}/{number(OVERDUE_AT)}"
DUE_SOON = f"{HETAI}/{number(DUE_SOON_AT)}"
FRESH = f"{XIANER}/{number(FRESH_AT)}"  # the asker did not allow publishing
OTHER = f"{SIHUI}/{number(FRESH_AT)}"


@pytest.fixture
def county(tmp_path, headend_db):
    root = county_root(tmp_path, headend_db)
    with open_root(root) as h:
        add_station(h, SIHUI, "大沙村站点", "广东省/肇庆市/四会市/大沙镇/大沙村", "stb-sd")
    send(root, XIANYI, [asked(OVERDUE_AT - timedelta(minutes=5), "稻瘟病怎么防治？")], received=OVERDUE_AT)
    send(
        root,
        HETAI,
        [asked(DUE_SOON_AT - timedelta(minutes=5), "<script>alert(1)</script>医保怎么交？", topic="policy")],
        received=DUE_SOON_AT,
    )
    send(root, XIANER, [asked(FRESH_AT, "低保怎么申请？", asker="", publish=False)], received=FRESH_AT)
    send(root, SIHUI, [asked(FRESH_AT, "四会的问题", topic="other")], received=FRESH_AT)
    return root


@pytest.fixture
async def app(county, aiohttp_client):
    return await aiohttp_client(create_app(load_config(county), background_loops=False))


def keys_listed(page: str) -> list[str]:
    body = page.split('id="questions"')[1].split("</table>")[0]
    return [part.split('"')[0] for part in body.split('data-key="')[1:]]


def row_of(page: str, key: str) -> str:
    return page.split(f'data-key="{key}"')[1].split("</tr>")[0]


def link(key: str) -> str:
    return f"/county/questions/{key}"


def figures_period() -> str:
    """The shortest period holding both the oldest question's day and today (a month but at a
    month's turn), so every question of the fixture counts in the figures."""
    today, oldest = NOW.astimezone(CHINA).date(), OVERDUE_AT.astimezone(CHINA).date()
    for kind in ("month", "quarter", "half", "year"):
        p = period_of(kind, today)
        if p.contains(oldest):
            return p.name
    pytest.skip("the questions straddle New Year: no period of the page holds them all")


def figures_of(page: str) -> dict[str, str]:
    tag = page.split('id="figures"')[1].split(">")[0]
    return {k: v.split('"')[1] for k, v in (part.split("=", 1) for part in tag.split() if "=" in part)}


async def test_a_county_editor_sees_the_county_queue_most_urgent_first(app, county):
    editor = await login_as(app, county, EDITOR, "editor", COUNTY)
    page = await editor.text("/county/questions")
    assert 'href="/county/questions">群众提问</a>' in page  # the nav link
    assert keys_listed(page) == [OVERDUE, DUE_SOON, FRESH]  # the nearest deadline first; not 四会
    assert "四会的问题" not in page and SIHUI not in page
    assert "收到后 3 天内答复，2 天时提醒" in page
    overdue = row_of(page, OVERDUE)
    assert 'data-timing="overdue"' in overdue and 'class="state bad">逾期 1 天' in overdue
    assert "稻瘟病怎么防治？" in overdue and "蚬一村站点" in overdue and "农业技术" in overdue
    assert people_time(OVERDUE_AT) in overdue and people_time(OVERDUE_AT + timedelta(days=3)) in overdue
    assert "新提问" in overdue
    soon = row_of(page, DUE_SOON)
    assert 'data-timing="due_soon"' in soon and 'class="state warn">即将到期，剩余 11 小时' in soon
    assert "&lt;script&gt;alert(1)&lt;/script&gt;医保怎么交？" in soon and "<script>" not in page
    assert 'data-timing="waiting"' in row_of(page, FRESH) and "剩余 2 天 22 小时" in row_of(page, FRESH)


async def test_the_status_and_region_filters_narrow_the_queue(app, county):
    editor = await login_as(app, county, EDITOR, "editor", COUNTY)
    assert keys_listed(await editor.text("/county/questions?status=overdue")) == [OVERDUE]
    assert keys_listed(await editor.text("/county/questions?status=new")) == [OVERDUE, DUE_SOON, FRESH]
    page = await editor.text("/county/questions?status=answered")
    assert keys_listed(page) == [] and "没有“已答复”的提问" in page
    page = await editor.text("/county/questions")
    assert 'href="/county/questions?region=%E5%B9%BF' in page  # 蚬岗镇 and 河台镇 offered as filters
    assert keys_listed(await editor.text(f"/county/questions?region={COUNTY}/河台镇")) == [DUE_SOON]
    async with editor.get("/county/questions?region=广东省/肇庆市/四会市") as r:
        assert r.status == 404  # outside the account's region
    overview = await editor.text("/county")
    card = overview.split('id="card-questions"')[1].split("</div></div>")[0]
    assert '<div class="big">3 <span class="sub">件' in card and "逾期 1" in card  # the dashboard's summary


async def test_a_township_account_sees_only_its_township(app, county):
    viewer = await login_as(app, county, TOWNSHIP, "viewer", f"{COUNTY}/蚬岗镇")
    page = await viewer.text("/county/questions")
    assert keys_listed(page) == [OVERDUE, FRESH]
    assert figures_of(await viewer.text(f"/county/questions?period={figures_period()}"))["data-received"] == "2"
    for key in (DUE_SOON, OTHER):
        async with viewer.get(link(key)) as r:
            assert r.status == 404 and "没有这个问题" in await r.text()


async def test_the_figures_count_received_answered_and_overdue(app, county):
    editor = await login_as(app, county, EDITOR, "editor", COUNTY)
    async with editor.post(link(FRESH) + "/answer", {"text": "带身份证到村委会申请。"}, allow_redirects=False) as r:
        assert r.status == 303
    page = await editor.text(f"/county/questions?period={figures_period()}")
    figures = figures_of(page)
    assert figures == {
        "data-received": "3",
        "data-answered": "1",
        "data-on-time": "1",
        "data-overdue": "1",
        "data-open": "2",
    }
    assert "答复率 33%" in page
    with open_root(county) as h:  # 蚬二村's, about an hour: received an hour before the module loaded
        answered = datetime.fromisoformat(h.db.questions.get(*FRESH.split("/")).answered_at.replace("Z", "+00:00"))
    took = hours_words((answered - FRESH_AT).total_seconds() / 3600)
    assert took.endswith("小时") and took.startswith("1")
    assert f'id="median-hours">{took}<' in page and f'id="p90-hours">{took}<' in page
    assert 'data-timing="on_time"' in row_of(page, FRESH) and "已答复" in row_of(page, FRESH)
    assert keys_listed(page) == [OVERDUE, DUE_SOON, FRESH]  # open ones first, then the answered


async def test_an_editor_assigns_answers_and_closes_and_the_audit_log_says_so(app, county):
    editor = await login_as(app, county, EDITOR, "editor", COUNTY)
    add_user(county, TOWNSHIP, "viewer", f"{COUNTY}/蚬岗镇")  # a viewer: not offered
    page = await editor.text(link(OVERDUE))
    assert "张大爷" in page and "稻瘟病怎么防治？" in page and "同意（答复可作为常见问答发布）" in page
    assignees = page.split('name="assignee"')[1].split("</select>")[0]
    assert 'value="admin"' in assignees and f'value="{EDITOR}"' in assignees and TOWNSHIP not in assignees
    assert "作为常见问答发布给本地区所有站点" in page and 'name="faq"' in page

    async with editor.post(link(OVERDUE) + "/assign", {"assignee": EDITOR}, allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == link(OVERDUE) + "?done=assign"
    page = await editor.text(link(OVERDUE) + "?done=assign")
    assert f"已分派给 {EDITOR}" in page and 'id="status">已分派' in page

    answer = {"text": "用三环唑喷雾，\n七天一次。", "faq": "1", "then": "save"}
    async with editor.post(link(OVERDUE) + "/answer", answer, allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == link(OVERDUE) + "?done=faq"
    page = await editor.text(link(OVERDUE) + "?done=faq")
    assert "用三环唑喷雾，\n七天一次。" in page and 'id="status">已答复' in page
    assert f"常见问答：{COUNTY}" in page and "超时答复（晚 1 天" in page
    assert 'id="close"' in page

    async with editor.post(link(OVERDUE) + "/close", {}, allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == link(OVERDUE) + "?done=close"
    page = await editor.text(link(OVERDUE) + "?done=close")
    assert "✓ 已办结" in page and 'id="status">已办结' in page
    assert 'id="answer"' not in page and 'id="close"' not in page  # nothing more to do
    async with editor.post(link(OVERDUE) + "/answer", {"text": "改一下"}, allow_redirects=False) as r:
        assert r.status == 400 and "已办结" in await r.text()

    with open_root(county) as h:
        steps = [(e.action, e.target, e.actor, dict(e.detail)) for e in reversed(h.db.audit.recent(20))]
    steps = [s for s in steps if s[0].startswith("question.")]
    assert [s[:3] for s in steps] == [
        ("question.assign", OVERDUE, EDITOR),
        ("question.answer", OVERDUE, EDITOR),
        ("question.close", OVERDUE, EDITOR),
    ]
    assert steps[0][3] == {"assignee": EDITOR} and steps[1][3]["faq"] is True


async def test_an_faq_needs_the_askers_consent_and_nothing_changes_without_it(app, county):
    editor = await login_as(app, county, EDITOR, "editor", COUNTY)
    page = await editor.text(link(FRESH))
    assert 'name="faq"' not in page and "提问群众没有同意公开" in page and "未留姓名" in page
    form = {"text": "带身份证到村委会申请。", "faq": "1"}
    async with editor.post(link(FRESH) + "/answer", form, allow_redirects=False) as r:
        page = await r.text()
        assert r.status == 400 and "没有同意公开" in page and "不能作为常见问答发布" in page
        assert "带身份证到村委会申请。</textarea>" in page  # the text kept in the form
    page = await editor.text(link(FRESH))
    assert 'id="status">新提问' in page and 'id="answer-text"' not in page
    with open_root(county) as h:
        assert not [e for e in h.db.audit.recent(20) if e.action.startswith("question.")]


async def test_refusals_viewer_token_unknown_and_empty(app, county):
    viewer = await login_as(app, county, VIEWER, "viewer", COUNTY)  # then the editor (one cookie jar)
    page = await viewer.text(link(OVERDUE))
    assert 'id="read-only"' in page and 'id="answer"' not in page and 'name="assignee"' not in page
    async with viewer.post(link(OVERDUE) + "/answer", {"text": "我来答"}, allow_redirects=False) as r:
        assert r.status == 403
    async with viewer.post(link(OVERDUE) + "/assign", {"assignee": "admin"}, allow_redirects=False) as r:
        assert r.status == 403

    editor = await login_as(app, county, EDITOR, "editor", COUNTY)
    async with editor.post(link(OVERDUE) + "/answer", {"text": "没有令牌"}, csrf="", allow_redirects=False) as r:
        assert r.status == 403 and "页面已过期" in await r.text()
    async with editor.post(link(OVERDUE) + "/answer", {"text": "旧令牌"}, csrf="x" * 32, allow_redirects=False) as r:
        assert r.status == 403
    for key in (f"{XIANYI}/20200101-01", "nope/nope", OTHER):  # unknown, and another county's
        async with editor.get(link(key)) as r:
            assert r.status == 404 and "没有这个问题" in await r.text()
        async with editor.post(link(key) + "/answer", {"text": "答复"}, allow_redirects=False) as r:
            assert r.status == 404
    for text, words in (("   ", "请填写答复内容"), ("长" * 2001, "答复最多 2000 字")):
        async with editor.post(link(OVERDUE) + "/answer", {"text": text}, allow_redirects=False) as r:
            assert r.status == 400 and words in await r.text()
    async with editor.post(link(OVERDUE) + "/assign", {"assignee": TOWNSHIP}, allow_redirects=False) as r:
        assert r.status == 400 and "不能分派给" in await r.text()  # a viewer handles nothing
    async with editor.post(link(OVERDUE) + "/close", {}, allow_redirects=False) as r:
        assert r.status == 400 and "还没有答复" in await r.text()
    page = await editor.text(link(OVERDUE))
    assert 'id="status">新提问' in page and 'id="answer-text"' not in page  # nothing changed
    with open_root(county) as h:
        assert not [e for e in h.db.audit.recent(50) if e.action.startswith("question.")]


async def test_answer_and_publish_now_starts_the_publish(app, county):
    editor = await login_as(app, county, EDITOR, "editor", COUNTY)
    form = {"text": "医保在村委会缴费。", "then": "publish"}
    lock = open(county / ".publish.lock", "w")  # noqa: SIM115 - another publish holds the root a moment
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        async with editor.post(link(DUE_SOON) + "/answer", form, allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/county/publishing"
        form["text"] = "医保在村委会缴费，带上户口本。"  # a correction while that publish waits
        async with editor.post(link(DUE_SOON) + "/answer", form, allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == link(DUE_SOON) + "?done=answer&busy=1"
        page = await editor.text(link(DUE_SOON) + "?done=answer&busy=1")
        assert "答复已保存" in page and "已经有一次发布在进行" in page and "带上户口本" in page
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
    run = app.server.app[PUBLISHER]
    await asyncio.wait_for(run.wait(), 60)
    assert run.state == "done" and run.by == EDITOR, run
    index = json.loads((county / "repo" / "index.json").read_bytes())
    assert index["version"] == run.version and "answers" in json.dumps(index)


async def test_the_queue_as_csv_opens_in_excel(app, county):
    editor = await login_as(app, county, EDITOR, "editor", COUNTY)
    async with editor.get("/county/questions.csv") as r:
        assert r.status == 200 and r.content_type == "text/csv"
        body = await r.read()
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:3] == ["编号", "站点编号", "站点名称"]
    assert [(r[1], r[0]) for r in rows[1:]] == [tuple(k.split("/")) for k in (OVERDUE, DUE_SOON, FRESH)]
    assert rows[1][10] == "逾期 1 天" and rows[2][5] == "<script>alert(1)</script>医保怎么交？"


def test_the_command_line_lists_the_deadline_words_and_the_figures(county):
    res = run_cli("headend", "questions", "--root", str(county), "--region", COUNTY, "--period", figures_period())
    assert res.returncode == 0, res.stderr
    assert "收到后 3 天内答复" in res.stdout and OVERDUE in res.stdout and "逾期 1 天" in res.stdout
    assert OTHER not in res.stdout

    res = run_cli("headend", "questions", "answer", "--root", str(county), FRESH, "--as", "admin", "--text", "可以。")
    assert res.returncode == 0, res.stderr
    assert "已答复" in res.stdout
    args = ("--root", str(county), FRESH, "--as", "admin", "--text", "公开吧", "--faq")
    res = run_cli("headend", "questions", "answer", *args)
    assert res.returncode == 1 and "没有同意公开" in res.stderr

    res = run_cli("headend", "questions", "--root", str(county), "--period", figures_period(), "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    found = {q["key"]: q for q in doc["questions"]}
    assert set(found) == {OVERDUE, DUE_SOON, FRESH, OTHER}  # the operator sees every region
    assert found[OVERDUE]["timing"] == "overdue" and found[OVERDUE]["words"] == "逾期 1 天"
    assert found[OVERDUE]["due"] == (OVERDUE_AT + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert found[FRESH]["status"] == "answered" and found[FRESH]["timing"] == "on_time"
    assert doc["figures"]["received"] == 4 and doc["figures"]["answered"] == 1
    assert doc["figures"]["overdue"] == 1 and doc["figures"]["open"] == 3 and doc["figures"]["on_time"] == 1
    with open_root(county) as h:
        (entry,) = [e for e in h.db.audit.recent(20) if e.action == "question.answer"]
    assert entry.actor.startswith("cli:") and entry.target == FRESH

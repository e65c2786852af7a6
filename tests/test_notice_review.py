"""Notices with review (issue 14, 编辑、审核、签发): a notice file is a draft until an account with
the reviewer right that did not draft it reviews it and an admin that did not draft it signs it
off; only then does a publish send it, to its audience only. Each step is bound to the file's
bytes (an edit makes it a draft again) and audit-logged; on the county page a viewer sees no
buttons and is refused (403) when it posts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from headend.config import load_config
from headend.errors import AccessDenied, BadRequest
from headend.service import open_root
from headend.service.accounts import add_user
from headend.service.audit import Actor
from headend.service.notices import draft_notice, review_notice, sign_notice, states
from headend.web.app import create_app
from playlists import Index, StationIdentity
from tests.conftest import init_headend, run_cli
from tests.county_kit import login_admin, login_as
from tests.headend_db import database
from tests.notice_kit import REVIEWER, SIGNER, sign_off, staff

pytestmark = pytest.mark.one_engine  # about the review rules, not the database: one engine

MEETING = {
    "title": "冬训动员会",
    "body": "周三晚七点半在村委会集中学习。",
    "audience": {"regions": ["广东省/肇庆市/高要市"]},
}
GAOYAO = StationIdentity("xianyi", ("广东省", "肇庆市", "高要市", "蚬岗镇", "蚬一村"))
SHAOGUAN = StationIdentity("maba", ("广东省", "韶关市", "曲江区", "马坝镇"))


@pytest.fixture
def root(tmp_path, headend_db) -> Path:
    root = init_headend(tmp_path / "headend", headend_db)
    with open_root(root) as h:
        staff(h)
        add_user(h, Actor("cli:test"), "li-ming", "editor", None, "li-ming-password-1", reviewer=True)
    return root


def published(root: Path) -> list:
    res = run_cli("headend", "publish", "--root", str(root))
    assert res.returncode == 0, res.stderr
    return list(Index.from_bytes((root / "repo" / "index.json").read_bytes()).notices)


def test_the_author_cannot_review_its_own_draft_and_an_unreviewed_notice_is_not_published(root):
    with open_root(root) as h:
        draft_notice(h, "meeting", MEETING, Actor("li-ming", "10.0.0.9"))
        with pytest.raises(AccessDenied, match="不能审核自己起草的通知"):
            review_notice(h, "meeting", "li-ming", Actor("li-ming", "10.0.0.9"))
    res = run_cli("headend", "notice", "sign", "--root", str(root), "meeting", "--as", SIGNER)
    assert res.returncode == 1 and "还没有审核" in res.stderr and "Traceback" not in res.stderr
    res = run_cli("headend", "notice", "review", "--root", str(root), "meeting", "--as", SIGNER)
    assert res.returncode == 1 and "没有审核权" in res.stderr and f"user edit {SIGNER} --reviewer" in res.stderr
    listing = run_cli("headend", "notice", "list", "--root", str(root)).stdout
    assert "meeting\t冬训动员会\tno end\t广东省/肇庆市/高要市\t草稿 draft\t起草 li-ming" in listing
    res = run_cli("headend", "publish", "--root", str(root))
    assert res.returncode == 0 and "meeting.toml: 草稿 (draft), not sent" in res.stderr
    assert Index.from_bytes((root / "repo" / "index.json").read_bytes()).notices == ()


def test_reviewed_and_signed_off_it_reaches_only_its_audience(root):
    with open_root(root) as h:
        draft_notice(h, "meeting", MEETING, Actor("li-ming"))
    r = str(root)
    res = run_cli("headend", "notice", "review", "--root", r, "meeting", "--as", REVIEWER)
    assert res.returncode == 0 and "已审核" in res.stdout, res.stderr
    assert published(root) == [], "reviewed is not yet signed off"
    res = run_cli("headend", "notice", "sign", "--root", r, "meeting", "--as", REVIEWER)
    assert res.returncode == 1 and "签发需要管理员" in res.stderr
    res = run_cli("headend", "notice", "sign", "--root", r, "meeting", "--as", SIGNER)
    assert res.returncode == 0 and "已签发" in res.stdout, res.stderr
    listing = run_cli("headend", "notice", "list", "--root", r).stdout
    assert f"已签发 signed\t起草 li-ming · 审核 {REVIEWER} · 签发 {SIGNER}" in listing
    (notice,) = published(root)
    assert notice.title == "冬训动员会"
    assert notice.audience.matches(GAOYAO) and not notice.audience.matches(SHAOGUAN)


def test_an_admin_who_drafted_cannot_sign_it_off(root):
    with open_root(root) as h:
        draft_notice(h, "meeting", MEETING, Actor(SIGNER))
        review_notice(h, "meeting", REVIEWER, Actor(REVIEWER))
        with pytest.raises(AccessDenied, match="不能签发自己起草的通知"):
            sign_notice(h, "meeting", SIGNER, Actor(SIGNER))
        with pytest.raises(BadRequest, match="already reviewed"):
            review_notice(h, "meeting", "li-ming", Actor("li-ming"))


def test_an_edit_after_review_makes_it_a_draft_again_and_takes_it_off_the_air(root):
    with open_root(root) as h:
        draft_notice(h, "meeting", MEETING, Actor("li-ming"))
    sign_off(root, "meeting")
    assert [n.body for n in published(root)] == [MEETING["body"]]
    path = root / "notices" / "meeting.toml"
    path.write_text(path.read_text(encoding="utf-8").replace("七点半", "八点"), encoding="utf-8")  # by hand
    with open_root(root) as h:
        (st,) = states(h)
        assert st.state == "draft" and st.drafted_by == ""
    assert published(root) == [], "the changed words were never reviewed: the old version is taken down"
    with open_root(root) as h:  # a version nobody drafted: the reviewer may not also sign it off
        review_notice(h, "meeting", "li-ming", Actor("li-ming"))
        add_user(h, Actor("cli:test"), "wang", "admin", None, "wang-password-12", reviewer=True)
        h.db.users.update(SIGNER, reviewer=True)
    sign_off_by_reviewer = run_cli("headend", "notice", "sign", "--root", str(root), "meeting", "--as", "li-ming")
    assert sign_off_by_reviewer.returncode == 1
    res = run_cli("headend", "notice", "sign", "--root", str(root), "meeting", "--as", SIGNER)
    assert res.returncode == 0, res.stderr
    assert [n.body for n in published(root)] == ["周三晚八点在村委会集中学习。"]


def test_every_step_is_in_the_audit_log(root):
    with open_root(root) as h:
        draft_notice(h, "meeting", MEETING, Actor("li-ming", "10.0.0.9"))
    assert run_cli("headend", "notice", "review", "--root", str(root), "meeting", "--as", REVIEWER).returncode == 0
    assert run_cli("headend", "notice", "sign", "--root", str(root), "meeting", "--as", SIGNER).returncode == 0
    with database(root) as db:
        steps = [e for e in reversed(db.audit.recent()) if e.action.startswith("notice.")]
    assert [(e.action, e.target) for e in steps] == [
        ("notice.draft", "meeting"),
        ("notice.review", "meeting"),
        ("notice.sign", "meeting"),
    ]
    assert steps[0].actor == "li-ming" and steps[0].address == "10.0.0.9"
    assert steps[1].actor.startswith("cli:") and steps[1].detail["account"] == REVIEWER  # the operator, for whom
    assert steps[2].actor.startswith("cli:") and steps[2].detail["account"] == SIGNER
    assert len({e.detail["sha256"] for e in steps}) == 1  # the same bytes at every step


def _buttons(page: str) -> set[str]:
    return set(re.findall(r'action="/county/notices/[a-z0-9-]+/(review|sign)"', page))


async def test_the_county_page_drafts_reviews_and_signs_and_a_viewer_can_do_none(root, aiohttp_client):
    client = await aiohttp_client(create_app(load_config(root), background_loops=False))

    async def browser():  # each person their own cookies, on the same server
        return await aiohttp_client(client.server)

    editor = await login_as(client, root, "bian-ji", "editor")
    form = {"id": "flood", "title": "防汛演练", "body": "周三上午九点集合", "regions": "广东省/肇庆市/高要市"}
    async with editor.post("/county/notices", form, allow_redirects=False) as r:
        assert r.status == 303, await r.text()
    page = await editor.text("/county/notices")
    assert "防汛演练" in page and "草稿" in page and "起草 bian-ji" in page and _buttons(page) == set()

    viewer = await login_as(await browser(), root, "cha-kan", "viewer")
    page = await viewer.text("/county/notices")
    assert "防汛演练" in page and _buttons(page) == set() and 'id="draft-notice"' not in page
    sha = re.search(
        r'name="sha256" value="([0-9a-f]{64})"',
        await (await login_admin(await browser(), root)).text("/county/notices"),
    )
    assert sha is None, "an admin without the reviewer right sees no review button on a draft"
    with open_root(root) as h:
        sha = states(h)[0].file.sha256
    for path in ("/county/notices/flood/review", "/county/notices/flood/sign"):
        async with viewer.post(path, {"sha256": sha}, allow_redirects=False) as r:
            assert r.status == 403
    async with viewer.post("/county/notices", {**form, "id": "other"}, allow_redirects=False) as r:
        assert r.status == 403

    with open_root(root) as h:
        h.db.users.update("bian-ji", reviewer=True)
    async with editor.post("/county/notices/flood/review", {"sha256": sha}, allow_redirects=False) as r:
        assert r.status == 403 and "不能审核自己起草的通知" in await r.text()

    reviewer = await login_as(await browser(), root, "shen-he-2", "editor")
    with open_root(root) as h:
        h.db.users.update("shen-he-2", reviewer=True)
    page = await reviewer.text("/county/notices")
    assert _buttons(page) == {"review"}
    async with reviewer.post("/county/notices/flood/review", {"sha256": "0" * 64}, allow_redirects=False) as r:
        assert r.status == 400 and "被修改过" in await r.text()  # not the version the page showed
    async with reviewer.post("/county/notices/flood/review", {"sha256": sha}, allow_redirects=False) as r:
        assert r.status == 303

    admin = await login_admin(await browser(), root)
    page = await admin.text("/county/notices")
    assert _buttons(page) == {"sign"} and "已审核" in page
    async with admin.post("/county/notices/flood/sign", {"sha256": sha}, allow_redirects=False) as r:
        assert r.status == 303
    page = await admin.text("/county/notices?done=sign")
    assert "已签发" in page and "下次发布时送到目标站点" in page
    assert [n.title for n in published(root)] == ["防汛演练"]

    async with editor.post("/county/notices", form, allow_redirects=False) as r:  # the id is taken
        assert r.status == 400 and "没有保存" in await r.text()
    edited = {**form, "body": "改到周四", "replace": "1"}
    async with editor.post("/county/notices", edited, allow_redirects=False) as r:
        assert r.status == 303
    page = await editor.text("/county/notices")
    assert "改到周四" in page and 'data-state="draft"' in page


def test_staff_bound_to_a_township_handle_only_notices_for_it(root):
    township = "广东省/肇庆市/高要市/蚬岗镇"
    with open_root(root) as h:
        h.db.add_station("xianyi", "蚬一村", list(GAOYAO.region), "stb-sd", "1" * 64)
        h.db.add_station("maba", "马坝镇", list(SHAOGUAN.region), "stb-sd", "2" * 64)
        add_user(h, Actor("cli:test"), "zhen-bian", "editor", township, "zhen-bian-password-1")
        add_user(h, Actor("cli:test"), "zhen-shen", "editor", township, "zhen-shen-password-1", reviewer=True)
        zhen_bian = h.db.users.get("zhen-bian")
        # the township's editor cannot send to the whole county, to every station, or by tag ...
        for audience in ({"regions": ["广东省/肇庆市/高要市"]}, {}, {"tags": ["党员"]}, {"stations": ["maba"]}):
            with pytest.raises(AccessDenied):
                draft_notice(h, "wide", {**MEETING, "audience": audience}, Actor("zhen-bian"), account=zhen_bian)
            assert not (root / "notices" / "wide.toml").exists()  # nothing is left behind
        # ... but to its own township and its own stations
        own = {**MEETING, "audience": {"regions": [township], "stations": ["xianyi"]}}
        draft_notice(h, "own", own, Actor("zhen-bian"), account=zhen_bian)
        review_notice(h, "own", "zhen-shen", Actor("zhen-shen"))
        # the county's notice is beyond the township reviewer
        draft_notice(h, "county", MEETING, Actor("cli:test"))
        with pytest.raises(AccessDenied, match="超出账号 zhen-shen 的地区"):
            review_notice(h, "county", "zhen-shen", Actor("zhen-shen"))
        assert {s.notice.id: s.state for s in states(h)}["county"] == "draft"

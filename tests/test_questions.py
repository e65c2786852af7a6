"""Questions from the villages at the headend (issue 14), on SQLite and PostgreSQL: a question
arrives through the real collector once however often it is re-sent; a malformed one or one for
another station is refused and nothing is kept; editors of the station's region assign, answer
and close it (a viewer, another region, an FAQ without the asker's consent are refused); the
publish carries every question to its station's signed shard and the consented answers to the
FAQ, which the station's trust rules and the real ``minisign -V`` accept and a forged copy is not;
a question left past its deadline raises the alert, clears when answered, and counts as overdue
in the county's figures."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from catalogue.clocks import CHINA
from headend.errors import AccessDenied, BadRequest, Forbidden, NotFound, ReportRefused
from headend.service import alerts, open_root, questions
from headend.service.accounts import add_user
from headend.service.audit import Actor
from headend.service.repository import publish
from playlists import INDEX_NAME, Index, PinMismatch, StationIdentity, TrustedSet, shard_of
from playlists.minisign import PublicKey
from playlists.models import FAQ_NAME
from tests.alerts_kit import BOOT, COUNTY, HETAI, XIANER, XIANYI, county_root, send
from tests.report_batches import china_iso

NOW = datetime.now(UTC).replace(microsecond=0)
OP = Actor("test", "127.0.0.1")


def question(at: datetime, number: str, text: str = "稻瘟病怎么防治？", publish: bool = True, **extra) -> dict:
    return {
        "kind": "question",
        "ts": china_iso(at),
        "number": number,
        "topic": "agriculture",
        "text": text,
        "asker": "张大爷",
        "publish": publish,
        **extra,
    }


@pytest.fixture
def county(tmp_path, headend_db) -> Path:
    """The county's three stations, an editor for the county, one for 河台镇, a viewer."""
    root = county_root(tmp_path, headend_db)
    with open_root(root) as h:
        add_user(h, OP, "xian-bian", "editor", COUNTY, "pw-xian-bian-1")
        add_user(h, OP, "hetai-bian", "editor", f"{COUNTY}/河台镇", "pw-hetai-bian-1")
        add_user(h, OP, "kan-kan", "viewer", COUNTY, "pw-kan-kan-1")
    return root


def user(h, name: str):
    return h.db.users.get(name)


def test_question_kept_once_however_often_sent(county):
    at = NOW - timedelta(hours=2)
    send(county, XIANYI, [question(at, "20261207-01")], received=at + timedelta(seconds=5))
    doc = {  # the same question again under a new stream (a restored journal): still one question
        "v": 1,
        "station": XIANYI,
        "stream": "fedcba9876543210",
        "after": 0,
        "now": china_iso(NOW),
        "boot": BOOT,
        "mono": 100.0,
        "events": [{**question(at, "20261207-01", text="改过的文字"), "seq": 1}],
    }
    with open_root(county) as h:
        from headend.service.reports import accept

        accept(h, h.db.station(XIANYI), doc, NOW)
        accept(h, h.db.station(XIANYI), doc, NOW)  # and the batch re-sent
        held = h.db.questions.listing()
        assert [(q.station, q.number, q.text, q.status) for q in held] == [
            (XIANYI, "20261207-01", "稻瘟病怎么防治？", "new")
        ]
        assert held[0].received_at == (at + timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert held[0].station_name == "蚬一村站点" and held[0].asker == "张大爷"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"text": ""}, "text"),
        ({"text": "   \n "}, "text"),
        ({"text": "问" * 501}, "text"),
        ({"topic": "weather"}, "topic"),
        ({"number": "q1"}, "number"),
        ({"asker": "名" * 41}, "asker"),
        ({"station": "hetai-hetaicun"}, "station"),  # a question may not name another station
    ],
)
def test_refuses_bad_question(county, change, field):
    bad = {**question(NOW, "20261207-01"), **change}
    with pytest.raises(ReportRefused) as refused:
        send(county, XIANYI, [bad], received=NOW)
    assert field in refused.value.field
    with open_root(county) as h:
        assert h.db.questions.listing() == []
        assert h.db.reports.event_count(XIANYI) == 0


def test_refuses_question_sent_for_another_station(county):
    doc = {
        "v": 1,
        "station": HETAI,
        "stream": "0123456789abcdef",
        "after": 0,
        "now": china_iso(NOW),
        "boot": BOOT,
        "mono": 100.0,
        "events": [{**question(NOW, "20261207-01"), "seq": 1}],
    }
    with open_root(county) as h:
        from headend.service.reports import accept

        with pytest.raises(Forbidden, match=f"reports for station {XIANYI}, not {HETAI}"):
            accept(h, h.db.station(XIANYI), doc, NOW)
        assert h.db.questions.listing() == []


def test_steps_refused_outside_region_or_role(county):
    send(county, XIANYI, [question(NOW, "20261207-01", publish=False)], received=NOW)
    key = f"{XIANYI}/20261207-01"
    with open_root(county) as h:
        with pytest.raises(NotFound):  # 蚬岗镇 lies outside 河台镇: not there for that account
            questions.get(h, user(h, "hetai-bian"), key)
        with pytest.raises(AccessDenied):
            questions.answer(h, OP, user(h, "kan-kan"), key, "答复")
        with pytest.raises(BadRequest, match="没有同意公开"):
            questions.answer(h, OP, user(h, "xian-bian"), key, "答复", faq=True)
        with pytest.raises(BadRequest, match="请填写答复内容"):
            questions.answer(h, OP, user(h, "xian-bian"), key, "  ")
        with pytest.raises(BadRequest, match="最多 2000 字"):
            questions.answer(h, OP, user(h, "xian-bian"), key, "答" * 2001)
        with pytest.raises(BadRequest, match="负责该站点所在地区"):  # 河台镇's editor does not cover 蚬岗镇
            questions.assign(h, OP, user(h, "xian-bian"), key, "hetai-bian")
        with pytest.raises(BadRequest, match="还没有答复"):
            questions.close(h, OP, user(h, "xian-bian"), key)
        q = h.db.questions.get(XIANYI, "20261207-01")
        assert (q.status, q.answer, q.faq, q.assignee) == ("new", "", False, None)
        assert [e.action for e in h.db.audit.recent(50) if e.action.startswith("question.")] == []


def _verified_answers(root: Path, station: str) -> dict[str, list]:
    """What a station in ``station``'s place installs from the published tree: each answers
    document it is pointed to, verified by the trust rules, reduced to what it shows."""
    repo = root / "repo"
    key = PublicKey.from_text((root / "keys" / "headend.pub").read_text())
    trusted = TrustedSet([key])
    index = trusted.update_index(
        (repo / INDEX_NAME).read_bytes(), (repo / (INDEX_NAME + ".minisig")).read_bytes(), datetime.now(UTC)
    )
    me = StationIdentity(station, (*COUNTY.split("/"), "蚬岗镇", "蚬一村") if station == XIANYI else ("广东省",))
    out = {}
    for ref in index.answers_for(station):
        data = (repo / ref.file.path).read_bytes()
        doc = trusted.update_answers(data, (repo / (ref.file.path + ".minisig")).read_bytes(), ref)
        out[ref.name] = [(a.number, a.status, a.answer) for a in doc.for_station(me)]
    return out


def test_answers_published_to_the_asking_station_and_faq(county):
    at = NOW - timedelta(hours=5)
    send(county, XIANYI, [question(at, "20261207-01"), question(at, "20261207-02", "低保怎么申请？", False)], at)
    send(county, XIANER, [question(at, "20261207-01", "医保在哪里交？", False)], at)
    with open_root(county) as h:
        editor = user(h, "xian-bian")
        questions.assign(h, OP, editor, f"{XIANYI}/20261207-01", "xian-bian")
        questions.answer(h, OP, editor, f"{XIANYI}/20261207-01", "及时喷施三环唑，注意排水晒田。", faq=True)
        questions.answer(h, OP, editor, f"{XIANER}/20261207-01", "在村委会便民服务点缴纳。")
        assert [e.action for e in h.db.audit.recent(50) if e.action.startswith("question.")] == [
            "question.answer",
            "question.answer",
            "question.assign",
        ]
        first = publish(h)
    index = Index.from_bytes((county / "repo" / INDEX_NAME).read_bytes())
    names = {r.name for r in index.answers}
    assert FAQ_NAME in names and shard_of(XIANYI, 1) in names and shard_of(XIANER, 1) in names

    got = _verified_answers(county, XIANYI)
    own = got[shard_of(XIANYI, 1)]
    assert own == [
        ("20261207-01", "answered", "及时喷施三环唑，注意排水晒田。"),
        ("20261207-02", "new", ""),
    ]  # its own questions, answered or not, and none of 蚬二村's
    assert got[FAQ_NAME] == [("20261207-01", "answered", "及时喷施三环唑，注意排水晒田。")]
    for ref in index.answers:  # the asker's name never travels; the standard tool verifies each file
        data = (county / "repo" / ref.file.path).read_bytes()
        assert "张大爷".encode() not in data
        res = subprocess.run(
            ["minisign", "-V", "-p", str(county / "keys" / "headend.pub"), "-m", str(county / "repo" / ref.file.path)],
            capture_output=True,
            text=True,
        )
        assert res.returncode == 0, res.stderr

    with open_root(county) as h:  # nothing changed: the same documents, no new downloads
        second = publish(h)
    again = Index.from_bytes((county / "repo" / INDEX_NAME).read_bytes())
    assert second.version > first.version
    assert {(r.name, r.version) for r in again.answers} == {(r.name, r.version) for r in index.answers}


def test_rejects_forged_answers(county):
    send(county, XIANYI, [question(NOW, "20261207-01")], NOW)
    with open_root(county) as h:
        questions.answer(h, OP, user(h, "xian-bian"), f"{XIANYI}/20261207-01", "请咨询镇农技站。")
        publish(h)
    index = Index.from_bytes((county / "repo" / INDEX_NAME).read_bytes())
    ref = next(r for r in index.answers if r.name == shard_of(XIANYI, 1))
    path = county / "repo" / ref.file.path
    forged = path.read_bytes().replace("请咨询镇农技站。".encode(), "请把钱转到这个账户。".encode())
    path.unlink()  # the tree holds hard links: write a new file, as a mirror would serve it
    path.write_bytes(forged)
    with pytest.raises(PinMismatch, match=r"sha256 differs|bytes, but the signed index"):
        _verified_answers(county, XIANYI)


def test_overdue_question_raises_alert_and_counts_against_the_county(county):
    late = NOW - timedelta(days=4)  # received four days ago: past the three-day deadline
    send(county, XIANYI, [question(late, "20261203-01")], received=late)
    send(county, XIANER, [question(NOW - timedelta(hours=1), "20261207-01")], received=NOW - timedelta(hours=1))
    first = (NOW - timedelta(days=5)).astimezone(CHINA).date()
    last = NOW.astimezone(CHINA).date()
    with open_root(county) as h:
        editor = user(h, "xian-bian")
        alerts.check(h, NOW)
        found = [a for a in h.db.alerts.open_alerts() if a.kind == "question_overdue"]
        assert [(a.station, a.detail["questions"]) for a in found] == [(XIANYI, ["20261203-01"])]
        assert "最久逾期 24 小时" in found[0].words
        before = questions.figures(h, editor, COUNTY.split("/"), first, last, NOW)
        assert (before.received, before.answered, before.overdue, before.open) == (2, 0, 1, 2)
        assert questions.queue(h, editor, status="overdue", now=NOW)[0].question.number == "20261203-01"

        questions.answer(h, OP, editor, f"{XIANYI}/20261203-01", "已转交镇农技站上门指导。")
        questions.answer(h, OP, editor, f"{XIANER}/20261207-01", "可以。")
        now = datetime.now(UTC)
        alerts.check(h, now)
        assert not [a for a in h.db.alerts.open_alerts() if a.kind == "question_overdue"]
        after = questions.figures(h, editor, COUNTY.split("/"), first, last, now)
        assert (after.received, after.answered, after.on_time, after.overdue, after.open) == (2, 2, 1, 1, 0)
        assert after.answer_rate == 1.0
        took = sorted(  # received to answered, as stored: about 1 h and 4 days (more on a slow run)
            (questions.moment(q.answered_at) - questions.moment(q.received_at)).total_seconds() / 3600
            for q in h.db.questions.listing()
        )
        assert 1 <= took[0] < 2 and 96 <= took[1] < 97
        assert (after.median_hours, after.p90_hours) == (took[0], took[1])  # nearest rank of two
        township = questions.figures(h, user(h, "hetai-bian"), (), first, last, now)
        assert township.received == 0  # 河台镇's account counts only 河台镇's questions

        items = {i.question.number: i for i in questions.queue(h, editor, now=now)}
        assert items["20261203-01"].timing == "late" and "超时答复" in items["20261203-01"].words
        questions.close(h, OP, editor, f"{XIANYI}/20261203-01")
        with pytest.raises(BadRequest, match="已办结"):
            questions.answer(h, OP, editor, f"{XIANYI}/20261203-01", "改一下")
        assert h.db.questions.get(XIANYI, "20261203-01").status == "closed"


def test_publish_refuses_an_answers_document_stations_would_refuse(tmp_path):
    """A shard over the size a station accepts is refused at publish, saying which setting to change."""
    from headend.config import load_config
    from headend.errors import PublishError
    from headend.repository import answers as answer_docs
    from headend.repository.keys import load_secret_key
    from playlists import Answer
    from tests.conftest import init_headend

    root = init_headend(tmp_path / "headend")
    cfg = load_config(root)
    asked = datetime(2026, 12, 1, tzinfo=UTC)
    one = Answer(XIANYI, "20261201-01", "agriculture", "问" * 500, asked, "answered", "答" * 2000, asked)
    many = tuple(
        Answer(f"s-{i}", one.number, one.topic, one.question, asked, one.status, one.answer, asked) for i in range(1200)
    )
    with pytest.raises(PublishError, match=r"over the 8 MiB a station accepts .*shard_digits to 2"):
        answer_docs.write(cfg, load_secret_key(cfg), 7, NOW, {"q-a": many})
    assert not list(cfg.published_dir.glob("answers/*"))  # nothing written


async def test_answers_documents_are_served_immutable_for_caches(county, aiohttp_client):
    """A county cache keeps an answers document like a playlist (it never changes under its name)."""
    from headend.config import load_config
    from headend.web.app import create_app

    send(county, XIANYI, [question(NOW, "20261207-01")], NOW)
    with open_root(county) as h:
        publish(h)
    ref = Index.from_bytes((county / "repo" / INDEX_NAME).read_bytes()).answers[0]
    client = await aiohttp_client(create_app(load_config(county), background_loops=False))
    got = await client.get(f"/repo/{ref.file.path}")
    assert got.status == 200 and await got.read() == (county / "repo" / ref.file.path).read_bytes()
    assert "immutable" in got.headers["Cache-Control"]
    index = await client.get(f"/repo/{INDEX_NAME}")
    assert "immutable" not in index.headers["Cache-Control"]

"""Questions and answers (问答) through sync: the station fetches the FAQ document and its own
answers shard the index pins, verifies each (sha256, signature, name), installs its own questions
and the FAQ entries published to it, and serves the verified documents to neighbours under /repo/.
An answers document no mirror gives intact is a failure naming the mirror, the file and the rule;
the answers installed before stay."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from playlists import Answer, Answers, AnswersRef, Audience, FileRef, SecretKey, shard_of, sign_repository_file
from tests.repository_simulator import RepositorySimulator, Station

ME = "test-station"  # tests.conftest.write_station_toml
REGION = ("广东省", "肇庆市", "高要市")
ASKED = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def answer(station: str, number: str, text: str, *, status: str = "answered", faq=False, audience=None) -> Answer:
    answered = status in ("answered", "closed")
    return Answer(
        station=station,
        number=number,
        topic="agriculture",
        question=f"问题 {station} {number}",
        asked=ASKED,
        status=status,
        answer=text if answered else "",
        answered=ASKED + timedelta(days=1) if answered else None,
        faq=faq,
        audience=audience or Audience(),
    )


def publish_with_answers(sim: RepositorySimulator, docs: dict[str, tuple[Answer, ...]], key: SecretKey | None = None):
    """A new version whose index pins one answers document per name in ``docs``, signed with
    ``key`` (the repository's own by default; the index always is)."""
    index = sim.publish()
    refs = []
    for name, entries in docs.items():
        doc = Answers(name, index.version, entries)
        data = doc.to_bytes()
        sim.files[doc.path] = data
        sim.files[doc.path + ".minisig"] = sign_repository_file(
            key or sim.key, doc.path, data, index.version, index.timestamp
        )
        refs.append(AnswersRef(name, index.version, FileRef(doc.path, hashlib.sha256(data).hexdigest(), len(data))))
    index = replace(index, answers=tuple(refs))
    sim.sign_index(index)
    return index


def catalogue() -> dict[str, tuple[Answer, ...]]:
    shard = shard_of(ME, 1)
    other = next(f"other-{i}" for i in range(100) if shard_of(f"other-{i}", 1) == shard)  # same shard, not us
    return {
        "faq": (
            answer("far-away", "20261201-01", "鹅舍要垫干草。", faq=True, audience=Audience(regions=(REGION[:2],))),
            answer("far-away", "20261201-02", "别的县的答复。", faq=True, audience=Audience(regions=(("湖南省",),))),
        ),
        shard: (
            answer(ME, "20261207-01", "可以申请补贴。"),
            answer(ME, "20261207-02", "", status="assigned"),
            answer(other, "20261207-01", "别的站点的问题。"),
        ),
    }


def shown(st: Station) -> dict[tuple[str, str], str]:
    return {a.key: a.status for a in st.store.installed_set().answers}


async def test_installs_own_questions_and_faq_for_this_station(tmp_path):
    sim = RepositorySimulator()
    sim.add_course("雨季养鹅技术", b"goose")
    docs = catalogue()
    publish_with_answers(sim, docs)
    async with sim.served() as mirror:
        st = Station(tmp_path, sim, mirror, region=REGION)
        report = await st.sync()
        assert report.complete, report.failures
        assert shown(st) == {
            ("far-away", "20261201-01"): "answered",
            (ME, "20261207-01"): "answered",
            (ME, "20261207-02"): "assigned",
        }
        installed = st.store.installed_set()
        assert {a.answer for a in installed.answered()} == {"可以申请补贴。", "鹅舍要垫干草。"}  # not the open one
        assert installed.faq_count() == 1
        # this station serves what it verified to its neighbours
        for path in [p for p in sim.files if p.startswith("answers/")]:
            assert st.store.repo_file(path).read_bytes() == sim.files[path]
        # and reads it back after a restart
        from station.store import Store

        assert {a.key for a in Store(st.cfg.data_dir).installed_set().answers} == set(shown(st))


async def test_rejects_forged_answers(tmp_path):
    sim = RepositorySimulator()
    sim.add_course("雨季养鹅技术", b"goose")
    publish_with_answers(sim, catalogue())
    async with sim.served() as mirror:
        st = Station(tmp_path, sim, mirror, region=REGION)
        assert (await st.sync()).complete
        before = shown(st)
        # the county answers a question; a mirror alters the shard (same size, other bytes)
        docs = catalogue()
        shard = shard_of(ME, 1)
        docs[shard] = (answer(ME, "20261207-02", "已经办好。"), *docs[shard][::2])
        index = publish_with_answers(sim, docs)
        path = next(r.file.path for r in index.answers if r.name == shard)
        sim.files[path] = sim.files[path].replace("已经办好".encode(), "不用办了".encode())
        report = await st.sync()
        assert not report.complete
        failure = next(f for f in report.failures if path in f)
        assert mirror in failure and "sha256" in failure
        assert shown(st) == before  # nothing installed from it, the previous answers stay
        assert st.store.repo_file(path) is None  # and never served to a neighbour
        assert st.store.installed_set().index_version == index.version  # the rest of the version is in


async def test_rejects_answers_signed_by_untrusted_key(tmp_path):
    sim = RepositorySimulator()
    sim.add_course("雨季养鹅技术", b"goose")
    index = publish_with_answers(sim, catalogue(), key=SecretKey.generate())
    async with sim.served() as mirror:
        st = Station(tmp_path, sim, mirror, region=REGION)
        report = await st.sync()
        assert not report.complete
        faq = next(r.file.path for r in index.answers if r.name == "faq")
        assert any(faq in f and mirror in f and "key" in f for f in report.failures), report.failures
        assert st.store.installed_set().answers == ()
        assert st.titles() == {"雨季养鹅技术"}  # the courses are not held back by it
        # the next pass, once the mirror has the right files, is complete
        publish_with_answers(sim, catalogue())
        assert (await st.sync()).complete
        assert len(shown(st)) == 3


async def test_index_without_answers_empties_them(tmp_path):
    sim = RepositorySimulator()
    sim.add_course("雨季养鹅技术", b"goose")
    publish_with_answers(sim, catalogue())
    async with sim.served() as mirror:
        st = Station(tmp_path, sim, mirror, region=REGION)
        assert (await st.sync()).complete and shown(st)
        sim.publish()  # an index that names no answers document
        assert (await st.sync()).complete
        assert st.store.installed_set().answers == ()
        assert not list((st.cfg.data_dir / "repo" / "answers").glob("*"))

"""Every route of the headend's web server fuzzed with Hypothesis (issue 10 "Fuzz the inputs"):
path parameters, query parameters, and the course edit form (urlencoded, multipart, raw bytes
under any Content-Type) built from what ``/county/courses/{id}`` sends. Every answer must be
< 500 with no ERROR logged; afterwards the county pages and the edit form still work.

A real headend root (``headend init``, SQLite) with two courses in its catalogue, a station with
an open alert and no background loops; ``ROUTES`` names each route's fuzzing (a route missing from
it fails ``test_every_route_*``).
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from catalogue import Course
from headend.config import load_config
from headend.db.engine import transaction
from headend.db.questions import QuestionStore
from headend.db.records import LiveClass
from headend.web.app import create_app
from headend.web.bulletin import PRINTER, Printer
from tests.conftest import init_headend
from tests.county_kit import login_admin
from tests.headend_db import database
from tests.http_fuzz import FUZZ, Harness, Req, fill, form_body, params, query, raw_body, routes_of, segment

pytestmark = pytest.mark.slow  # about 2,400 requests: not for `make test-fast`

COURSES = ["kc-yangshu-2026", "kc-yibao-2026", "kc-none"]
EDIT = {
    "title": "雨季养鹅技术",
    "category": "agriculture",
    "description": "讲解鹅舍防潮。",
    "series": "雨季养鹅",
    "episode": "2",
    "speaker": "县农技站 王技术员",
}

NOTICE = {  # the county page's notice draft form (issue 14)
    "id": "meeting",
    "title": "冬训动员会",
    "body": "周三晚七点半集中学习。",
    "regions": "广东省/肇庆市/高要市",
    "stations": "",
    "tags": "",
    "valid_from": "2026-12-01",
    "valid_until": "",
    "replace": "1",
}


LIVE = {  # the county page's form scheduling a live class (issue 16); "publish" left off
    "title": "学习贯彻全会精神",
    "id": "dangke-20991207",
    "date": "2099-12-07",
    "time": "19:30",
    "duration": "60",
    "regions": "广东省/肇庆市/高要市",
    "stations": "gaoyao-xiangang-xianyi",
    "tags": "",
    "category": "party",
    "description": "县委党校主讲。",
}
LIVE_IDS = {"id": ["dangke-20991201", "dangke-20991207", "nope"]}

QUESTION = {"station": ["gaoyao-xiangang-xianyi", "nope"], "number": ["20261207-01", "20261207-02", "nope"]}


@dataclasses.dataclass(frozen=True)
class Entry:
    path: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    query: tuple[str, ...] = ()
    slashes: bool = False
    form: dict[str, str] | None = None
    csrf: bool = True  # the fuzzed forms carry the session's CSRF token (False: /logout would end it)


ROUTES: dict[tuple[str, str], Entry] = {
    ("GET", "/"): Entry(),
    ("GET", "/county"): Entry(query=("region", "period", "kind")),
    ("GET", "/login"): Entry(query=("next",)),
    ("POST", "/login"): Entry(form={"name": "admin", "password": "not-the-password", "next": "/county"}),
    ("POST", "/logout"): Entry(form={}, csrf=False),
    ("GET", "/county/account/password"): Entry(),
    ("POST", "/county/account/password"): Entry(form={"old": "x" * 12, "new": "y-new-pass-1", "again": "y-new-pass-1"}),
    ("GET", "/county/users"): Entry(),
    ("POST", "/county/users"): Entry(form={"name": "li-ming", "role": "viewer", "region": "广东省/肇庆市"}),
    ("POST", "/county/users/{name}/password"): Entry({"name": ["li-ming", "nope"]}, form={}),
    ("POST", "/county/users/{name}/disabled"): Entry({"name": ["li-ming", "nope", "admin"]}, form={"disabled": "1"}),
    ("GET", "/county/audit"): Entry(query=("before",)),
    ("GET", "/county/publishing"): Entry(query=("busy",)),
    ("POST", "/county/publishing/publish"): Entry(form={}),
    ("GET", "/api/v1/publish"): Entry(),
    ("GET", "/api/v1/health"): Entry(),
    ("GET", "/api/v1/stations"): Entry(query=("region", "period", "kind")),
    ("GET", "/county/stations"): Entry(query=("region", "period", "kind", "filter", "sort", "desc", "format")),
    ("GET", "/county/stations/{id}"): Entry({"id": ["gaoyao-xiangang-xianyi", "nope"]}, query=("period", "format")),
    ("GET", "/api/v1/jobs"): Entry(),
    ("GET", "/county/courses"): Entry(query=("saved",)),
    ("GET", "/county/courses/{id}"): Entry({"id": COURSES}),
    ("POST", "/county/courses/{id}"): Entry({"id": COURSES[:1]}, form=EDIT),
    ("GET", "/repo/{path}"): Entry({"path": ["index.json", "keys", "media", "playlists"]}, slashes=True),
    ("GET", "/live/{id}/{path}"): Entry(
        {"id": ["dangke-1201", "nope"], "path": ["master.m3u8", "stb-sd/index.m3u8", "stb-sd/seg-00001.ts"]},
        slashes=True,
    ),
    ("GET", "/api/v1/stations/{id}/days"): Entry({"id": ["gaoyao-xiangang-xianyi", "nope"]}, query=("from", "to")),
    ("POST", "/api/v1/reports"): Entry(form={"v": "1", "station": "gaoyao-xiangang-xianyi", "events": "[]"}),
    ("GET", "/county/alerts"): Entry(query=("region",)),
    ("POST", "/county/alerts/{id}/acknowledge"): Entry({"id": ["1", "2", "0", "99999999999999999999"]}, form={}),
    ("GET", "/api/v1/alerts"): Entry(query=("region",)),
    ("GET", "/county/notices/receipts"): Entry(query=("region",)),
    ("GET", "/county/notices/receipts/{id}"): Entry({"id": ["dongxun-2026", "nope"]}, query=("region", "format")),
    ("GET", "/county/ratings"): Entry(query=("region", "period", "kind", "sort", "desc")),
    ("GET", "/county/ratings.csv"): Entry(query=("region", "period", "kind")),
    ("GET", "/county/ratings.xlsx"): Entry(query=("region", "period", "kind")),
    ("GET", "/api/v1/ratings"): Entry(query=("region", "period", "kind")),
    ("GET", "/county/ratings/bulletin"): Entry(query=("region", "period")),
    ("GET", "/county/ratings/bulletin.pdf"): Entry(query=("region", "period")),
    ("GET", "/county/stations/{id}/rating"): Entry(
        {"id": ["gaoyao-xiangang-xianyi", "nope"]}, query=("period", "kind")
    ),
    ("POST", "/county/stations/{id}/inspections"): Entry(
        {"id": ["gaoyao-xiangang-xianyi", "nope"]},
        form={"item": "place", "score": "3", "on": "", "note": "整洁", "period": ""},
    ),
    ("POST", "/county/stations/{id}/flags/override"): Entry(
        {"id": ["gaoyao-xiangang-xianyi", "nope"]},
        form={"period": "2026-11", "day": "2026-11-15", "rule": "headcount_over_capacity", "reason": "属实，已核实"},
    ),
    ("GET", "/county/evidence/{name}"): Entry({"name": ["0" * 64 + ".png", "nope.jpg"]}),
    ("GET", "/county/notices"): Entry(query=("edit", "done")),
    ("POST", "/county/notices"): Entry(form=NOTICE),
    ("POST", "/county/notices/{id}/review"): Entry({"id": ["meeting", "nope"]}, form={"sha256": "0" * 64}),
    ("POST", "/county/notices/{id}/sign"): Entry({"id": ["meeting", "nope"]}, form={"sha256": "0" * 64}),
    ("POST", "/county/users/{name}/reviewer"): Entry({"name": ["li-ming", "nope", "admin"]}, form={"reviewer": "1"}),
    ("GET", "/county/questions"): Entry(query=("region", "period", "kind", "status")),
    ("GET", "/county/questions.csv"): Entry(query=("region", "status")),
    ("GET", "/county/questions/{station}/{number}"): Entry(QUESTION),
    ("POST", "/county/questions/{station}/{number}/assign"): Entry(QUESTION, form={"assignee": "admin"}),
    ("POST", "/county/questions/{station}/{number}/answer"): Entry(
        QUESTION, form={"text": "用三环唑喷雾防治。", "faq": "1", "then": "save"}
    ),
    ("POST", "/county/questions/{station}/{number}/close"): Entry(QUESTION, form={}),
    ("GET", "/county/live"): Entry(query=("region", "done", "id", "publish")),
    ("POST", "/county/live"): Entry(form=LIVE),
    ("POST", "/county/live/{id}/cancel"): Entry(LIVE_IDS, form={}),
    ("GET", "/api/v1/live"): Entry(query=("region",)),
}
GETS = sorted(k for k in ROUTES if k[0] == "GET")
FORMS = sorted(k for k, e in ROUTES.items() if e.form is not None)


@pytest.fixture(scope="module")
def headend(tmp_path_factory):
    root = init_headend(tmp_path_factory.mktemp("fuzz-headend") / "headend")
    with database(root) as db:
        for cid, title, cat in (
            (COURSES[0], "雨季养鹅技术", "agriculture"),
            (COURSES[1], "农村医保政策解读", "policy"),
        ):
            db.upsert_course(Course(cid, title, cat, 600.0, cid.encode().hex().ljust(64, "0")[:64]), f"{cid}.mp4")
        db.add_station(
            "gaoyao-xiangang-xianyi", "蚬一村", ["广东省", "肇庆市", "高要市", "蚬岗镇", "蚬一村"], "stb-sd", "0" * 64
        )
        with transaction(db.engine, write=True) as conn:  # a villager's question (issue 14), as the collector keeps it
            QuestionStore.add(conn, [question(n) for n in ("20261207-01", "20261207-02")])
        db.alerts.record_check(
            "2026-12-01T00:00:00Z", [("gaoyao-xiangang-xianyi", "disk_low", {"words": "磁盘剩余 6%"})], {}, {}
        )
        db.live.add(live_class("dangke-20991201"))  # a class to cancel (issue 16)
    app = create_app(load_config(root), background_loops=False)
    # the bulletin's PDF from a stand-in printer (a script writing a tiny PDF): thousands of
    # fuzzed requests must not start Chromium each
    fake = tmp_path_factory.mktemp("printer") / "chromium"
    fake.write_text(
        '#!/bin/sh\nfor a; do case "$a" in --print-to-pdf=*) printf "%%PDF-1.4\\n%%%%EOF\\n" > "${a#*=}";; esac; done\n'
    )
    fake.chmod(0o755)
    app[PRINTER] = Printer(str(fake))
    h = Harness(app)
    h.staff = h.run(login_admin(h.client, root))  # every route is fuzzed as a logged-in admin
    yield h
    h.close()


def live_class(live_id: str) -> LiveClass:
    regions = ("广东省/肇庆市/高要市",)
    return LiveClass(
        id=live_id,
        title="冬训党课",
        category="party",
        description="",
        start_at="2099-12-01T11:30:00Z",
        duration_s=3600.0,
        audience={"stations": (), "regions": regions, "tags": ()},
        source="",
        created_by="admin",
        created_at="2026-12-01T00:00:00Z",
    )


def question(number: str) -> dict:
    return {
        "station": "gaoyao-xiangang-xianyi",
        "number": number,
        "topic": "agriculture",
        "text": "稻瘟病怎么防治？",
        "asker": "张大爷",
        "publishable": number.endswith("01"),
        "asked_at": "2026-12-07T01:00:00Z",
        "received_at": "2026-12-07T01:00:05Z",
        "status": "new",
        "stream": "0123456789abcdef",
        "seq": int(number[-2:]),
    }


def origin(headend) -> dict[str, str]:
    """What a browser sends with a form from the site's own page."""
    return {"Origin": headend.origin}


def path_for(route: tuple[str, str]) -> st.SearchStrategy[str]:
    entry, canonical = ROUTES[route], route[1]
    names = params(canonical)
    if not names:
        return st.just(canonical)
    return st.fixed_dictionaries({n: segment(entry.path.get(n, []), entry.slashes) for n in names}).map(
        lambda v: fill(canonical, v)
    )


def test_every_route_of_the_headend_has_a_fuzzing_entry(headend):
    assert routes_of(headend.app) == set(ROUTES), "add the new route to ROUTES in this file"


@pytest.mark.parametrize("route", GETS, ids=[r[1] for r in GETS])
def test_get_paths_and_queries(headend, route):
    @FUZZ
    @given(path=path_for(route), q=query(ROUTES[route].query))
    def fuzz(path, q):
        headend.send(Req("GET", path, q))

    fuzz()


@pytest.mark.parametrize("kind", ["urlencoded", "multipart"])
@pytest.mark.parametrize("route", FORMS, ids=[r[1] for r in FORMS])
def test_form_posts(headend, route, kind):
    token = headend.staff.csrf if ROUTES[route].csrf else None
    form_strategy = form_body(kind, ROUTES[route].form, token, "_csrf")

    @FUZZ
    @given(path=path_for(route), q=query(), form=form_strategy)
    def fuzz(path, q, form):
        body, ctype = form
        headend.send(Req("POST", path, q, body, {"Content-Type": ctype, **origin(headend)}))

    fuzz()


@pytest.mark.parametrize("route", FORMS, ids=[r[1] for r in FORMS])
def test_raw_bodies_under_any_content_type(headend, route):
    @FUZZ
    @given(path=path_for(route), raw=raw_body())
    def fuzz(path, raw):
        body, ctype = raw
        headers = {**origin(headend), "X-CSRF-Token": headend.staff.csrf if ROUTES[route].csrf else ""}
        headend.send(Req("POST", path, "", body, {"Content-Type": ctype, **headers} if ctype else headers))

    fuzz()


def test_the_county_pages_still_work_after_the_fuzzing(headend):
    pages = (
        "/county",
        "/county/stations",
        "/county/stations/gaoyao-xiangang-xianyi",
        "/county/publishing",
        "/county/courses",
        f"/county/courses/{COURSES[1]}",
        "/county/users",
        "/county/audit",
        "/county/questions",
        "/county/questions/gaoyao-xiangang-xianyi/20261207-01",
        "/county/live",
    )
    for page in (*pages, "/api/v1/health"):
        assert headend.send(Req("GET", page))[0] == 200, page
    form = b"title=%E6%96%B0%E6%A0%87%E9%A2%98&category=health&description=&series=&episode=&speaker="
    req = Req("POST", f"/county/courses/{COURSES[1]}", body=form + b"&_csrf=" + headend.staff.csrf.encode())
    req.headers.update({"Content-Type": "application/x-www-form-urlencoded", **origin(headend)})
    assert headend.send(req)[0] == 303
    status, page = headend.send(Req("GET", "/county/courses"))
    assert status == 200 and "新标题" in page.decode()


# ---- what the fuzzing found: plain regression tests ------------------------------------------

FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    "body,ctype",
    [
        (b"title=x", FORM + "; charset=bogus-8"),
        (b"{}", "multipart/form-data"),
        (
            b'--x\r\nContent-Disposition: form-data; name="title"; filename="a.txt"\r\n\r\nv\r\n--x--\r\n',
            "multipart/form-data; boundary=x",
        ),
    ],
)
def test_a_course_form_the_server_cannot_read_is_a_400_and_nothing_changes(headend, body, ctype):
    headers = {"Content-Type": ctype, "X-CSRF-Token": headend.staff.csrf, **origin(headend)}
    req = Req("POST", f"/county/courses/{COURSES[0]}", "", body, headers)
    status, page = headend.run(headend.fetch(req))
    assert status == 400 and "表单无法读取" in page.decode()
    assert not headend.errors.records
    status, page = headend.send(Req("GET", f"/county/courses/{COURSES[0]}"))
    assert status == 200 and 'value="v"' not in page.decode()


def test_a_url_too_long_to_parse_is_a_400_and_one_warning_line(headend, caplog):
    headend.errors.records.clear()
    status, _ = headend.run(headend.fetch(Req("GET", "/county", "q=" + "9" * 9000)))
    assert status == 400 and not headend.errors.records
    warnings = [r for r in caplog.records if r.name == "headend.web.http"]
    assert warnings and warnings[-1].levelname == "WARNING" and warnings[-1].exc_info is None


@pytest.mark.parametrize("token", ["Ü" * 32, "\ud800", "页面"])
def test_a_csrf_token_that_is_not_ascii_is_a_403_not_a_500(headend, token):
    """hmac.compare_digest refuses str with non-ASCII characters (TypeError: a 500); the fuzzer
    sent a multipart form whose _csrf part was Latin-1."""
    headend.errors.records.clear()
    req = Req("POST", "/county/publishing/publish", "", b"", {**origin(headend), "X-CSRF-Token": "x"})
    req.headers["X-CSRF-Token"] = token.encode("utf-8", "surrogatepass").decode("latin-1")
    status, page = headend.run(headend.fetch(req))
    assert status == 403 and "页面已过期" in page.decode() and not headend.errors.records

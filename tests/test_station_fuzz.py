"""Every route of the station's web server fuzzed with Hypothesis (issue 10 "Fuzz the inputs"):
path parameters, query parameters, and for each POST the body the page sends (a form,
urlencoded and multipart; the player's JSON) mutated, plus raw bytes under any Content-Type.
Fuzzed POSTs carry what the real pages carry — the ``Origin`` and the page's token, read from
the page — so they reach the handlers' parsing; ``test_without_the_pages_token_or_origin_*``
sends them without. Every answer must be < 500 with no ERROR logged, and afterwards the TV
flow (home, course, play, study session, admin page) still works.

The station is synced, without ffmpeg, from a signed repository whose "media" are a few bytes:
nothing here plays them. Rate and PIN-guess limits are lifted for the fuzzed app so that fuzzed
requests reach the handlers (``test_forged`` checks the limits); the attack test keeps them.
``ROUTES`` names each route's fuzzing; a route missing from it fails ``test_every_route_*``.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from playlists import Notice
from playlists.schedule import CHINA, Live
from station.records.attendance import FIVES
from station.web.app import create_app
from station.web.guard import ADMIN_COOKIE, AdminGuard, RateLimit
from station.web.keys import ADMIN, ATTENDANCE
from tests.http_fuzz import (
    FUZZ,
    Harness,
    Req,
    fill,
    form_body,
    json_body,
    page_token,
    params,
    query,
    raw_body,
    routes_of,
    segment,
)
from tests.tv.station import CATALOGUE, PIN, Mirror, TvStation, repository, schedule

pytestmark = pytest.mark.slow  # about 14,000 requests: not for `make test-fast`

COURSES = [lesson.id for lesson in CATALOGUE] + ["c-none"]
PLAY = "@play"  # an open play's id, filled in when the request is sent
LIVE_PLAY = "@live"  # an open live watching's id, likewise
LIVE = "lecture-1"  # a live class on air in the fuzzed station's schedule
SESSION = "@session"  # a finished study session's id


@dataclasses.dataclass(frozen=True)
class Entry:
    """How one route is fuzzed: valid values per path parameter (``slashes``: a path), query
    names the handler reads, and for a POST the fields or document the real page sends, which
    client sends it (``tv``, ``admin`` logged in, ``anon`` not logged in, ``setup`` on a box with
    no PIN yet) and the page its token comes from."""

    path: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    query: tuple[str, ...] = ()
    slashes: bool = False
    form: dict[str, str] | None = None
    json: dict[str, Any] | None = None
    client: str = "tv"
    page: str = "/"


FIVES_FORM = {**{f"{k}_ok": "on" for k in FIVES}, **{f"{k}_note": "村委会二楼" for k in FIVES}}
PLAY_REPORT = {"position_s": 1.5, "watched_s": 1.0, "ended": False}

ROUTES: dict[tuple[str, str], Entry] = {
    ("GET", "/"): Entry(),
    ("GET", "/go/{n}"): Entry({"n": ["1", "2", "6", "7"]}),
    ("GET", "/continue"): Entry(),
    ("GET", "/category/{id}"): Entry({"id": ["agriculture", "policy", "culture", "nosuch"]}),
    ("GET", "/course/{id}"): Entry({"id": COURSES}),
    ("GET", "/schedule"): Entry(),
    ("GET", "/notice/{id}"): Entry({"id": ["n1", "old"]}),
    ("GET", "/play/{id}"): Entry({"id": COURSES}, query=("channel", "from")),
    ("GET", "/session"): Entry(),
    ("GET", "/session/summary/{id}"): Entry({"id": [SESSION]}),
    ("GET", "/admin"): Entry(query=("sync", "saved", "session", "number"), client="admin"),
    ("GET", "/answers"): Entry(),
    ("GET", "/watch/{id}"): Entry({"id": ["dangke-1207", "no-such-class"]}, query=("channel",)),
    ("GET", "/answers/{station}/{number}"): Entry({"station": ["far-away", "ceshi-shifan"], "number": ["20261201-01"]}),
    ("GET", "/media/{path}"): Entry({"path": []}, slashes=True),  # valid paths: the store's (fixture)
    ("GET", "/api/status"): Entry(),
    ("GET", "/lang/{tag}"): Entry({"tag": ["en", "zh-CN", "zh", "fr"]}, query=("next",)),
    ("GET", "/static/{file}"): Entry({"file": ["tv.js", "tv.css", "nosuch.js"]}, query=("v",)),
    ("GET", "/repo/{path}"): Entry({"path": ["index.json", "index.json.minisig", "keys"]}, slashes=True),
    ("GET", "/live/{id}/{path}"): Entry(
        {"id": ["lecture-1"], "path": ["master.m3u8", "hd/seg-00001.ts"]}, slashes=True
    ),
    ("POST", "/api/plays"): Entry(json={"course": "c-goose", "channel": False}, page="/play/c-goose"),
    ("POST", "/api/plays/{id}"): Entry({"id": [PLAY]}, json=PLAY_REPORT, page="/play/c-goose"),
    ("POST", "/api/plays/{id}/end"): Entry({"id": [PLAY]}, json={**PLAY_REPORT, "ended": True}, page="/play/c-goose"),
    ("POST", "/api/live-plays"): Entry(json={"live": LIVE}),
    ("POST", "/api/live-plays/{id}"): Entry({"id": [LIVE_PLAY]}, json={"watched_s": 1.0}),
    ("POST", "/api/live-plays/{id}/end"): Entry({"id": [LIVE_PLAY]}, json={"watched_s": 1.0}),
    ("POST", "/session/start"): Entry(form={"topic": "农业技术", "headcount": "12"}, page="/session"),
    ("POST", "/session/end"): Entry(form={}, page="/session"),
    ("POST", "/admin/setup"): Entry(form={"pin": "258036", "pin2": "258036"}, client="setup", page="/admin"),
    ("POST", "/admin/login"): Entry(form={"pin": PIN}, client="anon", page="/admin"),
    ("POST", "/admin/logout"): Entry(form={}, client="admin", page="/admin"),
    ("POST", "/admin/sync"): Entry(form={}, client="admin", page="/admin"),
    ("POST", "/admin/session/start"): Entry(
        form={"topic": "农业技术", "facilitator": "李明", "headcount": "12", "names": "张三\n李四"},
        client="admin",
        page="/admin",
    ),
    ("POST", "/admin/session/end"): Entry(form={}, client="admin", page="/admin"),
    ("POST", "/admin/logbook"): Entry(form={"text": "检查了电视和机顶盒"}, client="admin", page="/admin"),
    ("POST", "/admin/fives"): Entry(form=FIVES_FORM, client="admin", page="/admin"),
    ("POST", "/admin/questions"): Entry(
        form={"topic": "agriculture", "question": "鹅苗哪里能买到？", "asker": "张大爷", "publish": "on"},
        client="admin",
        page="/admin",
    ),
}
GETS = sorted(k for k in ROUTES if k[0] == "GET")
FORMS = sorted(k for k, e in ROUTES.items() if e.form is not None)
JSONS = sorted(k for k, e in ROUTES.items() if e.json is not None)
POSTS = FORMS + JSONS


def fake_clips(d: Path) -> dict[str, Path]:
    """The files ``tests.tv.station.repository`` publishes, as a few distinct bytes each."""
    clips = {}
    for name in ("video", "long", "poster", "audio", "broken"):
        clips[name] = d / f"{name}.bin"
        clips[name].write_bytes(f"not really {name}\n".encode() * 8)
    return clips


class Station:
    """The fuzzed station: one app (limits lifted) with its browsers, and a first-run app."""

    def __init__(self, root: Path, mirror: Mirror) -> None:
        self.tv = TvStation(root / "box", mirror, repository(fake_clips(root)))
        now = datetime.now(CHINA).replace(microsecond=0)
        self.tv.publish(
            notices=(
                Notice("n1", "本周六村委会开展防汛演练", "请各户派一人参加。", valid_until=now + timedelta(days=1)),
            ),
            schedule=dataclasses.replace(
                schedule(("c-goose", now + timedelta(minutes=30)), ("c-rice", now + timedelta(hours=2))),
                live=(Live(LIVE, "网络党课", now - timedelta(minutes=10), 3 * 3600.0),),
            ),
        )
        assert self.tv.sync() == "ok"
        self.media = [p.removeprefix("media/") for p in self.tv.sim.files if p.startswith("media/")]
        guard = AdminGuard(failure_delay_s=0, max_failures=10**9, global_max_failures=10**9)
        unlimited = RateLimit(burst=1e12, per_s=1e12)
        # (screens lifted too: the harness keeps a play and a live watching open under their own clients)
        cfg = dataclasses.replace(self.tv.cfg, screens=16)
        self.h = Harness(create_app(cfg, self.tv.store, guard=guard, rate=unlimited))
        first = self.tv.copy(root / "first-run")
        self.first = Harness(
            create_app(dataclasses.replace(first.cfg, admin_pin=None), first.store, guard=guard, rate=unlimited)
        )
        self.clients = {"tv": self.h.client, "admin": self.h.new_client(), "anon": self.h.new_client()}
        self.tokens: dict[str, str] = {}
        self.stale: list[str] = []  # admin tokens of sessions a fuzzed logout ended
        self.login()
        self.session_id = self.finished_session()

    def close(self) -> None:
        for name in ("admin", "anon"):
            self.h.run(self.clients[name].close())
        self.h.close()
        self.first.close()

    # ---- what the pages give a browser ---------------------------------------------------------

    def token(self, client: str, page: str) -> str:
        """The token ``page`` carries, read from the page as its script or form does."""
        h = self.first if client == "setup" else self.h
        status, html = h.send(Req("GET", page), None if client == "setup" else self.clients[client])
        assert status == 200, (page, status)
        return page_token(html)

    def login(self) -> None:
        # A fuzzed login with the right PIN may have logged "anon" in: its /admin page would then
        # carry a session's token, which the admin's fresh login must not present.
        self.clients["anon"].session.cookie_jar.clear()
        token = self.token("anon", "/admin")
        admin = self.clients["admin"]
        admin.session.cookie_jar.clear()
        body = f"pin={PIN}&_token={token}".encode()
        req = Req("POST", "/admin/login", body=body, headers=self.headers("application/x-www-form-urlencoded"))
        assert self.h.send(req, admin)[0] == 303
        if "admin" in self.tokens:
            self.stale.append(self.tokens["admin"])
        self.tokens["admin"] = self.token("admin", "/admin")

    def admin_ready(self) -> None:
        """Log in again when a fuzzed logout ended the session."""
        cookies = self.clients["admin"].session.cookie_jar.filter_cookies(self.clients["admin"].make_url("/admin/"))
        if not self.h.app[ADMIN].valid(cookies[ADMIN_COOKIE].value if ADMIN_COOKIE in cookies else None):
            self.login()

    def headers(self, content_type: str | None, token: str | None = None, origin: str | None = "own") -> dict:
        headers = {}
        if origin is not None:
            headers["Origin"] = self.h.origin if origin == "own" else origin
        if content_type is not None:
            headers["Content-Type"] = content_type
        if token is not None:
            headers["X-YJ-Token"] = token
        return headers

    def finished_session(self) -> str:
        token = self.token("tv", "/session")
        form = f"topic=%E5%86%9C%E4%B8%9A&headcount=3&_token={token}".encode()
        ctype = "application/x-www-form-urlencoded"
        assert self.h.send(Req("POST", "/session/start", body=form, headers=self.headers(ctype)))[0] == 303
        self.h.send(Req("POST", "/session/end", body=f"_token={token}".encode(), headers=self.headers(ctype)))
        return self.h.app[ATTENDANCE].month_sessions()[-1].id

    def open_play(self) -> str:
        plays = self.h.app[ATTENDANCE].open_plays()
        if plays:
            return plays[-1].id
        return self.h.app[ATTENDANCE].start_play("c-goose", "雨季养鹅技术", 3.0)

    # ---- sending --------------------------------------------------------------------------------

    def current_token(self, req: Req) -> Req:
        """``req`` with an ended session's token replaced by the current one (as the page the
        administrator reloads after logging in again would carry)."""
        now = self.tokens["admin"]
        body, headers = req.body, dict(req.headers)
        for old in self.stale:
            if body is not None:
                body = body.replace(old.encode(), now.encode())
            if headers.get("X-YJ-Token") == old:
                headers["X-YJ-Token"] = now
        return dataclasses.replace(req, body=body, headers=headers)

    def open_live(self) -> str:
        live = self.h.app[ATTENDANCE].open_live()
        if live:
            return live[-1].id
        return self.h.app[ATTENDANCE].start_live(LIVE, "网络党课", 3 * 3600.0, client="fuzz-live")[0]

    def resolve(self, path: str) -> str:
        if LIVE_PLAY in path:
            path = path.replace(LIVE_PLAY, self.open_live())
        return path.replace(PLAY, self.open_play()).replace(SESSION, self.session_id)

    def send(self, req: Req, client: str) -> tuple[int, bytes]:
        if client == "setup":
            return self.first.send(dataclasses.replace(req, path=self.resolve(req.path)))
        if client == "admin":
            self.admin_ready()
            req = self.current_token(req)
        if client == "anon":
            self.clients["anon"].session.cookie_jar.clear()
        return self.h.send(dataclasses.replace(req, path=self.resolve(req.path)), self.clients[client])

    def page_token(self, entry: Entry) -> str:
        if entry.client == "admin":
            return self.tokens["admin"]
        key = f"{entry.client} {entry.page}"
        if key not in self.tokens:
            self.tokens[key] = self.token(entry.client, entry.page)
        return self.tokens[key]


@pytest.fixture(scope="module")
def station(tmp_path_factory):
    mirror = Mirror()
    s = Station(tmp_path_factory.mktemp("fuzz-station"), mirror)
    yield s
    s.close()
    mirror.close()


def path_for(route: tuple[str, str], station: Station) -> st.SearchStrategy[str]:
    entry = ROUTES[route]
    canonical = route[1]
    names = params(canonical)
    if not names:
        return st.just(canonical)
    valid = {n: (station.media if canonical == "/media/{path}" else entry.path.get(n, [])) for n in names}
    return st.fixed_dictionaries({n: segment(valid[n], entry.slashes) for n in names}).map(lambda v: fill(canonical, v))


def past_the_gate(status: int, body: bytes) -> bool:
    """Did the request reach its handler (not refused for its token, Origin, type or rate, nor
    for a form that cannot be parsed)?"""
    return status not in (403, 415, 429) and "表单无法读取".encode() not in body


# ---- the tests -------------------------------------------------------------------------------


def test_every_route_of_the_station_has_a_fuzzing_entry(station):
    assert routes_of(station.h.app) == set(ROUTES), "add the new route to ROUTES in this file"


@pytest.mark.parametrize("route", GETS, ids=[r[1] for r in GETS])
def test_get_paths_and_queries(station, route):
    entry = ROUTES[route]

    @FUZZ
    @given(path=path_for(route, station), q=query(entry.query))
    def fuzz(path, q):
        station.send(Req("GET", path, q), entry.client)

    fuzz()


@pytest.mark.parametrize("kind", ["urlencoded", "multipart"])
@pytest.mark.parametrize("route", FORMS, ids=[r[1] for r in FORMS])
def test_form_posts(station, route, kind):
    entry = ROUTES[route]
    token = station.page_token(entry)

    reached: list[bool] = []

    @FUZZ
    @given(path=path_for(route, station), q=query(), form=form_body(kind, entry.form, token))
    def fuzz(path, q, form):
        body, ctype = form
        reached.append(past_the_gate(*station.send(Req("POST", path, q, body, station.headers(ctype)), entry.client)))

    fuzz()
    assert any(reached), "no fuzzed request got past the token and Origin checks to the handler"


@pytest.mark.parametrize("route", JSONS, ids=[r[1] for r in JSONS])
def test_json_posts(station, route):
    entry = ROUTES[route]
    token = station.page_token(entry)

    reached: list[bool] = []

    @FUZZ
    @given(path=path_for(route, station), body=json_body(entry.json), ctype=st.sampled_from(JSON_TYPES))
    def fuzz(path, body, ctype):
        reached.append(
            past_the_gate(*station.send(Req("POST", path, "", body, station.headers(ctype, token)), entry.client))
        )

    fuzz()
    assert any(reached), "no fuzzed request got past the token and Origin checks to the handler"


JSON_TYPES = ["application/json", "application/json; charset=utf-8", "application/json; charset=bogus-8"]


@pytest.mark.parametrize("route", POSTS, ids=[r[1] for r in POSTS])
def test_raw_bodies_under_any_content_type(station, route):
    entry = ROUTES[route]
    token = station.page_token(entry)

    @FUZZ
    @given(path=path_for(route, station), raw=raw_body())
    def fuzz(path, raw):
        body, ctype = raw
        station.send(Req("POST", path, "", body, station.headers(ctype, token)), entry.client)

    fuzz()


@FUZZ
@given(
    route=st.sampled_from(POSTS),
    origin=st.sampled_from([None, "own", "http://evil.example", "null", "http://127.0.0.1", "file://"]),
    token=st.sampled_from([None, "", "x" * 64, "令牌", "wrong-page", "right"]),
    raw=raw_body(),
)
def test_without_the_pages_token_or_origin_every_post_is_refused(station, route, origin, token, raw):
    entry = ROUTES[route]
    if origin in ("own", None) and token == "right":
        token = None  # one of the two is always wrong here (no Origin at all is a script's request)
    right = station.page_token(entry)
    given_token = {"right": right, "wrong-page": station.page_token(ROUTES[("POST", "/admin/sync")])}.get(token, token)
    if given_token == right:
        given_token = station.page_token(ROUTES[("POST", "/api/plays")])
    body, ctype = raw
    status, _ = station.send(Req("POST", route[1], "", body, station.headers(ctype, given_token, origin)), entry.client)
    assert 400 <= status < 500, (route, origin, token, status)


def test_the_tv_flow_still_works_after_the_fuzzing(station):
    """Last in this file: what the fuzzing left behind (plays, sessions, logbook entries, a PIN
    on the first-run box) does not stop a villager or the administrator."""
    h, tv = station.h, station.clients["tv"]
    tv.session.cookie_jar.clear()  # a fuzzed /lang/en may have switched this browser to English
    status, home = h.send(Req("GET", "/"), tv)
    assert status == 200 and "雨季养鹅技术" in home.decode()
    assert "请各户派一人参加" not in home.decode() and "本周六村委会开展防汛演练" in home.decode()
    status, page = h.send(Req("GET", "/play/c-goose"), tv)
    assert status == 200
    token = page_token(page)
    ctype = "application/json"
    status, body = h.send(
        Req("POST", "/api/plays", body=b'{"course": "c-goose"}', headers=station.headers(ctype, token))
    )
    assert status == 200
    play_id = json.loads(body)["id"]
    end = b'{"position_s": 2.5, "watched_s": 2, "ended": true}'
    before = len(station.tv.journal("play"))
    status, body = h.send(Req("POST", f"/api/plays/{play_id}/end", body=end, headers=station.headers(ctype, token)))
    assert status == 200 and b'"ok": true' in body
    plays = station.tv.journal("play")
    assert len(plays) == before + 1 and plays[-1]["course"] == "c-goose" and plays[-1]["position_s"] == 2.5
    # a live class watched on the TV
    before = len(station.tv.journal("live"))
    status, body = h.send(
        Req("POST", "/api/live-plays", body=b'{"live": "lecture-1"}', headers=station.headers(ctype, token))
    )
    assert status == 200, body
    live_id = json.loads(body)["id"]
    end = f"/api/live-plays/{live_id}/end"
    assert h.send(Req("POST", end, body=b'{"watched_s": 1}', headers=station.headers(ctype, token)))[0] == 200
    lines = station.tv.journal("live")
    assert len(lines) == before + 1 and lines[-1]["live"] == "lecture-1" and lines[-1]["client"] == "127.0.0.1"
    # a study session from the TV's red key, then the administrator's page
    form_type = "application/x-www-form-urlencoded"
    status, session_page = h.send(Req("GET", "/session"), tv)
    if "结束" in session_page.decode() and "/session/end" in session_page.decode():
        h.send(Req("POST", "/session/end", body=f"_token={token}".encode(), headers=station.headers(form_type)), tv)
    form = f"topic=%E5%86%9C%E4%B8%9A%E6%8A%80%E6%9C%AF&headcount=17&_token={token}".encode()
    assert h.send(Req("POST", "/session/start", body=form, headers=station.headers(form_type)), tv)[0] == 303
    assert "集中学习" in h.send(Req("GET", "/"), tv)[1].decode()
    station.admin_ready()
    status, admin = h.send(Req("GET", "/admin"), station.clients["admin"])
    assert status == 200 and "17" in admin.decode()


# ---- what the fuzzing found: plain regression tests ------------------------------------------

FORM = "application/x-www-form-urlencoded"
BROKEN_FORMS = [
    (b"topic=x&headcount=3", FORM + "; charset=bogus-8"),  # LookupError in aiohttp
    (b"topic=x&headcount=3", FORM + "; charset=utf-16"),  # UnicodeDecodeError
    (b"{}", "multipart/form-data"),  # no boundary: ValueError
    (
        b'--x\r\nContent-Disposition: form-data; name="topic"\r\nContent-Transfer-Encoding: bogus\r\n\r\nv\r\n--x--\r\n',
        "multipart/form-data; boundary=x",
    ),  # RuntimeError
    (
        b'--x\r\nContent-Disposition: form-data; name="topic"\r\n\r\n\xff\xfe\r\n--x--\r\n',
        "multipart/form-data; boundary=x",
    ),  # not UTF-8
    (
        b'--x\r\nContent-Disposition: form-data; name="topic"; filename="a.txt"\r\n\r\nv\r\n--x--\r\n',
        "multipart/form-data; boundary=x",
    ),  # a file where the page sends text
]


BROKEN_FORMS.append(
    (b'--x\r\nContent-Disposition: form-data; name="\x00"\r\n\r\nv\r\n--x--\r\n', "multipart/form-data; boundary=x")
)  # a NUL in a part's header: aiohttp's InvalidHeader


@pytest.mark.parametrize("body,ctype", BROKEN_FORMS)
def test_a_form_the_server_cannot_read_is_a_400_that_says_to_reload(station, body, ctype):
    station.clients["tv"].session.cookie_jar.clear()  # in Chinese, whatever /lang the fuzzing chose
    token = station.page_token(ROUTES[("POST", "/session/start")])
    before = len(station.tv.journal("session_start"))
    for headers in (station.headers(ctype, token), station.headers(ctype)):  # token as header, or in the form
        status, page = station.h.run(station.h.fetch(Req("POST", "/session/start", "", body, headers)))
        assert status == 400 and "表单无法读取" in page.decode(), (status, page[:300])
    assert not station.h.errors.records
    assert len(station.tv.journal("session_start")) == before


def test_a_url_too_long_to_parse_is_a_400_and_one_warning_line(station, caplog):
    station.h.errors.records.clear()
    status, _ = station.h.run(station.h.fetch(Req("GET", "/", "q=" + "9" * 9000)))
    assert status == 400
    assert not station.h.errors.records
    warnings = [r for r in caplog.records if r.name == "station.web.http"]
    assert warnings and warnings[-1].levelname == "WARNING" and "400" in warnings[-1].getMessage()
    assert warnings[-1].exc_info is None


def test_a_static_file_name_too_long_for_the_disk_is_a_404(station):
    status, _ = station.h.send(Req("GET", "/static/" + "a" * 300))
    assert status == 404
    assert station.h.send(Req("GET", "/static/tv.js"))[0] == 200


def test_a_play_posted_without_a_course_is_a_404_that_says_so(station):
    station.clients["tv"].session.cookie_jar.clear()
    token = station.page_token(ROUTES[("POST", "/api/plays")])
    for body in (b"{}", b'{"course": ""}', b""):
        req = Req("POST", "/api/plays", "", body, station.headers("application/json", token))
        status, answer = station.h.send(req)
        assert status == 404 and "没有找到这个课程" in json.loads(answer)["error"]


def test_a_play_report_with_a_400_digit_number_is_a_400(station):
    token = station.page_token(ROUTES[("POST", "/api/plays")])
    play = station.open_play()
    for key in ("position_s", "watched_s"):
        body = json.dumps({"position_s": 1, "watched_s": 1, key: 10**400}).encode()
        for path in (f"/api/plays/{play}", f"/api/plays/{play}/end"):
            status, answer = station.h.send(Req("POST", path, "", body, station.headers("application/json", token)))
            assert status == 400 and key in json.loads(answer)["error"]
    assert any(p.id == play for p in station.h.app[ATTENDANCE].open_plays())  # nothing was recorded

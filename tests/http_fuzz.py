"""Hypothesis strategies for hostile HTTP requests, and ``Harness``: one app served in-process by
aiohttp's ``TestServer``/``TestClient`` on its own event loop, so a synchronous ``@given`` test
can send thousands of requests to it and check each answer.

A request is ``Req(method, path, query, body, headers)``: ``path`` and ``query`` are sent exactly
as given (already percent-encoded, ``..`` and ``%00`` included: no client-side normalising),
``body`` is bytes. ``Harness.send`` fails the test on a 5xx, on an exception the client sees (a
dropped connection), and on any ERROR log record (the error middlewares log every unexpected
exception, and aiohttp logs what escapes them).

Route tables: each server's test maps every ``(method, canonical path)`` of its router to how
that route is fuzzed; ``routes_of(app)`` is what the router holds, so a route added later without
an entry fails the test that compares the two.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_from_bytes

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from yarl import URL

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))  # per route and body kind
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
    database=None,  # a found failure is printed with its example; nothing is kept between runs
)

# ---- routes ----------------------------------------------------------------------------------


def routes_of(app: web.Application) -> set[tuple[str, str]]:
    """``(method, canonical path)`` of every route (HEAD is GET's twin and fuzzed with it)."""
    return {(r.method, r.resource.canonical) for r in app.router.routes() if r.method != "HEAD"}


_PARAM = re.compile(r"\{([A-Za-z_]+)(?::[^}]*)?\}")


def fill(canonical: str, values: Mapping[str, str]) -> str:
    """``/course/{id}`` with ``{id}`` replaced by ``values["id"]`` (already encoded)."""
    return _PARAM.sub(lambda m: values[m.group(1)], canonical)


def params(canonical: str) -> list[str]:
    return _PARAM.findall(canonical)


# ---- strategies ------------------------------------------------------------------------------

HOSTILE_TEXT = [
    "",
    " ",
    "..",
    "../../etc/passwd",
    "\x00",
    "a\x00b",
    "\r\nSet-Cookie: x=1",
    "-1",
    "0",
    "1e309",
    "-0",
    "NaN",
    "Infinity",
    "99999999999999999999999999",
    "0x10",
    "١٢",  # Arabic-Indic digits: isdigit() says yes
    "²",
    "//evil.example/",
    "/\\evil.example",
    "http://evil.example/",
    "javascript:alert(1)",
    "<script>alert(1)</script>",
    "{{ 7*7 }}",
    "%s%n",
    "\u202e\u200b\ufeff",
    "雨季养鹅技术",
    "😀" * 50,
    "on",
    "true",
]
HOSTILE_SEGMENTS = [
    "..",
    ".",
    "%2e%2e",
    "..%2f..%2fetc%2fpasswd",
    "%00",
    "a%00b",
    "%ff",
    "%c0%af",
    "%",
    "%zz",
    "%20",
    "~",
    ".hidden",
    "-1",
    "0",
    "99999999999999999999",
    "1e400",
    "NaN",
    "%E9%9B%A8",
    "%ED%A0%80",  # a UTF-8-encoded surrogate: not valid UTF-8
]


def text_values(max_size: int = 60) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=max_size), st.integers().map(str))


def raw_values(max_size: int = 60) -> st.SearchStrategy[bytes]:
    """A value as bytes: UTF-8 text, invalid UTF-8, or a very long one."""
    return st.one_of(
        text_values(max_size).map(lambda s: s.encode("utf-8")),
        st.binary(max_size=max_size),
        st.integers(1_000, 70_000).map(lambda n: b"9" * n),
    )


def segment(valid: Iterable[str] = (), slashes: bool = False) -> st.SearchStrategy[str]:
    """One encoded path parameter: a valid value, a hostile one, any text or bytes, very long."""
    safe = "/" if slashes else ""
    options = [
        st.sampled_from(HOSTILE_SEGMENTS),
        st.text(min_size=1, max_size=40).map(lambda s: quote(s, safe=safe)),
        st.binary(min_size=1, max_size=30).map(lambda b: quote_from_bytes(b, safe=safe)),
        st.integers(200, 6000).map(lambda n: "a" * n),
    ]
    valid = list(valid)
    if valid:
        options.insert(0, st.sampled_from(valid))
        options.append(st.tuples(st.sampled_from(valid), st.sampled_from(HOSTILE_SEGMENTS)).map("".join))
    if slashes:
        options.append(
            st.lists(st.one_of(st.sampled_from(valid or ["x"]), st.sampled_from(HOSTILE_SEGMENTS)), max_size=6).map(
                "/".join
            )
        )
    return st.one_of(options).filter(bool)


def query(names: Iterable[str] = ()) -> st.SearchStrategy[str]:
    """An encoded query string: known names (repeated too) and random ones, hostile values, or
    broken encoding."""
    name = st.one_of(st.sampled_from(list(names) or ["q"]), st.text(max_size=10))
    pair = st.tuples(
        st.one_of(name.map(lambda s: s.encode()), st.binary(max_size=8)),
        raw_values(),
    ).map(lambda kv: quote_from_bytes(kv[0]) + "=" + quote_from_bytes(kv[1]))
    return st.one_of(
        st.lists(pair, max_size=6).map("&".join),
        st.sampled_from(["%zz", "&&&", "=", "a=%", "a=%ff%fe", "a=1&a=2&a=3", ";;", "a=%00"]),
    )


def form_fields(valid: Mapping[str, str]) -> st.SearchStrategy[list[tuple[bytes, bytes]]]:
    """The valid fields of a page's form, each kept, dropped, repeated or replaced by a hostile
    value, plus unknown fields."""

    def one(key: str, value: str) -> st.SearchStrategy[list[tuple[bytes, bytes]]]:
        k = key.encode()
        return st.one_of(
            st.just([(k, value.encode())]),
            st.just([]),
            raw_values().map(lambda v: [(k, v)]),
            st.lists(raw_values(), min_size=2, max_size=3).map(lambda vs: [(k, v) for v in vs]),
        )

    kept = st.tuples(*(one(k, v) for k, v in valid.items())).map(lambda parts: [kv for p in parts for kv in p])
    extra = st.lists(st.tuples(st.binary(max_size=10), raw_values()), max_size=3)
    return st.tuples(kept, extra).map(lambda t: t[0] + t[1])


FORM_TYPES = [
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=utf-8",
    "application/x-www-form-urlencoded; charset=latin-1",
    "application/x-www-form-urlencoded; charset=bogus-8",
    "application/x-www-form-urlencoded; charset=utf-16",
]


def urlencoded(fields: list[tuple[bytes, bytes]]) -> bytes:
    return "&".join(quote_from_bytes(k) + "=" + quote_from_bytes(v) for k, v in fields).encode()


_PART_STYLE = st.tuples(
    st.sampled_from([None, None, None, None, b"a.txt", b"", b"../../x", "雨.txt".encode()]),  # filename
    st.sampled_from([None, "text/plain", "text/plain; charset=latin-1", "text/plain; charset=bogus-8", "*/*"]),
    st.sampled_from([None, None, "base64", "quoted-printable", "binary", "bogus"]),  # transfer encoding
)
_MULTIPART = st.tuples(
    st.one_of(st.just([(None, None, None)]), st.lists(_PART_STYLE, min_size=12, max_size=12)),  # plain or hostile
    st.sampled_from(["yjfuzzboundary", "x", "a" * 70]),
    st.sampled_from(["end", "", "open"]),
    st.sampled_from(["{b}", '"{b}"', None, "other"]),
)


def multipart(fields: list[tuple[bytes, bytes]], style: tuple) -> tuple[bytes, str]:
    """``fields`` as a multipart body in a ``style`` drawn from ``_MULTIPART``: hostile part
    headers (file names, part types and charsets, transfer encodings), sometimes a broken ending
    or boundary; returns (body, Content-Type)."""
    parts, boundary, ending, param = style
    b = boundary.encode()
    out = []
    for (k, v), (filename, part_type, encoding) in zip(fields, itertools.cycle(parts)):
        headers = [b'Content-Disposition: form-data; name="' + k.replace(b'"', b"").replace(b"\r\n", b"") + b'"']
        if filename is not None:
            headers[0] += b'; filename="' + filename + b'"'
        if part_type:
            headers.append(b"Content-Type: " + part_type.encode())
        if encoding:
            headers.append(b"Content-Transfer-Encoding: " + encoding.encode())
        out.append(b"--" + b + b"\r\n" + b"\r\n".join(headers) + b"\r\n\r\n" + v + b"\r\n")
    out.append({"end": b"--" + b + b"--\r\n", "": b"", "open": b"--" + b + b"\r\n"}[ending])
    ctype = "multipart/form-data" + (f"; boundary={param.format(b=boundary)}" if param else "")
    return b"".join(out), ctype


JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([10**400, -(10**400), 2**63, -1, 0]),
    st.floats(allow_nan=True, allow_infinity=True),
    text_values(),
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=12,
)


@st.composite
def json_body(draw, valid: Mapping[str, Any]) -> bytes:
    """A page's valid JSON document mutated: keys dropped, values of the wrong type (huge,
    negative, NaN numbers, nested), unknown keys; or another document altogether; in UTF-8,
    another encoding, or with invalid bytes."""
    choice = draw(st.integers(0, 9))
    if choice == 0:
        doc: Any = draw(JSON_VALUES)
    elif choice == 1:
        doc = None
        text = draw(st.sampled_from(["[" * 5000, '{"a":' * 3000, "{", '{"course": "c-goose"', "\ufeff{}", "NaN"]))
    else:
        doc = {}
        for k, v in valid.items():
            how = draw(st.integers(0, 3))
            if how == 1:
                doc[k] = draw(JSON_VALUES)
            elif how != 2:
                doc[k] = v
        doc.update(draw(st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=3)))
    if choice != 1:
        text = json.dumps(doc, allow_nan=True, ensure_ascii=draw(st.booleans()))
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-16", "latin-1-broken"]))
    if encoding == "latin-1-broken":
        raw = text.encode("utf-8") + b"\xff\xfe\xc0"
    else:
        raw = text.encode(encoding, "surrogatepass")
    return raw


RAW_TYPES = [
    None,
    "text/plain",
    "application/json",
    "application/json; charset=bogus-8",
    "application/json; charset=utf-16",
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=bogus-8",
    "multipart/form-data",
    "multipart/form-data; boundary=x",
    "application/octet-stream",
    "%%%;;;",
    "text/html; charset=",
]


def raw_body() -> st.SearchStrategy[tuple[bytes, str | None]]:
    """Any bytes under any Content-Type (or none)."""
    return st.tuples(
        st.one_of(st.binary(max_size=300), raw_values(), st.just(b"{}"), st.just(b'{"course": "c-goose"}')),
        st.sampled_from(RAW_TYPES),
    )


# ---- sending ---------------------------------------------------------------------------------


@dataclass
class Req:
    method: str
    path: str  # encoded
    query: str = ""  # encoded, without "?"
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class Harness:
    """``app`` served by a ``TestServer`` on a private event loop; ``send`` is synchronous."""

    def __init__(self, app: web.Application) -> None:
        self.loop = asyncio.new_event_loop()
        self.client = self.run(self._start(TestServer(app)))
        self.app = app
        self.origin = str(self.client.make_url("/")).rstrip("/")
        self.errors = _Errors()
        logging.getLogger().addHandler(self.errors)

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        logging.getLogger().removeHandler(self.errors)
        self.run(self.client.close())
        self.loop.close()

    async def _start(self, server: TestServer) -> TestClient:
        client = TestClient(server)  # its cookie jar wants the running loop
        await client.start_server()
        return client

    def new_client(self) -> TestClient:
        """Another browser on the same server (its own cookies)."""
        return self.run(self._start(self.client.server))

    async def fetch(self, req: Req, client: TestClient | None = None) -> tuple[int, bytes]:
        session = (client or self.client).session
        url = URL(self.origin + req.path + ("?" + req.query if req.query else ""), encoded=True)
        skip = () if "Content-Type" in req.headers else ("Content-Type",)
        async with session.request(
            req.method, url, data=req.body, headers=req.headers, skip_auto_headers=skip, allow_redirects=False
        ) as resp:
            return resp.status, await resp.read()

    def send(self, req: Req, client: TestClient | None = None) -> tuple[int, bytes]:
        """Send ``req``; fail on a 5xx, a dropped connection or an ERROR log record."""
        self.errors.records.clear()
        status, body = self.run(self.fetch(req, client))
        logged = [self.errors.format(r)[:2000] for r in self.errors.records]
        assert not logged, f"{str(req)[:500]}: logged {logged}"
        assert status < 500, f"{str(req)[:500]}: {status} {body[:300]!r}"
        return status, body


TOKEN_RE = re.compile(rb'(?:name="yj-token" content|name="_token" value)="([^"]+)"')


def page_token(html: bytes) -> str:
    """The token a page of the station carries (its ``yj-token`` meta or a form's ``_token``)."""
    m = TOKEN_RE.search(html)
    assert m, html[:500]
    return m.group(1).decode()


def form_body(
    kind: str, fields: Mapping[str, str], token: str | None, token_field: str = "_token"
) -> st.SearchStrategy[tuple[bytes, str]]:
    """(body, Content-Type) of ``kind`` (urlencoded, multipart) from the page's valid ``fields``,
    carrying the page's token first as the page's form does (``token`` None: no token field;
    ``token_field``: the station's ``_token``, the headend's ``_csrf``)."""
    first = [(token_field.encode(), token.encode())] if token is not None else []
    parts = form_fields(fields).map(lambda p: first + p)
    if kind == "urlencoded":
        return st.tuples(parts.map(urlencoded), st.sampled_from(FORM_TYPES))
    return st.tuples(parts, _MULTIPART).map(lambda t: multipart(*t))

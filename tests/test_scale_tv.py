"""The TV of a station holding a county's 5,000 courses: the home page stays as small as with a
few dozen (each shelf a few tiles and a "more" tile), and every course can still be reached with
the remote, through the category pages a page at a time."""

from __future__ import annotations

import hashlib
import re

from catalogue import Course
from catalogue.categories import CATEGORIES
from playlists import SecretKey, media_path
from station.config import load_config
from station.model import InstalledCourse, InstalledPlaylist, InstalledSet
from station.store import Store
from station.web.app import create_app
from tests.conftest import write_station_toml

COURSES = 5000
HOME_LIMIT = 150 * 1024  # bytes the TV downloads for `/`: HTML, CSS and script


def big_station(tmp_path):
    key = tmp_path / "headend.pub"
    key.write_text(SecretKey.generate().public_key.to_text(), encoding="utf-8")
    cfg = load_config(write_station_toml(tmp_path / "station.toml", ["http://127.0.0.1:9/repo/"], key))
    store = Store(cfg.data_dir)
    clip = media_path(hashlib.sha256(b"clip").hexdigest(), "mp4")
    store.blob_path(clip).parent.mkdir(parents=True, exist_ok=True)
    store.blob_path(clip).write_bytes(b"clip")
    courses = []
    for i in range(COURSES):
        cat = CATEGORIES[i % len(CATEGORIES)]
        src = hashlib.sha256(f"course {i}".encode()).hexdigest()
        course = Course(
            id=f"c-{src[:12]}", title=f"{cat.label}第{i}讲", category=cat.id, duration_s=600.0, source_sha256=src
        )
        courses.append(InstalledCourse(course, "video", "video/mp4", media=clip, playlists=("all",)))
    store.install(
        InstalledSet(
            index_version=1,
            complete=True,
            courses=tuple(courses),
            playlists=(InstalledPlaylist("all", 1, "全部课程"),),
        )
    )
    return cfg, store, {c.id for c in courses}


async def test_the_home_page_of_5000_courses_stays_small_and_every_course_is_reachable(aiohttp_client, tmp_path):
    cfg, store, every = big_station(tmp_path)
    client = await aiohttp_client(create_app(cfg, store, admin_failure_delay_s=0.01))
    home = await (await client.get("/")).text()
    assets = re.findall(r'(?:href|src)="(/static/[^"]+\.(?:css|js)[^"]*)"', home)
    size = len(home.encode()) + sum([len(await (await client.get(a)).read()) for a in assets])
    assert assets and size <= HOME_LIMIT, f"{size} bytes"
    assert len(re.findall(r'class="tile"', home)) < 50  # shelves of a few tiles, not 5,000

    # With the remote: each shelf's "more" tile, then each category page's "next page" link.
    found, pages = set(re.findall(r'href="/course/([a-z0-9-]+)"', home)), 0
    todo = sorted(set(re.findall(r'href="(/category/[a-z-]+)"', home)))
    assert len(todo) == len(CATEGORIES)
    while todo:
        url = todo.pop()
        resp = await client.get(url)
        assert resp.status == 200, url
        page = await resp.text()
        pages += 1
        assert len(page.encode()) <= HOME_LIMIT // 2, url  # a page at a time
        found |= set(re.findall(r'href="/course/([a-z0-9-]+)"', page))
        todo += re.findall(r'href="(/category/[a-z-]+\?page=\d+)"[^>]*>[^<]*›', page)
    assert found == every and pages > len(CATEGORIES)


async def test_a_category_page_past_the_end_shows_the_last_page(aiohttp_client, tmp_path):
    cfg, store, _ = big_station(tmp_path)
    client = await aiohttp_client(create_app(cfg, store, admin_failure_delay_s=0.01))
    cat = CATEGORIES[0].id
    last = await (await client.get(f"/category/{cat}?page=9999")).text()
    assert f'href="/category/{cat}?page=' in last and "下一页" not in last and "上一页" in last
    first = await (await client.get(f"/category/{cat}?page=nonsense")).text()
    assert "上一页" not in first and "下一页" in first and "data-default-focus" in first

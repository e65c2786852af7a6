"""What people read on the station: one way to write a duration, a size and a moment — and every
moment in China time, whatever zone the box's clock is set to."""

from __future__ import annotations

import os
import time
from datetime import UTC, date, datetime

import pytest

from catalogue.display import china_day, china_hhmm, china_time, chinese, clock, duration, minutes, size
from station.i18n import Translator, english
from station.model import moment


@pytest.fixture
def box_in_new_york():
    """The box's own zone is not China's (a set-top box flashed abroad, a container in UTC)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


def test_every_moment_is_shown_in_china_time(box_in_new_york):
    utc = datetime(2026, 11, 20, 1, 5, 9, tzinfo=UTC)
    assert china_time(utc) == "2026-11-20 09:05:09"
    assert china_time(utc, seconds=False) == "2026-11-20 09:05"
    assert china_time(utc.timestamp()) == "2026-11-20 09:05:09"  # epoch seconds from the journal
    assert china_time(moment("2026-11-20T01:05:09Z")) == "2026-11-20 09:05:09"
    assert china_time(moment("2026-11-20T09:05:09")) == "2026-11-20 09:05:09"  # no zone: China time
    assert china_hhmm(utc) == "09:05"
    assert china_time(None) == china_time(moment("not a time")) == "—"


def test_durations_and_sizes_one_way():
    assert [duration(english, s) for s in (0, 9, 59.6, 90, 3599, 3660, 7322)] == [
        "under a minute",
        "9 s",
        "1 min",
        "2 min",
        "1 h 0 min",
        "1 h 1 min",
        "2 h 2 min",
    ]
    zh = Translator("zh-CN")
    assert duration(zh, 9) == "9 秒" and duration(zh, 3660) == "1 小时 1 分钟"
    assert duration(english, None) == "—"
    assert [clock(s) for s in (0, 65, 3725)] == ["00:00", "01:05", "1:02:05"]
    assert minutes(3) == 1 and minutes(600) == 10
    assert [size(n) for n in (512, 3 * 2**10, 3 * 2**20, 5 * 2**30, None, float("nan"))] == [
        "512 B",
        "3.0 KB",
        "3.0 MB",
        "5.0 GB",
        "—",
        "—",
    ]


def test_headend_pages_read_durations_in_chinese():
    assert duration(chinese, 3900) == "1 小时 5 分"
    assert duration(chinese, 720) == "12 分钟"
    assert duration(chinese, 40) == "40 秒"
    assert duration(chinese, 0.2) == "不到1分钟"


def test_dates_carry_the_weekday_in_china_time(box_in_new_york):
    """Beside a notice saying "本周三", a programme day reads "11月25日 周三", never "11-25"."""
    zh = Translator("zh-CN")
    late_tuesday_utc = datetime(2026, 11, 24, 16, 30, tzinfo=UTC)  # already Wednesday in China
    assert china_day(zh, late_tuesday_utc) == "11月25日 周三"
    assert china_day(chinese, late_tuesday_utc.timestamp()) == "11月25日 周三"
    assert china_day(zh, date(2026, 11, 29)) == "11月29日 周日"
    assert china_day(english, date(2026, 11, 29)) == "11/29 Sun"
    assert china_day(zh, None) == "—"

"""Station alerts (issue 12) fire and clear against injected clocks, on both engines, with every
fact fed through the real collector: silence counted within opening hours only, a station never
connected, sync failing (as the station says, or by its run of failed samples), low disk, a wrong
clock, many wrong admin PINs and a failed five-ones item — each once per station and kind while
it lasts, with words county staff read, cleared when it stops holding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from catalogue.clocks import CHINA
from headend.config import AlertSettings
from headend.db.records import Health
from headend.service import open_root
from headend.service.alert_rules import Facts, evaluate, failing_since
from headend.service.alerts import check, iso
from headend.service.stations import edit_station, revoke_station
from tests.alerts_kit import HETAI, XIANER, XIANYI, county_root, fives, health, send, wrong_pins
from tests.report_batches import china_iso

NOW = datetime.now(UTC).replace(microsecond=0)
HOUR, MINUTE = timedelta(hours=1), timedelta(minutes=1)


def _short(t: datetime) -> str:
    t = t.astimezone(CHINA)
    return f"{t.month}月{t.day}日 {t:%H:%M}"


def open_words(root) -> dict[tuple[str, str], str]:
    with open_root(root) as h:
        return {(a.station, a.kind): a.words for a in h.db.alerts.open_alerts()}


def run_check(root, now: datetime):
    with open_root(root) as h:
        return check(h, now)


def test_silence_counts_only_opening_hours_and_clears_at_the_next_upload(tmp_path, headend_db):
    root = county_root(tmp_path, headend_db)
    with open_root(root) as h:
        edit_station(h, XIANYI, opening_hours="08:00-12:00")  # four hours a day
    for station in (XIANYI, XIANER):
        send(root, station, [health(NOW - 30 * HOUR)], received=NOW - 30 * HOUR)

    run_check(root, NOW)
    # 30 h without a word: 蚬二村 (always open) is silent; 蚬一村 was open at most 8 of them
    assert open_words(root) == {(XIANER, "silent"): f"失联 30 小时，最后上报 {_short(NOW - 30 * HOUR)}"}

    later = NOW + timedelta(days=6)  # 7 days and 6 hours: at least 28 opening hours
    result = run_check(root, later)
    words = open_words(root)
    assert result.opened == 1 and words[(XIANYI, "silent")].endswith(
        f"（开放时间内），最后上报 {_short(NOW - 30 * HOUR)}"
    )
    assert (HETAI, "never_connected") not in words  # enrolled 6 days ago: maybe not installed yet

    eight_days = NOW + timedelta(days=8, hours=1)
    run_check(root, eight_days)
    assert (
        open_words(root)[(HETAI, "never_connected")]
        == "登记已 8 天，从未上报（检查站点 station.toml 的 [report] url 和令牌）"
    )

    send(root, XIANYI, [health(eight_days)], received=eight_days)
    result = run_check(root, eight_days + timedelta(minutes=1))
    assert result.cleared == 1 and set(open_words(root)) == {(XIANER, "silent"), (HETAI, "never_connected")}
    with open_root(root) as h:
        (cleared,) = [a for a in h.db.alerts.recent(iso(NOW)) if a.cleared_at]
    assert (cleared.station, cleared.kind, cleared.cleared_at) == (
        XIANYI,
        "silent",
        iso(eight_days + timedelta(minutes=1)),
    )


def test_disk_clock_pins_fives_and_sync_fire_once_and_clear(tmp_path, headend_db):
    root = county_root(tmp_path, headend_db)
    sick = health(
        NOW - timedelta(minutes=2),
        disk_free_mb=3600.0,  # of 60000: 6 %
        sync_state="failed",
        sync_error="所有镜像都连不上",
        sync_failing_since=china_iso(NOW - 30 * HOUR - timedelta(minutes=5) + 14 * MINUTE),  # the box's clock
    )
    events = [sick, fives(NOW - timedelta(minutes=3), failed=("rules",)), *wrong_pins(NOW - timedelta(minutes=4), 12)]
    send(root, XIANYI, events, received=NOW - timedelta(minutes=1), clock_ahead_s=14 * 60)

    first = run_check(root, NOW)
    again = run_check(root, NOW + timedelta(minutes=5))
    words = {kind: w for (station, kind), w in open_words(root).items() if station == XIANYI}
    today = NOW.astimezone(CHINA).date()
    assert words == {
        "disk_low": "磁盘剩余 6%（3600 MB / 60000 MB）",
        "clock_off": "时钟快 14 分钟",
        "pin_failures": f"今天管理密码输错 12 次（{today.month}月{today.day}日）",
        "fives_failed": "五个一自查未达标：一套管理制度",
        "sync_failing": "同步失败已 30 小时：所有镜像都连不上",
    }
    assert (first.opened, again.opened, again.open) == (5, 0, 5)  # once per station and kind

    tomorrow = NOW + timedelta(days=1)
    fine = [health(tomorrow - timedelta(minutes=2)), fives(tomorrow - timedelta(minutes=3))]
    send(root, XIANYI, fine, received=tomorrow - timedelta(minutes=1))
    result = run_check(root, tomorrow)
    assert result.cleared == 5 and open_words(root) == {}  # a new China day: no wrong PIN yet


def test_sync_failing_of_an_older_station_is_read_from_its_run_of_failed_samples(tmp_path, headend_db):
    """Stations older than the dashboard do not say since when sync fails: the unbroken run of
    failed heartbeats says it (30 h here: an alert; 10 h: not yet)."""
    root = county_root(tmp_path, headend_db)
    for hours_ago, state in ((40, "ok"), (30, "failed"), (10, "failed"), (0, "failed")):
        at = NOW - hours_ago * HOUR
        send(root, XIANER, [health(at, sync_state=state, sync_error="镜像超时")], received=at + timedelta(seconds=5))
    for hours_ago, state in ((40, "ok"), (10, "failed")):
        at = NOW - hours_ago * HOUR
        send(root, HETAI, [health(at, sync_state=state, sync_error="镜像超时")], received=at + timedelta(seconds=5))
    run_check(root, NOW + timedelta(seconds=10))
    assert open_words(root) == {(XIANER, "sync_failing"): "同步失败已 30 小时：镜像超时"}


def test_a_revoked_station_raises_nothing_and_its_alerts_clear(tmp_path, headend_db):
    root = county_root(tmp_path, headend_db)
    send(root, XIANER, [health(NOW, disk_free_mb=600.0)], received=NOW)
    run_check(root, NOW)
    assert open_words(root) == {(XIANER, "disk_low"): "磁盘剩余 1%（600 MB / 60000 MB）"}
    with open_root(root) as h:
        revoke_station(h, XIANER)  # the box was stolen: nobody needs its alerts
    assert run_check(root, NOW + HOUR).cleared == 1 and open_words(root) == {}


def test_the_rules_alone_on_the_edges_of_their_settings():
    s = AlertSettings(disk_free_percent=10, clock_offset_minutes=10, pin_failures=10)
    enrolled = NOW - timedelta(days=30)
    at = lambda **f: {x.kind: x.words for x in evaluate(Facts(enrolled, last_contact=NOW, **f), s, NOW)}  # noqa: E731
    assert at(pin_failures_today=9) == {} and "pin_failures" in at(pin_failures_today=10)
    assert at(offset_s=600) == {} and at(offset_s=9000) == {"clock_off": "时钟慢 2.5 小时"}
    assert at(fives={"place": True, "rules": True}) == {}
    assert failing_since([(NOW, "failed"), (NOW - HOUR, "failed"), (NOW - 2 * HOUR, "ok")]) == NOW - HOUR
    assert failing_since([(NOW, "ok"), (NOW - HOUR, "failed")]) is None
    # a silent station's sync is judged up to its last heartbeat, not up to now
    sample = Health.from_event(
        health(NOW - 3 * HOUR, sync_state="failed"), china_iso(NOW - 3 * HOUR), china_iso(NOW - 3 * HOUR)
    )
    stale = Facts(enrolled, health=sample, health_at=NOW - 72 * HOUR, failing_since=NOW - 80 * HOUR)
    assert "sync_failing" not in {x.kind for x in evaluate(stale, s, NOW)}

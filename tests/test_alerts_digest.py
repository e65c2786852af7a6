"""The daily alert digest and the webhook (issue 12), on both engines, against a real aiohttp
receiver on 127.0.0.1 and injected clocks: one digest a day per region however often it runs (as
files in <root>/digests/ and one POST), none before ``digest_hour``; a receiver that fails gets it
on a later retry, never twice; a recovery message only for an alert that went out in a digest."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from catalogue.clocks import CHINA
from headend.errors import WebhookError
from headend.service import open_root
from headend.service.alerts import check
from headend.service.digests import deliver, digest
from headend.service.webhook import Webhook
from tests.alerts_kit import COUNTY, XIANER, XIANYI, Receiver, county_root, health, send, set_alerts
from tests.conftest import dead_url, run_cli_async, serve
from tests.county_kit import add_user

TODAY = datetime.now(UTC).astimezone(CHINA).date()
SEVEN = datetime(TODAY.year, TODAY.month, TODAY.day, 7, 30, tzinfo=CHINA)  # before digest_hour (8)
NINE = SEVEN + timedelta(hours=1, minutes=30)
MINUTE = timedelta(minutes=1)


async def post_due(root, now: datetime):
    """One delivery pass at ``now`` through a real ``Webhook``, as the loop makes it."""
    with open_root(root) as h:
        async with aiohttp.ClientSession() as session:
            hook = Webhook(session, h.cfg.alerts.webhook_url, h.cfg.alerts.webhook_timeout_s)
            return await deliver(h, now, hook.post)


def at(root, now: datetime, digests: bool = True):
    """A check (and the digest) at ``now``, as the check loop's pass."""
    with open_root(root) as h:
        check(h, now)
        return digest(h, now) if digests else []


@pytest.fixture
def low_disk(tmp_path, headend_db):
    root = county_root(tmp_path, headend_db)
    send(root, XIANYI, [health(SEVEN - 2 * MINUTE, disk_free_mb=600.0)], received=SEVEN - MINUTE)
    return root


async def test_one_digest_a_day_however_often_it_runs(low_disk):
    receiver = Receiver()
    async with serve(receiver.app()) as base:
        set_alerts(low_disk, webhook_url=f"{base}/hook")
        assert at(low_disk, SEVEN) == []  # before 8 o'clock, China time
        made = [at(low_disk, NINE + k * timedelta(hours=3)) for k in range(4)]
        for k in range(3):
            await post_due(low_disk, NINE + k * timedelta(hours=3))
    assert [len(m) for m in made] == [1, 0, 0, 0]
    assert receiver.kinds() == ["digest"]
    doc = receiver.got[0]
    assert doc["day"] == TODAY.isoformat() and doc["region"] == []
    assert doc["counts"] == {"open": 1, "new": 1, "unacknowledged": 1, "cleared": 0}
    (alert,) = doc["open"]
    assert (alert["station"], alert["kind_label"], alert["words"]) == (
        XIANYI,
        "磁盘快满",
        "磁盘剩余 1%（600 MB / 60000 MB）",
    )
    files = sorted(p.name for p in (low_disk / "digests").iterdir())
    assert files == [f"{TODAY.isoformat()}_全部地区.json", f"{TODAY.isoformat()}_全部地区.txt"]
    assert json.loads((low_disk / "digests" / files[0]).read_text(encoding="utf-8")) == doc
    text = (low_disk / "digests" / files[1]).read_text(encoding="utf-8")
    assert "没有" not in text and f"[新] 蚬一村站点（{XIANYI}，{COUNTY}/蚬岗镇/蚬一村） 磁盘快满" in text


async def test_each_region_gets_its_own_digest_of_its_own_stations(low_disk):
    add_user(low_disk, "hetai", "viewer", f"{COUNTY}/河台镇")
    made = at(low_disk, NINE)
    by_region = {"/".join(m.region): m for m in made}
    assert sorted(by_region) == ["", f"{COUNTY}/河台镇"]
    township = json.loads(by_region[f"{COUNTY}/河台镇"].path.read_text(encoding="utf-8"))
    assert township["open"] == [] and "没有未恢复的告警" in township["text"]
    assert not any(m.queued for m in made)  # no webhook_url: files only
    assert by_region[""].open == 1


async def test_a_receiver_that_fails_gets_the_digest_on_a_retry_and_only_once(low_disk):
    receiver = Receiver(refuse=1)
    async with serve(receiver.app()) as base:
        set_alerts(low_disk, webhook_url=f"{base}/hook")
        at(low_disk, NINE)
        first = await post_due(low_disk, NINE)
        too_soon = await post_due(low_disk, NINE + 30 * timedelta(seconds=1))
        retried = await post_due(low_disk, NINE + 61 * timedelta(seconds=1))
        done = await post_due(low_disk, NINE + timedelta(hours=2))
    assert first.delivered == 0 and "answered 500: receiver down for maintenance" in first.errors[0]
    assert (too_soon.delivered, too_soon.errors) == (0, [])  # it waits a minute before trying again
    assert retried.delivered == 1 and done.delivered == 0
    assert receiver.refused == 1 and receiver.kinds() == ["digest"]
    with open_root(low_disk) as h:
        assert h.db.alerts.waiting() == []


async def test_an_unreachable_webhook_says_what_to_check_and_keeps_its_key_secret():
    url = dead_url("/robot/send") + "?access_token=s3cret-robot-key"  # a chat robot's URL
    async with aiohttp.ClientSession() as session:
        with pytest.raises(WebhookError) as unreachable:
            await Webhook(session, url, 2.0).post(b"{}")
        with pytest.raises(WebhookError) as malformed:
            await Webhook(session, "ftp://robot.example/send?key=s3cret-robot-key", 2.0).post(b"{}")
    said = str(unreachable.value)
    assert f"webhook {url.split('?')[0]}: Cannot connect" in said and "check [alerts] webhook_url" in said
    assert str(malformed.value).endswith("not an http:// or https:// URL; fix [alerts] webhook_url in headend.toml")
    assert "s3cret" not in said + str(malformed.value)


async def test_a_recovery_message_only_for_an_alert_that_went_out(low_disk):
    receiver = Receiver()
    async with serve(receiver.app()) as base:
        set_alerts(low_disk, webhook_url=f"{base}/hook")
        at(low_disk, NINE)  # the digest tells of 蚬一村's disk
        later = NINE + timedelta(hours=1)
        send(low_disk, XIANER, [health(later - MINUTE)], received=later, clock_ahead_s=20 * 60)
        at(low_disk, later)  # 蚬二村's clock: after the digest, nobody was told
        await post_due(low_disk, later)
        fixed = NINE + timedelta(hours=2)
        send(low_disk, XIANYI, [health(fixed - MINUTE)], received=fixed)
        send(low_disk, XIANER, [health(fixed - MINUTE)], received=fixed)
        with open_root(low_disk) as h:
            result = check(h, fixed)
        await post_due(low_disk, fixed)
        tomorrow = at(low_disk, NINE + timedelta(days=1))
        await post_due(low_disk, NINE + timedelta(days=1))
    assert (result.cleared, result.recoveries) == (2, 1)
    assert receiver.kinds() == ["digest", "recovery", "digest"]
    recovery = receiver.got[1]["alert"]
    assert (recovery["station"], recovery["kind"]) == (XIANYI, "disk_low")
    assert receiver.got[1]["text"].startswith("已恢复：蚬一村站点")
    next_day = json.loads(tomorrow[0].path.read_text(encoding="utf-8"))
    assert next_day["counts"]["open"] == 0 and sorted(a["kind"] for a in next_day["cleared"]) == [
        "clock_off",
        "disk_low",
    ]
    assert "上次日报以来已恢复 2 条" in next_day["text"]


async def test_the_command_line_checks_now_and_tests_the_webhook(low_disk):
    receiver = Receiver()
    async with serve(receiver.app()) as base:
        code, out, err = await run_cli_async("headend", "alerts", "--root", str(low_disk), "--test-webhook")
        assert code == 1 and "webhook_url is empty" in err
        set_alerts(low_disk, webhook_url=f"{base}/hook", digest_hour=0)
        code, out, err = await run_cli_async("headend", "alerts", "--root", str(low_disk), "--test-webhook")
        assert code == 0 and "answered 2xx" in out and receiver.kinds() == ["test"]
        code, out, err = await run_cli_async("headend", "alerts", "--root", str(low_disk), "--check")
        assert code == 0, err
        assert "1 opened" in out and "digest for 全部地区" in out and "磁盘剩余 1%" in out and XIANYI in out
        code, out, err = await run_cli_async("headend", "alerts", "--root", str(low_disk), "--json")
    assert code == 0 and [a["kind"] for a in json.loads(out)["open"]] == ["disk_low"]
    assert receiver.kinds() == ["test", "digest"]
    set_alerts(low_disk, webhook_url=dead_url("/hook"))
    code, out, err = await run_cli_async("headend", "alerts", "--root", str(low_disk), "--test-webhook")
    assert code == 1 and "check [alerts] webhook_url" in err

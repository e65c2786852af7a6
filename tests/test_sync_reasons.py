"""The admin page names why a sync failed in the administrator's language, whatever words the
sync engine logged (``station.web.reasons``); the raw reason travels along for county staff."""

from __future__ import annotations

from station.i18n import Translator, english
from station.web.reasons import explain

ZH = Translator("zh-CN")


def test_each_kind_of_failure_reads_in_chinese_with_the_raw_reason_kept():
    cases = {
        "c-x 《新课》: http://m/repo/media/ab/x.mp4: HTTP 404": "《新课》：内容源上还没有这个文件（可能还在发布中）。",
        "http://m/repo/index.json: cannot connect (Connection refused)": "连不上内容源：请检查宽带。",
        "c-y 《大课》: http://m/x.mp4: sha256 differs from the signed playlist (altered or damaged); discarded": (
            "《大课》：下载的文件已损坏或被改动，已丢弃，会重新下载。"
        ),
        "does not fit [sync] quota_mb": "超出存储限额（[sync] quota_mb），放不下。",
        "http://m/x.mp4: timed out (the mirror stalled)": "内容源不再发送数据（太慢或卡住了）。",
    }
    for raw, text in cases.items():
        reason = explain(ZH, raw)
        assert (reason.text, reason.raw) == (text, raw)


def test_a_failed_index_says_nothing_changed_and_why_per_mirror():
    raw = "no mirror gave a valid index; nothing was changed.\n  http://a/: index.json: HTTP 503\n  http://b/: cannot connect (x)"
    assert explain(ZH, raw).text == (
        "没有一个内容源给出有效的课程清单，本机内容没有改动。 内容源的服务器出错了，一般过一会儿就好，请稍后再同步。 连不上内容源：请检查宽带。"
    )


def test_unknown_and_already_chinese_reasons():
    assert explain(ZH, "KeyError: 'x'").text == "下载没有成功，详情见下面。"
    said = "镜像 http://127.0.0.1:9/repo/ 无法连接：请检查宽带"
    assert explain(ZH, said).text == said and explain(ZH, said).raw == ""
    assert explain(english, "x.mp4: HTTP 404").text.startswith("The content source does not have this file")
    assert explain(ZH, None).text == ""

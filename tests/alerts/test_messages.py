"""Messages: Chinese texts, inert user input, webhook JSON and the outbox's notice format."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import datetime
from typing import Any

import pytest

from infotrack.alerts.messages import (
    MAX_FIELD_CHARS,
    Message,
    escape_markdown,
    notice_from_json,
    notice_to_json,
    render_alert,
    render_digest,
)
from infotrack.alerts.types import AlertNotice, DigestNotice, Operator

CONSOLE = "https://infotrack.example.com/console/alerts/42"
# Characters that start markup in at least one of the vendors' markdown dialects.
MARKUP = set("[]()<>*_`#~|&!\\")

ZHANG = Operator(
    key="u1001",
    operator_id="u1001",
    name="张三",
    company="华东贸易有限公司",
    department="销售一部",
    role="销售",
)


def make_alert(**changes: Any) -> AlertNotice:
    """An alert on 张三 of 销售一部, with ``changes``."""
    notice = AlertNotice(
        alert_id=42,
        rule="bulk-view",
        kind="burst",
        severity="high",
        operator=ZHANG,
        window_start=datetime(2026, 11, 28, 3, 0),
        window_end=datetime(2026, 11, 28, 3, 12),
        count=37,
        threshold=30,
        sample_ids=(101, 102, 103),
        zone="Asia/Shanghai",
        console_url=CONSOLE,
    )
    return dataclasses.replace(notice, **changes)


def make_digest(**changes: Any) -> DigestNotice:
    """The daily digest of 销售一部 for 2026-11-27, with ``changes``."""
    notice = DigestNotice(
        period="daily",
        company="华东贸易有限公司",
        department="销售一部",
        start=datetime(2026, 11, 27),
        end=datetime(2026, 11, 28),
        total_events=120,
        by_type=(("view_detail", 90), ("edit", 25), ("export", 5)),
        top_operators=(("张三", 70), ("李四", 30), ("王五", 20)),
        open_alerts=(("bulk-view", "high", 2), ("night-owl", "low", 1)),
        zone="Asia/Shanghai",
        console_url="https://infotrack.example.com/console/",
    )
    return dataclasses.replace(notice, **changes)


def lines(text: str) -> list[str]:
    """``text`` split into lines."""
    return text.split("\n")


# --- escaping -------------------------------------------------------------------------------

HOSTILE = [
    "[x](http://evil)",
    "![x](http://evil/a.png)",
    "<font color=red>紧急</font>",
    '<font color="warning">张三</font>',
    "<at id=all></at>",
    "<@all>",
    "<a href='http://evil'>点我</a>",
    "**粗体** _斜体_ ~~删除~~ `代码`",
    "# 标题",
    "> 引用",
    "| a | b |",
    "&lt;font color=red&gt;",
    "\\[x\\](http://evil)",
    "http://evil.example.com/login",
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_escape_markdown_leaves_no_markup(hostile: str) -> None:
    escaped = escape_markdown(hostile)

    assert not MARKUP & set(escaped)
    assert "://" not in escaped


def test_escape_markdown_keeps_the_text_readable() -> None:
    assert escape_markdown("[x](http://evil)") == "［x］（http：//evil）"
    assert escape_markdown("<font color=red>") == "＜font color=red＞"
    assert escape_markdown("销售一部 张三") == "销售一部 张三"


def test_escape_markdown_makes_one_line_without_hidden_characters() -> None:
    # A line break would forge a line of the message or start a heading; a bidi override
    # would show the name reversed.
    assert escape_markdown("张三\n次数：0\r\n# 伪造\u2028x\t y") == "张三 次数：0 ＃ 伪造 x y"
    assert escape_markdown("张\u202e三\u200b") == "张三"
    assert escape_markdown("张\ud800三") == "张三"


def test_escape_markdown_caps_the_length() -> None:
    escaped = escape_markdown("客" * 500)

    assert len(escaped) == MAX_FIELD_CHARS
    assert escaped.endswith("…")
    assert escape_markdown(None) == ""
    assert escape_markdown("") == ""


def test_hostile_operator_fields_render_inert_everywhere() -> None:
    hostile = Operator(
        key="u6",
        operator_id="u6](http://evil)",
        name="[点我领奖](http://evil)",
        company="<font color=red>公司</font>",
        department="销售一部\n次数：0",
        role="<at id=all></at>",
    )

    message = render_alert(make_alert(operator=hostile))

    markdown = message.markdown
    # The one link left is ours.
    assert re.findall(r"\[([^\]]*)\]\(([^)]*)\)", markdown) == [("在控制台查看", CONSOLE)]
    assert "<" not in markdown
    assert "http://evil" not in markdown
    assert len(lines(markdown)) == len(lines(render_alert(make_alert()).markdown))
    assert [line for line in lines(markdown) if line.startswith("次数")] == [
        "次数：**37**（阈值 30）"
    ]
    assert (
        "操作人：**［点我领奖］（http：//evil）**"
        "（工号 u6］（http：//evil），＜at id=all＞＜/at＞）" in lines(markdown)
    )
    # Plain text keeps the characters but not the forged line.
    assert [line for line in lines(message.text) if line.startswith("次数")] == [
        "次数：37（阈值 30）"
    ]
    assert "部门：销售一部 次数：0" in lines(message.text)
    # The webhook's JSON carries the values as typed: its consumers escape for their own use.
    assert message.data["operator"]["name"] == "[点我领奖](http://evil)"
    assert message.data["operator"]["department"] == "销售一部\n次数：0"


def test_hostile_digest_names_render_inert() -> None:
    notice = make_digest(
        department="[部门](http://evil)",
        top_operators=(("<font color=red>张三</font>", 3), ("**李四**", 2)),
        open_alerts=(("rule](http://evil)", "high", 1),),
    )

    markdown = render_digest(notice).markdown

    assert re.findall(r"\]\(", markdown) == ["]("]  # the console link only
    assert "<" not in markdown
    assert "1. ＜font color=red＞张三＜/font＞：3" in lines(markdown)
    assert "2. ＊＊李四＊＊：2" in lines(markdown)


# --- alerts ---------------------------------------------------------------------------------


def test_alert_text_in_chinese() -> None:
    message = render_alert(make_alert())

    assert message.kind == "alert"
    assert message.title == "【高】告警：bulk-view"
    assert lines(message.markdown) == [
        "**【高】告警：bulk-view**",
        "规则：bulk-view",
        "类型：短时大量操作",
        "操作人：**张三**（工号 u1001，销售）",
        "公司：华东贸易有限公司",
        "部门：销售一部",
        "时间窗口：2026-11-28 03:00 至 03:12（Asia/Shanghai）",
        "次数：**37**（阈值 30）",
        "样本记录：101、102、103（仅列出 3 条）",
        f"[在控制台查看]({CONSOLE})",
    ]
    assert lines(message.text) == [
        "【高】告警：bulk-view",
        "规则：bulk-view",
        "类型：短时大量操作",
        "操作人：张三（工号 u1001，销售）",
        "公司：华东贸易有限公司",
        "部门：销售一部",
        "时间窗口：2026-11-28 03:00 至 03:12（Asia/Shanghai）",
        "次数：37（阈值 30）",
        "样本记录：101、102、103（仅列出 3 条）",
        f"在控制台查看：{CONSOLE}",
    ]


def test_alert_with_little_known_about_the_operator() -> None:
    anonymous = Operator(
        key="crm:华东|", operator_id=None, name=None, company=None, department=None, role=None
    )

    message = render_alert(
        make_alert(
            operator=anonymous,
            severity="low",
            kind="off_hours",
            window_end=datetime(2026, 11, 29, 1, 0),
            sample_ids=(),
            count=3,
            console_url=None,
        )
    )

    assert lines(message.markdown) == [
        "**【低】告警：bulk-view**",
        "规则：bulk-view",
        "类型：非工作时间操作",
        "操作人：**未知**",
        "部门：未填写",
        "时间窗口：2026-11-28 03:00 至 2026-11-29 01:00（Asia/Shanghai）",
        "次数：**3**（阈值 30）",
        "样本记录：无",
    ]
    assert message.data["consoleUrl"] is None


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "data:text/html,x", "//evil.example.com/", "", None]
)
def test_only_http_console_links_are_shown(url: str | None) -> None:
    message = render_alert(make_alert(console_url=url))

    assert "在控制台查看" not in message.markdown
    assert message.data["consoleUrl"] is None


def test_console_link_characters_that_would_end_the_link_are_encoded() -> None:
    message = render_alert(make_alert(console_url="https://x.example.com/a (b)/c"))

    assert "[在控制台查看](https://x.example.com/a%20%28b%29/c)" in lines(message.markdown)


def test_alert_data_for_the_webhook() -> None:
    data = render_alert(make_alert()).data

    assert data == {
        "alertId": 42,
        "rule": "bulk-view",
        "kind": "burst",
        "kindLabel": "短时大量操作",
        "severity": "high",
        "operator": {
            "operatorId": "u1001",
            "name": "张三",
            "company": "华东贸易有限公司",
            "department": "销售一部",
            "role": "销售",
        },
        "windowStart": "2026-11-28T03:00:00+08:00",
        "windowEnd": "2026-11-28T03:12:00+08:00",
        "zone": "Asia/Shanghai",
        "count": 37,
        "threshold": 30,
        "sampleIds": [101, 102, 103],
        "consoleUrl": CONSOLE,
    }
    assert json.loads(json.dumps(data)) == data


def test_offsets_follow_daylight_saving_time() -> None:
    summer = render_alert(
        make_alert(
            zone="Europe/Berlin",
            window_start=datetime(2026, 7, 1, 9, 0),
            window_end=datetime(2026, 7, 1, 9, 5),
        )
    )
    winter = render_alert(
        make_alert(
            zone="Europe/Berlin",
            window_start=datetime(2026, 12, 1, 9, 0),
            window_end=datetime(2026, 12, 1, 9, 5),
        )
    )

    assert summer.data["windowStart"] == "2026-07-01T09:00:00+02:00"
    assert winter.data["windowStart"] == "2026-12-01T09:00:00+01:00"


def test_message_is_immutable() -> None:
    message = render_alert(make_alert())

    with pytest.raises(dataclasses.FrozenInstanceError):
        message.title = "x"  # type: ignore[misc]
    assert isinstance(message, Message)


# --- digests --------------------------------------------------------------------------------


def test_daily_digest_text_in_chinese() -> None:
    message = render_digest(make_digest())

    assert message.kind == "digest"
    assert message.title == "日报 · 销售一部 · 2026-11-27"
    assert lines(message.markdown) == [
        "**日报 · 销售一部 · 2026-11-27**",
        "公司：华东贸易有限公司",
        "统计时段：2026-11-27 00:00 至 2026-11-28 00:00（Asia/Shanghai）",
        "事件合计：**120**",
        "按类型：",
        "- 查看客户详情：90",
        "- 修改客户信息：25",
        "- 导出客户数据：5",
        "前 3 名操作人：",
        "1. 张三：70",
        "2. 李四：30",
        "3. 王五：20",
        "未处理告警：",
        "- bulk-view（高）：2",
        "- night-owl（低）：1",
        "[在控制台查看](https://infotrack.example.com/console/)",
    ]
    assert lines(message.text)[0] == "日报 · 销售一部 · 2026-11-27"
    assert "事件合计：120" in lines(message.text)


def test_weekly_digest_names_its_days_and_says_when_nothing_is_open() -> None:
    message = render_digest(
        make_digest(
            period="weekly",
            department=None,
            start=datetime(2026, 11, 23),
            end=datetime(2026, 11, 30),
            by_type=(("something_new", 4),),
            top_operators=(),
            open_alerts=(),
            console_url=None,
        )
    )

    assert message.title == "周报 · 华东贸易有限公司 · 2026-11-23 至 2026-11-29"
    assert lines(message.markdown) == [
        "**周报 · 华东贸易有限公司 · 2026-11-23 至 2026-11-29**",
        "统计时段：2026-11-23 00:00 至 2026-11-30 00:00（Asia/Shanghai）",
        "事件合计：**120**",
        "按类型：",
        "- something＿new：4",
        "前 0 名操作人：无",
        "未处理告警：无",
    ]
    assert "- something_new：4" in lines(message.text)
    assert "公司：华东贸易有限公司" not in lines(message.markdown)  # already the title


def test_digest_data_for_the_webhook() -> None:
    data = render_digest(make_digest()).data

    assert data["period"] == "daily"
    assert data["company"] == "华东贸易有限公司"
    assert data["department"] == "销售一部"
    assert data["start"] == "2026-11-27T00:00:00+08:00"
    assert data["end"] == "2026-11-28T00:00:00+08:00"
    assert data["totalEvents"] == 120
    assert data["byType"] == [
        {"eventType": "view_detail", "label": "查看客户详情", "count": 90},
        {"eventType": "edit", "label": "修改客户信息", "count": 25},
        {"eventType": "export", "label": "导出客户数据", "count": 5},
    ]
    assert data["topOperators"][0] == {"name": "张三", "count": 70}
    assert data["openAlerts"] == [
        {"rule": "bulk-view", "severity": "high", "count": 2},
        {"rule": "night-owl", "severity": "low", "count": 1},
    ]
    assert json.loads(json.dumps(data)) == data


# --- the outbox's notice format -------------------------------------------------------------


@pytest.mark.parametrize(
    "notice",
    [
        pytest.param(make_alert(), id="alert"),
        pytest.param(
            make_alert(
                operator=Operator("crm:华东|", None, None, None, None, None),
                console_url=None,
                sample_ids=(),
            ),
            id="alert-sparse",
        ),
        pytest.param(make_digest(), id="digest"),
        pytest.param(
            make_digest(
                period="weekly",
                company=None,
                department=None,
                by_type=(),
                top_operators=(),
                open_alerts=(),
                console_url=None,
            ),
            id="digest-empty",
        ),
    ],
)
def test_notice_json_round_trip(notice: AlertNotice | DigestNotice) -> None:
    raw = notice_to_json(notice)

    assert notice_from_json(raw) == notice
    assert notice_to_json(notice_from_json(raw)) == raw


def test_notice_json_keeps_hostile_text_exactly() -> None:
    notice = make_alert(operator=dataclasses.replace(ZHANG, name='张"三\n</script>\\'))

    assert notice_from_json(notice_to_json(notice)) == notice


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[]",
        '{"version": 2, "type": "alert"}',
        '{"version": 1, "type": "email"}',
        '{"version": 1, "type": "alert", "alert_id": 1}',
    ],
)
def test_malformed_notice_json_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="notice"):
        notice_from_json(raw)


def test_notice_json_refuses_an_unknown_severity() -> None:
    body = json.loads(notice_to_json(make_alert()))
    body["severity"] = "critical"

    with pytest.raises(ValueError, match="severity"):
        notice_from_json(json.dumps(body))

"""The rules file: the built-in defaults, the documented example, each refusal's line and key."""

from __future__ import annotations

import dataclasses
import re
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest

from infotrack.alerts.durations import parse_duration
from infotrack.alerts.rules import DEFAULT_RULES_TOML, RulesError, load_rules, parse_rules
from infotrack.alerts.types import Channel, Digests, Rule, RuleSet, WorkingHours
from infotrack.errors import ConfigError

MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)

EXAMPLE = """\
[[rules]]
name = "bulk-view"           # unique, 1..64 chars
kind = "burst"
event_types = ["view_detail"]
threshold = 50
window = "10m"
severity = "high"
cooldown = "30m"
channels = ["team"]
description = "批量查看客户详情"

[channels.team]
kind = "wecom"
url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc"
departments = ["销售一部"]
timeout = 5

[channels.managers]
kind = "dingtalk"
url = "https://oapi.dingtalk.com/robot/send?access_token=xyz"
secret = "${TEST_DINGTALK_SECRET}"
timeout = 2.5

[working_hours]
start = "09:00"
end = "18:00"
weekdays = [1,2,3,4,5]
holidays = [2026-10-01, "2026-10-02"]
workdays = ["2026-10-11"]

[digests]
daily = "09:00"
weekly = "mon 09:00"
channels = ["team", "managers"]
top_operators = 5
"""

# One valid rule, to build refusals around; line 1 is its header.
RULE = """\
[[rules]]
name = "r"
kind = "burst"
threshold = 5
window = "10m"
"""
WECOM = '[channels.team]\nkind = "wecom"\nurl = "https://example.com/hook"\n'


def refusal(text: str, env: dict[str, str] | None = None) -> RulesError:
    """The error ``text`` is refused with."""
    with pytest.raises(RulesError) as caught:
        parse_rules(text, "rules.toml", env=env or {})
    return caught.value


def test_defaults_are_the_documented_ones() -> None:
    defaults = load_rules(None)
    assert defaults.source == "built-in"
    assert defaults.channels == {}
    assert defaults.digests == Digests()
    assert defaults.working_hours == WorkingHours(time(7), time(22), frozenset({1, 2, 3, 4, 5, 6}))
    view_detail = frozenset({"view_detail"})
    assert [dataclasses.replace(rule, description=None) for rule in defaults.rules] == [
        Rule("bulk-view", "burst", 50, 10 * MINUTE, "high", 30 * MINUTE, (), view_detail),
        Rule("many-customers", "distinct_customers", 100, HOUR, "high", HOUR),
        Rule("off-hours", "off_hours", 0, HOUR, "low", 8 * HOUR),
        Rule("bulk-export", "export_volume", 2000, DAY, "high", DAY),
    ]
    assert all(rule.description for rule in defaults.rules)  # the console shows them
    assert parse_rules(DEFAULT_RULES_TOML, "built-in") == defaults


def test_commented_examples_in_the_defaults_are_valid() -> None:
    # The defaults are the README's worked example: what they show commented out must work.
    text = re.sub(r"(?m)^# (?=\[|[a-z_]+ = )", "", DEFAULT_RULES_TOML)
    env = {"WECOM_TEAM_URL": "https://example.com/w", "DINGTALK_URL": "https://example.com/d"}
    rules = parse_rules(text, "README", env={**env, "DINGTALK_SECRET": "s"})
    assert set(rules.channels) == {"team", "managers"}
    assert rules.rules[0].channels == ("team",)
    assert rules.working_hours.workdays == {date(2026, 10, 11)}
    assert rules.digests == Digests(time(9), time(9), 1, ("managers",), 5)


def test_documented_example_parses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_DINGTALK_SECRET", "SEC123")
    rules = parse_rules(EXAMPLE, "rules.toml")
    assert rules == RuleSet(
        rules=(
            Rule(
                "bulk-view",
                "burst",
                50,
                10 * MINUTE,
                "high",
                30 * MINUTE,
                ("team",),
                frozenset({"view_detail"}),
                "批量查看客户详情",
            ),
        ),
        channels={
            "team": Channel(
                "team",
                "wecom",
                "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc",
                departments=frozenset({"销售一部"}),
                timeout=5.0,
            ),
            "managers": Channel(
                "managers",
                "dingtalk",
                "https://oapi.dingtalk.com/robot/send?access_token=xyz",
                secret="SEC123",
                timeout=2.5,
            ),
        },
        working_hours=WorkingHours(
            time(9),
            time(18),
            frozenset({1, 2, 3, 4, 5}),
            frozenset({date(2026, 10, 1), date(2026, 10, 2)}),
            frozenset({date(2026, 10, 11)}),
        ),
        digests=Digests(time(9), time(9), 1, ("team", "managers"), 5),
        source="rules.toml",
    )


def test_optional_keys_take_their_defaults() -> None:
    text = '[[rules]]\nname = "late"\nkind = "off_hours"\nwindow = "1h30m"\n'
    (rule,) = parse_rules(text, "rules.toml").rules
    assert rule == Rule("late", "off_hours", 0, 90 * MINUTE, "medium", 90 * MINUTE)
    assert parse_rules("rules = []", "x.toml").rules == ()
    empty = parse_rules("", "x.toml")
    assert empty.rules == ()
    assert empty.working_hours == load_rules(None).working_hours


def test_message_names_file_line_and_key() -> None:
    error = refusal(RULE.replace("threshold = 5", "threshold = -1"))
    assert isinstance(error, ConfigError)
    assert error.message == "规则文件 rules.toml 第 4 行 threshold:必须是不小于 0 的整数"
    assert (error.source, error.line, error.key) == ("rules.toml", 4, "threshold")
    assert error.code == "invalid_alert_rules"


@pytest.mark.parametrize(
    ("text", "line", "key", "says"),
    [
        pytest.param(RULE + 'severity = "high\n', 6, None, "TOML 语法错误", id="syntax"),
        pytest.param(RULE + "cooldown = [1,\n", 6, None, "TOML 语法错误", id="syntax-at-end"),
        pytest.param(RULE.replace("5", "true"), 4, "threshold", "整数", id="bool-threshold"),
        pytest.param(RULE.replace("5", '"5"'), 4, "threshold", "整数", id="string-threshold"),
        pytest.param(RULE.replace('"burst"', '"bursts"'), 3, "kind", "burst |", id="bad-kind"),
        pytest.param(RULE + 'severity = "urgent"', 6, "severity", "low | medium", id="severity"),
        pytest.param(RULE + 'event_types = ["peek"]', 6, "event_types", "peek", id="event-type"),
        pytest.param(RULE + "event_types = []", 6, "event_types", "不能为空", id="no-types"),
        pytest.param(
            RULE.replace("burst", "export_volume") + 'event_types = ["export"]',
            6,
            "event_types",
            "导出行数",
            id="types-on-export",
        ),
        pytest.param(RULE + "treshold = 5", 6, "treshold", "threshold", id="typo"),
        pytest.param(RULE + "[rules.extra]\nx = 1", 6, "extra", "未知", id="unknown-table"),
        pytest.param(RULE + '"tres hold" = 5', 6, '"tres hold"', "未知", id="quoted-key"),
        pytest.param('\nversion = 2\n[[rules]]\nname = "r"', 2, "version", "未知", id="top-key"),
        pytest.param("[rules]\nname = 1", 1, "rules", "[[rules]]", id="rules-not-array"),
        pytest.param(
            RULE + RULE.replace("window", "#").replace('"r"', '"s"'),
            6,
            "window",
            "缺少",
            id="missing",
        ),
        pytest.param(RULE.replace("threshold = 5\n", ""), 1, "threshold", "缺少", id="no-thr"),
        pytest.param(RULE + 'window = "1h"', 6, None, "TOML", id="duplicate-key"),
        pytest.param(RULE + RULE, 7, "name", "第 2 行", id="duplicate-name"),
        pytest.param(RULE.replace('"r"', '""'), 2, "name", "非空", id="empty-name"),
        pytest.param(RULE.replace('"r"', f'"{"x" * 65}"'), 2, "name", "64", id="long-name"),
        pytest.param(RULE.replace('"10m"', '"10 min"'), 5, "window", "时长", id="bad-duration"),
        pytest.param(RULE.replace('"10m"', "600"), 5, "window", "时长", id="int-duration"),
        pytest.param(RULE.replace('"10m"', '"0s"'), 5, "window", "大于 0", id="zero-window"),
        pytest.param(RULE.replace('"10m"', '"8d"'), 5, "window", "7 天", id="long-window"),
        pytest.param(RULE + 'cooldown = "soon"', 6, "cooldown", "时长", id="bad-cooldown"),
        pytest.param(RULE + 'channels = ["team"]', 6, "channels", "未定义的通道 team", id="ref"),
        pytest.param(WECOM + 'secret = "s"', 4, "secret", "不支持加签", id="wecom-secret"),
        pytest.param(
            WECOM.replace("wecom", "dingtalk"), 1, "secret", "钉钉", id="dingtalk-no-secret"
        ),
        pytest.param(WECOM.replace("wecom", "slack"), 2, "kind", "wecom |", id="channel-kind"),
        pytest.param(WECOM.replace("https", "ftp"), 3, "url", "http", id="url-scheme"),
        pytest.param(WECOM.replace("example.com/hook", ""), 3, "url", "http", id="url-host"),
        pytest.param(WECOM.replace("url", "#"), 1, "url", "缺少", id="no-url"),
        pytest.param(WECOM + "timeout = 61", 4, "timeout", "0.5 到 60", id="timeout"),
        pytest.param(WECOM + "departments = [1]", 4, "departments", "字符串", id="departments"),
        pytest.param(WECOM.replace("team", '"销售"'), 1, "销售", "通道名", id="channel-name"),
        pytest.param(
            WECOM.replace("example.com", "${HOOK_HOST}"), 3, "url", "整个值", id="partial-env"
        ),
        pytest.param(
            WECOM.replace('"https://example.com/hook"', '"${UNSET_HOOK_URL}"'),
            3,
            "url",
            "环境变量 UNSET_HOOK_URL 未设置",
            id="unset-env",
        ),
        pytest.param("[channels]\nteam = 1", 2, "team", "[channels.team]", id="channel-table"),
        pytest.param("[working_hours]\nstart = 9", 2, "start", "HH:MM", id="int-time"),
        pytest.param('[working_hours]\nend = "24:00"', 2, "end", "HH:MM", id="bad-time"),
        pytest.param('[working_hours]\nend = "07:00"', 2, "end", "不能相同", id="empty-shift"),
        pytest.param("[working_hours]\nweekdays = [1, 8]", 2, "weekdays", "星期 8", id="day-8"),
        pytest.param('[working_hours]\nweekdays = ["mo"]', 2, "weekdays", "mo", id="day-name"),
        pytest.param("[working_hours]\nweekdays = []", 2, "weekdays", "非空", id="no-days"),
        pytest.param(
            '[working_hours]\nholidays = ["2026-02-30"]', 2, "holidays", "不是日期", id="date"
        ),
        pytest.param(
            "[working_hours]\nholidays = [2026-10-01T00:00:00]", 2, "holidays", "日期", id="dt"
        ),
        pytest.param(
            "[working_hours]\nholidays = [2026-10-01]\nworkdays = [2026-10-01]",
            3,
            "workdays",
            "2026-10-01",
            id="holiday-and-workday",
        ),
        pytest.param(
            WECOM + '[digests]\ndaily = "9am"\nchannels = ["team"]', 5, "daily", "HH:MM", id="daily"
        ),
        pytest.param(
            WECOM + '[digests]\nweekly = "monday 09:00"\nchannels = ["team"]',
            5,
            "weekly",
            "mon 09:00",
            id="weekly",
        ),
        pytest.param('\n[digests]\ndaily = "09:00"', 2, "channels", "至少", id="digest-nowhere"),
        pytest.param(
            '[digests]\nweekly = "sun 20:00"\nchannels = []', 3, "channels", "至少", id="to-none"
        ),
        pytest.param('[digests]\nchannels = ["x"]', 2, "channels", "未定义", id="digest-ref"),
        pytest.param("[digests]\ntop_operators = 0", 2, "top_operators", "1 到 50", id="top"),
    ],
)
def test_refusal_names_line_and_key(text: str, line: int, key: str | None, says: str) -> None:
    error = refusal(text)
    assert (error.line, error.key) == (line, key), error.message
    assert says in error.message
    where = f"第 {line} 行 {key}:" if key else f"第 {line} 行:"
    assert error.message.startswith(f"规则文件 rules.toml {where}")


def test_first_error_in_file_order_is_reported() -> None:
    text = (
        RULE.replace("5", "-1")  # line 4
        + WECOM.replace("https", "ftp")  # line 8
        + '[working_hours]\nend = "25:00"\n'  # line 10
    )
    assert refusal(text).line == 4
    assert refusal(text.replace("-1", "5")).line == 8
    text = WECOM.replace("https", "ftp") + RULE.replace('"burst"', "1")
    assert (refusal(text).line, refusal(text).key) == (3, "url")
    # Channels are read before the rules, but here the rule's error comes first in the file.
    text = RULE.replace('"burst"', "1") + WECOM.replace("https", "ftp")
    assert (refusal(text).line, refusal(text).key) == (3, "kind")


def test_a_broken_channel_is_still_a_defined_name() -> None:
    text = RULE + 'channels = ["team"]\n' + WECOM.replace("https", "ftp")
    error = refusal(text)
    assert (error.line, error.key) == (9, "url")  # not "未定义的通道 team" on line 6


def test_lines_of_dotted_and_inline_tables() -> None:
    dotted = '[channels]\nteam.kind = "wecom"\nteam.url = "ftp://x"\n'
    assert (refusal(dotted).line, refusal(dotted).key) == (3, "team.url")
    inline = '\nrules = [{ name = "r", kind = "burst", window = "1m" }]\n'
    assert (refusal(inline).line, refusal(inline).key) == (2, "threshold")
    # Inside a multi-line string nothing is a key: the missing kind is reported at the header.
    multiline = RULE.replace('kind = "burst"\n', "") + 'description = """\nkind = 1\n"""\n'
    assert (refusal(multiline).line, refusal(multiline).key) == (1, "kind")


def test_env_values_expand_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    text = '[channels.hook]\nkind = "webhook"\nurl = "${HOOK_URL}"\nsecret = "${HOOK_SECRET}"\n'
    env = {"HOOK_URL": "https://example.com/in", "HOOK_SECRET": "s3"}
    channel = parse_rules(text, "rules.toml", env=env).channels["hook"]
    assert (channel.url, channel.secret) == ("https://example.com/in", "s3")
    monkeypatch.setenv("HOOK_URL", "http://intranet/in")
    monkeypatch.setenv("HOOK_SECRET", "")  # set but empty is as good as unset
    with pytest.raises(RulesError) as caught:
        parse_rules(text, "rules.toml")  # os.environ
    assert (caught.value.line, caught.value.key) == (4, "secret")
    monkeypatch.setenv("HOOK_SECRET", "s4")
    assert parse_rules(text, "rules.toml").channels["hook"].url == "http://intranet/in"


def test_secret_is_optional_for_feishu_and_webhook() -> None:
    for kind in ("feishu", "webhook"):
        channels = parse_rules(WECOM.replace("wecom", kind), "rules.toml").channels
        assert channels["team"] == Channel("team", kind, "https://example.com/hook")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("10m", 10 * MINUTE),
        ("1h", HOUR),
        ("1d", DAY),
        ("1h30m", 90 * MINUTE),
        ("1d2h3m4s", DAY + 2 * HOUR + 3 * MINUTE + timedelta(seconds=4)),
        ("90m", 90 * MINUTE),
        ("0", timedelta(0)),
        ("0s", timedelta(0)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "10", "1.5h", "10 m", "10M", "1m1h", "1h1h", "-5m", "1w", " 1h", "9" * 12 + "d"]
)
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="时长"):
        parse_duration(text)


def test_working_hours_from_a_file() -> None:
    hours = parse_rules(EXAMPLE, "r.toml", env={"TEST_DINGTALK_SECRET": "s"}).working_hours
    assert hours.is_working_time(datetime(2026, 9, 30, 9, 0))  # a Wednesday, at the start
    assert not hours.is_working_time(datetime(2026, 9, 30, 18, 0))  # the end is excluded
    assert not hours.is_working_time(datetime(2026, 9, 30, 8, 59))
    assert not hours.is_working_time(datetime(2026, 10, 1, 10, 0))  # a holiday (TOML date)
    assert not hours.is_working_time(datetime(2026, 10, 2, 10, 0))  # a holiday (string)
    assert not hours.is_working_time(datetime(2026, 10, 10, 10, 0))  # a Saturday
    assert hours.is_working_time(datetime(2026, 10, 11, 10, 0))  # a Sunday, worked (调休)


def test_overnight_shift_from_a_file() -> None:
    text = '[working_hours]\nstart = "22:00"\nend = "06:00"\nweekdays = ["MON", "tue", 3]\n'
    hours = parse_rules(text, "r.toml").working_hours
    assert hours.weekdays == {1, 2, 3}
    assert hours.is_working_time(datetime(2026, 9, 28, 23, 30))  # Monday night
    assert hours.is_working_time(datetime(2026, 9, 29, 5, 59))  # Tuesday, before dawn
    assert not hours.is_working_time(datetime(2026, 9, 29, 6, 0))
    assert not hours.is_working_time(datetime(2026, 9, 29, 12, 0))
    assert not hours.is_working_time(datetime(2026, 10, 1, 23, 0))  # Thursday: not a weekday


def test_working_hours_keep_defaults_for_absent_keys() -> None:
    hours = parse_rules("[working_hours]\nholidays = [2026-10-01]", "r.toml").working_hours
    assert hours == WorkingHours(
        time(7), time(22), frozenset(range(1, 7)), frozenset({date(2026, 10, 1)})
    )
    assert parse_rules("[working_hours]\nend = 07:30:00", "r.toml").working_hours.end == time(7, 30)


def test_load_rules_from_files(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_bytes(b"\xef\xbb\xbf" + RULE.encode())  # a BOM, as Windows editors write
    assert load_rules(path).source == str(path)
    assert [rule.name for rule in load_rules(path).rules] == ["r"]
    path.write_text(RULE.replace("5", "-5"), encoding="utf-8")
    assert refusal_from(path).line == 4
    path.write_bytes("name = '规则'".encode("gbk"))
    assert "UTF-8" in refusal_from(path).message
    missing = refusal_from(tmp_path / "nope.toml")
    assert (missing.line, missing.key) == (None, None)
    assert missing.message == f"规则文件 {tmp_path / 'nope.toml'}:文件不存在"
    assert "无法读取" in refusal_from(tmp_path).message  # a directory


def refusal_from(path: Path) -> RulesError:
    """The error loading ``path`` is refused with."""
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    return caught.value


def test_the_readme_example_is_a_valid_rules_file() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Alerts on anomalous operations") :]
    example = section[
        section.index("```toml") + len("```toml") : section.index("```\n", section.index("```toml"))
    ]
    env = {
        "WECOM_SALES1_URL": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k",
        "DINGTALK_URL": "https://oapi.dingtalk.com/robot/send?access_token=t",
        "DINGTALK_SECRET": "SECabc",
        "SIEM_HMAC_SECRET": "s3cret",
    }
    ruleset = parse_rules(example, "README.md", env=env)
    assert [rule.name for rule in ruleset.rules] == ["bulk-view", "night-work", "bulk-export"]
    assert ruleset.channels["sales1"].departments == frozenset({"销售一部"})
    assert ruleset.digests.channels == ("managers",)

"""The alert rules file: TOML in, a validated :class:`RuleSet` out.

A refused file raises :class:`RulesError`, whose message names the file, the line and the key as
written there. Every problem is collected and the first one in file order is reported, so the
same file always gives the same message. Lines of semantic errors come from :class:`_Lines`, a
small scanner over the source (tomllib keeps no positions).
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from datetime import time, timedelta
from pathlib import Path
from typing import Any, TypeVar, get_args
from urllib.parse import urlsplit

from infotrack.alerts.durations import (
    parse_clock,
    parse_dates,
    parse_duration,
    parse_weekdays,
    parse_weekly,
)
from infotrack.alerts.types import (
    Channel,
    ChannelKind,
    Digests,
    Rule,
    RuleKind,
    RuleSet,
    Severity,
    WorkingHours,
)
from infotrack.errors import ConfigError
from infotrack.tracking.events import EventType

T = TypeVar("T")
Loc = tuple[str | int, ...]  # where a table sits: ("rules", 0), ("channels", "team"), () = root

DEFAULT_RULES_TOML = """\
# infotrack alert rules (告警规则). These are the built-in defaults; to change them, copy this
# file, edit it, check it with `infotrack alerts check FILE` and set INFOTRACK_ALERT_RULES_FILE
# to its path.
#
# Each rule counts one operator's events in a sliding window and fires when the count EXCEEDS
# the threshold (超过阈值即告警). A fired rule stays quiet for that operator during its cooldown.
# Durations: "30s", "10m", "1h", "1d", "1h30m" (window at most "7d").
# Times are local wall-clock times in INFOTRACK_TIMEZONE, written "HH:MM".

[[rules]]
name = "bulk-view"             # unique, 1-64 characters (规则名,不可重复)
kind = "burst"                 # burst | distinct_customers | off_hours | export_volume
event_types = ["view_detail"]  # optional, default every type: view_detail edit follow_up call
                               # create assign delete export other (不可用于 export_volume)
threshold = 50                 # an integer >= 0 (required except for off_hours, default 0 there)
window = "10m"                 # required
severity = "high"              # low | medium | high (default medium)
cooldown = "30m"               # per operator (default: the window)
description = "10 分钟内查看客户详情超过 50 次"
# channels = ["team"]          # where to notify: names from [channels.*] below (default none)

[[rules]]
name = "many-customers"
kind = "distinct_customers"    # counts different customers, not events (查看大量不同客户)
threshold = 100
window = "1h"
severity = "high"
cooldown = "1h"
description = "1 小时内操作超过 100 个不同客户"

[[rules]]
name = "off-hours"
kind = "off_hours"             # counts events outside [working_hours] (非工作时间操作)
threshold = 0                  # 0: the first such event fires
window = "1h"
severity = "low"
cooldown = "8h"
description = "非工作时间操作客户信息"

[[rules]]
name = "bulk-export"
kind = "export_volume"         # counts exported rows from the access log (导出行数)
threshold = 2000
window = "1d"
severity = "high"
cooldown = "1d"
description = "1 天内导出超过 2000 行客户数据"

[working_hours]                # used by off_hours rules (工作时间)
start = "07:00"
end = "22:00"                  # end before start: a shift over midnight (跨夜班)
weekdays = ["mon", "tue", "wed", "thu", "fri", "sat"]  # or ISO numbers 1-7, 1 = Monday
# holidays = ["2026-10-01"]    # days off even on a working weekday (节假日)
# workdays = ["2026-10-11"]    # make-up days worked even on a weekend (调休上班)

# Notification channels (通知通道), none by default. For example:
#
# [channels.team]
# kind = "wecom"               # wecom 企业微信 | dingtalk 钉钉 | feishu 飞书 | webhook
# url = "${WECOM_TEAM_URL}"    # http(s); a whole value "${NAME}" is read from the environment
# departments = ["销售一部"]     # optional: only alerts and digests of these departments
# timeout = 5                  # seconds, 0.5-60
#
# [channels.managers]
# kind = "dingtalk"
# url = "${DINGTALK_URL}"
# secret = "${DINGTALK_SECRET}"  # signing secret (加签): required for dingtalk, optional for
#                                # feishu and webhook; WeCom group robots have no signing
#
# Digests per department (日报 / 周报), none by default. For example:
#
# [digests]
# daily = "09:00"              # covers the previous day
# weekly = "mon 09:00"         # covers the previous 7 days
# channels = ["managers"]
# top_operators = 5            # 1-50
"""

_KINDS: tuple[RuleKind, ...] = get_args(RuleKind)
_SEVERITIES: tuple[Severity, ...] = get_args(Severity)
_CHANNEL_KINDS: tuple[ChannelKind, ...] = get_args(ChannelKind)
_EVENT_CODES = tuple(event.value for event in EventType)
_ROOT_KEYS = ("rules", "channels", "working_hours", "digests")
_RULE_KEYS = ("name", "kind", "event_types", "threshold", "window", "severity", "cooldown",
              "channels", "description")  # fmt: skip
_CHANNEL_KEYS = ("kind", "url", "secret", "departments", "timeout")
_HOURS_KEYS = ("start", "end", "weekdays", "holidays", "workdays")
_DIGEST_KEYS = ("daily", "weekly", "channels", "top_operators")
_DEFAULT_HOURS = WorkingHours(time(7), time(22), frozenset(range(1, 7)))

_CHANNEL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SEGMENT = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_KEY = rf"{_SEGMENT}(?:\s*\.\s*{_SEGMENT})*"
_HEADER = re.compile(rf"\s*(\[\[?)\s*({_KEY})\s*\]")
_ASSIGN = re.compile(rf"\s*({_KEY})\s*=")


class RulesError(ConfigError):
    """A refused rules file: which file, which line and key (when known), and why."""

    code = "invalid_alert_rules"

    def __init__(self, source: str, line: int | None, key: str | None, detail: str) -> None:
        self.source, self.line, self.key, self.detail = source, line, key, detail
        where = f"规则文件 {source}" + (f" 第 {line} 行" if line else "")
        super().__init__(f"{where} {key}:{detail}" if key else f"{where}:{detail}")


def load_rules(path: Path | None) -> RuleSet:
    """The rules in ``path``, or the built-in defaults when it is None."""
    if path is None:
        return parse_rules(DEFAULT_RULES_TOML, "built-in")
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: editors on Windows add a BOM
    except FileNotFoundError:
        raise RulesError(str(path), None, None, "文件不存在") from None
    except UnicodeDecodeError:
        raise RulesError(str(path), None, None, "不是 UTF-8 编码的文本文件") from None
    except OSError as exc:
        raise RulesError(str(path), None, None, f"无法读取({exc.strerror})") from None
    return parse_rules(text, str(path))


def parse_rules(text: str, source: str, *, env: Mapping[str, str] | None = None) -> RuleSet:
    """The rule set ``text`` configures; ``${NAME}`` values come from ``env`` (os.environ)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _syntax_error(str(exc), text, source) from None
    reader = _Reader(source, _Lines(text), os.environ if env is None else env)
    rule_set = reader.rule_set(data)
    if reader.errors:
        raise min(reader.errors, key=lambda error: (error.line is None, error.line or 0))
    return rule_set


def _syntax_error(message: str, text: str, source: str) -> RulesError:
    reason, _, where = message.partition(" (at ")
    at = re.match(r"line (\d+), column (\d+)", where)
    if at:
        return RulesError(source, int(at[1]), None, f"TOML 语法错误(第 {at[2]} 列):{reason}")
    # tomllib points at the end when a value runs off the end of the file: the last line.
    return RulesError(source, max(1, len(text.splitlines())), None, f"TOML 语法错误:{reason}")


def _segments(key: str) -> tuple[str, ...]:
    return tuple(part[1:-1] if part[0] in "\"'" else part for part in re.findall(_SEGMENT, key))


class _Lines:
    """Where each table header and each ``key =`` is written, by table path."""

    def __init__(self, text: str) -> None:
        self.headers: dict[Loc, int] = {}
        self.keys: dict[tuple[Loc, str | int], tuple[int, str]] = {}
        arrays: dict[Loc, int] = {}  # [[array]] path -> index of its latest element
        table: Loc = ()
        in_string: str | None = None
        for number, line in enumerate(text.splitlines(), start=1):
            if in_string:  # inside a multi-line string: nothing here is a key
                in_string = None if line.count(in_string) % 2 else in_string
                continue
            if header := _HEADER.match(line):
                parts = _segments(header[2])
                if header[1] == "[[":
                    table = self._resolve(parts[:-1], arrays) + parts[-1:]
                    arrays[table] = arrays.get(table, -1) + 1
                    self.headers.setdefault(table, number)
                    table += (arrays[table],)
                else:
                    table = self._resolve(parts, arrays)
                self.headers.setdefault(table, number)
                continue
            if assign := _ASSIGN.match(line):
                path = table + _segments(assign[1])
                for end in range(len(table) + 1, len(path) + 1):  # dotted keys: a.b.c = 1
                    written = assign[1] if end == len(path) else str(path[end - 1])
                    self.keys.setdefault((path[: end - 1], path[end - 1]), (number, written))
            in_string = next((q for q in ('"""', "'''") if line.count(q) % 2), None)

    @staticmethod
    def _resolve(parts: tuple[str, ...], arrays: dict[Loc, int]) -> Loc:
        """A header's path, with the latest element of each array of tables it passes."""
        path: Loc = ()
        for part in parts:
            path += (part,)
            if path in arrays:
                path += (arrays[path],)
        return path

    def find(self, loc: Loc, key: str) -> tuple[int | None, str]:
        """The line of ``key`` in table ``loc`` and the key as written there."""
        if (loc, key) in self.keys:
            return self.keys[(loc, key)]
        if (*loc, key) in self.headers:
            return self.headers[(*loc, key)], key
        while loc:  # a missing key: the line its table starts on
            if loc in self.headers:
                return self.headers[loc], key
            if (loc[:-1], loc[-1]) in self.keys:
                return self.keys[(loc[:-1], loc[-1])][0], key
            loc = loc[:-1]
        return None, key


class _Table:
    """One table being read: unknown keys refused, each value converted or its error noted."""

    def __init__(self, reader: _Reader, loc: Loc, data: dict[str, Any], known: tuple[str, ...]):
        self.reader, self.loc, self.data, self.failed = reader, loc, data, False
        self.unknown = [key for key in data if key not in known]
        for key in self.unknown:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"是否应为 {close[0]}?" if close else f"可用的有 {', '.join(known)}"
            self.fail(key, f"未知的配置项({hint})")

    def fail(self, key: str, detail: str) -> None:
        self.failed = True
        self.reader.fail(self.loc, key, detail)

    def missing(self, key: str, detail: str) -> None:
        """Note a required key that is absent (reported at its table's header) or empty."""
        # A typo (`treshold`) is the error to report, not the key it fails to provide.
        if not self.unknown:
            self.fail(key, detail)

    def get(self, key: str, convert: Callable[[Any], T], *, required: bool = False) -> T | None:
        """The converted value of ``key``; None when absent or refused."""
        if key not in self.data:
            if required:
                self.missing(key, "缺少必填项")
            return None
        try:
            return convert(self.data[key])
        except ValueError as exc:
            self.fail(key, str(exc))
            return None


class _Reader:
    """Reads the parsed TOML into a rule set, noting every error with its line."""

    def __init__(self, source: str, lines: _Lines, env: Mapping[str, str]) -> None:
        self.source, self.lines, self.env = source, lines, env
        self.errors: list[RulesError] = []
        self.declared: set[str] = set()  # channel names written, valid or not

    def fail(self, loc: Loc, key: str, detail: str) -> None:
        line, written = self.lines.find(loc, key)
        self.errors.append(RulesError(self.source, line, written, detail))

    def table(self, loc: Loc, key: str, value: Any, known: tuple[str, ...]) -> _Table:
        if isinstance(value, dict):
            return _Table(self, (*loc, key), value, known)
        self.fail(loc, key, f"必须是表,如 [{'.'.join(map(str, (*loc, key)))}]")
        return _Table(self, (*loc, key), {}, ())

    def rule_set(self, data: dict[str, Any]) -> RuleSet:
        _Table(self, (), data, _ROOT_KEYS)  # refuses unknown top-level keys
        tables = data.get("channels", {})
        if not isinstance(tables, dict):
            self.fail((), "channels", "必须是表,每个通道写成 [channels.名称]")
            tables = {}
        self.declared = set(tables)
        channels = {name: self.channel(name, value) for name, value in tables.items()}
        rules = self.rules(data.get("rules", []))
        hours = data.get("working_hours")
        return RuleSet(
            rules=rules,
            channels={name: channel for name, channel in channels.items() if channel},
            working_hours=self.working_hours(hours) if hours is not None else _DEFAULT_HOURS,
            digests=self.digests(data["digests"]) if "digests" in data else Digests(),
            source=self.source,
        )

    def rules(self, value: Any) -> tuple[Rule, ...]:
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            self.fail((), "rules", "必须是规则表的数组,每条规则以 [[rules]] 开头")
            return ()
        rules: list[Rule] = []
        first_line: dict[str, int | None] = {}
        for index, data in enumerate(value):
            name = data.get("name")
            if isinstance(name, str) and name in first_line:
                where = f"第 {first_line[name]} 行" if first_line[name] else "前面"
                self.fail(("rules", index), "name", f"规则名 {name} 与{where}的规则重复")
            elif isinstance(name, str):
                first_line[name] = self.lines.find(("rules", index), "name")[0]
            if rule := self.rule(_Table(self, ("rules", index), data, _RULE_KEYS)):
                rules.append(rule)
        return tuple(rules)

    def rule(self, t: _Table) -> Rule | None:
        name = t.get("name", _text(64), required=True)
        kind = t.get("kind", _one_of(_KINDS), required=True)
        event_types = t.get("event_types", _event_types)
        threshold = t.get("threshold", _integer(0), required=kind not in (None, "off_hours"))
        window = t.get("window", _window, required=True)
        severity: Severity = t.get("severity", _one_of(_SEVERITIES)) or "medium"
        cooldown = t.get("cooldown", parse_duration)
        channels = t.get("channels", self.channel_names)
        description = t.get("description", _text(500))
        if kind == "export_volume" and "event_types" in t.data:
            t.fail("event_types", "export_volume 统计的是导出行数,不区分事件类型;请删除此项")
        if t.failed or name is None or kind is None or window is None:
            return None
        cooldown = window if cooldown is None else cooldown
        return Rule(
            name, kind, threshold or 0, window, severity, cooldown,
            channels or (), event_types, description,
        )  # fmt: skip

    def channel(self, name: str, value: Any) -> Channel | None:
        t = self.table(("channels",), name, value, _CHANNEL_KEYS)
        if not _CHANNEL_NAME.fullmatch(name):
            t.fail(name, "通道名只能由字母、数字、_ 和 - 组成,长度 1 到 64")  # noted at its header
        kind = t.get("kind", _one_of(_CHANNEL_KINDS), required=True)
        url = t.get("url", self.url, required=True)
        secret = t.get("secret", self.expand)
        departments = t.get("departments", _strings)
        timeout = t.get("timeout", _number(0.5, 60))
        if kind == "wecom" and "secret" in t.data:
            t.fail("secret", "企业微信群机器人不支持加签,没有 secret;请删除此项")
        if kind == "dingtalk" and "secret" not in t.data:
            t.missing("secret", "钉钉机器人必须配置 secret(安全设置中的加签密钥)")
        if t.failed or kind is None or url is None:
            return None
        return Channel(name, kind, url, secret, frozenset(departments or ()), timeout or 5.0)

    def working_hours(self, value: Any) -> WorkingHours:
        t = self.table((), "working_hours", value, _HOURS_KEYS)
        # An absent key keeps the built-in value, so a file may set only its holidays.
        start = t.get("start", parse_clock) or _DEFAULT_HOURS.start
        end = t.get("end", parse_clock) or _DEFAULT_HOURS.end
        weekdays = t.get("weekdays", parse_weekdays) or _DEFAULT_HOURS.weekdays
        holidays = t.get("holidays", parse_dates) or frozenset()
        workdays = t.get("workdays", parse_dates) or frozenset()
        if start == end and not t.failed:  # a refused start or end is reported already
            t.fail("end" if "end" in t.data else "start", "start 与 end 不能相同")
        if both := sorted(holidays & workdays):
            t.fail("workdays", f"{both[0]} 同时写在 holidays 和 workdays 中")
        return WorkingHours(start, end, weekdays, holidays, workdays)

    def digests(self, value: Any) -> Digests:
        t = self.table((), "digests", value, _DIGEST_KEYS)
        daily = t.get("daily", parse_clock)
        weekly = t.get("weekly", parse_weekly)
        channels = t.get("channels", self.channel_names)
        if ("daily" in t.data or "weekly" in t.data) and not t.data.get("channels"):
            t.missing("channels", "设置了 daily 或 weekly 时必须至少指定一个通道")  # else: nowhere
        top = t.get("top_operators", _integer(1, 50))
        day, weekly_at = weekly or (1, None)
        return Digests(daily, weekly_at, day, channels or (), top or 5)

    def channel_names(self, value: Any) -> tuple[str, ...]:
        names = _strings(value, allow_empty=True)
        for name in names:
            if name not in self.declared:
                raise ValueError(f"未定义的通道 {name}(应写在 [channels.{name}] 中)")
        return tuple(dict.fromkeys(names))

    def expand(self, value: Any) -> str:
        """A string, or the environment variable a whole ``${NAME}`` value names."""
        text = _text(4096)(value)
        if ref := _ENV_REF.fullmatch(text):
            if not self.env.get(ref[1]):
                raise ValueError(f"环境变量 {ref[1]} 未设置或为空")
            return self.env[ref[1]]
        if "${" in text:
            raise ValueError('环境变量只能作为整个值引用,如 "${DINGTALK_SECRET}"')
        return text

    def url(self, value: Any) -> str:
        url = self.expand(value)
        parts = urlsplit(url)  # the value is not echoed: it may carry a token
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("必须是 http:// 或 https:// 开头的完整地址")
        return url


def _text(limit: int) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("必须是非空字符串")
        if len(value) > limit:
            raise ValueError(f"不能超过 {limit} 个字符")
        return value

    return convert


def _one_of(options: tuple[T, ...]) -> Callable[[Any], T]:
    def convert(value: Any) -> T:
        for option in options:
            if isinstance(value, str) and value == option:
                return option
        raise ValueError(f"必须是 {' | '.join(map(str, options))} 之一")

    return convert


def _integer(low: int, high: int | None = None) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        # bool is an int subclass in Python, but `threshold = true` is a mistake
        if isinstance(value, int) and not isinstance(value, bool):
            if low <= value and (high is None or value <= high):
                return value
        if high is None:
            raise ValueError(f"必须是不小于 {low} 的整数")
        raise ValueError(f"必须是 {low} 到 {high} 之间的整数")

    return convert


def _number(low: float, high: float) -> Callable[[Any], float]:
    def convert(value: Any) -> float:
        if isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high:
            return float(value)
        raise ValueError(f"必须是 {low:g} 到 {high:g} 之间的数(秒)")

    return convert


def _strings(value: Any, *, allow_empty: bool = False) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError('必须是字符串数组,如 ["a", "b"]')
    if not value and not allow_empty:
        raise ValueError("不能为空数组;不需要时请删除此项")
    return tuple(value)


def _event_types(value: Any) -> frozenset[str]:
    for code in (codes := _strings(value)):
        if code not in _EVENT_CODES:
            raise ValueError(f"未知的事件类型 {code}(可用的有 {', '.join(_EVENT_CODES)})")
    return frozenset(codes)


def _window(value: Any) -> timedelta:
    window = parse_duration(value)
    if not timedelta(0) < window <= timedelta(days=7):
        raise ValueError("必须大于 0 且不超过 7 天(7d)")
    return window

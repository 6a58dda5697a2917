"""Notices rendered as messages: Chinese markdown and plain text for people, JSON for machines.

A :class:`Message` is what every channel starts from: ``markdown`` for the group bots (WeCom,
DingTalk, Feishu), ``text`` where markup is not wanted, ``data`` for the generic webhook. Its
``markdown`` starts with the title in bold on a line of its own, so channels that show the
title in a header of their own can drop that line.

Names, departments, companies and roles are typed in by users. In markdown they pass through
:func:`escape_markdown`, which makes links, emphasis, HTML tags and mentions inert on all three
vendors' renderers, whose escaping rules differ and are not fully documented.

The worker stores notices in its outbox and renders them at send time; :func:`notice_to_json`
and :func:`notice_from_json` are that storage format.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, get_args
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from infotrack.alerts.types import (
    KIND_LABELS,
    SEVERITY_LABELS,
    AlertNotice,
    DigestNotice,
    Operator,
    RuleKind,
    Severity,
)
from infotrack.tracking.events import EVENT_LABELS, EventType

NOTICE_FORMAT_VERSION = 1
# Longest user-typed value shown in a message: a name pasted with a novel must not crowd out the
# alert itself (and vendors cap message sizes).
MAX_FIELD_CHARS = 64
MAX_RULE_CHARS = 80  # rule names come from the rules file, but are shown the same way
CONSOLE_LINK_TEXT = "在控制台查看"

# Every ASCII character some vendor's markdown (or its HTML subset) treats as syntax becomes its
# full-width lookalike: readable to a Chinese reader, syntax to no renderer. Backslash escapes
# are not used because WeCom and DingTalk do not document honouring them.
_MARKDOWN_LOOKALIKES = str.maketrans(
    {
        "\\": "＼",
        "`": "｀",
        "*": "＊",
        "_": "＿",
        "~": "～",
        "#": "＃",
        "[": "［",
        "]": "］",
        "(": "（",
        ")": "）",
        "<": "＜",
        ">": "＞",
        "&": "＆",
        "|": "｜",
        "!": "！",
        "$": "＄",
    }
)


@dataclass(frozen=True)
class Message:
    """One notification, rendered once and handed to every channel."""

    kind: Literal["alert", "digest"]
    title: str  # plain text, one line
    markdown: str  # first line: the title in bold
    text: str  # plain text, same content
    data: dict[str, Any]  # JSON-able body for the generic webhook (camelCase keys)


def clean_text(value: str | None, *, max_chars: int = MAX_FIELD_CHARS) -> str:
    """One line of user-typed text: controls and line breaks removed, at most ``max_chars``."""
    if not value:
        return ""
    kept: list[str] = []
    for char in value:
        category = unicodedata.category(char)
        if category in ("Cc", "Zl", "Zp"):
            # A line break would let a name forge lines ("次数：0") or start markdown blocks.
            kept.append(" ")
        elif category in ("Cf", "Cs"):
            # Format characters (bidi overrides, zero-width) can disguise what a name says;
            # a lone surrogate cannot be encoded at all.
            continue
        else:
            kept.append(char)
    single = " ".join("".join(kept).split())
    if len(single) > max_chars:
        single = single[: max_chars - 1] + "…"
    return single


def escape_markdown(value: str | None, *, max_chars: int = MAX_FIELD_CHARS) -> str:
    """User-typed text made inert in WeCom, DingTalk and Feishu markdown (and their HTML tags)."""
    escaped = clean_text(value, max_chars=max_chars).translate(_MARKDOWN_LOOKALIKES)
    # Renderers turn bare addresses into links; a name must not become one.
    return escaped.replace("://", "：//")


def render_alert(notice: AlertNotice) -> Message:
    """The Chinese message for one alert."""
    severity = _severity(notice.severity)
    rule = clean_text(notice.rule, max_chars=MAX_RULE_CHARS)
    title = f"【{severity}】告警：{rule}"
    operator = notice.operator
    kind_label = KIND_LABELS.get(notice.kind, notice.kind)
    samples = "、".join(str(i) for i in notice.sample_ids) or "无"
    if 0 < len(notice.sample_ids) < notice.count:
        samples += f"（仅列出 {len(notice.sample_ids)} 条）"
    count = f"{notice.count}（阈值 {notice.threshold}）"

    plain = [("规则", rule), ("类型", kind_label), ("操作人", _operator_plain(operator))]
    md = [
        ("规则", escape_markdown(notice.rule, max_chars=MAX_RULE_CHARS)),
        ("类型", kind_label),
        ("操作人", _operator_markdown(operator)),
    ]
    if operator.company:
        plain.append(("公司", clean_text(operator.company)))
        md.append(("公司", escape_markdown(operator.company)))
    plain += [
        ("部门", clean_text(operator.department) or "未填写"),
        (
            "时间窗口",
            _format_window(notice.window_start, notice.window_end, clean_text(notice.zone)),
        ),
        ("次数", count),
        ("样本记录", samples),
    ]
    md += [
        ("部门", escape_markdown(operator.department) or "未填写"),
        (
            "时间窗口",
            _format_window(notice.window_start, notice.window_end, escape_markdown(notice.zone)),
        ),
        ("次数", f"**{notice.count}**（阈值 {notice.threshold}）"),
        ("样本记录", samples),
    ]
    console = _safe_url(notice.console_url)
    return Message(
        kind="alert",
        title=title,
        markdown=_markdown(title, md, console),
        text=_plain(title, plain, console),
        data=_alert_data(notice, console),
    )


def render_digest(notice: DigestNotice) -> Message:
    """The Chinese message for a department's daily (日报) or weekly (周报) summary."""
    period = "日报" if notice.period == "daily" else "周报"
    scope = clean_text(notice.department) or clean_text(notice.company) or "全部部门"
    title = f"{period} · {scope} · {_format_days(notice.start, notice.end)}"
    top_heading = f"前 {len(notice.top_operators)} 名操作人"
    ranked = list(enumerate(notice.top_operators, start=1))

    plain: list[tuple[str, str]] = []
    md: list[tuple[str, str]] = []
    if notice.company and notice.department:
        plain.append(("公司", clean_text(notice.company)))
        md.append(("公司", escape_markdown(notice.company)))
    plain += [
        ("统计时段", _format_window(notice.start, notice.end, clean_text(notice.zone))),
        ("事件合计", str(notice.total_events)),
    ]
    md += [
        ("统计时段", _format_window(notice.start, notice.end, escape_markdown(notice.zone))),
        ("事件合计", f"**{notice.total_events}**"),
    ]
    extra_plain = [
        *_section("按类型", [f"- {clean_text(_event_label(c))}：{n}" for c, n in notice.by_type]),
        *_section(
            top_heading, [f"{i}. {clean_text(name) or '未知'}：{n}" for i, (name, n) in ranked]
        ),
        *_section(
            "未处理告警",
            [
                f"- {clean_text(rule, max_chars=MAX_RULE_CHARS)}（{_severity(sev)}）：{n}"
                for rule, sev, n in notice.open_alerts
            ],
        ),
    ]
    extra_md = [
        *_section(
            "按类型", [f"- {escape_markdown(_event_label(c))}：{n}" for c, n in notice.by_type]
        ),
        *_section(
            top_heading, [f"{i}. {escape_markdown(name) or '未知'}：{n}" for i, (name, n) in ranked]
        ),
        *_section(
            "未处理告警",
            [
                f"- {escape_markdown(rule, max_chars=MAX_RULE_CHARS)}"
                f"（{escape_markdown(_severity(sev))}）：{n}"
                for rule, sev, n in notice.open_alerts
            ],
        ),
    ]
    console = _safe_url(notice.console_url)
    return Message(
        kind="digest",
        title=title,
        markdown=_markdown(title, md, console, extra_md),
        text=_plain(title, plain, console, extra_plain),
        data=_digest_data(notice, console),
    )


def _severity(code: str) -> str:
    return SEVERITY_LABELS.get(code, code)


def notice_to_json(notice: AlertNotice | DigestNotice) -> str:
    """The notice as the worker's outbox stores it; :func:`notice_from_json` reads it back."""
    body: dict[str, Any]
    if isinstance(notice, AlertNotice):
        body = {
            "type": "alert",
            "alert_id": notice.alert_id,
            "rule": notice.rule,
            "kind": notice.kind,
            "severity": notice.severity,
            "operator": {
                "key": notice.operator.key,
                "operator_id": notice.operator.operator_id,
                "name": notice.operator.name,
                "company": notice.operator.company,
                "department": notice.operator.department,
                "role": notice.operator.role,
            },
            "window_start": notice.window_start.isoformat(),
            "window_end": notice.window_end.isoformat(),
            "count": notice.count,
            "threshold": notice.threshold,
            "sample_ids": list(notice.sample_ids),
            "zone": notice.zone,
            "console_url": notice.console_url,
        }
    else:
        body = {
            "type": "digest",
            "period": notice.period,
            "company": notice.company,
            "department": notice.department,
            "start": notice.start.isoformat(),
            "end": notice.end.isoformat(),
            "total_events": notice.total_events,
            "by_type": [list(item) for item in notice.by_type],
            "top_operators": [list(item) for item in notice.top_operators],
            "open_alerts": [list(item) for item in notice.open_alerts],
            "zone": notice.zone,
            "console_url": notice.console_url,
        }
    return json.dumps({"version": NOTICE_FORMAT_VERSION, **body}, ensure_ascii=False)


def notice_from_json(raw: str) -> AlertNotice | DigestNotice:
    """A notice stored by :func:`notice_to_json`; raises ``ValueError`` when it is malformed."""
    try:
        body = json.loads(raw)
        if not isinstance(body, dict):
            raise ValueError("a notice must be a JSON object")
        if body.get("version") != NOTICE_FORMAT_VERSION:
            raise ValueError(f"unknown notice version {body.get('version')!r}")
        kind = body.get("type")
        if kind == "alert":
            return _alert_from(body)
        if kind == "digest":
            return _digest_from(body)
        raise ValueError(f"unknown notice type {kind!r}")
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"malformed notice: {exc}") from exc


# --- rendering helpers ----------------------------------------------------------------------


def _markdown(
    title: str,
    fields: list[tuple[str, str]],
    console: str | None,
    extra: list[str] | None = None,
) -> str:
    lines = [f"**{escape_markdown(title, max_chars=200)}**"]
    lines += [f"{label}：{value}" for label, value in fields]
    lines += extra or []
    if console:
        lines.append(f"[{CONSOLE_LINK_TEXT}]({console})")
    return "\n".join(lines)


def _plain(
    title: str,
    fields: list[tuple[str, str]],
    console: str | None,
    extra: list[str] | None = None,
) -> str:
    lines = [title, *(f"{label}：{value}" for label, value in fields), *(extra or [])]
    if console:
        lines.append(f"{CONSOLE_LINK_TEXT}：{console}")
    return "\n".join(lines)


def _section(heading: str, lines: list[str]) -> list[str]:
    return [f"{heading}：", *lines] if lines else [f"{heading}：无"]


def _operator_plain(operator: Operator) -> str:
    name = clean_text(operator.name) or "未知"
    details = [
        f"工号 {clean_text(operator.operator_id)}" if operator.operator_id else "",
        clean_text(operator.role),
    ]
    shown = [d for d in details if d]
    return f"{name}（{'，'.join(shown)}）" if shown else name


def _operator_markdown(operator: Operator) -> str:
    name = escape_markdown(operator.name) or "未知"
    details = [
        f"工号 {escape_markdown(operator.operator_id)}" if operator.operator_id else "",
        escape_markdown(operator.role),
    ]
    shown = [d for d in details if d]
    return f"**{name}**（{'，'.join(shown)}）" if shown else f"**{name}**"


def _format_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


def _format_window(start: datetime, end: datetime, zone: str) -> str:
    """Like "2026-11-28 03:00 至 03:12（Asia/Shanghai）": the zone once, a shared date once."""
    end_text = end.strftime("%H:%M") if start.date() == end.date() else _format_time(end)
    return f"{_format_time(start)} 至 {end_text}（{zone}）"


def _format_days(start: datetime, end: datetime) -> str:
    """The days a digest covers; ``end`` is exclusive, so midnight belongs to the day before."""
    first = start.date()
    last = (end - timedelta(microseconds=1)).date() if end > start else first
    return first.isoformat() if last == first else f"{first.isoformat()} 至 {last.isoformat()}"


def _safe_url(url: str | None) -> str | None:
    """The console link, only when http(s), with the characters markdown links break on encoded."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return quote(url.strip(), safe="/:?#=&%+,;@!$'*~.-_")


# --- JSON for the generic webhook -----------------------------------------------------------


def _iso(moment: datetime, zone: str) -> str:
    """ISO 8601 with the zone's offset at that moment (naive times are wall-clock in ``zone``)."""
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        # Settings validate the zone; a notice stored under an old setting still renders.
        return moment.isoformat()
    local = moment.replace(tzinfo=tz) if moment.tzinfo is None else moment.astimezone(tz)
    return local.isoformat()


def _alert_data(notice: AlertNotice, console: str | None) -> dict[str, Any]:
    operator = notice.operator
    return {
        "alertId": notice.alert_id,
        "rule": notice.rule,
        "kind": notice.kind,
        "kindLabel": KIND_LABELS.get(notice.kind, notice.kind),
        "severity": notice.severity,
        "operator": {
            "operatorId": operator.operator_id,
            "name": operator.name,
            "company": operator.company,
            "department": operator.department,
            "role": operator.role,
        },
        "windowStart": _iso(notice.window_start, notice.zone),
        "windowEnd": _iso(notice.window_end, notice.zone),
        "zone": notice.zone,
        "count": notice.count,
        "threshold": notice.threshold,
        "sampleIds": list(notice.sample_ids),
        "consoleUrl": console,
    }


def _digest_data(notice: DigestNotice, console: str | None) -> dict[str, Any]:
    return {
        "period": notice.period,
        "company": notice.company,
        "department": notice.department,
        "start": _iso(notice.start, notice.zone),
        "end": _iso(notice.end, notice.zone),
        "zone": notice.zone,
        "totalEvents": notice.total_events,
        "byType": [
            {"eventType": code, "label": _event_label(code), "count": count}
            for code, count in notice.by_type
        ],
        "topOperators": [{"name": name, "count": count} for name, count in notice.top_operators],
        "openAlerts": [
            {"rule": rule, "severity": severity, "count": count}
            for rule, severity, count in notice.open_alerts
        ],
        "consoleUrl": console,
    }


def _event_label(code: str) -> str:
    """The Chinese label of an event type code; an unknown code shows as itself."""
    try:
        return EVENT_LABELS[EventType(code)]
    except ValueError:
        return code


# --- JSON storage ---------------------------------------------------------------------------


def _str(body: dict[str, Any], key: str) -> str:
    value = body[key]
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    return value


def _opt_str(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{key} must be a string or null")
    return value


def _int(value: Any, key: str) -> int:
    # bool is an int to Python but never a count here.
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{key} must be an integer")
    return value


def _time(body: dict[str, Any], key: str) -> datetime:
    return datetime.fromisoformat(_str(body, key))


def _pairs(body: dict[str, Any], key: str) -> tuple[tuple[str, int], ...]:
    return tuple((str(name), _int(count, key)) for name, count in body[key])


def _alert_from(body: dict[str, Any]) -> AlertNotice:
    kind = _str(body, "kind")
    severity = _str(body, "severity")
    if kind not in get_args(RuleKind):
        raise ValueError(f"unknown rule kind {kind!r}")
    if severity not in get_args(Severity):
        raise ValueError(f"unknown severity {severity!r}")
    op = body["operator"]
    if not isinstance(op, dict):
        raise ValueError("operator must be an object")
    return AlertNotice(
        alert_id=_int(body["alert_id"], "alert_id"),
        rule=_str(body, "rule"),
        kind=kind,  # type: ignore[arg-type]  # checked against RuleKind above
        severity=severity,  # type: ignore[arg-type]  # checked against Severity above
        operator=Operator(
            key=_str(op, "key"),
            operator_id=_opt_str(op, "operator_id"),
            name=_opt_str(op, "name"),
            company=_opt_str(op, "company"),
            department=_opt_str(op, "department"),
            role=_opt_str(op, "role"),
        ),
        window_start=_time(body, "window_start"),
        window_end=_time(body, "window_end"),
        count=_int(body["count"], "count"),
        threshold=_int(body["threshold"], "threshold"),
        sample_ids=tuple(_int(i, "sample_ids") for i in body["sample_ids"]),
        zone=_str(body, "zone"),
        console_url=_opt_str(body, "console_url"),
    )


def _digest_from(body: dict[str, Any]) -> DigestNotice:
    period = _str(body, "period")
    if period not in ("daily", "weekly"):
        raise ValueError(f"unknown digest period {period!r}")
    return DigestNotice(
        period="daily" if period == "daily" else "weekly",
        company=_opt_str(body, "company"),
        department=_opt_str(body, "department"),
        start=_time(body, "start"),
        end=_time(body, "end"),
        total_events=_int(body["total_events"], "total_events"),
        by_type=_pairs(body, "by_type"),
        top_operators=_pairs(body, "top_operators"),
        open_alerts=tuple(
            (str(rule), str(severity), _int(count, "open_alerts"))
            for rule, severity, count in body["open_alerts"]
        ),
        zone=_str(body, "zone"),
        console_url=_opt_str(body, "console_url"),
    )

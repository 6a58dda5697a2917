"""The values the alert pipeline passes between its parts: rules, events, firings, messages.

Kept free of database and HTTP code so the rules parser, the evaluator, the channels and the
worker can each be read (and tested) alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Literal

Severity = Literal["low", "medium", "high"]
RuleKind = Literal["burst", "distinct_customers", "off_hours", "export_volume"]
ChannelKind = Literal["wecom", "dingtalk", "feishu", "webhook"]
EventSource = Literal["trail", "access"]  # informationtra | infotrack_access_log

SEVERITY_LABELS: dict[str, str] = {"low": "低", "medium": "中", "high": "高"}
KIND_LABELS: dict[str, str] = {
    "burst": "短时大量操作",
    "distinct_customers": "短时查看大量不同客户",
    "off_hours": "非工作时间操作",
    "export_volume": "大量导出",
}


@dataclass(frozen=True, slots=True)
class WorkingHours:
    """When work is expected: local wall-clock hours on working days.

    ``holidays`` are days off even on a working weekday; ``workdays`` are the make-up days
    (调休) worked even on a weekend.
    """

    start: time
    end: time
    weekdays: frozenset[int]  # ISO weekdays, 1 = Monday
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()

    def is_working_time(self, local: datetime) -> bool:
        """True when ``local`` (naive, in INFOTRACK_TIMEZONE) falls inside working hours."""
        day = local.date()
        if day in self.holidays:
            return False
        if day not in self.workdays and local.isoweekday() not in self.weekdays:
            return False
        moment = local.time()
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end  # a night shift over midnight


@dataclass(frozen=True, slots=True)
class Channel:
    """Where notifications go."""

    name: str
    kind: ChannelKind
    url: str
    secret: str | None = None
    # Only alerts and digests of these departments (empty: all of them).
    departments: frozenset[str] = frozenset()
    timeout: float = 5.0

    def accepts(self, department: str | None) -> bool:
        """True when this channel wants news about ``department``."""
        return not self.departments or (department or "") in self.departments


@dataclass(frozen=True, slots=True)
class Rule:
    """One alert rule, validated."""

    name: str
    kind: RuleKind
    threshold: int  # fires when the count in the window exceeds this
    window: timedelta
    severity: Severity
    cooldown: timedelta  # per operator, in event time
    channels: tuple[str, ...] = ()
    event_types: frozenset[str] | None = None  # None: every type
    description: str | None = None

    def applies_to(self, event_type: str | None) -> bool:
        """True when events of this type count for the rule."""
        return self.event_types is None or (event_type or "other") in self.event_types


@dataclass(frozen=True, slots=True)
class Digests:
    """The daily (日报) and weekly (周报) summaries per department."""

    daily_at: time | None = None  # local time; None: no daily digest
    weekly_at: time | None = None
    weekly_day: int = 1  # ISO weekday the weekly digest goes out
    channels: tuple[str, ...] = ()
    top_operators: int = 5


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Everything a rules file configures."""

    rules: tuple[Rule, ...]
    channels: dict[str, Channel]
    working_hours: WorkingHours
    digests: Digests
    source: str  # the file it came from, or "built-in"

    @property
    def longest_window(self) -> timedelta:
        """The longest window of any rule (how far back a first run and a warm-up read)."""
        return max((rule.window for rule in self.rules), default=timedelta(0))


@dataclass(frozen=True, slots=True)
class Operator:
    """Who did it, as the row (or access-log entry) names them."""

    key: str  # stable: the operator id, else "crm:<company>|<name>" for the CRM's own rows
    operator_id: str | None
    name: str | None
    company: str | None
    department: str | None
    role: str | None


@dataclass(slots=True)  # not frozen: made once per row, and frozen init costs a third more
class Event:
    """One row of the trail, or one export from the access log, as the evaluator sees it."""

    source: EventSource
    id: int
    at: datetime  # naive local time (operationTime / occurred_at)
    operator: Operator
    event_type: str | None  # trail: the type code (inferred for the CRM's rows); access: None
    customer: str | None = None  # "<source>:<userId>" for trail rows
    rows: int = 1  # exported rows for access-log exports


@dataclass(frozen=True, slots=True)
class Firing:
    """A rule crossed its threshold: what the worker stores as an alert."""

    rule: Rule
    operator: Operator
    trigger: Event  # the event that made the count exceed the threshold
    window_start: datetime
    window_end: datetime
    count: int
    sample_ids: tuple[int, ...] = field(default=())  # ids of events in the window (at most 20)


@dataclass(frozen=True, slots=True)
class AlertNotice:
    """An alert as a notification renders it."""

    alert_id: int
    rule: str
    kind: RuleKind
    severity: Severity
    operator: Operator
    window_start: datetime
    window_end: datetime
    count: int
    threshold: int
    sample_ids: tuple[int, ...]
    zone: str  # the IANA zone of the times above
    console_url: str | None = None


@dataclass(frozen=True, slots=True)
class DigestNotice:
    """A department's daily or weekly summary."""

    period: Literal["daily", "weekly"]
    company: str | None
    department: str | None
    start: datetime  # naive local, inclusive
    end: datetime  # naive local, exclusive
    total_events: int
    by_type: tuple[tuple[str, int], ...]  # (event type code, count), largest first
    top_operators: tuple[tuple[str, int], ...]  # (operator name, count), largest first
    open_alerts: tuple[tuple[str, str, int], ...]  # (rule, severity, count of open alerts)
    zone: str
    console_url: str | None = None

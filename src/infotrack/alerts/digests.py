"""The daily (日报) and weekly (周报) digests: which are due, and what each department's says.

Times are naive local wall-clock times in ``settings.zone``, as ``operationTime`` stores them.
A digest is offered from its sending time until the next one takes over, and only the latest
of each kind: a worker that was down for days sends one digest, not one per missed day.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from infotrack.alerts.types import DigestNotice, Digests
from infotrack.history.query import inferred_event_type
from infotrack.models.alert import Alert
from infotrack.models.informationtra import informationtra

t = informationtra.c

Period = Literal["daily", "weekly"]
Group = tuple[str | None, str | None]  # (company, department)

# Most severe first in a digest: what a reader should look at before the rest.
_SEVERITY_RANK = {"high": 0, "medium": 1, "low": 2}


@dataclass(frozen=True, slots=True)
class DigestPeriod:
    """The time a digest covers: ``[start, end)``, naive local; ``key`` names it for dedupe."""

    period: Period
    start: datetime
    end: datetime
    key: str  # "daily:<the day covered>" / "weekly:<its first day>"


def daily_period(day: date) -> DigestPeriod:
    """The daily digest covering ``day``."""
    start = datetime.combine(day, time())
    return DigestPeriod("daily", start, start + timedelta(days=1), f"daily:{day.isoformat()}")


def weekly_period(first_day: date) -> DigestPeriod:
    """The weekly digest covering the seven days from ``first_day``."""
    start = datetime.combine(first_day, time())
    key = f"weekly:{first_day.isoformat()}"
    return DigestPeriod("weekly", start, start + timedelta(days=7), key)


def due_periods(now: datetime, config: Digests, sent: set[str]) -> list[DigestPeriod]:
    """The digests to send at ``now`` (naive local): the latest of each kind, unless sent."""
    due: list[DigestPeriod] = []
    today = now.date()
    if config.daily_at is not None and now >= datetime.combine(today, config.daily_at):
        due.append(daily_period(today - timedelta(days=1)))
    if config.weekly_at is not None:
        # "This week" starts on weekly_day, so the digest stays due for the whole week after
        # it goes out, whatever weekday that is (an ISO week would drop a Sunday digest the
        # next morning).
        send_day = today - timedelta(days=(today.isoweekday() - config.weekly_day) % 7)
        if now >= datetime.combine(send_day, config.weekly_at):
            due.append(weekly_period(send_day - timedelta(days=7)))
    return [period for period in due if period.key not in sent]


def _order(counts: Counter[str], limit: int | None = None) -> tuple[tuple[str, int], ...]:
    """Largest first, ties by name, so a digest reads the same on every run and backend."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return tuple(ranked if limit is None else ranked[:limit])


def _group_order(group: Group) -> tuple[bool, str, bool, str]:
    company, department = group
    return (company is None, company or "", department is None, department or "")


def build_digests(
    engine: Engine,
    period: DigestPeriod,
    *,
    zone: ZoneInfo,
    top_operators: int,
    console_url: str | None,
) -> list[DigestNotice]:
    """One notice per (company, department) with events in ``period`` or open alerts."""
    event_type = inferred_event_type().label("event_type")
    trail = (
        select(t.tracompany, t.tradepartment, t.trauserName, event_type, func.count())
        .where(t.operationTime >= period.start, t.operationTime < period.end)
        .group_by(t.tracompany, t.tradepartment, t.trauserName, event_type)
    )
    alerts = (
        select(Alert.company, Alert.department, Alert.rule, Alert.severity, func.count())
        .where(Alert.status == "open")
        .group_by(Alert.company, Alert.department, Alert.rule, Alert.severity)
    )
    with engine.connect() as conn:
        trail_rows: list[Any] = list(conn.execute(trail))
        alert_rows: list[Any] = list(conn.execute(alerts))

    # One query per table, split per group here: operator × type rows per department are few,
    # and it keeps the work independent of the number of departments.
    by_type: dict[Group, Counter[str]] = {}
    by_operator: dict[Group, Counter[str]] = {}
    for company, department, name, code, count in trail_rows:
        group = (company, department)
        by_type.setdefault(group, Counter())[code] += count
        operators = by_operator.setdefault(group, Counter())
        if name is not None:  # an unnamed row still counts, but names no one to rank
            operators[name] += count
    open_alerts: dict[Group, list[tuple[str, str, int]]] = {}
    for company, department, rule, severity, count in alert_rows:
        open_alerts.setdefault((company, department), []).append((rule, severity, count))

    notices = []
    for group in sorted(by_type.keys() | open_alerts.keys(), key=_group_order):
        types = by_type.get(group, Counter())
        alerts_here = sorted(
            open_alerts.get(group, []),
            key=lambda a: (_SEVERITY_RANK.get(a[1], len(_SEVERITY_RANK)), -a[2], a[0], a[1]),
        )
        notices.append(
            DigestNotice(
                period=period.period,
                company=group[0],
                department=group[1],
                start=period.start,
                end=period.end,
                total_events=sum(types.values()),
                by_type=_order(types),
                top_operators=_order(by_operator.get(group, Counter()), top_operators),
                open_alerts=tuple(alerts_here),
                zone=zone.key,
                console_url=console_url,
            )
        )
    return notices

"""Digests: which are due when (pure), and what each department's says (both backends)."""

from __future__ import annotations

from datetime import datetime, time
from itertools import count
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, update

from infotrack.alerts.digests import (
    DigestPeriod,
    build_digests,
    daily_period,
    due_periods,
    weekly_period,
)
from infotrack.alerts.types import DigestNotice, Digests
from infotrack.config import Settings
from infotrack.db import Sources
from infotrack.models.alert import Alert
from infotrack.models.informationtra import informationtra

COMPANY_A = "华东贸易有限公司"
COMPANY_B = "华南实业集团"
COMPANY_C = "华夏控股集团"
CONSOLE = "https://infotrack.example.com/console"

DAILY = Digests(daily_at=time(8, 0))
MONDAY_WEEKLY = Digests(weekly_at=time(9, 0), weekly_day=1)


def at(text: str) -> datetime:
    """A naive local time: ``at("2026-11-27 08:00")``."""
    return datetime.fromisoformat(text)


def keys(periods: list[DigestPeriod]) -> list[str]:
    """The keys of ``periods``, in order."""
    return [period.key for period in periods]


# --- due_periods (2026-11-23 and 2026-11-30 are Mondays) ------------------------------------


def test_daily_not_due_a_minute_before_its_time() -> None:
    assert due_periods(at("2026-11-27 07:59"), DAILY, set()) == []


def test_daily_due_at_its_time_covers_yesterday() -> None:
    assert due_periods(at("2026-11-27 08:00"), DAILY, set()) == [
        DigestPeriod("daily", at("2026-11-26 00:00"), at("2026-11-27 00:00"), "daily:2026-11-26")
    ]


@pytest.mark.parametrize("now", ["2026-11-27 08:00", "2026-11-27 13:00", "2026-11-27 23:59:59"])
def test_daily_stays_due_until_midnight(now: str) -> None:
    assert keys(due_periods(at(now), DAILY, set())) == ["daily:2026-11-26"]


def test_daily_already_sent_is_not_due() -> None:
    assert due_periods(at("2026-11-27 09:00"), DAILY, {"daily:2026-11-26"}) == []


def test_daily_after_midnight_waits_for_the_next_time() -> None:
    assert due_periods(at("2026-11-28 00:30"), DAILY, {"daily:2026-11-26"}) == []


def test_daily_after_three_days_down_sends_only_the_latest() -> None:
    sent = {"daily:2026-11-22", "daily:2026-11-23"}  # the last sent before the outage
    assert keys(due_periods(at("2026-11-27 10:00"), DAILY, sent)) == ["daily:2026-11-26"]


def test_weekly_not_due_before_its_time_on_its_day() -> None:
    assert due_periods(at("2026-11-23 08:59"), MONDAY_WEEKLY, set()) == []


def test_weekly_due_on_its_day_covers_the_seven_days_before() -> None:
    assert due_periods(at("2026-11-23 09:00"), MONDAY_WEEKLY, set()) == [
        DigestPeriod("weekly", at("2026-11-16 00:00"), at("2026-11-23 00:00"), "weekly:2026-11-16")
    ]


@pytest.mark.parametrize("now", ["2026-11-24 00:00", "2026-11-26 12:00", "2026-11-29 23:59"])
def test_weekly_stays_due_on_the_days_after(now: str) -> None:
    assert keys(due_periods(at(now), MONDAY_WEEKLY, set())) == ["weekly:2026-11-16"]


def test_weekly_already_sent_is_not_due() -> None:
    assert due_periods(at("2026-11-25 10:00"), MONDAY_WEEKLY, {"weekly:2026-11-16"}) == []


def test_weekly_next_week_waits_for_its_time() -> None:
    # Monday again, before 09:00: last week's digest is not offered anew.
    assert due_periods(at("2026-11-30 08:59"), MONDAY_WEEKLY, set()) == []
    assert keys(due_periods(at("2026-11-30 09:00"), MONDAY_WEEKLY, set())) == ["weekly:2026-11-23"]


def test_weekly_after_weeks_down_sends_only_the_latest() -> None:
    sent = {"weekly:2026-11-02"}
    assert keys(due_periods(at("2026-11-25 10:00"), MONDAY_WEEKLY, sent)) == ["weekly:2026-11-16"]


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-11-27 16:59", []),  # Friday, before its time
        ("2026-11-27 17:00", ["weekly:2026-11-20"]),
        ("2026-11-29 10:00", ["weekly:2026-11-20"]),  # Sunday
        ("2026-11-30 10:00", ["weekly:2026-11-20"]),  # Monday: still the week after Friday
        ("2026-12-03 23:59", ["weekly:2026-11-20"]),  # Thursday
        ("2026-12-04 16:59", []),  # the next Friday, before its time
    ],
)
def test_weekly_on_another_weekday(now: str, expected: list[str]) -> None:
    friday = Digests(weekly_at=time(17, 0), weekly_day=5)
    assert keys(due_periods(at(now), friday, set())) == expected


def test_weekly_on_sunday_stays_due_on_monday() -> None:
    sunday = Digests(weekly_at=time(18, 0), weekly_day=7)
    assert keys(due_periods(at("2026-11-29 18:00"), sunday, set())) == ["weekly:2026-11-22"]
    assert keys(due_periods(at("2026-11-30 10:00"), sunday, set())) == ["weekly:2026-11-22"]
    assert weekly_period(at("2026-11-22").date()).end == at("2026-11-29 00:00")


def test_daily_and_weekly_together() -> None:
    both = Digests(daily_at=time(8, 0), weekly_at=time(9, 0), weekly_day=1)
    assert keys(due_periods(at("2026-11-23 08:30"), both, set())) == ["daily:2026-11-22"]
    assert keys(due_periods(at("2026-11-23 09:00"), both, set())) == [
        "daily:2026-11-22",
        "weekly:2026-11-16",
    ]
    assert keys(due_periods(at("2026-11-23 09:00"), both, {"daily:2026-11-22"})) == [
        "weekly:2026-11-16"
    ]


@pytest.mark.parametrize("now", ["2026-11-23 00:00", "2026-11-23 09:00", "2026-11-27 23:59"])
def test_nothing_is_due_without_times(now: str) -> None:
    assert due_periods(at(now), Digests(), set()) == []
    assert due_periods(at(now), Digests(weekly_day=1, top_operators=3), set()) == []


# --- build_digests ---------------------------------------------------------------------------

_alert_ids = count(1)


def ours(
    sources: Sources,
    company: str | None,
    department: str | None,
    name: str,
    event_type: str,
    when: str,
) -> None:
    """A row as infotrack's recorder writes it: a type code and an operator id."""
    with sources.wechat.begin() as conn:
        conn.execute(
            insert(informationtra).values(
                tracompany=company,
                tradepartment=department,
                trauserName=name,
                userId="u-1",
                operationEvent="(ours)",
                operationTime=at(when),
                event_type=event_type,
                customer_source="wechat",
                operator_id=f"op-{name}",
            )
        )


def crm(
    sources: Sources,
    company: str | None,
    department: str | None,
    name: str | None,
    text: str | None,
    when: str,
) -> None:
    """A row as the CRM's own code writes it: the seed's columns only, no type, no operator id."""
    with sources.wechat.begin() as conn:
        conn.execute(
            insert(informationtra).values(
                tracompany=company,
                tradepartment=department,
                trauserName=name,
                userId="7",
                operationEvent=text,
                operationTime=at(when),
            )
        )


def alert(
    sources: Sources,
    company: str | None,
    department: str | None,
    rule: str,
    severity: str,
    status: str,
    when: str = "2026-11-20 10:00",
) -> None:
    """An alert of ``rule`` in ``status``, raised at ``when`` (long before the period on purpose:
    open alerts count whenever they were raised)."""
    with sources.wechat.begin() as conn:
        conn.execute(
            insert(Alert).values(
                rule=rule,
                kind="burst",
                severity=severity,
                source="trail",
                trigger_id=next(_alert_ids),
                operator_key="crm:x|y",
                company=company,
                department=department,
                window_start=at(when),
                window_end=at(when),
                count=50,
                threshold=40,
                sample_ids="[]",
                status=status,
                created_at=at(when),
            )
        )


def seed(sources: Sources) -> None:
    """Rows around the daily period 2026-11-27 for five departments, and assorted alerts."""
    a1 = (COMPANY_A, "销售一部")
    ours(sources, *a1, "张伟", "view_detail", "2026-11-27 09:00")
    crm(sources, *a1, "张伟", "查看客户详情", "2026-11-27 10:00")
    crm(sources, *a1, "张伟", "查看客户详情", "2026-11-27 00:00")  # the first instant counts
    crm(sources, *a1, "王强", "修改客户信息", "2026-11-27 23:59:59")
    crm(sources, *a1, "王强", "打了个电话 13800138000", "2026-11-27 12:00")
    ours(sources, *a1, "吴悦", "view_detail", "2026-11-27 14:00")
    ours(sources, *a1, "吴悦", "edit", "2026-11-27 15:00")
    ours(sources, *a1, "孙七", "follow_up", "2026-11-27 16:00")
    crm(sources, *a1, None, None, "2026-11-27 17:00")  # no name, no text
    # Just outside the day.
    crm(sources, *a1, "张伟", "查看客户详情", "2026-11-26 23:59:59")
    ours(sources, *a1, "张伟", "view_detail", "2026-11-28 00:00")

    crm(sources, COMPANY_A, "销售二部", "李四", "更新客户跟进", "2026-11-27 11:00")
    ours(sources, COMPANY_A, None, "钱军", "call", "2026-11-27 11:30")
    ours(sources, COMPANY_B, "销售一部", "张伟", "export", "2026-11-27 09:00")
    ours(sources, COMPANY_B, "销售一部", "张伟", "export", "2026-11-27 09:05")
    crm(sources, None, None, "路人", "查看客户详情", "2026-11-27 20:00")

    alert(sources, *a1, "burst", "high", "open")
    alert(sources, *a1, "burst", "high", "open")
    alert(sources, *a1, "off_hours", "low", "open")
    alert(sources, *a1, "burst", "high", "acknowledged")
    alert(sources, *a1, "many_customers", "medium", "resolved")
    alert(sources, *a1, "night", "medium", "open", when="2026-11-27 23:00")
    alert(sources, COMPANY_B, "信息部", "exports", "medium", "open")  # no events there
    alert(sources, COMPANY_C, "销售三部", "burst", "high", "acknowledged")  # nothing open


def notice(
    company: str | None,
    department: str | None,
    total: int,
    by_type: tuple[tuple[str, int], ...],
    operators: tuple[tuple[str, int], ...],
    alerts: tuple[tuple[str, str, int], ...] = (),
) -> DigestNotice:
    """The expected notice for the daily period 2026-11-27."""
    return DigestNotice(
        period="daily",
        company=company,
        department=department,
        start=at("2026-11-27 00:00"),
        end=at("2026-11-28 00:00"),
        total_events=total,
        by_type=by_type,
        top_operators=operators,
        open_alerts=alerts,
        zone="Asia/Shanghai",
        console_url=CONSOLE,
    )


def test_build_digests_per_department(sources: Sources, settings: Settings) -> None:
    seed(sources)
    notices = build_digests(
        sources.wechat,
        daily_period(at("2026-11-27").date()),
        zone=settings.zone,
        top_operators=3,
        console_url=CONSOLE,
    )
    assert notices == [
        notice(
            COMPANY_A,
            "销售一部",
            9,
            (("view_detail", 4), ("edit", 2), ("other", 2), ("follow_up", 1)),
            # 吴悦 and 王强 tie: by name; 孙七 is fourth; the unnamed row ranks no one.
            (("张伟", 3), ("吴悦", 2), ("王强", 2)),
            (("burst", "high", 2), ("night", "medium", 1), ("off_hours", "low", 1)),
        ),
        notice(COMPANY_A, "销售二部", 1, (("follow_up", 1),), (("李四", 1),)),
        notice(COMPANY_A, None, 1, (("call", 1),), (("钱军", 1),)),
        notice(COMPANY_B, "信息部", 0, (), (), (("exports", "medium", 1),)),
        notice(COMPANY_B, "销售一部", 2, (("export", 2),), (("张伟", 2),)),
        notice(None, None, 1, (("view_detail", 1),), (("路人", 1),)),
    ]


def test_build_digests_weekly_covers_seven_days(sources: Sources) -> None:
    seed(sources)
    period = weekly_period(at("2026-11-23").date())  # 11-23 .. 11-29: both edge rows inside
    notices = build_digests(
        sources.wechat, period, zone=ZoneInfo("UTC"), top_operators=1, console_url=None
    )
    first = notices[0]
    assert (first.company, first.department, first.period) == (COMPANY_A, "销售一部", "weekly")
    assert (first.start, first.end) == (at("2026-11-23 00:00"), at("2026-11-30 00:00"))
    assert first.total_events == 11
    assert first.by_type[0] == ("view_detail", 6)
    assert first.top_operators == (("张伟", 5),)
    assert (first.zone, first.console_url) == ("UTC", None)


def test_build_digests_without_events_or_open_alerts(sources: Sources, settings: Settings) -> None:
    seed(sources)
    with sources.wechat.begin() as conn:
        conn.execute(update(Alert).values(status="resolved"))
    period = daily_period(at("2026-10-01").date())
    assert (
        build_digests(sources.wechat, period, zone=settings.zone, top_operators=5, console_url=None)
        == []
    )

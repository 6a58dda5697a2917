"""Durations, times of day, weekdays and dates, as a rules file writes them.

``"30s"``, ``"10m"``, ``"1h"``, ``"1d"``, ``"1h30m"``; ``"09:00"``; ``1``..``7`` or ``"mon"``..
``"sun"``; ``"mon 09:00"``; ``2026-10-01`` or ``"2026-10-01"``. Each parser takes the value as
TOML gave it and raises ``ValueError`` with a Chinese message fit to show to whoever wrote it.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

# Units in a fixed order (d, h, m, s), each at most once; nine digits keep int() and timedelta
# far from their limits whatever a file says.
_DURATION = re.compile(r"(?:(\d{1,9})d)?(?:(\d{1,9})h)?(?:(\d{1,9})m)?(?:(\d{1,9})s)?")
_UNIT_SECONDS = (86_400, 3_600, 60, 1)
_CLOCK = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DAYS = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}


def parse_duration(value: object) -> timedelta:
    """The length ``value`` names, such as ``"1h30m"``."""
    if value == "0":  # "no cooldown" reads naturally without a unit
        return timedelta(0)
    match = _DURATION.fullmatch(value) if isinstance(value, str) and value else None
    if match is None:
        raise ValueError('应写成如 "30s"、"10m"、"1h"、"1d"、"1h30m" 的时长字符串')
    parts = zip(match.groups(), _UNIT_SECONDS, strict=True)
    try:
        return timedelta(seconds=sum(int(number) * unit for number, unit in parts if number))
    except OverflowError:
        raise ValueError("时长过长") from None


def parse_clock(value: object) -> time:
    """A local time of day written ``"HH:MM"`` (or a TOML local time without seconds)."""
    if isinstance(value, time) and not value.second and not value.microsecond:
        return value
    if isinstance(value, str) and (match := _CLOCK.fullmatch(value)):
        return time(int(match[1]), int(match[2]))
    raise ValueError('必须是 HH:MM 格式的时间,如 "09:00"')


def parse_weekday(value: object) -> int:
    """An ISO weekday (1 = Monday) written as a number or ``"mon"``..``"sun"``."""
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 7:
        return value
    if isinstance(value, str) and value.lower() in _DAYS:
        return _DAYS[value.lower()]
    raise ValueError(f"星期 {value} 无效:应为 1 到 7 的整数(1 为周一)或 mon 到 sun")


def parse_weekdays(value: object) -> frozenset[int]:
    """A non-empty list of weekdays."""
    if not isinstance(value, list) or not value:
        raise ValueError('必须是非空数组,如 [1, 2, 3, 4, 5] 或 ["mon", "tue"]')
    return frozenset(parse_weekday(item) for item in value)


def parse_weekly(value: object) -> tuple[int, time]:
    """A weekday and a time of day, written ``"mon 09:00"``."""
    day, _, clock = value.partition(" ") if isinstance(value, str) else ("", "", "")
    if day.lower() not in _DAYS or not _CLOCK.fullmatch(clock.strip()):
        raise ValueError('必须是星期加时间,如 "mon 09:00"')
    return _DAYS[day.lower()], parse_clock(clock.strip())


def parse_dates(value: object) -> frozenset[date]:
    """A list of TOML dates or ``"YYYY-MM-DD"`` strings."""
    if not isinstance(value, list):
        raise ValueError('必须是日期数组,如 [2026-10-01] 或 ["2026-10-01"]')
    days: set[date] = set()
    for item in value:
        # datetime is a date subclass, but a moment is not a day
        if isinstance(item, date) and not isinstance(item, datetime):
            days.add(item)
            continue
        try:
            if not (isinstance(item, str) and _DATE.fullmatch(item)):
                raise ValueError
            days.add(date.fromisoformat(item))
        except ValueError:
            raise ValueError(f'{item} 不是日期:应写成 2026-10-01 或 "2026-10-01"') from None
    return frozenset(days)

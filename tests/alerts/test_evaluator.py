"""Evaluator: windows, thresholds, cooldowns, late events and bounded memory, in event time."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta

import pytest

from infotrack.alerts.evaluator import Evaluator
from infotrack.alerts.types import (
    Digests,
    Event,
    Firing,
    Operator,
    Rule,
    RuleKind,
    RuleSet,
    WorkingHours,
)

MONDAY = datetime(2026, 3, 2)  # a Monday
AT = MONDAY.replace(hour=10)  # inside the working hours below
SUNDAY = datetime(2026, 3, 8, 10)  # a day off: every event is off hours
HOURS = WorkingHours(start=time(9), end=time(18), weekdays=frozenset({1, 2, 3, 4, 5}))
MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)


def operator(key: str = "op-1") -> Operator:
    """An operator whose every field derives from its key."""
    return Operator(
        key=key, operator_id=key, name=f"name {key}", company="acme", department="sales", role="s"
    )


def trail(
    at: datetime,
    n: int = 0,
    *,
    who: str = "op-1",
    kind: str | None = "view_detail",
    customer: str | None = "wechat:1",
    rows: int = 1,
) -> Event:
    """A trail event with id ``n``."""
    return Event(
        source="trail",
        id=n,
        at=at,
        operator=operator(who),
        event_type=kind,
        customer=customer,
        rows=rows,
    )


def export(at: datetime, n: int = 0, *, who: str = "op-1", rows: int = 1) -> Event:
    """An access-log export of ``rows`` rows with id ``n``."""
    return Event(source="access", id=n, at=at, operator=operator(who), event_type=None, rows=rows)


def rule(
    kind: RuleKind,
    threshold: int,
    window: timedelta,
    *,
    cooldown: timedelta = timedelta(minutes=30),
    types: Iterable[str] | None = None,
    name: str | None = None,
) -> Rule:
    """A rule named after its kind unless told otherwise."""
    return Rule(
        name=name or kind,
        kind=kind,
        threshold=threshold,
        window=window,
        severity="medium",
        cooldown=cooldown,
        event_types=None if types is None else frozenset(types),
    )


def evaluator(*rules: Rule, hours: WorkingHours = HOURS, max_entries: int = 100_000) -> Evaluator:
    """An evaluator over ``rules``."""
    ruleset = RuleSet(
        rules=rules, channels={}, working_hours=hours, digests=Digests(), source="test"
    )
    return Evaluator(ruleset, max_entries_per_key=max_entries)


def feed_all(ev: Evaluator, events: Iterable[Event], *, fire: bool = True) -> list[Firing]:
    """Every firing of ``events`` fed in order."""
    return [firing for event in events for firing in ev.feed(event, fire=fire)]


# Per kind, a base time and a maker of the n-th event the kind counts: a new customer each
# time, one exported row, off hours from the Sunday base.
MAKERS: dict[str, tuple[datetime, Callable[[datetime, int], Event]]] = {
    "burst": (AT, lambda at, n: trail(at, n)),
    "distinct_customers": (AT, lambda at, n: trail(at, n, customer=f"wechat:{n}")),
    "off_hours": (SUNDAY, lambda at, n: trail(at, n)),
    "export_volume": (AT, lambda at, n: export(at, n)),
}
KINDS: list[RuleKind] = ["burst", "distinct_customers", "off_hours", "export_volume"]


# --- thresholds and windows --------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_fires_only_above_its_threshold(kind: RuleKind) -> None:
    base, make = MAKERS[kind]
    ev = evaluator(rule(kind, 5, timedelta(hours=1)))
    assert feed_all(ev, [make(base + n * MINUTE, n) for n in range(5)]) == []
    trigger = make(base + 5 * MINUTE, 5)
    (firing,) = ev.feed(trigger)
    assert firing.rule.kind == kind
    assert firing.count == 6
    assert firing.trigger is trigger
    assert firing.operator == operator()
    assert (firing.window_start, firing.window_end) == (base, base + 5 * MINUTE)
    assert firing.sample_ids == (0, 1, 2, 3, 4, 5)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("gap", "fires"),
    [
        (timedelta(minutes=10), False),  # exactly one window earlier: outside
        (timedelta(minutes=10) - SECOND, True),
        (timedelta(minutes=10) - timedelta(microseconds=1), True),
    ],
)
def test_window_holds_events_less_than_one_window_earlier(
    kind: RuleKind, gap: timedelta, fires: bool
) -> None:
    base, make = MAKERS[kind]
    ev = evaluator(rule(kind, 1, timedelta(minutes=10)))
    assert ev.feed(make(base, 0)) == []
    firings = ev.feed(make(base + gap, 1))
    assert [f.count for f in firings] == ([2] if fires else [])


def test_a_firing_reports_its_window() -> None:
    ev = evaluator(rule("burst", 2, timedelta(minutes=10)))
    # The first event has left the window by the time the threshold is crossed.
    assert feed_all(ev, [trail(AT, 1), trail(AT + 5 * MINUTE, 2), trail(AT + 12 * MINUTE, 3)]) == []
    (firing,) = ev.feed(trail(AT + 13 * MINUTE, 4))
    assert firing.window_start == AT + 5 * MINUTE
    assert firing.window_end == AT + 13 * MINUTE
    assert firing.count == 3
    assert firing.sample_ids == (2, 3, 4)


def test_sample_ids_are_the_latest_twenty_in_time_order() -> None:
    ev = evaluator(rule("burst", 24, timedelta(hours=1)))
    firings = feed_all(ev, [trail(AT + n * SECOND, n) for n in range(1, 26)])
    (firing,) = firings
    assert firing.count == 25
    assert firing.window_start == AT + SECOND  # the window still starts at the first event
    assert firing.sample_ids == tuple(range(6, 26))


def test_events_at_the_same_instant_all_count() -> None:
    ev = evaluator(rule("burst", 2, timedelta(minutes=10)))
    firings = feed_all(ev, [trail(AT, n) for n in range(3)])
    assert [(f.count, f.sample_ids) for f in firings] == [(3, (0, 1, 2))]


# --- cooldown ------------------------------------------------------------------------------


def test_cooldown_suppresses_until_its_end_then_fires_again() -> None:
    ev = evaluator(rule("burst", 1, timedelta(hours=1), cooldown=timedelta(minutes=10)))
    assert ev.feed(trail(AT, 1)) == []
    (first,) = ev.feed(trail(AT + SECOND, 2))
    end = first.window_end + timedelta(minutes=10)
    assert ev.feed(trail(end - timedelta(microseconds=1), 3)) == []
    (second,) = ev.feed(trail(end, 4))
    assert second.window_end == end
    assert second.count == 4


def test_zero_cooldown_fires_on_every_event_while_over() -> None:
    ev = evaluator(rule("burst", 1, timedelta(hours=1), cooldown=timedelta(0)))
    firings = feed_all(ev, [trail(AT, 1), trail(AT + SECOND, 2), trail(AT + SECOND, 3)])
    assert [f.trigger.id for f in firings] == [2, 3]


def test_cooldown_is_per_operator_and_per_rule() -> None:
    ev = evaluator(
        rule("burst", 1, timedelta(hours=1), name="views"),
        rule("burst", 1, timedelta(hours=1), name="views-too"),
    )
    firings = feed_all(
        ev,
        [
            trail(AT, 1),
            trail(AT + SECOND, 2),  # both rules fire for op-1
            trail(AT + 2 * SECOND, 3),  # both cooling down for op-1
            trail(AT + 3 * SECOND, 4, who="op-2"),
            trail(AT + 4 * SECOND, 5, who="op-2"),  # op-2 is not cooling down
        ],
    )
    assert [(f.rule.name, f.operator.key, f.trigger.id) for f in firings] == [
        ("views", "op-1", 2),
        ("views-too", "op-1", 2),
        ("views", "op-2", 5),
        ("views-too", "op-2", 5),
    ]


def test_restore_cooldown_suppresses_until_then() -> None:
    ev = evaluator(rule("burst", 1, timedelta(hours=1), cooldown=timedelta(minutes=10)))
    until = AT + 5 * MINUTE
    ev.restore_cooldown("burst", "op-1", until)
    ev.restore_cooldown("burst", "op-1", AT)  # an older alert does not shorten it
    ev.restore_cooldown("gone", "op-1", AT)  # a rule no longer configured is ignored
    assert feed_all(ev, [trail(AT, 1), trail(AT + SECOND, 2), trail(until - SECOND, 3)]) == []
    (firing,) = ev.feed(trail(until, 4))
    assert firing.count == 4
    assert feed_all(ev, [trail(until, 5, who="op-2"), trail(until, 6, who="op-2")]) != []


# --- kinds ----------------------------------------------------------------------------------


def test_distinct_customers_counts_each_customer_once() -> None:
    ev = evaluator(rule("distinct_customers", 2, timedelta(hours=1)))
    repeats = [trail(AT + n * SECOND, n, customer="wechat:a") for n in range(10)]
    anonymous = [trail(AT + 20 * SECOND, 20 + n, customer=None) for n in range(5)]
    assert feed_all(ev, [*repeats, *anonymous, trail(AT + 30 * SECOND, 30, customer="b")]) == []
    (firing,) = ev.feed(trail(AT + 40 * SECOND, 40, customer="c"))
    assert firing.count == 3
    # Events without a customer do not count, nor show among the samples.
    assert firing.sample_ids == (*range(10), 30, 40)


def test_distinct_customers_forgets_customers_that_left_the_window() -> None:
    ev = evaluator(rule("distinct_customers", 2, timedelta(hours=1)))
    events = [
        trail(AT, 1, customer="a"),
        trail(AT + 5 * MINUTE, 2, customer="b"),
        trail(AT + 30 * MINUTE, 3, customer="a"),
        # Both early events left: "b" is gone, "a" stays by its second event.
        trail(AT + 66 * MINUTE, 4, customer="c"),
    ]
    assert feed_all(ev, events) == []
    (firing,) = ev.feed(trail(AT + 70 * MINUTE, 5, customer="d"))
    assert firing.count == 3
    assert firing.sample_ids == (3, 4, 5)


def test_off_hours_counts_only_events_outside_working_hours() -> None:
    ev = evaluator(rule("off_hours", 0, timedelta(hours=1), cooldown=timedelta(0)))
    events = [
        trail(MONDAY.replace(hour=8, minute=59, second=59), 1),
        trail(MONDAY.replace(hour=9), 2),  # the first working moment
        trail(MONDAY.replace(hour=17, minute=59, second=59), 3),
        trail(MONDAY.replace(hour=18), 4),  # the end is not working time any more
        trail(SUNDAY, 5),
    ]
    assert [f.trigger.id for f in feed_all(ev, events)] == [1, 4, 5]


def test_off_hours_fires_on_the_first_event_at_threshold_zero() -> None:
    ev = evaluator(rule("off_hours", 0, timedelta(hours=1)))
    assert feed_all(ev, [trail(AT + n * MINUTE, n) for n in range(50)]) == []  # working
    (firing,) = ev.feed(trail(AT.replace(hour=22), 99))
    assert (firing.count, firing.sample_ids) == (1, (99,))


def test_off_hours_honours_holidays_and_make_up_workdays() -> None:
    holiday = MONDAY.date()
    saturday = date(2026, 3, 7)
    hours = WorkingHours(
        start=time(9),
        end=time(18),
        weekdays=frozenset({1, 2, 3, 4, 5}),
        holidays=frozenset({holiday}),
        workdays=frozenset({saturday}),
    )
    ev = evaluator(rule("off_hours", 0, timedelta(hours=1), cooldown=timedelta(0)), hours=hours)
    events = [
        trail(datetime.combine(holiday, time(10)), 1),  # a weekday, but a holiday
        trail(datetime(2026, 3, 3, 10), 2),  # the Tuesday after: working
        trail(datetime.combine(saturday, time(10)), 3),  # a make-up workday
        trail(datetime.combine(saturday, time(20)), 4),  # ... but only in working hours
        trail(datetime(2026, 3, 8, 10), 5),  # Sunday
    ]
    assert [f.trigger.id for f in feed_all(ev, events)] == [1, 4, 5]


def test_off_hours_with_an_overnight_shift() -> None:
    hours = WorkingHours(start=time(22), end=time(6), weekdays=frozenset({1, 2, 3, 4, 5}))
    ev = evaluator(rule("off_hours", 0, timedelta(hours=1), cooldown=timedelta(0)), hours=hours)
    events = [
        trail(MONDAY.replace(hour=12), 1),  # midday: off for a night worker
        trail(MONDAY.replace(hour=22), 2),  # the shift starts
        trail(MONDAY.replace(hour=23, minute=30), 3),
        trail(datetime(2026, 3, 3, 3), 4),  # after midnight, still the shift
        trail(datetime(2026, 3, 3, 6), 5),  # the shift is over
        trail(datetime(2026, 3, 7, 3), 6),  # Saturday is not a working day
    ]
    assert [f.trigger.id for f in feed_all(ev, events)] == [1, 5, 6]


@pytest.mark.parametrize(
    "hours",
    [
        HOURS,
        WorkingHours(start=time(22, 30), end=time(6, 15), weekdays=frozenset({1, 2, 3, 4, 5})),
        WorkingHours(
            start=time(8, 0, 0, 500),
            end=time(17, 45),
            weekdays=frozenset({1, 2, 3, 4, 5}),
            holidays=frozenset({date(2026, 3, 4)}),
            workdays=frozenset({date(2026, 3, 7)}),
        ),
    ],
    ids=["day", "night", "holiday-and-workday"],
)
def test_off_hours_agrees_with_working_hours_at_every_mark(hours: WorkingHours) -> None:
    # The evaluator remembers answers for stretches of the day; around every boundary, and
    # every seven minutes in between, it must agree with is_working_time().
    moments: set[datetime] = set()
    for day in range(10):
        midnight = MONDAY + timedelta(days=day)
        for mark in (time(0), hours.start, hours.end):
            at = datetime.combine(midnight.date(), mark)
            moments.update(at + timedelta(microseconds=d) for d in (-1, 0, 1))
        moments.update(midnight + timedelta(minutes=7 * n) for n in range(206))
    ordered = sorted(moments)
    ev = evaluator(rule("off_hours", 0, timedelta(hours=1), cooldown=timedelta(0)), hours=hours)
    fired = {f.trigger.id for f in feed_all(ev, [trail(at, n) for n, at in enumerate(ordered)])}
    expected = {n for n, at in enumerate(ordered) if not hours.is_working_time(at)}
    assert fired == expected


def test_export_volume_sums_rows_of_exports_only() -> None:
    ev = evaluator(rule("export_volume", 2000, timedelta(days=1)))
    assert ev.feed(trail(AT, 1, rows=5000)) == []  # trail events are not exports
    assert feed_all(ev, [export(AT, 2, rows=1500), export(AT + MINUTE, 3, rows=500)]) == []
    (firing,) = ev.feed(export(AT + 2 * MINUTE, 4, rows=1))
    assert (firing.count, firing.sample_ids) == (2001, (2, 3, 4))


def test_trail_rules_ignore_exports() -> None:
    ev = evaluator(
        rule("burst", 0, timedelta(hours=1)),
        rule("distinct_customers", 0, timedelta(hours=1)),
        rule("off_hours", 0, timedelta(hours=1)),
    )
    assert ev.feed(export(SUNDAY, 1, rows=10_000)) == []
    assert ev.key_count() == 0


def test_event_types_filter_what_a_rule_counts() -> None:
    ev = evaluator(rule("burst", 2, timedelta(hours=1), types={"view_detail", "other"}))
    ignored = [trail(AT + n * SECOND, n, kind="edit_customer") for n in range(10)]
    assert feed_all(ev, ignored) == []
    assert ev.key_count() == 0
    counted = [
        trail(AT + MINUTE, 11),
        trail(AT + MINUTE, 12, kind=None),  # no type counts as "other"
        trail(AT + MINUTE, 13, kind="other"),
    ]
    (firing,) = feed_all(ev, counted)
    assert (firing.count, firing.sample_ids) == (3, (11, 12, 13))


# --- late events -----------------------------------------------------------------------------


def test_a_late_event_filling_a_window_fires_once() -> None:
    ev = evaluator(rule("burst", 3, timedelta(minutes=10)))
    assert feed_all(ev, [trail(AT, 1), trail(AT + MINUTE, 2), trail(AT + 3 * MINUTE, 3)]) == []
    late = trail(AT + 2 * MINUTE, 4)
    (firing,) = ev.feed(late)
    # The window ending at the late event holds 3; the one ending at the next event holds 4.
    assert firing.trigger is late
    assert (firing.window_start, firing.window_end) == (AT, AT + 3 * MINUTE)
    assert firing.count == 4
    assert firing.sample_ids == (1, 2, 4, 3)  # in time order, not id order
    # Further late and in-order events of the same burst are cooling down.
    assert ev.feed(trail(AT + 150 * SECOND, 5)) == []
    assert ev.feed(trail(AT + 4 * MINUTE, 6)) == []


def test_a_late_event_fires_for_the_earliest_window_only() -> None:
    ev = evaluator(rule("burst", 2, timedelta(minutes=5), cooldown=timedelta(0)))
    assert feed_all(ev, [trail(AT, 1), trail(AT + 3 * MINUTE, 2), trail(AT + 6 * MINUTE, 3)]) == []
    # Windows ending at 4 min ({0, 3, 4}) and at 6 min ({3, 4, 6}) both exceed now.
    (firing,) = ev.feed(trail(AT + 4 * MINUTE, 4))
    assert (firing.window_start, firing.window_end, firing.count) == (AT, AT + 4 * MINUTE, 3)


def test_a_late_event_skips_windows_cooling_down() -> None:
    ev = evaluator(rule("burst", 2, timedelta(minutes=5), cooldown=timedelta(0)))
    ev.restore_cooldown("burst", "op-1", AT + 5 * MINUTE)
    assert feed_all(ev, [trail(AT, 1), trail(AT + 3 * MINUTE, 2), trail(AT + 6 * MINUTE, 3)]) == []
    (firing,) = ev.feed(trail(AT + 4 * MINUTE, 4))
    assert (firing.window_end, firing.count) == (AT + 6 * MINUTE, 3)


def test_a_late_event_counts_only_in_windows_holding_it() -> None:
    ev = evaluator(rule("burst", 2, timedelta(minutes=10)))
    feed_all(ev, [trail(AT + 10 * MINUTE, 1), trail(AT + 11 * MINUTE, 2)])
    # Exactly one window before the first held event: the only window holding it ends at it.
    assert ev.feed(trail(AT, 3)) == []
    (firing,) = ev.feed(trail(AT + 5 * MINUTE, 4))
    assert (firing.window_start, firing.window_end, firing.count) == (
        AT + 5 * MINUTE,
        AT + 11 * MINUTE,
        3,
    )
    assert firing.sample_ids == (4, 1, 2)


@pytest.mark.parametrize("kind", KINDS)
def test_a_late_event_one_window_before_the_newest_stays_out_of_its_window(
    kind: RuleKind,
) -> None:
    base, make = MAKERS[kind]
    ev = evaluator(rule(kind, 2, timedelta(minutes=10)))
    assert ev.feed(make(base + 10 * MINUTE, 1)) == []
    assert ev.feed(make(base, 2)) == []
    assert ev.feed(make(base + 10 * MINUTE, 3)) == []  # the window holds 1 and 3 only
    (firing,) = ev.feed(make(base + 10 * MINUTE, 4))
    assert (firing.count, firing.sample_ids) == (3, (1, 3, 4))


def test_late_events_for_distinct_customers_and_export_volume() -> None:
    ev = evaluator(
        rule("distinct_customers", 2, timedelta(minutes=10)),
        rule("export_volume", 100, timedelta(minutes=10)),
    )
    early = [
        trail(AT, 1, customer="a"),
        trail(AT + 2 * MINUTE, 2, customer="b"),
        trail(AT + 4 * MINUTE, 3, customer="b"),
        export(AT, 11, rows=60),
        export(AT + 4 * MINUTE, 12, rows=40),
    ]
    assert feed_all(ev, early) == []
    assert ev.feed(trail(AT + MINUTE, 4, customer="a")) == []  # a repeat adds nobody
    (customers,) = ev.feed(trail(AT + MINUTE, 5, customer="c"))
    assert (customers.count, customers.window_end, customers.sample_ids) == (
        3,
        AT + 2 * MINUTE,
        (1, 4, 5, 2),
    )
    (rows,) = ev.feed(export(AT + MINUTE, 13, rows=1))
    assert (rows.count, rows.window_end, rows.sample_ids) == (101, AT + 4 * MINUTE, (11, 13, 12))


# The oracle: every rule judged from scratch over all counted events seen so far, straight
# from the rules' definition (no trimming: the streams are late by one window at most).


def _counts(rule: Rule, event: Event, hours: WorkingHours) -> bool:
    source = "access" if rule.kind == "export_volume" else "trail"
    if event.source != source or not rule.applies_to(event.event_type):
        return False
    if rule.kind == "distinct_customers" and event.customer is None:
        return False
    return not (rule.kind == "off_hours" and hours.is_working_time(event.at))


def _measure(rule: Rule, events: list[Event]) -> int:
    if rule.kind == "distinct_customers":
        return len({event.customer for event in events})
    if rule.kind == "export_volume":
        return sum(event.rows for event in events)
    return len(events)


def _oracle(
    rules: tuple[Rule, ...], events: list[Event], hours: WorkingHours
) -> list[tuple[str, str, int, datetime, datetime, int, tuple[int, ...]]]:
    held: dict[tuple[str, str], list[Event]] = {}
    until: dict[tuple[str, str], datetime] = {}
    out = []
    for event in events:
        for r in rules:
            if not _counts(r, event, hours):
                continue
            key = (r.name, event.operator.key)
            seen = held.setdefault(key, [])
            newest = max((e.at for e in seen), default=None)
            seen.append(event)
            if newest is None or event.at >= newest:
                ends = [event.at]
            else:
                ends = sorted({e.at for e in seen if event.at <= e.at < event.at + r.window})
            for end in ends:
                # sorted() is stable: events at one instant stay in the order they came.
                inside = sorted((e for e in seen if end - r.window < e.at <= end), key=_at)
                count = _measure(r, inside)
                if count > r.threshold and (key not in until or end >= until[key]):
                    until[key] = end + r.cooldown
                    sample = tuple(e.id for e in inside[-20:])
                    out.append((*key, event.id, inside[0].at, end, count, sample))
                    break
    return out


def _at(event: Event) -> datetime:
    return event.at


WINDOW = timedelta(minutes=7)


@pytest.mark.parametrize("seed", range(6))
def test_matches_the_definition_on_streams_with_late_events(seed: int) -> None:
    rnd = random.Random(seed)
    hours = WorkingHours(start=time(10, 30), end=time(11, 30), weekdays=frozenset({1, 2, 3}))
    cooldown = timedelta(seconds=rnd.choice([0, 90, 600]))
    rules = (
        rule("burst", 4, WINDOW, cooldown=cooldown, types={"view_detail", "other"}),
        rule("distinct_customers", 3, WINDOW, cooldown=cooldown),
        rule("off_hours", 2, WINDOW, cooldown=cooldown),
        rule("export_volume", 60, WINDOW, cooldown=cooldown),
    )
    events = []
    clock = AT
    for n in range(700):
        clock += timedelta(seconds=rnd.choice([0, 0, 1, 5, 20, 60, 120]))
        # Up to one window late: an event that late still finds all its windows' events.
        late = rnd.choice([SECOND, 30 * SECOND, 2 * MINUTE, WINDOW - SECOND, WINDOW])
        at = clock - late if rnd.random() < 0.2 else clock
        who = rnd.choice(["a", "b"])
        if rnd.random() < 0.2:
            events.append(export(at, n, who=who, rows=rnd.randint(0, 40)))
        else:
            kind = rnd.choice(["view_detail", "view_detail", "edit", None])
            customer = rnd.choice([None, "c1", "c2", "c3", "c4", "c5", "c6"])
            events.append(trail(at, n, who=who, kind=kind, customer=customer))
    ev = evaluator(*rules, hours=hours)
    got = [
        (
            f.rule.name,
            f.operator.key,
            f.trigger.id,
            f.window_start,
            f.window_end,
            f.count,
            f.sample_ids,
        )
        for f in feed_all(ev, events)
    ]
    expected = _oracle(rules, events, hours)
    assert len(expected) > 20  # the stream does exercise the rules
    assert got == expected


# --- warm-up, memory, expiry ----------------------------------------------------------------


def test_warm_up_fills_windows_without_firing() -> None:
    ev = evaluator(rule("burst", 3, timedelta(hours=1), cooldown=timedelta(hours=1)))
    warm = [trail(AT + n * SECOND, n) for n in range(10)]
    assert feed_all(ev, warm, fire=False) == []
    assert ev.state_size() == 10
    # Late events during a warm-up do not fire either.
    assert ev.feed(trail(AT + 5500 * timedelta(milliseconds=1), 99), fire=False) == []
    # Nor did the warm-up start a cooldown: the first live event fires at once.
    (firing,) = ev.feed(trail(AT + MINUTE, 10))
    assert firing.count == 12


def test_memory_stays_bounded_over_many_hours() -> None:
    # 200 000 events over five and a half hours of event time.
    operators = 500
    step = timedelta(milliseconds=100)  # so each operator acts every 50 s
    rules = (
        rule("burst", 1000, timedelta(minutes=10)),
        rule("distinct_customers", 1000, timedelta(hours=1)),
        rule("off_hours", 1000, timedelta(hours=1)),
    )
    no_work = WorkingHours(start=time(9), end=time(18), weekdays=frozenset())  # all off hours
    ev = evaluator(*rules, hours=no_work)
    # A key holds the events of the last two windows, both ends included: 2W / 50 s + 1.
    per_operator = sum(2 * r.window // timedelta(seconds=50) + 1 for r in rules)
    bound = operators * per_operator
    peak = 0
    for n in range(200_000):
        ev.feed(trail(AT + n * step, n, who=f"op-{n % operators}", customer=f"c{n % 977}"))
        if n % 5000 == 0:
            peak = max(peak, ev.state_size())
    assert peak <= bound
    assert ev.state_size() == bound  # the steady state is exactly the derived bound
    assert ev.key_count() == operators * len(rules)


def test_entries_per_key_are_capped() -> None:
    ev = evaluator(rule("burst", 30, timedelta(hours=1), cooldown=timedelta(0)), max_entries=50)
    firings = feed_all(ev, [trail(AT + n * SECOND, n) for n in range(1000)])
    assert ev.state_size() == 50
    # Past the cap the oldest entries go first, so the window counts no more than the cap.
    assert [f.count for f in firings[:3]] == [31, 32, 33]
    assert {f.count for f in firings[20:]} == {50}
    assert firings[-1].sample_ids == tuple(range(980, 1000))
    assert firings[-1].window_start == AT + 950 * SECOND


def test_expire_drops_idle_operators_and_spent_cooldowns() -> None:
    window = timedelta(hours=1)
    ev = evaluator(rule("burst", 1, window, cooldown=timedelta(hours=1)))
    feed_all(ev, [trail(AT, 1, who="idle"), trail(AT + SECOND, 2, who="idle")])
    busy_at = AT + 2 * window
    feed_all(ev, [trail(busy_at, 3, who="busy"), trail(busy_at + SECOND, 4, who="busy")])
    assert ev.key_count() == 2
    ev.expire(AT + SECOND + 2 * window)  # "idle" is exactly two windows old: kept
    assert ev.key_count() == 2
    ev.expire(AT + 2 * SECOND + 2 * window)
    assert ev.key_count() == 1
    assert ev.state_size() == 2
    # The busy operator's cooldown (to busy_at + 1 s + 1 h) survives an expire before its end:
    # another event of the burst does not fire ...
    ev.expire(busy_at + window)
    assert ev.feed(trail(busy_at + SECOND, 5, who="busy")) == []
    # ... and is forgotten after it, so the next one does.
    ev.expire(busy_at + 2 * SECOND + window)
    (firing,) = ev.feed(trail(busy_at + SECOND, 6, who="busy"))
    assert firing.count == 4


def test_an_idle_operator_starts_afresh() -> None:
    ev = evaluator(rule("burst", 1, timedelta(minutes=10)))
    feed_all(ev, [trail(AT, 1)])
    ev.expire(AT + timedelta(hours=1))
    assert (ev.key_count(), ev.state_size()) == (0, 0)
    assert ev.feed(trail(AT + timedelta(hours=1), 2)) == []


def test_same_stream_same_firings() -> None:
    def run() -> list[Firing]:
        ev = evaluator(rule("burst", 2, timedelta(minutes=5), cooldown=timedelta(0)))
        times = [0, 60, 30, 120, 90, 400, 10, 200]
        return feed_all(ev, [trail(AT + s * SECOND, n) for n, s in enumerate(times)])

    assert run() == run()
    assert run() != []


@pytest.mark.parametrize(
    ("rules", "max_entries"),
    [
        ((rule("burst", 1, MINUTE), rule("off_hours", 1, MINUTE, name="burst")), 10),
        ((rule("burst", 1, timedelta(0)),), 10),
        ((rule("burst", 1, MINUTE),), 0),
    ],
    ids=["duplicate-name", "empty-window", "no-entries"],
)
def test_refuses_a_configuration_it_cannot_honour(
    rules: tuple[Rule, ...], max_entries: int
) -> None:
    with pytest.raises(ValueError, match="name|window|entries"):
        evaluator(*rules, max_entries=max_entries)

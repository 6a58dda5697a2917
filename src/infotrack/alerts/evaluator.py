"""Evaluate alert rules over a stream of events: in memory, in event time, no database.

An :class:`Evaluator` keeps, per (rule, operator), the events the rule counts from the last two
windows, oldest first, with the measure of the window ending at the newest of them kept up to
date as events enter and leave it. Events nearly always arrive in time order (the worker reads
rows by id), and then one event costs a few list appends and index moves per rule. An event
older than ones already seen (rows commit out of id order) is inserted in its place and every
window holding it is measured again, which costs time in proportion to those windows.

Window semantics: the window of length W ending at time e holds the events with
``e - W < at <= e``. A rule fires when the window ending at an event it counts exceeds the
threshold and the (rule, operator) is not cooling down; after a firing whose window ends at T,
windows ending before ``T + cooldown`` do not fire. Events a rule does not count (other types,
other sources, working-hours events for ``off_hours``, no customer for ``distinct_customers``)
leave it untouched, and windows are only judged at events the rule counts.

Times are held as integer microseconds since 1970 (naive local time): exact at the window edges,
and cheaper to compare than datetimes.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from datetime import datetime, time, timedelta
from typing import Any, Generic, TypeVar

from infotrack.alerts.types import Event, Firing, Rule, RuleSet, WorkingHours

__all__ = ["Evaluator"]

_EPOCH = datetime(1970, 1, 1)
_DAY = 86_400_000_000  # microseconds
_SAMPLE_SIZE = 20  # ids a firing carries
# Dropped entries stay at the head of the lists (so dropping one is O(1)) until there are this
# many and they are at least half of the lists; compacting then keeps the cost amortised O(1).
_COMPACT_AFTER = 32
# Rule.applies_to is memoised per event type; a bound keeps odd data from growing the memo.
_MEMO_LIMIT = 1024

_TRAIL_KINDS = frozenset({"burst", "distinct_customers", "off_hours"})


def _micros(at: datetime) -> int:
    """``at`` as whole microseconds since 1970-01-01, both naive local."""
    delta = at - _EPOCH
    return delta.days * 86_400_000_000 + delta.seconds * 1_000_000 + delta.microseconds


def _span(delta: timedelta) -> int:
    """``delta`` in whole microseconds."""
    return delta.days * 86_400_000_000 + delta.seconds * 1_000_000 + delta.microseconds


def _time_of_day(clock: time) -> int:
    """Microseconds from midnight to ``clock``."""
    return ((clock.hour * 60 + clock.minute) * 60 + clock.second) * 1_000_000 + clock.microsecond


def _datetime(micros: int) -> datetime:
    """The naive local datetime of ``micros`` (the inverse of :func:`_micros`)."""
    return _EPOCH + timedelta(microseconds=micros)


class _Series:
    """One (rule, operator)'s counted events, oldest first: parallel lists of time and id."""

    __slots__ = ("times", "ids", "lo", "wlo")

    def __init__(self) -> None:
        self.times: list[int] = []
        self.ids: list[int] = []
        self.lo = 0  # entries before this one are dropped, awaiting compaction
        self.wlo = 0  # the first entry of the window ending at the newest entry


class _SumSeries(_Series):
    """A series whose entries weigh their exported rows."""

    __slots__ = ("rows", "total")

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[int] = []
        self.total = 0  # rows in the newest window


class _DistinctSeries(_Series):
    """A series whose entries name a customer."""

    __slots__ = ("customers", "counts")

    def __init__(self) -> None:
        super().__init__()
        self.customers: list[str] = []
        self.counts: dict[str, int] = {}  # entries per customer in the newest window


class _Measure:
    """A window's measure as entries enter and leave it: here, the number of entries."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def add(self, index: int) -> None:
        """Count the entry at ``index``."""
        self.value += 1

    def remove(self, index: int) -> None:
        """Stop counting the entry at ``index``."""
        self.value -= 1


class _RowsMeasure(_Measure):
    """The rows of the entries in a window."""

    __slots__ = ("rows",)

    def __init__(self, rows: list[int]) -> None:
        super().__init__()
        self.rows = rows

    def add(self, index: int) -> None:
        """Count the entry's rows."""
        self.value += self.rows[index]

    def remove(self, index: int) -> None:
        """Stop counting the entry's rows."""
        self.value -= self.rows[index]


class _CustomersMeasure(_Measure):
    """The distinct customers of the entries in a window."""

    __slots__ = ("customers", "counts")

    def __init__(self, customers: list[str]) -> None:
        super().__init__()
        self.customers = customers
        self.counts: dict[str, int] = {}

    def add(self, index: int) -> None:
        """Count the entry's customer, once however many entries name it."""
        customer = self.customers[index]
        seen = self.counts.get(customer, 0)
        self.counts[customer] = seen + 1
        if not seen:
            self.value += 1

    def remove(self, index: int) -> None:
        """Forget one entry of the customer; the customer leaves with its last entry."""
        customer = self.customers[index]
        left = self.counts[customer] - 1
        if left:
            self.counts[customer] = left
        else:
            del self.counts[customer]
            self.value -= 1


S = TypeVar("S", bound=_Series)


class _Tracker(Generic[S]):
    """One rule's state over all operators.

    Subclasses give the in-order path (``feed``, kept inline for speed) and the few hooks the
    shared slow paths need; the base class handles late events, trimming and firing.
    """

    __slots__ = (
        "rule",
        "window",
        "horizon",
        "threshold",
        "cooldown",
        "max_entries",
        "series",
        "cooling",
        "_applies",
    )

    def __init__(self, rule: Rule, max_entries: int) -> None:
        self.rule = rule
        self.window = _span(rule.window)
        # Two windows are held so that an event up to one window late still finds every
        # event of every window it belongs to.
        self.horizon = 2 * self.window
        self.threshold = rule.threshold
        self.cooldown = _span(rule.cooldown)
        self.max_entries = max_entries
        self.series: dict[str, S] = {}
        self.cooling: dict[str, int] = {}  # operator key -> earliest window end that may fire
        self._applies: dict[str | None, bool] = {}

    def feed(self, event: Event, t: int, fire: bool) -> Firing | None:
        """Take ``event`` (at ``t`` microseconds) and return the firing it causes, if any."""
        raise NotImplementedError

    def _learn(self, event_type: str | None) -> bool:
        """Whether the rule counts ``event_type``, remembered for the next event."""
        applies = self.rule.applies_to(event_type)
        if len(self._applies) < _MEMO_LIMIT:
            self._applies[event_type] = applies
        return applies

    # Hooks for the slow paths.

    def _insert_value(self, series: S, index: int, event: Event) -> None:
        """Insert the event's kind-specific value at ``index``."""

    def _enter(self, series: S, index: int) -> None:
        """Add the entry at ``index`` to the newest window's measure."""

    def _leave(self, series: S, index: int) -> None:
        """Remove the entry at ``index`` from the newest window's measure."""

    def _drop_values(self, series: S, count: int) -> None:
        """Delete the first ``count`` kind-specific values."""

    def _measure(self, series: S) -> _Measure:
        """An empty measure over ``series``' entries."""
        return _Measure()

    # Shared paths.

    def _retain(self, series: S, newest: int) -> None:
        """Drop entries older than two windows before ``newest``, and beyond the entry cap."""
        times = series.times
        lo = series.lo
        cut = newest - self.horizon
        while times[lo] < cut:  # stops at the newest entry at the latest
            lo += 1
        excess = len(times) - lo - self.max_entries
        if excess > 0:
            lo += excess
        if lo > series.wlo:  # only when the cap cuts into the newest window
            for index in range(series.wlo, lo):
                self._leave(series, index)
            series.wlo = lo
        series.lo = lo
        if lo >= _COMPACT_AFTER and 2 * lo >= len(times):
            del times[:lo]
            del series.ids[:lo]
            self._drop_values(series, lo)
            series.wlo -= lo
            series.lo = 0

    def _late(self, series: S, event: Event, t: int, fire: bool) -> Firing | None:
        """Insert an event older than the newest one and judge every window holding it."""
        times = series.times
        index = bisect_right(times, t, series.lo)  # after equal times, as in order
        times.insert(index, t)
        series.ids.insert(index, event.id)
        self._insert_value(series, index, event)
        if t > times[-1] - self.window:
            self._enter(series, index)
        else:
            series.wlo += 1  # inserted before the newest window
        firing = self._sweep(series, event, index) if fire else None
        self._retain(series, times[-1])
        return firing

    def _sweep(self, series: S, event: Event, index: int) -> Firing | None:
        """Fire for the earliest window holding entry ``index`` that exceeds and may fire."""
        times = series.times
        t = times[index]
        window = self.window
        until = self.cooling.get(event.operator.key)
        last = bisect_left(times, t + window, index)  # windows end at entries before this one
        if until is not None and times[last - 1] < until:
            return None  # every window holding the event ends while cooling down
        start = bisect_right(times, t - window, series.lo, index)
        measure = self._measure(series)
        for before in range(start, index):
            measure.add(before)
        end = index
        while end < last:
            e = times[end]
            while end < last and times[end] == e:  # a window ends after all entries at e
                measure.add(end)
                end += 1
            cut = e - window
            while times[start] <= cut:
                measure.remove(start)
                start += 1
            if measure.value > self.threshold and (until is None or e >= until):
                return self._fire(series, event, start, end - 1, measure.value)
        return None

    def _fire(self, series: S, event: Event, start: int, end: int, count: int) -> Firing:
        """The firing for the window of entries ``start..end``; starts the cooldown."""
        times = series.times
        self.cooling[event.operator.key] = times[end] + self.cooldown
        sample = series.ids[max(start, end + 1 - _SAMPLE_SIZE) : end + 1]
        return Firing(
            rule=self.rule,
            operator=event.operator,
            trigger=event,
            window_start=_datetime(times[start]),
            window_end=_datetime(times[end]),
            count=count,
            sample_ids=tuple(sample),
        )


class _CountTracker(_Tracker[_Series]):
    """``burst`` (every counted event) and ``off_hours`` (only events outside working hours)."""

    __slots__ = ("working", "_marks", "_calm_from", "_calm_to", "_calm_working")

    def __init__(self, rule: Rule, max_entries: int, working: WorkingHours | None) -> None:
        super().__init__(rule, max_entries)
        self.working = working  # None: working hours do not matter
        # is_working_time() looks only at the day and at where the time of day falls against
        # start and end, so its answer holds from one of those marks to the next: it is asked
        # once per such stretch ([_calm_from, _calm_to) in microseconds) instead of per event.
        self._marks = (
            ()
            if working is None
            else (_time_of_day(working.start), _time_of_day(working.end), _DAY)
        )
        self._calm_from = 0
        self._calm_to = 0
        self._calm_working = False

    def feed(self, event: Event, t: int, fire: bool) -> Firing | None:
        """Count the event and fire when the window ending at it holds too many."""
        applies = self._applies.get(event.event_type)
        if applies is None:
            applies = self._learn(event.event_type)
        if not applies:
            return None
        if self.working is not None:
            if self._calm_from <= t < self._calm_to:
                if self._calm_working:
                    return None
            elif self._judge(event.at, t):
                return None
        key = event.operator.key
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = _Series()
        times = series.times
        if times and t < times[-1]:
            return self._late(series, event, t, fire)
        times.append(t)
        series.ids.append(event.id)
        cut = t - self.window
        wlo = series.wlo
        while times[wlo] <= cut:
            wlo += 1
        series.wlo = wlo
        lo = series.lo
        cut = t - self.horizon
        while times[lo] < cut:
            lo += 1
        series.lo = lo
        if len(times) - lo > self.max_entries or (lo >= _COMPACT_AFTER and 2 * lo >= len(times)):
            self._retain(series, t)
        if fire:
            count = len(times) - series.wlo
            if count > self.threshold:
                until = self.cooling.get(key)
                if until is None or t >= until:
                    return self._fire(series, event, series.wlo, len(times) - 1, count)
        return None

    def _judge(self, at: datetime, t: int) -> bool:
        """Whether ``at`` (``t`` microseconds) is working time, remembered for its stretch."""
        assert self.working is not None  # only off_hours rules judge working time
        working = self.working.is_working_time(at)
        day = t - t % _DAY
        start, end = day, day + _DAY
        for mark in self._marks:
            moment = day + mark
            if moment <= t:
                start = max(start, moment)
            else:
                end = min(end, moment)
        self._calm_from, self._calm_to, self._calm_working = start, end, working
        return working


class _DistinctTracker(_Tracker[_DistinctSeries]):
    """``distinct_customers``: the customers of the counted events with one."""

    __slots__ = ()

    def feed(self, event: Event, t: int, fire: bool) -> Firing | None:
        """Count the event's customer and fire when the window names too many."""
        customer = event.customer
        if customer is None:
            return None
        applies = self._applies.get(event.event_type)
        if applies is None:
            applies = self._learn(event.event_type)
        if not applies:
            return None
        key = event.operator.key
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = _DistinctSeries()
        times = series.times
        if times and t < times[-1]:
            return self._late(series, event, t, fire)
        times.append(t)
        series.ids.append(event.id)
        customers = series.customers
        customers.append(customer)
        counts = series.counts
        counts[customer] = counts.get(customer, 0) + 1
        cut = t - self.window
        wlo = series.wlo
        while times[wlo] <= cut:
            leaving = customers[wlo]
            left = counts[leaving] - 1
            if left:
                counts[leaving] = left
            else:
                del counts[leaving]
            wlo += 1
        series.wlo = wlo
        lo = series.lo
        cut = t - self.horizon
        while times[lo] < cut:
            lo += 1
        series.lo = lo
        if len(times) - lo > self.max_entries or (lo >= _COMPACT_AFTER and 2 * lo >= len(times)):
            self._retain(series, t)
        if fire:
            count = len(counts)
            if count > self.threshold:
                until = self.cooling.get(key)
                if until is None or t >= until:
                    return self._fire(series, event, series.wlo, len(times) - 1, count)
        return None

    def _insert_value(self, series: _DistinctSeries, index: int, event: Event) -> None:
        assert event.customer is not None  # feed() admits only events with a customer
        series.customers.insert(index, event.customer)

    def _enter(self, series: _DistinctSeries, index: int) -> None:
        customer = series.customers[index]
        series.counts[customer] = series.counts.get(customer, 0) + 1

    def _leave(self, series: _DistinctSeries, index: int) -> None:
        customer = series.customers[index]
        left = series.counts[customer] - 1
        if left:
            series.counts[customer] = left
        else:
            del series.counts[customer]

    def _drop_values(self, series: _DistinctSeries, count: int) -> None:
        del series.customers[:count]

    def _measure(self, series: _DistinctSeries) -> _Measure:
        return _CustomersMeasure(series.customers)


class _RowsTracker(_Tracker[_SumSeries]):
    """``export_volume``: the rows of the counted exports."""

    __slots__ = ()

    def feed(self, event: Event, t: int, fire: bool) -> Firing | None:
        """Add the export's rows and fire when the window's total is too high."""
        applies = self._applies.get(event.event_type)
        if applies is None:
            applies = self._learn(event.event_type)
        if not applies:
            return None
        key = event.operator.key
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = _SumSeries()
        times = series.times
        if times and t < times[-1]:
            return self._late(series, event, t, fire)
        times.append(t)
        series.ids.append(event.id)
        rows = series.rows
        rows.append(event.rows)
        total = series.total + event.rows
        cut = t - self.window
        wlo = series.wlo
        while times[wlo] <= cut:
            total -= rows[wlo]
            wlo += 1
        series.wlo = wlo
        series.total = total
        lo = series.lo
        cut = t - self.horizon
        while times[lo] < cut:
            lo += 1
        series.lo = lo
        if len(times) - lo > self.max_entries or (lo >= _COMPACT_AFTER and 2 * lo >= len(times)):
            self._retain(series, t)
            total = series.total
        if fire and total > self.threshold:
            until = self.cooling.get(key)
            if until is None or t >= until:
                return self._fire(series, event, series.wlo, len(times) - 1, total)
        return None

    def _insert_value(self, series: _SumSeries, index: int, event: Event) -> None:
        series.rows.insert(index, event.rows)

    def _enter(self, series: _SumSeries, index: int) -> None:
        series.total += series.rows[index]

    def _leave(self, series: _SumSeries, index: int) -> None:
        series.total -= series.rows[index]

    def _drop_values(self, series: _SumSeries, count: int) -> None:
        del series.rows[:count]

    def _measure(self, series: _SumSeries) -> _Measure:
        return _RowsMeasure(series.rows)


class Evaluator:
    """Judges a rule set's rules against events fed one by one, per operator.

    ``burst``, ``distinct_customers`` and ``off_hours`` rules take trail events;
    ``export_volume`` rules take access-log exports. Memory is bounded per (rule, operator) by
    two windows of events and by ``max_entries_per_key``; :meth:`expire` drops idle operators.
    """

    def __init__(self, ruleset: RuleSet, *, max_entries_per_key: int = 100_000) -> None:
        if max_entries_per_key < 1:
            raise ValueError("max_entries_per_key must be at least 1")
        by_name: dict[str, _Tracker[Any]] = {}
        trail: list[_Tracker[Any]] = []
        access: list[_Tracker[Any]] = []
        for rule in ruleset.rules:
            if rule.name in by_name:
                raise ValueError(f"two rules are named {rule.name!r}")
            if rule.window <= timedelta(0):
                raise ValueError(f"rule {rule.name!r} needs a positive window")
            tracker: _Tracker[Any]
            if rule.kind == "burst":
                tracker = _CountTracker(rule, max_entries_per_key, None)
            elif rule.kind == "off_hours":
                tracker = _CountTracker(rule, max_entries_per_key, ruleset.working_hours)
            elif rule.kind == "distinct_customers":
                tracker = _DistinctTracker(rule, max_entries_per_key)
            else:
                tracker = _RowsTracker(rule, max_entries_per_key)
            by_name[rule.name] = tracker
            (trail if rule.kind in _TRAIL_KINDS else access).append(tracker)
        self._by_name = by_name
        self._by_source: dict[str, tuple[_Tracker[Any], ...]] = {
            "trail": tuple(trail),
            "access": tuple(access),
        }

    def feed(self, event: Event, *, fire: bool = True) -> list[Firing]:
        """Take one event; return the firings it causes (none with ``fire=False``, a warm-up)."""
        trackers = self._by_source.get(event.source)
        if not trackers:
            return []
        delta = event.at - _EPOCH  # _micros() inline: this runs once per event
        t = delta.days * 86_400_000_000 + delta.seconds * 1_000_000 + delta.microseconds
        firings: list[Firing] = []
        for tracker in trackers:
            firing = tracker.feed(event, t, fire)
            if firing is not None:
                firings.append(firing)
        return firings

    def restore_cooldown(self, rule_name: str, operator_key: str, until: datetime) -> None:
        """Keep the operator's windows ending before ``until`` from firing for the rule.

        Never shortens a cooldown already running, so stored alerts may be restored in any
        order; a rule no longer in the rule set is ignored.
        """
        tracker = self._by_name.get(rule_name)
        if tracker is None:
            return
        micros = _micros(until)
        current = tracker.cooling.get(operator_key)
        if current is None or micros > current:
            tracker.cooling[operator_key] = micros

    def expire(self, now: datetime) -> None:
        """Forget operators idle for two windows before ``now``, and cooldowns over by then."""
        micros = _micros(now)
        for tracker in self._by_name.values():
            cut = micros - tracker.horizon
            idle = [key for key, series in tracker.series.items() if series.times[-1] < cut]
            for key in idle:
                del tracker.series[key]
            over = [key for key, until in tracker.cooling.items() if until < micros]
            for key in over:
                del tracker.cooling[key]

    def state_size(self) -> int:
        """Entries held over all (rule, operator) keys."""
        return sum(
            len(series.times) - series.lo
            for tracker in self._by_name.values()
            for series in tracker.series.values()
        )

    def key_count(self) -> int:
        """(rule, operator) keys with state."""
        return sum(len(tracker.series) for tracker in self._by_name.values())

"""Evaluate alert rules over a stream of events: in memory, in event time, no database.

An :class:`Evaluator` keeps, per (rule, operator), the events the rule counts from the last two
windows, oldest first, and keeps the measure of the window ending at the newest of them up to
date as events enter and leave it. Events nearly always arrive in time order (the worker reads
rows by id); one such event costs a few list appends and index moves per rule. An event older
than ones already seen (rows commit out of id order) is inserted in its place and every window
holding it is measured again, which costs time in proportion to those windows.

Window semantics: the window of length W ending at time e holds the events with
``e - W < at <= e``. A rule fires when the window ending at an event it counts exceeds the
threshold and the (rule, operator) is not cooling down; after a firing whose window ends at T,
windows ending before ``T + cooldown`` do not fire. Events a rule does not count (other types,
other sources, working-hours events for ``off_hours``, no customer for ``distinct_customers``)
leave its state untouched, and its windows are judged only at events it counts.

Times stay the events' naive local datetimes: their arithmetic is exact to the microsecond,
and converting each event to a number would cost more than the comparisons it saves.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from bisect import bisect_left, bisect_right
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from infotrack.alerts.types import Event, Firing, Rule, RuleSet, WorkingHours

__all__ = ["Evaluator"]

_SAMPLE_SIZE = 20  # event ids a firing carries
# Dropped entries stay at the head of the lists (so dropping one is O(1)) until there are this
# many and they are at least half of the lists; compacting then keeps the cost amortised O(1).
_COMPACT_AFTER = 32
# Which rules take an event type is remembered per type; the bound keeps odd data (a stream of
# unknown type codes) from growing that memo without end.
_ROUTES_LIMIT = 1024
_DAY = timedelta(days=1)

_SOURCE_OF_KIND = {
    "burst": "trail",
    "distinct_customers": "trail",
    "off_hours": "trail",
    "export_volume": "access",
}


class _Series:
    """One (rule, operator)'s counted events, oldest first, with their times alongside."""

    __slots__ = ("times", "events", "lo", "wlo")

    def __init__(self) -> None:
        self.times: list[datetime] = []  # kept apart from the events so bisect can search it
        self.events: list[Event] = []
        self.lo = 0  # entries before this one are dropped, awaiting compaction
        self.wlo = 0  # the first entry of the window ending at the newest entry


class _RowsSeries(_Series):
    """A series that also keeps the rows exported in its newest window."""

    __slots__ = ("total",)

    def __init__(self) -> None:
        super().__init__()
        self.total = 0


class _CustomersSeries(_Series):
    """A series that also counts its newest window's entries per customer."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[str | None, int] = {}


class _Measure:
    """A window's measure as entries enter and leave it: here, the number of entries."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def add(self, event: Event) -> None:
        """Count ``event``."""
        self.value += 1

    def remove(self, event: Event) -> None:
        """Stop counting ``event``."""
        self.value -= 1


class _RowsMeasure(_Measure):
    """The rows of the exports in a window."""

    __slots__ = ()

    def add(self, event: Event) -> None:
        """Count the export's rows."""
        self.value += event.rows

    def remove(self, event: Event) -> None:
        """Stop counting the export's rows."""
        self.value -= event.rows


class _CustomersMeasure(_Measure):
    """The distinct customers of the events in a window."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[str | None, int] = {}

    def add(self, event: Event) -> None:
        """Count the event's customer, once however many events name it."""
        seen = self.counts.get(event.customer, 0)
        self.counts[event.customer] = seen + 1
        if not seen:
            self.value += 1

    def remove(self, event: Event) -> None:
        """Forget one event of the customer; the customer leaves with its last event."""
        left = self.counts[event.customer] - 1
        if left:
            self.counts[event.customer] = left
        else:
            del self.counts[event.customer]
            self.value -= 1


S = TypeVar("S", bound=_Series)


class _Tracker(ABC, Generic[S]):
    """One rule's state over all operators.

    Each kind gives the in-order path (``feed``, written out in full because it runs for every
    event) and the hooks the shared slow paths need: late events, trimming and firing.
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
    )

    def __init__(self, rule: Rule, max_entries: int) -> None:
        self.rule = rule
        self.window = rule.window
        # Two windows are held so that an event up to one window late still finds every
        # event of every window it belongs to.
        self.horizon = 2 * rule.window
        self.threshold = rule.threshold
        self.cooldown = rule.cooldown
        self.max_entries = max_entries
        self.series: dict[str, S] = {}
        self.cooling: dict[str, datetime] = {}  # operator key -> earliest window end to fire

    @abstractmethod
    def feed(self, event: Event, fire: bool) -> Firing | None:
        """Take an event of a type the rule counts; return the firing it causes, if any."""

    # Hooks for the slow paths.

    def _enter(self, series: S, index: int) -> None:
        """Add the entry at ``index`` to the newest window's measure."""

    def _leave(self, series: S, index: int) -> None:
        """Remove the entry at ``index`` from the newest window's measure."""

    def _measure(self) -> _Measure:
        """An empty measure of this kind."""
        return _Measure()

    def _newest(self, series: S) -> _Measure:
        """A measure of the newest window, to change without changing the series."""
        measure = _Measure()
        measure.value = len(series.times) - series.wlo
        return measure

    # Shared paths.

    def _retain(self, series: S) -> None:
        """Drop entries older than two windows before the newest, and beyond the entry cap."""
        times = series.times
        lo = series.lo
        cut = times[-1] - self.horizon
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
            self._compact(series)

    def _compact(self, series: S) -> None:
        """Free the dropped entries at the head of the lists."""
        lo = series.lo
        del series.times[:lo]
        del series.events[:lo]
        series.wlo -= lo
        series.lo = 0

    def _late(self, series: S, event: Event, fire: bool) -> Firing | None:
        """Insert an event older than the newest one and judge every window holding it."""
        times = series.times
        at = event.at
        index = bisect_right(times, at, series.lo)  # after equal times, as in order
        times.insert(index, at)
        series.events.insert(index, event)
        if at > times[-1] - self.window:
            self._enter(series, index)
        else:
            series.wlo += 1  # inserted before the newest window
        firing = self._sweep(series, event, index) if fire else None
        self._retain(series)
        return firing

    def _sweep(self, series: S, event: Event, index: int) -> Firing | None:
        """Fire for the earliest window holding entry ``index`` that exceeds and may fire."""
        times = series.times
        events = series.events
        at = times[index]
        window = self.window
        until = self.cooling.get(event.operator.key)
        last = bisect_left(times, at + window, index)  # windows end at entries before this one
        if until is not None and times[last - 1] < until:
            return None  # every window holding the event ends while cooling down
        start = bisect_right(times, at - window, series.lo, index)
        # The measure of the window ending at the late event (entries start..index).
        if at > times[-1] - window:
            # Derived from the newest window's, which holds the event already: a slightly late
            # event then costs the few entries between the two windows' ends, not a whole
            # window of them (a busy operator's hour can hold tens of thousands).
            measure = self._newest(series)
            for after in range(index + 1, len(times)):
                measure.remove(events[after])
            for before in range(start, series.wlo):
                measure.add(events[before])
        else:
            measure = self._measure()
            for held in range(start, index + 1):
                measure.add(events[held])
        end = index
        while True:
            if measure.value > self.threshold and (until is None or times[end] >= until):
                return self._fire(series, event, start, end, measure.value)
            end += 1
            if end == last:
                return None
            ends_at = times[end]
            measure.add(events[end])
            # A window holds every event at its end time.
            while end + 1 < last and times[end + 1] == ends_at:
                end += 1
                measure.add(events[end])
            cut = ends_at - window
            while times[start] <= cut:
                measure.remove(events[start])
                start += 1

    def _fire(self, series: S, trigger: Event, start: int, end: int, count: int) -> Firing:
        """The firing for the window of entries ``start..end``; starts the cooldown."""
        times = series.times
        self.cooling[trigger.operator.key] = times[end] + self.cooldown
        sample = series.events[max(start, end + 1 - _SAMPLE_SIZE) : end + 1]
        return Firing(
            rule=self.rule,
            operator=trigger.operator,
            trigger=trigger,
            window_start=times[start],
            window_end=times[end],
            count=count,
            sample_ids=tuple([sampled.id for sampled in sample]),
        )


class _CountTracker(_Tracker[_Series]):
    """``burst`` (every counted event) and ``off_hours`` (only events outside working hours)."""

    __slots__ = ("working", "_marks", "_stretch_from", "_stretch_to", "_stretch_working")

    def __init__(self, rule: Rule, max_entries: int, working: WorkingHours | None) -> None:
        super().__init__(rule, max_entries)
        self.working = working  # None: working hours do not matter
        # is_working_time() looks only at the day and at where the time of day falls against
        # start and end, so its answer holds from one of those marks to the next: it is asked
        # once per such stretch of time, [_stretch_from, _stretch_to), rather than once per event.
        self._marks: tuple[timedelta, ...] = ()
        if working is not None:
            self._marks = tuple(
                timedelta(
                    hours=mark.hour,
                    minutes=mark.minute,
                    seconds=mark.second,
                    microseconds=mark.microsecond,
                )
                for mark in (working.start, working.end)
            )
        self._stretch_from = self._stretch_to = datetime.min
        self._stretch_working = False

    def feed(self, event: Event, fire: bool) -> Firing | None:
        """Count the event and fire when the window ending at it holds too many."""
        at = event.at
        if self.working is not None:
            if self._stretch_from <= at < self._stretch_to:
                if self._stretch_working:
                    return None
            elif self._judge(at):
                return None
        key = event.operator.key
        try:
            series = self.series[key]
        except KeyError:
            series = self.series[key] = _Series()
        times = series.times
        if times and at < times[-1]:
            return self._late(series, event, fire)
        times.append(at)
        series.events.append(event)
        cut = at - self.window
        wlo = series.wlo
        while times[wlo] <= cut:
            wlo += 1
        series.wlo = wlo
        lo = series.lo
        cut = at - self.horizon
        if times[lo] < cut:
            lo += 1
            while times[lo] < cut:
                lo += 1
            series.lo = lo
            if lo >= _COMPACT_AFTER and 2 * lo >= len(times):
                self._compact(series)
        if len(times) - series.lo > self.max_entries:
            self._retain(series)
        if fire:
            count = len(times) - series.wlo
            if count > self.threshold:
                until = self.cooling.get(key)
                if until is None or at >= until:
                    return self._fire(series, event, series.wlo, len(times) - 1, count)
        return None

    def _judge(self, at: datetime) -> bool:
        """Whether ``at`` is working time, remembered for the stretch of the day around it."""
        assert self.working is not None  # only off_hours rules judge working time
        working = self.working.is_working_time(at)
        midnight = at.replace(hour=0, minute=0, second=0, microsecond=0)
        start, end = midnight, midnight + _DAY
        for offset in self._marks:
            mark = midnight + offset
            if mark <= at:
                start = max(start, mark)
            else:
                end = min(end, mark)
        self._stretch_from, self._stretch_to, self._stretch_working = start, end, working
        return working


class _CustomersTracker(_Tracker[_CustomersSeries]):
    """``distinct_customers``: the customers of the counted events that name one."""

    __slots__ = ()

    def feed(self, event: Event, fire: bool) -> Firing | None:
        """Count the event's customer and fire when the window names too many."""
        customer = event.customer
        if customer is None:
            return None
        key = event.operator.key
        try:
            series = self.series[key]
        except KeyError:
            series = self.series[key] = _CustomersSeries()
        times = series.times
        at = event.at
        if times and at < times[-1]:
            return self._late(series, event, fire)
        times.append(at)
        events = series.events
        events.append(event)
        counts = series.counts
        counts[customer] = counts.get(customer, 0) + 1
        cut = at - self.window
        wlo = series.wlo
        while times[wlo] <= cut:
            leaving = events[wlo].customer
            left = counts[leaving] - 1
            if left:
                counts[leaving] = left
            else:
                del counts[leaving]
            wlo += 1
        series.wlo = wlo
        lo = series.lo
        cut = at - self.horizon
        if times[lo] < cut:
            lo += 1
            while times[lo] < cut:
                lo += 1
            series.lo = lo
            if lo >= _COMPACT_AFTER and 2 * lo >= len(times):
                self._compact(series)
        if len(times) - series.lo > self.max_entries:
            self._retain(series)
        if fire:
            count = len(counts)
            if count > self.threshold:
                until = self.cooling.get(key)
                if until is None or at >= until:
                    return self._fire(series, event, series.wlo, len(times) - 1, count)
        return None

    def _enter(self, series: _CustomersSeries, index: int) -> None:
        customer = series.events[index].customer
        series.counts[customer] = series.counts.get(customer, 0) + 1

    def _leave(self, series: _CustomersSeries, index: int) -> None:
        customer = series.events[index].customer
        left = series.counts[customer] - 1
        if left:
            series.counts[customer] = left
        else:
            del series.counts[customer]

    def _measure(self) -> _Measure:
        return _CustomersMeasure()

    def _newest(self, series: _CustomersSeries) -> _Measure:
        measure = _CustomersMeasure()
        measure.counts = dict(series.counts)
        measure.value = len(measure.counts)
        return measure


class _RowsTracker(_Tracker[_RowsSeries]):
    """``export_volume``: the rows of the counted exports."""

    __slots__ = ()

    def feed(self, event: Event, fire: bool) -> Firing | None:
        """Add the export's rows and fire when the window's total is too high."""
        key = event.operator.key
        try:
            series = self.series[key]
        except KeyError:
            series = self.series[key] = _RowsSeries()
        times = series.times
        at = event.at
        if times and at < times[-1]:
            return self._late(series, event, fire)
        times.append(at)
        events = series.events
        events.append(event)
        total = series.total + event.rows
        cut = at - self.window
        wlo = series.wlo
        while times[wlo] <= cut:
            total -= events[wlo].rows
            wlo += 1
        series.wlo = wlo
        series.total = total
        lo = series.lo
        cut = at - self.horizon
        if times[lo] < cut:
            lo += 1
            while times[lo] < cut:
                lo += 1
            series.lo = lo
            if lo >= _COMPACT_AFTER and 2 * lo >= len(times):
                self._compact(series)
        if len(times) - series.lo > self.max_entries:
            self._retain(series)
            total = series.total
        if fire and total > self.threshold:
            until = self.cooling.get(key)
            if until is None or at >= until:
                return self._fire(series, event, series.wlo, len(times) - 1, total)
        return None

    def _enter(self, series: _RowsSeries, index: int) -> None:
        series.total += series.events[index].rows

    def _leave(self, series: _RowsSeries, index: int) -> None:
        series.total -= series.events[index].rows

    def _measure(self) -> _Measure:
        return _RowsMeasure()

    def _newest(self, series: _RowsSeries) -> _Measure:
        measure = _RowsMeasure()
        measure.value = series.total
        return measure


class Evaluator:
    """Judges a rule set's rules against events fed one by one, per operator, in event time.

    ``burst``, ``distinct_customers`` and ``off_hours`` rules take trail events;
    ``export_volume`` rules take access-log exports. Memory is bounded per (rule, operator) by
    two windows of events and by ``max_entries_per_key``; :meth:`expire` drops idle operators.
    Held entries reference the events themselves, shared by the rules that count them.
    """

    def __init__(self, ruleset: RuleSet, *, max_entries_per_key: int = 100_000) -> None:
        if max_entries_per_key < 1:
            raise ValueError("max_entries_per_key must be at least 1")
        self._trackers: dict[str, _Tracker[Any]] = {}
        for rule in ruleset.rules:
            if rule.name in self._trackers:
                raise ValueError(f"two rules are named {rule.name!r}")
            if rule.window <= timedelta(0):
                raise ValueError(f"rule {rule.name!r} needs a positive window")
            tracker: _Tracker[Any]
            if rule.kind == "burst":
                tracker = _CountTracker(rule, max_entries_per_key, None)
            elif rule.kind == "off_hours":
                tracker = _CountTracker(rule, max_entries_per_key, ruleset.working_hours)
            elif rule.kind == "distinct_customers":
                tracker = _CustomersTracker(rule, max_entries_per_key)
            else:
                tracker = _RowsTracker(rule, max_entries_per_key)
            self._trackers[rule.name] = tracker
        # The rules that take each source and event type, filled as types turn up: an event
        # costs one look-up here instead of one applies_to() per rule.
        self._routes: dict[str, dict[str | None, tuple[_Tracker[Any], ...]]] = {
            "trail": {},
            "access": {},
        }

    def feed(self, event: Event, *, fire: bool = True) -> list[Firing]:
        """Take one event; return the firings it causes (none with ``fire=False``, a warm-up)."""
        routes = self._routes.get(event.source)
        if routes is None:
            return []
        trackers = routes.get(event.event_type)
        if trackers is None:
            trackers = self._route(routes, event)
        firings: list[Firing] = []
        for tracker in trackers:
            firing = tracker.feed(event, fire)
            if firing is not None:
                firings.append(firing)
        return firings

    def _route(
        self, routes: dict[str | None, tuple[_Tracker[Any], ...]], event: Event
    ) -> tuple[_Tracker[Any], ...]:
        """The rules that take events of this source and type, remembered for the next one."""
        trackers = tuple(
            tracker
            for tracker in self._trackers.values()
            if _SOURCE_OF_KIND[tracker.rule.kind] == event.source
            and tracker.rule.applies_to(event.event_type)
        )
        if len(routes) < _ROUTES_LIMIT:
            routes[event.event_type] = trackers
        return trackers

    def restore_cooldown(self, rule_name: str, operator_key: str, until: datetime) -> None:
        """Keep the operator's windows ending before ``until`` from firing for the rule.

        Never shortens a cooldown already running, so stored alerts may be restored in any
        order; a rule no longer in the rule set is ignored.
        """
        tracker = self._trackers.get(rule_name)
        if tracker is None:
            return
        current = tracker.cooling.get(operator_key)
        if current is None or until > current:
            tracker.cooling[operator_key] = until

    def expire(self, now: datetime) -> None:
        """Forget operators idle for two windows before ``now``, and cooldowns over by then."""
        for tracker in self._trackers.values():
            cut = now - tracker.horizon
            idle = [key for key, series in tracker.series.items() if series.times[-1] < cut]
            for key in idle:
                del tracker.series[key]
            over = [key for key, until in tracker.cooling.items() if until < now]
            for key in over:
                del tracker.cooling[key]

    def state_size(self) -> int:
        """Entries held over all (rule, operator) keys."""
        return sum(
            len(series.times) - series.lo
            for tracker in self._trackers.values()
            for series in tracker.series.values()
        )

    def key_count(self) -> int:
        """(rule, operator) keys with state."""
        return sum(len(tracker.series) for tracker in self._trackers.values())

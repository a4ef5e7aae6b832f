"""Availability of a deployment in time: weekly windows in the operator's time zone, and an
operator override. Plain Python (no Django): the proxy decides from the published catalog on each
call (no Redis, no SQL); Django validates windows and shows them with the same code.

A window is (days, start, end): ``days`` a set of weekdays (0 = Monday), ``start``/``end`` minutes
after local midnight. ``end <= start`` crosses midnight: the window opened on a listed day runs into
the next morning (``mon 22:00–06:00`` is Monday night to Tuesday 06:00). A deployment with no window
is always available; with windows, available inside any of them. An override (``available`` or
``unavailable`` until a time, or until changed) wins over the windows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
OVERRIDE_AVAILABLE, OVERRIDE_UNAVAILABLE = "available", "unavailable"
OVERRIDES = (OVERRIDE_AVAILABLE, OVERRIDE_UNAVAILABLE)
MINUTES_PER_DAY = 24 * 60
_DAYS_TERM = re.compile(r"^(mon|tue|wed|thu|fri|sat|sun)(?:-(mon|tue|wed|thu|fri|sat|sun))?$")


class ScheduleError(ValueError):
    """A schedule value that cannot be understood (a day list, a time, a zone)."""


def parse_days(text: str) -> tuple[int, ...]:
    """``mon-fri``, ``sat,sun``, ``fri-mon`` (wraps) or ``*`` → the sorted weekdays (0 = Monday)."""
    value = text.strip().lower().replace(" ", "")
    if value in ("*", "daily", "all"):
        return tuple(range(7))
    days: set[int] = set()
    for term in value.split(","):
        match = _DAYS_TERM.match(term)
        if match is None:
            raise ScheduleError(f"{text!r} is not a list of days such as 'mon-fri' or 'sat,sun' (or '*').")
        first = DAY_NAMES.index(match.group(1))
        last = DAY_NAMES.index(match.group(2) or match.group(1))
        day = first
        days.add(day)
        while day != last:
            day = (day + 1) % 7
            days.add(day)
    return tuple(sorted(days))


def days_text(days: tuple[int, ...] | list[int]) -> str:
    return "*" if len(set(days)) == 7 else ",".join(DAY_NAMES[d] for d in sorted(set(days)))


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(f"{name!r} is not a time zone (e.g. Europe/Paris, UTC).") from exc


@dataclass(frozen=True)
class Window:
    days: tuple[int, ...]
    start_minute: int  # after local midnight, 0..1439
    end_minute: int  # end <= start: runs past midnight into the next day

    @property
    def length(self) -> int:
        length = (self.end_minute - self.start_minute) % MINUTES_PER_DAY
        return length or MINUTES_PER_DAY  # start == end: the whole day

    def to_list(self) -> list[object]:
        return [list(self.days), self.start_minute, self.end_minute]

    @classmethod
    def from_list(cls, data: Sequence[Any]) -> Window:
        days, start, end = data
        return cls(tuple(int(d) for d in days), int(start), int(end))

    def label(self) -> str:
        def hhmm(m: int) -> str:
            return f"{m // 60:02d}:{m % 60:02d}"

        return f"{days_text(self.days)} {hhmm(self.start_minute)}-{hhmm(self.end_minute)}"

    def openings(self, local_day: datetime) -> list[tuple[datetime, datetime]]:
        """The (start, end) of this window opened on ``local_day``'s date, if it is a listed day."""
        if local_day.weekday() not in self.days:
            return []
        midnight = local_day.replace(hour=0, minute=0, second=0, microsecond=0)
        start = _at(midnight, self.start_minute)
        end = _at(midnight, self.start_minute + self.length)
        return [(start, end)]


def _at(midnight: datetime, minutes: int) -> datetime:
    """Local wall time ``minutes`` after ``midnight``'s date began (days may carry over), in its zone."""
    day = midnight.date() + timedelta(days=minutes // MINUTES_PER_DAY)
    minutes %= MINUTES_PER_DAY
    naive = datetime(day.year, day.month, day.day, minutes // 60, minutes % 60)
    return naive.replace(tzinfo=midnight.tzinfo)


@dataclass(frozen=True)
class Availability:
    available: bool
    # When it next opens (unavailable) or closes (available); None: never / not scheduled.
    next_change: datetime | None
    reason: str  # "always" | "window" | "outside_window" | "override" | "no_window"
    next_window: str = ""  # the label of the next window to open, when unavailable


def _periods(windows: tuple[Window, ...], now_local: datetime) -> list[tuple[datetime, datetime]]:
    """Every opening from yesterday to 8 days on, sorted: enough to find the current and next."""
    periods: list[tuple[datetime, datetime]] = []
    for offset in range(-1, 9):
        day = now_local + timedelta(days=offset)
        for window in windows:
            periods.extend(window.openings(day))
    return sorted(periods)


def availability(
    windows: tuple[Window, ...],
    tz: str,
    now: datetime,
    override: str = "",
    override_until: float | None = None,
) -> Availability:
    """Whether a deployment may serve at ``now`` (aware), and when that changes."""
    if override in OVERRIDES and (override_until is None or now.timestamp() < override_until):
        until = None if override_until is None else datetime.fromtimestamp(override_until, now.tzinfo)
        return Availability(override == OVERRIDE_AVAILABLE, until, "override")
    if not windows:
        return Availability(True, None, "always")
    local = now.astimezone(zone(tz))
    periods = _periods(windows, local)
    inside = [(s, e) for s, e in periods if s <= local < e]
    if inside:
        # Windows that touch or overlap keep it open: follow them to the last end.
        end = max(e for _, e in inside)
        for s, e in periods:
            if s <= end < e:
                end = e
        return Availability(True, end, "window")
    upcoming = [(s, e) for s, e in periods if s > local]
    if not upcoming:
        return Availability(False, None, "no_window")
    start = upcoming[0][0]
    label = next(w.label() for w in windows for s, _ in w.openings(start) if s == start)
    return Availability(False, start, "outside_window", label)

"""Working hours: is a department open at a moment, and when does it open next (pure).

In the CRM package, not beside the routing policy, although routing is what asks ("ring,
or the after-hours path?", through :mod:`pbx_daemon.telephony.routing.schedule`): the
admin edits and checks hours too (:mod:`admin.hours_view`), and the admin may import the
domain (``pbx_daemon.crm``) but never the telephony. No I/O, no Twisted, no Flask.

* A department (or a tracking number that has hours of its own, which then replace the
  department's) has **weekly hours**: for each weekday, Monday first, zero or more ranges
  of minutes since local midnight, ``[open, close)``: ``(540, 1080)`` is 09:00-18:00, open
  at 09:00:00, closed from 18:00:00. ``1440`` closes at midnight; a night shift is two
  ranges on two days.
* The **calendar** overrides the week for single dates: a *closed* date (a public holiday
  or a day off of the Russian production calendar, or a day an admin closed) has no hours;
  a *working* date (a Saturday the production calendar moved a working day to, or a day an
  admin opened) has the hours given for it, or, when none are given, the hours of the
  department's first weekday that has any (a moved Saturday is worked as an ordinary
  weekday). A working date wins over a closed one: the admin's word is the last.
* Everything is read in the company's time zone (``general.timezone``, in :class:`Hours`):
  a moment is converted to local wall-clock time first, so a zone with DST works too.
* A week with no hours at all and no working date ahead is always closed:
  :func:`next_opening` returns None (the caller must handle it: no "next opening").

Shortened pre-holiday days (one hour less) are not modelled: an admin enters the day as a
working day with its own hours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Iterable, Mapping
from zoneinfo import ZoneInfo

Range = tuple[int, int]  # minutes since local midnight, [open, close)
DAY_MINUTES = 1440
SEARCH_DAYS = 400  # how far next_opening looks ahead: past a year's calendar
WEEKDAYS = 7


@dataclass(frozen=True)
class Hours:
    """Weekly hours: ``weekly[0]`` is Monday's ranges ... ``weekly[6]`` Sunday's."""

    weekly: tuple[tuple[Range, ...], ...] = ((),) * WEEKDAYS
    tz: str = "Europe/Moscow"

    def usual_day(self) -> tuple[Range, ...]:
        """The hours of the first weekday that has any: a moved working day's hours."""
        return next((day for day in self.weekly if day), ())


@dataclass(frozen=True)
class Calendar:
    """Dates that do not follow the week: ``closed`` ones, and ``working`` ones with their
    hours (an empty tuple: :meth:`Hours.usual_day`)."""

    closed: frozenset[date] = frozenset()
    working: Mapping[date, tuple[Range, ...]] = field(default_factory=dict)


def weekdays(ranges: Iterable[Range], days: Iterable[int] = range(5)) -> tuple[tuple[Range, ...], ...]:
    """``weekdays([(540, 1080)])``: Monday-Friday 09:00-18:00, the weekend closed."""
    ranges, days = tuple(ranges), set(days)
    return tuple(ranges if d in days else () for d in range(WEEKDAYS))


def day_ranges(hours: Hours, calendar: Calendar, day: date) -> tuple[Range, ...]:
    """The ranges a local date is open, calendar first, sorted."""
    if day in calendar.working:
        ranges = calendar.working[day] or hours.usual_day()
    elif day in calendar.closed:
        ranges = ()
    else:
        ranges = hours.weekly[day.weekday()]
    return tuple(sorted(ranges))


def _local(hours: Hours, at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("working hours need an aware datetime")
    return at.astimezone(ZoneInfo(hours.tz))


def is_open(hours: Hours, calendar: Calendar, at: datetime) -> bool:
    """True when ``at`` (aware) falls inside one of its local date's ranges."""
    local = _local(hours, at)
    seconds = local.hour * 3600 + local.minute * 60 + local.second
    return any(start * 60 <= seconds < end * 60
               for start, end in day_ranges(hours, calendar, local.date()))


def next_opening(hours: Hours, calendar: Calendar, at: datetime) -> datetime | None:
    """The first moment at or after ``at`` that is open (``at`` itself when open now), in
    the company's zone; None when nothing opens within :data:`SEARCH_DAYS`."""
    local = _local(hours, at)
    zone = ZoneInfo(hours.tz)
    seconds = local.hour * 3600 + local.minute * 60 + local.second
    if not any(hours.weekly) and not any(d >= local.date() for d in calendar.working):
        return None  # always closed: no need to walk a year of empty days
    for offset in range(SEARCH_DAYS):
        day = local.date() + timedelta(days=offset)
        for start, end in day_ranges(hours, calendar, day):
            if offset == 0 and seconds >= end * 60:
                continue
            if offset == 0 and seconds >= start * 60:
                return local
            return _at(day, start, zone)
    return None


def _at(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    if minutes >= DAY_MINUTES:
        return datetime.combine(day + timedelta(days=1), time(0), zone)
    return datetime.combine(day, time(minutes // 60, minutes % 60), zone)


# ---- ranges as people write them ------------------------------------------------------
def parse_range(text: str) -> Range:
    """``"09:00-18:00"`` -> ``(540, 1080)``; ``24:00`` closes at midnight. ValueError when
    malformed or empty (close not after open)."""
    try:
        start_text, end_text = (part.strip() for part in text.split("-"))
        start, end = _minutes(start_text), _minutes(end_text)
    except ValueError:
        raise ValueError(f"not a time range (09:00-18:00): {text[:40]!r}") from None
    if not 0 <= start < end <= DAY_MINUTES:
        raise ValueError(f"the range must open before it closes, within a day: {text[:40]!r}")
    return start, end


def parse_ranges(text: str) -> tuple[Range, ...]:
    """``"09:00-13:00, 14:00-18:00"`` -> two ranges; empty text -> closed that day."""
    return tuple(parse_range(part) for part in text.split(",") if part.strip())


def format_ranges(ranges: Iterable[Range]) -> str:
    return ", ".join(f"{_hhmm(a)}-{_hhmm(b)}" for a, b in ranges)


def _minutes(text: str) -> int:
    hh, mm = text.split(":")
    if not (hh.isdigit() and mm.isdigit() and len(mm) == 2):
        raise ValueError(text)
    value = int(hh) * 60 + int(mm)
    if int(mm) >= 60 or value > DAY_MINUTES:
        raise ValueError(text)
    return value


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# ---- the Russian production calendar ---------------------------------------------------
def production_calendar(years: Iterable[int]) -> tuple[frozenset[date], frozenset[date]]:
    """(days off, moved working days) of the Russian production calendar for ``years``,
    from the ``holidays`` package: its RU holidays include the days off that working days
    were moved from, and ``weekend_workdays`` the Saturdays worked instead (for the years
    the package knows the government's decree of)."""
    import holidays  # imported here: only the lookup and the admin need it

    ru = holidays.country_holidays("RU", years=list(years))
    return frozenset(ru.keys()), frozenset(getattr(ru, "weekend_workdays", ()))


def build_calendar(years: Iterable[int], closed_days: Iterable[date] = (),
                   working_days: Mapping[date, tuple[Range, ...]] | None = None,
                   use_production_calendar: bool = True) -> Calendar:
    """The production calendar plus the admins' days (theirs win)."""
    holidays_, moved = production_calendar(years) if use_production_calendar else (frozenset(), frozenset())
    admin_working = dict(working_days or {})
    admin_closed = frozenset(closed_days)
    working = {d: () for d in moved if d not in admin_closed}
    working.update(admin_working)
    closed = (holidays_ | admin_closed) - frozenset(admin_working)
    return Calendar(closed=closed, working=working)

"""Is an employee on duty right now? Their weekly schedule, absences and "off now", by the
clock (issue 17: schedules replace the on-shift checkbox).

* "Off now" (``override``: an instant, ``employees.off_until``) wins while it lies in the
  future; it expires by itself, nobody has to switch it back.
* An absence (vacation, sick day: a range of days, both ends included) covering today's
  date, in company time, means off all day.
* An employee with no schedule at all is on duty whenever the two above allow: how every
  employee behaved before schedules existed.
* Otherwise they are on duty inside one of their shifts: weekday + start..end in company
  time (``general.timezone``), start included, end excluded. A shift that ends at or
  before its start runs past midnight into the next day (22:00-06:00); 00:00-00:00 is the
  whole day.

Pure: the caller reads the clock once and passes ``at`` in company time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Sequence



@dataclass(frozen=True)
class Shift:
    weekday: int  # 0 Monday .. 6 Sunday
    starts: time
    ends: time  # at or before ``starts``: the next day's

    @property
    def overnight(self) -> bool:
        return self.ends <= self.starts

    def covers(self, at: datetime) -> bool:
        t = at.time().replace(tzinfo=None)
        if not self.overnight:
            return self.weekday == at.weekday() and self.starts <= t < self.ends
        return (self.weekday == at.weekday() and t >= self.starts) or \
            (self.weekday == (at.weekday() - 1) % 7 and t < self.ends)


@dataclass(frozen=True)
class Absence:
    first_day: date
    last_day: date  # included
    kind: str = "vacation"

    def covers(self, day: date) -> bool:
        return self.first_day <= day <= self.last_day


def on_duty(schedule: Sequence[Shift], exceptions: Sequence[Absence],
            override: datetime | None, at: datetime) -> bool:
    """``at``: now, timezone-aware, in company time; ``override``: "off until" (aware)."""
    if override is not None and override > at:
        return False
    if any(a.covers(at.date()) for a in exceptions):
        return False
    if not schedule:
        return True
    return any(s.covers(at) for s in schedule)


def off_now_until(at: datetime, hours: float | None = None) -> datetime:
    """When "off now" pressed at ``at`` (company time) expires: after ``hours``, or at the
    end of today (the next midnight in company time)."""
    if hours is not None:
        return at + timedelta(hours=hours)
    return datetime.combine(at.date() + timedelta(days=1), time(), at.tzinfo)

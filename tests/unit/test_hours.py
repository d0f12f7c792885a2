"""Working hours as tables of cases: hours + calendar + a moment -> open? next opening?"""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from pbx_daemon.crm.hours import (
    Calendar,
    Hours,
    build_calendar,
    format_ranges,
    is_open,
    next_opening,
    parse_ranges,
    production_calendar,
    weekdays,
)

MSK = ZoneInfo("Europe/Moscow")
OFFICE = Hours(weekdays([(540, 1080)]))  # Mon-Fri 09:00-18:00, Moscow
LUNCH = Hours(weekdays([(540, 780), (840, 1080)]))  # 09-13, 14-18
NEVER = Hours()
# 2024: 1 May (Wednesday) a holiday; 27 April (Saturday) a working day moved from 29 April.
RU_2024 = build_calendar([2024])


def msk(*args) -> datetime:
    return datetime(*args, tzinfo=MSK)


OPEN_CASES = [
    # (what, hours, calendar, moment, open?)
    ("a Tuesday noon", OFFICE, Calendar(), msk(2024, 4, 23, 12, 0), True),
    ("the opening minute is open", OFFICE, Calendar(), msk(2024, 4, 23, 9, 0), True),
    ("a second before opening is closed", OFFICE, Calendar(), msk(2024, 4, 23, 8, 59, 59), False),
    ("the last second before closing is open", OFFICE, Calendar(), msk(2024, 4, 23, 17, 59, 59), True),
    ("the closing minute is closed", OFFICE, Calendar(), msk(2024, 4, 23, 18, 0), False),
    ("a Sunday", OFFICE, Calendar(), msk(2024, 4, 21, 12, 0), False),
    ("lunch break", LUNCH, Calendar(), msk(2024, 4, 23, 13, 30), False),
    ("after lunch", LUNCH, Calendar(), msk(2024, 4, 23, 14, 0), True),
    ("1 May, a holiday, is closed", OFFICE, RU_2024, msk(2024, 5, 1, 12, 0), False),
    ("Monday 29 April, moved day off, is closed", OFFICE, RU_2024, msk(2024, 4, 29, 12, 0), False),
    ("Saturday 27 April, moved working day, is open", OFFICE, RU_2024, msk(2024, 4, 27, 12, 0), True),
    ("the moved Saturday keeps the weekday's hours", OFFICE, RU_2024, msk(2024, 4, 27, 18, 30), False),
    ("UTC in, Moscow hours: 06:00 UTC is 09:00 MSK", OFFICE, Calendar(),
     datetime(2024, 4, 23, 6, 0, tzinfo=timezone.utc), True),
    ("05:59 UTC is 08:59 MSK", OFFICE, Calendar(), datetime(2024, 4, 23, 5, 59, tzinfo=timezone.utc), False),
    ("Moscow has no DST: after the last Sunday of March 06:00 UTC is still 09:00", OFFICE, Calendar(),
     datetime(2024, 4, 1, 6, 0, tzinfo=timezone.utc), True),
    ("... and 05:59 UTC after October's still 08:59", OFFICE, Calendar(),
     datetime(2024, 10, 28, 5, 59, tzinfo=timezone.utc), False),
    ("an admin's closed day", OFFICE, Calendar(closed=frozenset({date(2024, 4, 23)})),
     msk(2024, 4, 23, 12, 0), False),
    ("an admin's working Sunday with its own hours", OFFICE,
     Calendar(working={date(2024, 4, 21): ((600, 840),)}), msk(2024, 4, 21, 13, 0), True),
    ("... outside those hours", OFFICE,
     Calendar(working={date(2024, 4, 21): ((600, 840),)}), msk(2024, 4, 21, 15, 0), False),
    ("no hours at all: closed", NEVER, Calendar(), msk(2024, 4, 23, 12, 0), False),
    ("until midnight (24:00)", Hours(weekdays([(540, 1440)])), Calendar(), msk(2024, 4, 23, 23, 59, 59), True),
]


@pytest.mark.parametrize("what,hours,calendar,at,expected", OPEN_CASES, ids=[c[0] for c in OPEN_CASES])
def test_is_open(what, hours, calendar, at, expected):
    assert is_open(hours, calendar, at) is expected


NEXT_CASES = [
    # (what, hours, calendar, moment, next opening)
    ("open now: now", OFFICE, Calendar(), msk(2024, 4, 23, 12, 0), msk(2024, 4, 23, 12, 0)),
    ("before opening: today's opening", OFFICE, Calendar(), msk(2024, 4, 23, 7, 0), msk(2024, 4, 23, 9, 0)),
    ("at closing: tomorrow's opening", OFFICE, Calendar(), msk(2024, 4, 23, 18, 0), msk(2024, 4, 24, 9, 0)),
    ("Friday night: Monday", OFFICE, Calendar(), msk(2024, 4, 19, 20, 0), msk(2024, 4, 22, 9, 0)),
    ("Friday 26 April night in 2024: the moved Saturday", OFFICE, RU_2024, msk(2024, 4, 26, 20, 0),
     msk(2024, 4, 27, 9, 0)),
    ("Saturday 27 April night: past the May days off to 2 May", OFFICE, RU_2024, msk(2024, 4, 27, 19, 0),
     msk(2024, 5, 2, 9, 0)),
    ("in the lunch break: 14:00", LUNCH, Calendar(), msk(2024, 4, 23, 13, 0), msk(2024, 4, 23, 14, 0)),
    ("New Year holidays: 9 January", OFFICE, RU_2024, msk(2024, 1, 1, 12, 0),
     msk(2024, 1, 9, 9, 0)),
    ("no hours at all: None", NEVER, Calendar(), msk(2024, 4, 23, 12, 0), None),
    ("no hours but an admin's working day ahead", NEVER, Calendar(working={date(2024, 4, 25): ((600, 660),)}),
     msk(2024, 4, 23, 12, 0), msk(2024, 4, 25, 10, 0)),
]


@pytest.mark.parametrize("what,hours,calendar,at,expected", NEXT_CASES, ids=[c[0] for c in NEXT_CASES])
def test_next_opening(what, hours, calendar, at, expected):
    assert next_opening(hours, calendar, at) == expected


def test_production_calendar_knows_moved_saturdays():
    """The `holidays` package lists the days off and the Saturdays worked instead."""
    days_off, moved = production_calendar([2024])
    assert date(2024, 5, 1) in days_off and date(2024, 4, 29) in days_off
    assert date(2024, 4, 27) in moved and date(2024, 11, 2) in moved


def test_admin_days_win_over_the_production_calendar():
    calendar = build_calendar([2024], closed_days=[date(2024, 4, 27)],
                              working_days={date(2024, 5, 1): ()})
    assert date(2024, 4, 27) not in calendar.working and date(2024, 4, 27) in calendar.closed
    assert is_open(OFFICE, calendar, msk(2024, 5, 1, 12, 0))


def test_naive_datetime_refused():
    with pytest.raises(ValueError):
        is_open(OFFICE, Calendar(), datetime(2024, 4, 23, 12, 0))


@pytest.mark.parametrize("text,ranges", [
    ("09:00-18:00", ((540, 1080),)),
    ("09:00-13:00, 14:00-18:00", ((540, 780), (840, 1080))),
    ("", ()),
    ("00:00-24:00", ((0, 1440),)),
])
def test_parse_ranges(text, ranges):
    assert parse_ranges(text) == ranges
    assert format_ranges(ranges) == text


@pytest.mark.parametrize("text", ["9-18", "18:00-09:00", "09:00-25:00", "09:70-10:00", "x", "09:00-09:00"])
def test_parse_ranges_refuses(text):
    with pytest.raises(ValueError):
        parse_ranges(text)

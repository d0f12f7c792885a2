"""Who is on duty: schedule, absences and "off now" by the clock, as a table of cases;
then the directory reads the same answer from the database."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from pbx_daemon.crm.duty import Absence, Shift, off_now_until, on_duty

MSK = ZoneInfo("Europe/Moscow")
# Tuesday 1 December 2026, company time.
TUE_10 = datetime(2026, 12, 1, 10, 0, tzinfo=MSK)
WEEKDAYS_9_18 = tuple(Shift(d, time(9), time(18)) for d in range(5))
NIGHTS = (Shift(0, time(22), time(6)),)  # Monday night into Tuesday morning
VACATION = Absence(date(2026, 11, 30), date(2026, 12, 4), "vacation")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=MSK)


CASES = [
    ("no schedule, nothing else: on duty (as before schedules existed)",
     (), (), None, TUE_10, True),
    ("no schedule but on vacation today: off", (), (VACATION,), None, TUE_10, False),
    ("no schedule, 'off now' until noon: off at 10:00", (), (), at(1, 12), TUE_10, False),
    ("'off now' expired at 09:59: on again at 10:00", (), (), at(1, 9, 59), TUE_10, True),
    ("'off now' that ends exactly now: on", (), (), TUE_10, TUE_10, True),
    ("'off now' compared as an instant, whatever its zone (07:30 UTC = 10:30 MSK)",
     (), (), datetime(2026, 12, 1, 7, 30, tzinfo=timezone.utc), TUE_10, False),
    ("weekdays 9-18, Tuesday 10:00: on", WEEKDAYS_9_18, (), None, TUE_10, True),
    ("weekdays 9-18, Tuesday 08:59: off", WEEKDAYS_9_18, (), None, at(1, 8, 59), False),
    ("weekdays 9-18, the start minute is in", WEEKDAYS_9_18, (), None, at(1, 9), True),
    ("weekdays 9-18, 18:00 is out (the end is excluded)", WEEKDAYS_9_18, (), None, at(1, 18), False),
    ("weekdays 9-18, Saturday noon: off", WEEKDAYS_9_18, (), None, at(5, 12), False),
    ("weekdays 9-18 but on vacation: off", WEEKDAYS_9_18, (VACATION,), None, TUE_10, False),
    ("vacation over (last day was yesterday): on",
     WEEKDAYS_9_18, (Absence(date(2026, 11, 23), date(2026, 11, 30)),), None, TUE_10, True),
    ("sick day is just today: off", WEEKDAYS_9_18, (Absence(date(2026, 12, 1), date(2026, 12, 1), "sick"),),
     None, TUE_10, False),
    ("on schedule but 'off now': off", WEEKDAYS_9_18, (), at(1, 11), TUE_10, False),
    ("night shift Mon 22-06: Monday 23:00 on", NIGHTS, (), None,
     datetime(2026, 11, 30, 23, tzinfo=MSK), True),
    ("night shift Mon 22-06: Tuesday 05:59 on (past midnight)", NIGHTS, (), None, at(1, 5, 59), True),
    ("night shift Mon 22-06: Tuesday 06:00 off", NIGHTS, (), None, at(1, 6), False),
    ("night shift Mon 22-06: Monday 21:59 off", NIGHTS, (), None,
     datetime(2026, 11, 30, 21, 59, tzinfo=MSK), False),
    ("night shift Sun 22-06 wraps into Monday morning", (Shift(6, time(22), time(6)),), (), None,
     datetime(2026, 11, 30, 3, tzinfo=MSK), True),
    ("00:00-00:00 is the whole day", (Shift(1, time(0), time(0)),), (), None, at(1, 23, 59), True),
    ("a Monday-only shift does not cover Tuesday", (Shift(0, time(0), time(23, 59)),), (), None,
     TUE_10, False),
]


@pytest.mark.parametrize("schedule,exceptions,override,now,expected",
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_on_duty(schedule, exceptions, override, now, expected):
    assert on_duty(schedule, exceptions, override, now) is expected


def test_off_now_lasts_until_midnight_or_n_hours():
    assert off_now_until(at(1, 10, 30)) == datetime(2026, 12, 2, 0, 0, tzinfo=MSK)
    assert off_now_until(at(1, 10, 30), hours=2) == at(1, 12, 30)


# ---- the directory reads the same answer -------------------------------------------------
def test_directory_reads_schedules_absences_and_off_now_by_the_clock(tmp_path):
    from pbx_daemon import db
    from pbx_daemon.crm import models as m
    from pbx_daemon.telephony.routing.directory import load_directory

    url = f"sqlite:///{tmp_path}/duty.sqlite3"
    db.upgrade(url)
    with db.make_session_factory(db.make_engine(url))() as s:
        people = {name: m.Employee(full_name=name, login=name, sip_endpoint=ext)
                  for name, ext in (("free", "101"), ("office", "102"), ("away", "103"),
                                    ("resting", "104"))}
        s.add_all(people.values())
        s.flush()
        s.add_all(m.EmployeeShift(employee_id=people["office"].id, weekday=d, starts=time(9),
                                  ends=time(18)) for d in range(5))
        s.add(m.EmployeeAbsence(employee_id=people["away"].id, kind="sick",
                                first_day=date(2026, 12, 1), last_day=date(2026, 12, 2)))
        now = TUE_10.astimezone(timezone.utc)
        people["resting"].off_until = now + timedelta(seconds=3)
        s.commit()
        ids = {name: e.id for name, e in people.items()}

        def duty(when):
            agents = load_directory(s, now=when, tz="Europe/Moscow").agents
            return {name: agents[i].on_shift for name, i in ids.items()}

        assert duty(now) == {"free": True, "office": True, "away": False, "resting": False}
        assert duty(now + timedelta(seconds=3)) == {"free": True, "office": True, "away": False,
                                                    "resting": True}
        # 19:00 Moscow: the office shift is over.
        assert duty(now + timedelta(hours=9))["office"] is False


def test_the_process_agi_fallback_skips_an_employee_off_now(tmp_path):
    """agi_scripts/route.py gets the daemon's answer: Anna off now, her client's call
    starts with the group, without her."""
    import importlib.util
    from pathlib import Path

    from pbx_daemon import db
    from pbx_daemon.config import load_config
    from pbx_daemon.crm import models as m

    url = f"sqlite:///{tmp_path}/agi.sqlite3"
    db.upgrade(url)
    with db.make_session_factory(db.make_engine(url))() as s:
        sales = m.Department(name="Sales")
        s.add(sales)
        s.flush()
        anna = m.Employee(full_name="Anna", login="anna", sip_endpoint="101", department_id=sales.id)
        s.add_all([anna, m.Employee(full_name="Boris", login="boris", sip_endpoint="102",
                                    department_id=sales.id)])
        s.flush()
        s.add(m.Company(name="Client", responsible_id=anna.id,
                        phones=[m.CompanyPhone(phone="+79161234567")]))
        s.commit()
        config = load_config(None, {"PBX_CRM_DATABASE_URL": url,
                                    "PBX_CRM_GENERAL_TIMEZONE": "Europe/Moscow"})
        path = Path(__file__).resolve().parents[2] / "agi_scripts" / "route.py"
        spec = importlib.util.spec_from_file_location("agi_route", path)
        route = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(route)

        def first_step():
            return dict(route.route(config, "+79161234567", "+74951110001"))["PBXCRM_DIAL_1"]

        assert first_step() == "PJSIP/101"
        anna.off_until = datetime.now(timezone.utc) + timedelta(hours=1)
        s.commit()
        assert first_step() == "PJSIP/102"

"""Calls outside working hours: the lookup finds the department closed, the after-hours
state machine greets and records, the store leaves one inquiry with a call-back task due
at the next opening, and the voicemail's recording makes it a voicemail."""

from __future__ import annotations

import wave
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from twisted.internet.defer import succeed
from twisted.internet.task import Clock

from pbx_daemon.crm import models as m
from pbx_daemon.crm.greetings import GreetingError, check_greeting, store_greeting
from pbx_daemon.db import make_engine, make_session_factory, seed_reference_data
from pbx_daemon.telephony.ari.control import STOCK_GREETING, AriAfterHoursControl
from pbx_daemon.telephony.ari.messages import Channel
from pbx_daemon.telephony.calls import after_hours as ah
from pbx_daemon.telephony.calls.after_hours import AfterHoursCall
from pbx_daemon.telephony.calls.inbound_calls import InboundCalls
from pbx_daemon.telephony.calls.interfaces import CallDetails
from pbx_daemon.telephony.outputs.store import SqlCallRecorder
from pbx_daemon.telephony.routing.lookup import look_up
from pbx_daemon.telephony.routing.policy import Caller, Directory, RoutePlan, StepTimeouts
from pbx_daemon.telephony.routing.schedule import AfterHours
from pbx_daemon.testing import FakeAfterHoursControl, FakeCallControl, MemoryRecorder

MSK = ZoneInfo("Europe/Moscow")
NUMBER = "+79165550001"
SALES_NUMBER = "+74951110001"
OPENS = datetime(2024, 4, 24, 9, 0, tzinfo=MSK)
CLOSED = RoutePlan(steps=(), department_id=1, after_hours=AfterHours(1, OPENS, None))


def _machine(plan=CLOSED):
    clock, control, recorder = Clock(), FakeAfterHoursControl(), MemoryRecorder()
    call = AfterHoursCall("1700.1", "1700.1", plan, control, recorder, clock, "1700.1")
    return clock, control, recorder, call


def test_greeting_then_voicemail_then_hangup_stores_the_call_and_leaves_no_timer():
    clock, control, recorder, call = _machine()
    call.start()
    assert control.actions == [("greet_and_record", "1700.1", "1700.1", None,
                                ah.VOICEMAIL_SECONDS, ah.VOICEMAIL_SILENCE)]
    clock.advance(30)
    call.recording_finished("someone-else")  # another call's recording: nothing
    assert call.state == "voicemail"
    call.recording_finished("1700.1")
    assert control.actions[-1] == ("hangup", "1700.1", 16)
    assert call.state == "ended" and call.answered_leg == "1700.1"
    assert recorder.of("ended") == [("ended", "after_hours", 30)]
    call.caller_hung_up()  # the hang-up we asked for: nothing more
    assert len(recorder.of("ended")) == 1
    assert clock.getDelayedCalls() == []


def test_caller_hanging_up_during_the_greeting_ends_the_call():
    clock, control, recorder, call = _machine()
    call.start()
    clock.advance(3)
    call.caller_hung_up()
    assert recorder.of("ended") == [("ended", "after_hours", 3)]
    assert [a[0] for a in control.actions] == ["greet_and_record"]
    assert clock.getDelayedCalls() == []


def test_a_lost_event_does_not_hold_the_caller_forever():
    clock, control, recorder, call = _machine()
    call.start()
    clock.advance(ah.GUARD_SECONDS)
    assert control.actions[-1] == ("hangup", "1700.1", 16)
    assert recorder.of("ended") == [("ended", "after_hours", ah.GUARD_SECONDS)]
    assert clock.getDelayedCalls() == []


def test_inbound_calls_take_the_after_hours_path_when_the_plan_says_closed():
    clock, control, after, recorder = Clock(), FakeCallControl(), FakeAfterHoursControl(), MemoryRecorder()
    over = []
    closed = AfterHours(1, OPENS, "dept-1-0123456789abcdef.wav")

    def lookup(caller_raw, dialled, busy, now):
        return succeed((Caller(NUMBER, department_id=1, after_hours=closed), Directory()))

    calls = InboundCalls(control=control, recorder=recorder, clock=clock, lookup=lookup,
                         timeouts=StepTimeouts(), deadline=1.0, busy_endpoints=frozenset,
                         call_over=lambda call_id, answered: over.append((call_id, answered)),
                         after_hours=after)
    calls.start(Channel("1700.2", caller_number=NUMBER), SALES_NUMBER)
    assert after.actions[0][:4] == ("greet_and_record", "1700.2", "1700.2", closed.greeting_file)
    assert not [a for a in control.actions if a[0] == "ring"]
    assert recorder.details["1700.2"].callback_from == OPENS
    calls.recording_finished("1700.2")
    assert calls.calls == {} and over == [("1700.2", True)]  # the watch looks for the file
    assert recorder.of("ended") == [("ended", "after_hours", 0)]
    assert clock.getDelayedCalls() == []


def test_the_ari_greeting_is_our_file_by_absolute_path_or_the_stock_prompt():
    control = AriAfterHoursControl(object(), "/var/lib/pbx-crm/greetings")
    assert control.media("dept-3-0123456789abcdef.wav") == "sound:/var/lib/pbx-crm/greetings/dept-3-0123456789abcdef"
    assert control.media(None) == STOCK_GREETING
    assert control.media("../../etc/passwd.wav") == STOCK_GREETING


# ---- the lookup ------------------------------------------------------------------------
@pytest.fixture
def factory():
    engine = make_engine("sqlite://")
    m.Base.metadata.create_all(engine)
    sessions = make_session_factory(engine)
    with sessions() as s:
        seed_reference_data(s)
        sales = m.Department(name="Sales")
        s.add(sales)
        s.flush()
        s.add(m.Employee(full_name="Anna", login="anna", department_id=sales.id, sip_endpoint="101"))
        s.add(m.TrackingNumber(number=SALES_NUMBER, department_id=sales.id))
        s.commit()
    yield sessions
    engine.dispose()


def _hours(s, text="09:00-18:00", days=range(5), **owner):
    for d in range(7):
        s.add(m.WorkingHours(weekday=d, ranges=text if d in days else "", **owner))
    s.commit()


def _sales(s):
    return s.scalar(select(m.Department.id).where(m.Department.name == "Sales"))


@pytest.mark.parametrize("what,at,closed_until", [
    ("Tuesday noon: open", datetime(2024, 4, 23, 12, 0, tzinfo=MSK), None),
    ("Tuesday night: closed until Wednesday 09:00", datetime(2024, 4, 23, 22, 0, tzinfo=MSK), OPENS),
    ("1 May (holiday): closed until 2 May", datetime(2024, 5, 1, 12, 0, tzinfo=MSK),
     datetime(2024, 5, 2, 9, 0, tzinfo=MSK)),
    ("27 April 2024 (moved working Saturday): open", datetime(2024, 4, 27, 12, 0, tzinfo=MSK), None),
])
def test_the_lookup_knows_the_dialled_departments_hours(factory, what, at, closed_until):
    with factory() as s:
        _hours(s, department_id=_sales(s))
        caller, _ = look_up(s, NUMBER, SALES_NUMBER, at.astimezone(timezone.utc), "RU", tz="Europe/Moscow", hours=True)
    if closed_until is None:
        assert caller.after_hours is None
    else:
        assert caller.after_hours.opens_at == closed_until
        assert caller.after_hours.department_id is not None


def test_no_hours_means_always_open_and_the_agi_path_never_checks(factory):
    night = datetime(2024, 4, 23, 22, 0, tzinfo=MSK)
    with factory() as s:
        assert look_up(s, NUMBER, SALES_NUMBER, night, "RU", tz="Europe/Moscow", hours=True)[0].after_hours is None
        _hours(s, department_id=_sales(s))
        assert look_up(s, NUMBER, SALES_NUMBER, night, "RU")[0].after_hours is None  # no tz: AGI


def test_a_tracking_numbers_hours_replace_the_departments(factory):
    night = datetime(2024, 4, 23, 22, 0, tzinfo=MSK)
    with factory() as s:
        _hours(s, department_id=_sales(s))
        number = s.scalar(select(m.TrackingNumber.id))
        _hours(s, "00:00-24:00", range(7), tracking_number_id=number)
        assert look_up(s, NUMBER, SALES_NUMBER, night, "RU", tz="Europe/Moscow", hours=True)[0].after_hours is None


def test_an_admins_closed_day_closes_and_a_working_day_opens(factory):
    with factory() as s:
        _hours(s, department_id=_sales(s))
        s.add(m.CalendarDay(day=date(2024, 4, 23), kind="closed"))
        s.add(m.CalendarDay(day=date(2024, 5, 1), kind="working", department_id=_sales(s)))
        s.commit()
        tuesday = datetime(2024, 4, 23, 12, 0, tzinfo=MSK)
        may_day = datetime(2024, 5, 1, 12, 0, tzinfo=MSK)
        assert look_up(s, NUMBER, SALES_NUMBER, tuesday, "RU", tz="Europe/Moscow", hours=True)[0].after_hours is not None
        assert look_up(s, NUMBER, SALES_NUMBER, may_day, "RU", tz="Europe/Moscow", hours=True)[0].after_hours is None


def test_a_blocked_caller_is_refused_after_hours_too(factory):
    with factory() as s:
        _hours(s, department_id=_sales(s))
        s.add(m.BlockedNumber(phone=NUMBER))
        s.commit()
        caller, _ = look_up(s, NUMBER, SALES_NUMBER, datetime(2024, 4, 23, 22, 0, tzinfo=MSK), "RU",
                            tz="Europe/Moscow", hours=True)
    assert caller.blocked and caller.after_hours is None


# ---- the store -------------------------------------------------------------------------
def _wav(path, seconds):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * int(8000 * seconds))


@pytest.mark.parametrize("seconds,outcome", [(5, "voicemail"), (0.3, "after_hours")])
def test_after_hours_call_is_one_inquiry_with_a_task_due_at_the_next_opening(factory, tmp_path, seconds, outcome):
    spool, store = tmp_path / "spool", tmp_path / "store"
    spool.mkdir()
    recorder = SqlCallRecorder(factory, run=lambda fn: succeed(fn()), callback_deadline_minutes=15,
                               spool_dir=str(spool), store_dir=str(store), tz="Europe/Moscow")
    night = datetime(2024, 4, 23, 22, 0, tzinfo=MSK).timestamp()
    with factory() as s:
        sales = _sales(s)
        s.get(m.Department, sales).duty_employee_id = s.scalar(select(m.Employee.id))
        s.commit()
    plan = RoutePlan(steps=(), department_id=sales, after_hours=AfterHours(sales, OPENS))
    recorder.caller_identified("1700.3", CallDetails(NUMBER, NUMBER, SALES_NUMBER, callback_from=OPENS))
    recorder.call_started("1700.3", "1700.3", plan, night)
    recorder.call_ended("1700.3", "after_hours", night + 40)
    _wav(spool / "1700.3.wav", seconds)
    recorder.recording_finished("1700.3")
    with factory() as s:
        call = s.scalar(select(m.Call))
        assert call.outcome == outcome and call.recording is not None
        assert (store / "1700.3.wav").is_file()
        assert s.scalar(select(func.count(m.Inquiry.id))) == 1
        assert call.inquiry_id == s.scalar(select(m.Inquiry.id))
        task = s.scalar(select(m.Task))
        assert task.deadline == OPENS + timedelta(minutes=15)
        assert "нерабочее время" in task.comment


# ---- greetings --------------------------------------------------------------------------
def test_a_greeting_upload_is_checked_rewritten_and_named_by_us(tmp_path):
    _wav(tmp_path / "in.wav", 1)
    data = (tmp_path / "in.wav").read_bytes() + b"trailing junk"
    name = store_greeting(tmp_path / "greetings", 3, data)
    assert name.startswith("dept-3-") and name.endswith(".wav")
    with wave.open(str(tmp_path / "greetings" / name)) as w:
        assert (w.getnchannels(), w.getframerate(), w.getnframes()) == (1, 8000, 8000)


@pytest.mark.parametrize("data", [
    b"", b"MZ\x90\x00 not audio", b"RIFF\x00\x00\x00\x00WAVEjunk",
    b"\xd0" + b"\0" * 31,  # a GSM frame one byte short
])
def test_a_greeting_that_is_not_audio_is_refused(data):
    with pytest.raises(GreetingError):
        check_greeting(data)


def test_a_stereo_or_44khz_wav_is_refused_with_the_format_to_use(tmp_path):
    with wave.open(str(tmp_path / "s.wav"), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(b"\0" * 400)
    with pytest.raises(GreetingError, match="8000"):
        check_greeting((tmp_path / "s.wav").read_bytes())


# ---- the figures -------------------------------------------------------------------------
def test_the_lost_call_rate_counts_working_hours_calls_only():
    from pbx_daemon.crm.stats.analytics import lost_call_rate, per_department, totals
    from pbx_daemon.crm.stats.report import build_daily, render_html, render_text
    from tests.unit.helpers import memory_session

    day = date(2024, 4, 23)
    with memory_session() as s:
        sales = m.Department(name="Sales")
        s.add(sales)
        s.flush()
        for n, (hour, outcome) in enumerate([(12, "answered"), (13, "missed"), (22, "after_hours"),
                                             (23, "voicemail")]):
            at = datetime(2024, 4, 23, hour, 0, tzinfo=MSK)
            s.add(m.Call(linkedid=f"c{n}", direction="inbound", outcome=outcome, caller=f"+7916555000{n}",
                         started_at=at, ended_at=at + timedelta(minutes=1), department_id=sales.id))
        s.commit()
        (lcr,) = lost_call_rate(s, day, day, "Europe/Moscow")
        assert (lcr.inbound, lcr.missed, lcr.rate) == (2, 1, 0.5)
        assert (lcr.after_hours, lcr.voicemail) == (2, 1)
        (dept,) = per_department(s, day, day, "Europe/Moscow")
        assert (dept.calls_in, dept.missed, dept.after_hours, dept.voicemail) == (2, 1, 2, 1)
        assert (totals([dept]).after_hours, totals([lcr]).voicemail) == (2, 1)
        report = build_daily(s, day, "Europe/Moscow")
        assert "AFTER HOURS: 2 calls, 1 voicemails" in render_text(report)
        assert "After hours: 2 calls, 1 voicemails" in render_html(report)

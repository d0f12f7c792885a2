"""The analytics on a fixed, hand-counted day (in-memory SQLite; Europe/Moscow days)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from pbx_daemon.crm import models as m
from pbx_daemon.crm.stats.analytics import (day_bounds, lost_call_rate, per_department, per_employee,
                                  per_operator, per_source)
from tests.unit.helpers import memory_session

TZ = "Europe/Moscow"
D = date(2026, 11, 20)
T = datetime(2026, 11, 20, 7, 0, tzinfo=timezone.utc)  # 10:00 in Moscow


@pytest.fixture
def s():
    with memory_session() as session:
        sales = m.Department(name="Sales")
        session.add(sales)
        session.flush()
        anna = m.Employee(full_name="Anna", login="anna", department_id=sales.id, mobile="+79990001111")
        boris = m.Employee(full_name="Boris", login="boris", department_id=sales.id)
        olga = m.Employee(full_name="Olga", login="olga", role="cold_operator")
        session.add_all([anna, boris, olga])
        session.flush()
        spam = session.query(m.InquiryClass).filter_by(code="spam").one()
        spam_inq = m.Inquiry(channel="call", phone="+79005550006", class_id=spam.id, status="closed",
                             first_seen_at=T, last_seen_at=T)
        session.add(spam_inq)
        session.flush()
        n = iter(range(100))

        def call(minutes, direction="inbound", outcome="answered", **kw):
            kw.setdefault("department_id", sales.id)
            c = m.Call(linkedid=f"c{next(n)}", direction=direction, outcome=outcome,
                       started_at=T + timedelta(minutes=minutes), **kw)
            session.add(c)
            session.flush()
            return c

        call(0, caller="+79001110001", answered_by_id=anna.id, talk_seconds=120)
        call(1, caller="+79001110002", answered_by_id=boris.id, talk_seconds=60)
        c3 = call(2, caller="+79001110003", outcome="missed", recovered_at=T + timedelta(minutes=32))
        c4 = call(3, caller="+79001110004", outcome="missed", recovered_at=T + timedelta(hours=3))
        for c, who in ((c3, anna), (c3, boris), (c4, anna)):
            session.add(m.CallLeg(call_id=c.id, employee_id=who.id, endpoint="PJSIP/x", ringing_at=c.started_at,
                                  outcome="no_answer"))
        staff = call(4, caller="+79990001111", outcome="missed")  # our own staff: not counted
        session.add(m.CallLeg(call_id=staff.id, employee_id=anna.id, endpoint="PJSIP/x",
                              ringing_at=staff.started_at, outcome="no_answer"))
        call(5, caller="+79005550006", outcome="missed", inquiry_id=spam_inq.id)  # spam: not counted
        call(6, caller="+79005550007", outcome="blocked")  # blocklisted: not counted
        call(7, direction="outbound", callee="+79001110001", employee_id=anna.id, answered_by_id=anna.id,
             talk_seconds=180)
        call(8, direction="outbound", outcome="no_answer", callee="+79001110008", employee_id=anna.id)
        call(24 * 60, caller="+79001110009", answered_by_id=anna.id, talk_seconds=30)  # the next day
        # cold calling: Olga called two entries of her list, one became a lead
        lst = m.CallList(name="L")
        session.add(lst)
        session.flush()
        lead = m.Lead(title="from cold call")
        session.add(lead)
        session.flush()
        for i, (lead_id, talk) in enumerate(((lead.id, 90), (None, 30))):
            e = m.CallListEntry(call_list_id=lst.id, phone=f"+7903000000{i}", status="done",
                                assigned_operator_id=olga.id, lead_id=lead_id, updated_at=T)
            session.add(e)
            session.flush()
            call(10 + i, direction="outbound", callee=e.phone, employee_id=olga.id, answered_by_id=olga.id,
                 talk_seconds=talk, call_list_entry_id=e.id, department_id=None)
        session.add(m.Deal(title="D", stage_id=1, responsible_id=anna.id, created_at=T))
        session.commit()
        yield session


def test_lost_call_rate_excludes_spam_staff_and_blocked_and_counts_quick_recoveries(s):
    days = lost_call_rate(s, D, D + timedelta(days=1), TZ, recovered_within_minutes=60)
    assert [(d.day, d.inbound, d.missed, d.recovered) for d in days] == [(D, 4, 2, 1), (D + timedelta(days=1), 1, 0, 0)]
    assert days[0].rate == 0.5 and days[0].recovered_share == 0.5
    assert lost_call_rate(s, D, D, TZ, recovered_within_minutes=240)[0].recovered == 2


def test_per_employee_figures(s):
    rows = {r.name: r for r in per_employee(s, D, D, TZ)}
    anna, boris = rows["Anna"], rows["Boris"]
    assert (anna.calls_in, anna.calls_out, anna.answered, anna.missed, anna.minutes, anna.avg_seconds,
            anna.deals, anna.deals_per_call) == (1, 2, 2, 2, 5.0, 150.0, 1, 0.5)
    assert (boris.calls_in, boris.calls_out, boris.answered, boris.missed, boris.minutes) == (1, 0, 1, 1, 1.0)


def test_per_department_figures(s):
    (sales,) = [d for d in per_department(s, D, D, TZ) if d.name == "Sales"]
    assert (sales.calls_in, sales.answered, sales.missed, sales.calls_out, sales.minutes) == (4, 2, 2, 2, 6.0)
    assert sales.lost_rate == 0.5
    # 120 + 60 + 180 s over Anna's, Boris's and Anna's outbound answered calls; Anna's one deal.
    assert (sales.avg_seconds, sales.deals, round(sales.deals_per_call, 3)) == (120.0, 1, 0.333)


def test_per_operator_and_per_source(s):
    (olga,) = per_operator(s, D, D, TZ)
    assert (olga.calls, olga.minutes, olga.avg_seconds, olga.entries_worked, olga.leads, olga.deals) == \
        (2, 2.0, 60.0, 2, 1, 0)
    assert olga.conversion == 0.5
    (src,) = per_source(s, D, D, TZ)
    assert (src.source, src.inquiries, src.spam, src.spam_share) == ("(no source)", 1, 1, 1.0)


def test_moscow_days_are_utc_ranges():
    assert day_bounds(D, TZ) == (datetime(2026, 11, 19, 21, tzinfo=timezone.utc),
                                 datetime(2026, 11, 20, 21, tzinfo=timezone.utc))


def test_daily_report_puts_the_lost_call_rate_first_and_escapes_names(s):
    from pbx_daemon.crm.stats.report import build_daily, render_html, render_text

    s.query(m.Employee).filter_by(login="boris").one().full_name = "<b>Boris</b>"
    s.commit()
    r = build_daily(s, D, TZ, 60)
    text = render_text(r)
    assert text.splitlines()[2].startswith("LOST CALL RATE: 50.0 %  (2 missed of 4 inbound; 1 called back")
    html = render_html(r)
    assert html.index('id="lcr"') < html.index("<h3>Departments") and "&lt;b&gt;Boris" in html



# ---- the rollup stays right as calls change --------------------------------------------------
def _lcr(s, **kw):
    (day,) = lost_call_rate(s, D, D, TZ, **kw)
    return day.inbound, day.missed, day.recovered


def test_a_later_spam_classification_takes_the_call_out_of_the_built_day(s):
    assert _lcr(s) == (4, 2, 1)
    missed = s.query(m.Call).filter_by(caller="+79001110004").one()
    spam = s.query(m.InquiryClass).filter_by(code="spam").one()
    inquiry = m.Inquiry(channel="call", phone=missed.caller, status="open", first_seen_at=T, last_seen_at=T)
    s.add(inquiry)
    s.flush()
    missed.inquiry_id = inquiry.id
    s.commit()
    assert _lcr(s) == (4, 2, 1)  # an open inquiry changes nothing
    inquiry.class_id = spam.id  # the manager classes it Spam a day later
    s.commit()
    assert _lcr(s) == (3, 1, 1)


def test_a_new_call_a_recovery_and_a_new_staff_mobile_reach_the_built_day(s):
    assert _lcr(s) == (4, 2, 1)
    s.add(m.Call(linkedid="late", direction="inbound", outcome="missed", caller="+79001110077",
                 department_id=s.query(m.Department).one().id, started_at=T + timedelta(hours=5)))
    s.commit()
    assert _lcr(s) == (5, 3, 1)
    late = s.query(m.Call).filter_by(linkedid="late").one()
    late.recovered_at = late.started_at + timedelta(minutes=10)
    s.commit()
    assert _lcr(s) == (5, 3, 2)
    # The caller turns out to be Boris's new mobile: his calls are staff calls, not counted.
    s.query(m.Employee).filter_by(login="boris").one().mobile = "+79001110077"
    s.commit()
    assert _lcr(s) == (4, 2, 1)


def test_a_rollup_built_for_another_time_zone_is_rebuilt():
    from pbx_daemon.crm.stats.rollup import stale_days

    with memory_session() as s:
        # 23:30 in Moscow on D is 20:30 UTC: still D in Moscow, D in London, D+1 in Vladivostok.
        s.add(m.Call(linkedid="x", direction="inbound", outcome="answered", caller="+79001110001",
                     started_at=datetime(2026, 11, 20, 20, 30, tzinfo=timezone.utc)))
        s.commit()
        assert [d.inbound for d in lost_call_rate(s, D, D + timedelta(days=1), TZ)] == [1, 0]
        assert stale_days(s, D, D + timedelta(days=1), TZ) == []
        vlad = "Asia/Vladivostok"
        assert stale_days(s, D, D + timedelta(days=1), vlad) == [D, D + timedelta(days=1)]
        assert [d.inbound for d in lost_call_rate(s, D, D + timedelta(days=1), vlad)] == [0, 1]


def test_the_daemons_refresh_leaves_nothing_stale_and_a_rebuild_covers_the_history(s):
    from pbx_daemon.crm.stats.rollup import rebuild, refresh_dirty, stale_days

    clock = lambda: datetime(2026, 11, 22, 12, tzinfo=timezone.utc)  # noqa: E731
    assert rebuild(s, TZ, now=clock) == [D, D + timedelta(days=1), D + timedelta(days=2)]
    assert s.query(m.CallStatDirty).count() == 0
    s.query(m.Call).filter_by(caller="+79001110002").one().talk_seconds = 600
    s.commit()
    assert stale_days(s, D, D + timedelta(days=2), TZ) == [D]
    assert refresh_dirty(s, TZ, now=clock) == [D]
    assert stale_days(s, D, D + timedelta(days=2), TZ) == []
    (sales,) = [d for d in per_department(s, D, D, TZ) if d.name == "Sales"]
    assert sales.minutes == 15.0  # 120 + 600 + 180 s


def test_the_rollup_agrees_with_a_plain_count_of_random_calls():
    """A year's worth of shapes in a week: the rollup sums must equal counting the calls."""
    import random

    rnd = random.Random(6)
    with memory_session() as s:
        depts = [m.Department(name=f"D{i}") for i in range(3)]
        s.add_all(depts)
        s.flush()
        emps = [m.Employee(full_name=f"E{i}", login=f"e{i}", department_id=depts[i % 3].id,
                           mobile=f"+7999000000{i}") for i in range(6)]
        s.add_all(emps)
        s.flush()
        spam = s.query(m.InquiryClass).filter_by(code="spam").one()
        spam_inq = m.Inquiry(channel="call", phone="+79005550006", class_id=spam.id, status="closed",
                             first_seen_at=T, last_seen_at=T)
        s.add(spam_inq)
        s.flush()
        calls = []
        for i in range(600):
            at = T + timedelta(minutes=rnd.randrange(7 * 24 * 60))
            outcome = rnd.choice(["answered", "answered", "missed", "blocked", "in_progress"])
            staff = rnd.random() < 0.1
            c = m.Call(linkedid=f"r{i}", direction="inbound", outcome=outcome, started_at=at,
                       caller=emps[0].mobile if staff else f"+7916{i:07d}",
                       department_id=rnd.choice(depts).id,
                       answered_by_id=rnd.choice(emps).id if outcome == "answered" else None,
                       talk_seconds=rnd.randrange(600) if outcome == "answered" else None,
                       inquiry_id=spam_inq.id if rnd.random() < 0.1 else None,
                       disposition="own" if rnd.random() < 0.05 else None,
                       recovered_at=at + timedelta(minutes=rnd.randrange(1, 180))
                       if outcome == "missed" and rnd.random() < 0.6 else None)
            s.add(c)
            calls.append(c)
        s.commit()
        last = D + timedelta(days=7)
        got = {(d.day, d.inbound, d.missed, d.recovered)
               for d in lost_call_rate(s, D, last, TZ, recovered_within_minutes=45)}
        counted = [c for c in calls if c.outcome not in ("blocked", "in_progress") and not
                   (c.caller == emps[0].mobile or c.inquiry_id or c.disposition == "own")]
        want = set()
        for i in range(8):
            day = D + timedelta(days=i)
            start, end = day_bounds(day, TZ)
            today = [c for c in counted if start <= c.started_at < end]
            missed = [c for c in today if c.outcome == "missed"]
            quick = [c for c in missed if c.recovered_at and c.recovered_at - c.started_at <= timedelta(minutes=45)]
            want.add((day, len(today), len(missed), len(quick)))
        assert got == want
        assert sum(d.inbound for d in lost_call_rate(s, D, last, TZ)) > 200  # the data is not trivial
        start, end = day_bounds(D, TZ)[0], day_bounds(last, TZ)[1]
        week = [c for c in calls if start <= c.started_at < end]
        assert {(d.department_id, d.calls_in, d.missed, d.minutes) for d in per_department(s, D, last, TZ)} == {
            (dept.id, sum(1 for c in counted if c in week and c.department_id == dept.id),
             sum(1 for c in counted if c in week and c.department_id == dept.id and c.outcome == "missed"),
             round(sum(c.talk_seconds or 0 for c in week if c.department_id == dept.id) / 60, 1))
            for dept in depts}
        assert {(e.employee_id, e.calls_in, e.minutes) for e in per_employee(s, D, last, TZ)} == {
            (e.id, sum(1 for c in week if c.answered_by_id == e.id),
             round(sum(c.talk_seconds for c in week if c.answered_by_id == e.id) / 60, 1)) for e in emps}


def test_stats_cli_rebuilds_a_history_and_refuses_bad_dates(tmp_path, monkeypatch, capsys):
    from pbx_daemon import db
    from pbx_daemon.cli import main

    url = f"sqlite:///{tmp_path}/pbx.sqlite3"
    monkeypatch.setenv("PBX_CRM_DATABASE_URL", url)
    monkeypatch.delenv("PBX_CRM_CONFIG", raising=False)
    db.upgrade(url)
    engine = db.make_engine(url)
    with db.make_session_factory(engine)() as s:
        s.add(m.Call(linkedid="a", direction="inbound", outcome="missed", caller="+79001110001", started_at=T))
        s.commit()
    assert main(["stats", "rebuild", "--from", "2026-11-19", "--to", "2026-11-21"]) == 0
    assert "3 days (2026-11-19 .. 2026-11-21)" in capsys.readouterr().out
    with db.make_session_factory(engine)() as s:
        assert s.query(m.CallStat).filter_by(day=D, outcome="missed").one().calls == 1
    assert main(["stats", "status"]) == 0
    assert "3 days built for Europe/Moscow; 0 changed" in capsys.readouterr().out
    assert main(["stats", "rebuild", "--from", "2026-11-31"]) == 2
    assert "--from '2026-11-31': use YYYY-MM-DD" in capsys.readouterr().err
    assert main(["stats", "rebuild", "--from", "2026-11-21", "--to", "2026-11-19"]) == 2
    engine.dispose()


def test_the_daemons_job_builds_a_history_it_never_saw_a_slice_at_a_time(s):
    from pbx_daemon.crm.stats.rollup import refresh, unbuilt_days

    clock = lambda: datetime(2026, 11, 25, 12, tzinfo=timezone.utc)  # noqa: E731
    today = date(2026, 11, 25)
    # The fixture's calls were stored by an older version: no day was ever built.
    s.query(m.CallStatDay).delete()
    s.query(m.CallStatDirty).delete()
    s.commit()
    assert unbuilt_days(s, TZ, today) == [today - timedelta(days=i) for i in range(6)]
    assert refresh(s, TZ, now=clock, backfill_days=4) == [today - timedelta(days=i) for i in range(4)]
    assert refresh(s, TZ, now=clock, backfill_days=4) == [D + timedelta(days=1), D]
    assert unbuilt_days(s, TZ, today) == [] and refresh(s, TZ, now=clock) == []
    assert _lcr(s) == (4, 2, 1)


def test_internal_calls_stay_out_of_every_client_figure(s):
    """A desk phone calling another (direction internal) counts nowhere: not as a call in
    or out, not as talk time, not in the Lost Call Rate, per employee or per department."""
    before = (lost_call_rate(s, D, D, TZ), per_employee(s, D, D, TZ), per_department(s, D, D, TZ))
    anna, boris = (s.query(m.Employee).filter_by(login=x).one() for x in ("anna", "boris"))
    for minutes, outcome in ((20, "answered"), (21, "no_answer"), (22, "missed")):
        s.add(m.Call(linkedid=f"internal-{minutes}", direction="internal", outcome=outcome,
                     started_at=T + timedelta(minutes=minutes), employee_id=anna.id,
                     answered_by_id=boris.id if outcome == "answered" else None,
                     department_id=anna.department_id, caller_raw="101", dialled_number="102",
                     talk_seconds=600 if outcome == "answered" else None))
    s.commit()
    after = (lost_call_rate(s, D, D, TZ), per_employee(s, D, D, TZ), per_department(s, D, D, TZ))
    assert after == before
    assert not s.query(m.CallStat).filter_by(kind="internal").count()


def test_a_transferred_call_credits_each_employee_their_part(s):
    """Anna answers a call at 10:30, talks 100 s and blind-transfers it to Boris, who talks
    200 s: one inbound call (Anna's, answered), 5 minutes in the department; Anna 100 s of
    it, Boris 200 s and the call he took over."""
    before = {r.name: r for r in per_employee(s, D, D, TZ)}
    sales_before = [d for d in per_department(s, D, D, TZ) if d.name == "Sales"][0]
    anna, boris = (s.query(m.Employee).filter_by(login=x).one() for x in ("anna", "boris"))
    at = T + timedelta(minutes=30)
    call = m.Call(linkedid="xfer", direction="inbound", outcome="answered", caller="+79001110030",
                  started_at=at, answered_at=at, ended_at=at + timedelta(seconds=300),
                  answered_by_id=anna.id, talk_seconds=300, department_id=anna.department_id)
    s.add(call)
    s.flush()
    s.add_all([
        m.CallLeg(call_id=call.id, employee_id=anna.id, endpoint="PJSIP/101", step=1, ringing_at=at,
                  answered_at=at, ended_at=at + timedelta(seconds=100), outcome="answered"),
        m.CallLeg(call_id=call.id, employee_id=boris.id, endpoint="PJSIP/102", step=m.TRANSFER_STEP,
                  ringing_at=at + timedelta(seconds=100), answered_at=at + timedelta(seconds=100),
                  ended_at=at + timedelta(seconds=300), outcome="answered")])
    s.commit()
    after = {r.name: r for r in per_employee(s, D, D, TZ)}
    assert after["Anna"].calls_in == before["Anna"].calls_in + 1
    # (minutes are shown to 0.1: 6 s)
    assert abs((after["Anna"].minutes - before["Anna"].minutes) * 60 - 100) <= 3
    assert after["Boris"].calls_in == before["Boris"].calls_in + 1
    assert abs((after["Boris"].minutes - before["Boris"].minutes) * 60 - 200) <= 3
    sales = [d for d in per_department(s, D, D, TZ) if d.name == "Sales"][0]
    assert (sales.calls_in, sales.answered) == (sales_before.calls_in + 1, sales_before.answered + 1)
    assert abs((sales.minutes - sales_before.minutes) * 60 - 300) <= 3
    parts = {(r.employee_id, r.kind): r.talk_seconds for r in s.query(m.CallStat).filter(
        m.CallStat.kind.in_(("inbound", "transfer")), m.CallStat.talk_seconds > 0)}
    assert parts[(boris.id, "transfer")] == 200
    assert lost_call_rate(s, D, D, TZ)[0].inbound == sales_before.calls_in + 1

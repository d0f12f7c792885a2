"""The analytics on a fixed, hand-counted day (in-memory SQLite; Europe/Moscow days)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from pbx_daemon import models as m
from pbx_daemon.analytics import (day_bounds, lost_call_rate, per_department, per_employee,
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
    start, end = day_bounds(D, TZ)
    rows = {r.name: r for r in per_employee(s, start, end)}
    anna, boris = rows["Anna"], rows["Boris"]
    assert (anna.calls_in, anna.calls_out, anna.answered, anna.missed, anna.minutes, anna.avg_seconds,
            anna.deals, anna.deals_per_call) == (1, 2, 2, 2, 5.0, 150.0, 1, 0.5)
    assert (boris.calls_in, boris.calls_out, boris.answered, boris.missed, boris.minutes) == (1, 0, 1, 1, 1.0)


def test_per_department_figures(s):
    start, end = day_bounds(D, TZ)
    (sales,) = [d for d in per_department(s, start, end) if d.name == "Sales"]
    assert (sales.calls_in, sales.answered, sales.missed, sales.calls_out, sales.minutes) == (4, 2, 2, 2, 6.0)
    assert sales.lost_rate == 0.5


def test_per_operator_and_per_source(s):
    start, end = day_bounds(D, TZ)
    (olga,) = per_operator(s, start, end)
    assert (olga.calls, olga.minutes, olga.avg_seconds, olga.entries_worked, olga.leads, olga.deals) == \
        (2, 2.0, 60.0, 2, 1, 0)
    assert olga.conversion == 0.5
    (src,) = per_source(s, start, end)
    assert (src.source, src.inquiries, src.spam, src.spam_share) == ("(no source)", 1, 1, 1.0)


def test_moscow_days_are_utc_ranges():
    assert day_bounds(D, TZ) == (datetime(2026, 11, 19, 21, tzinfo=timezone.utc),
                                 datetime(2026, 11, 20, 21, tzinfo=timezone.utc))


def test_daily_report_puts_the_lost_call_rate_first_and_escapes_names(s):
    from pbx_daemon.report import build_daily, render_html, render_text

    s.query(m.Employee).filter_by(login="boris").one().full_name = "<b>Boris</b>"
    s.commit()
    r = build_daily(s, D, TZ, 60)
    text = render_text(r)
    assert text.splitlines()[2].startswith("LOST CALL RATE: 50.0 %  (2 missed of 4 inbound; 1 called back")
    html = render_html(r)
    assert html.index('id="lcr"') < html.index("<h3>Departments") and "&lt;b&gt;Boris" in html


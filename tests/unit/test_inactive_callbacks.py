"""Issue 14 item 11: a deactivated employee gets no call-back tasks; the next person in the
missed-call order (duty, head, top) does. The rule, then applied to SQLite."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from pbx_daemon.crm import models as m
from pbx_daemon.crm.inquiries.apply import apply_missed, missed_call_facts
from pbx_daemon.crm.inquiries.rules import (
    CreateInquiry,
    MergeInquiry,
    MissedCall,
    OpenInquiry,
    decide_missed,
)
from tests.unit.helpers import memory_session

AT = datetime(2026, 11, 22, 10, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize("inactive,expected", [
    (frozenset(), 1),
    (frozenset({1}), 2),
    (frozenset({1, 2}), 3),
    (frozenset({1, 2, 3}), 9),
    (frozenset({1, 2, 3, 9}), None),
])
def test_the_call_back_skips_deactivated_people_in_the_missed_call_order(inactive, expected):
    call = MissedCall("+79161234567", AT, owner_id=1, duty_id=2, head_id=3, top_id=9,
                      inactive_ids=inactive)
    decision = decide_missed(call, None, 15)
    assert isinstance(decision, CreateInquiry)
    assert decision.responsible_id == expected
    assert (decision.task_deadline is not None) == (expected is not None)


def test_an_open_inquiry_of_a_deactivated_manager_is_called_back_by_the_next_in_order():
    call = MissedCall("+79161234567", AT, owner_id=1, head_id=3, inactive_ids=frozenset({1}))
    decision = decide_missed(call, OpenInquiry(7, 1, responsible_id=1), 15)
    assert isinstance(decision, MergeInquiry) and decision.task.responsible_id == 3


def test_a_deactivated_managers_client_calls_and_the_head_gets_the_call_back():
    with memory_session() as s:
        sales = m.Department(name="Sales")
        s.add(sales)
        s.flush()
        anna = m.Employee(full_name="Anna", login="anna", department_id=sales.id, active=False)
        vera = m.Employee(full_name="Vera", login="vera", role="head", department_id=sales.id)
        s.add_all([anna, vera])
        s.flush()
        sales.head_id = vera.id
        s.add(m.Company(name="Client", responsible_id=anna.id, phones=[m.CompanyPhone(phone="+79161234567")]))
        for n, at in enumerate((AT, AT + timedelta(hours=2))):
            call = m.Call(linkedid=f"c{n}", direction="inbound", caller="+79161234567", started_at=at,
                          outcome="missed", department_id=sales.id)
            s.add(call)
            s.flush()
            apply_missed(s, call, missed_call_facts(s, call, blocked=False, is_staff=False, owner_id=anna.id,
                                                    source_id=None, tracking_number_id=None, at=at), 15)
            s.flush()
            if n == 0:  # the first call-back done: the next missed call needs a new one
                for task in s.scalars(select(m.Task)):
                    task.status = "done"
                # and an inquiry left with the deactivated manager still goes to the head
                s.scalar(select(m.Inquiry)).responsible_id = anna.id
        tasks = s.scalars(select(m.Task).order_by(m.Task.id)).all()
        assert [t.responsible_id for t in tasks] == [vera.id, vera.id]

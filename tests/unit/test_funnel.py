"""Lead conversion, required task fields, stage-change task rules (in-memory SQLite)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from pbx_daemon.crm import models as m
from pbx_daemon.crm.funnel import FunnelError, convert_lead, move_deal, my_tasks, new_task
from tests.unit.helpers import memory_session

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def s():
    with memory_session() as session:
        session.add(m.Employee(full_name="Anna", login="anna"))
        session.commit()
        yield session


def anna(s):
    return s.scalar(select(m.Employee).where(m.Employee.login == "anna"))


def test_lead_converts_into_company_contact_and_deal_keeping_links_and_calls(s):
    lead = m.Lead(title="Окна в офис", full_name="Пётр", company_name="ООО Окна",
                  phone="+79161112233", email="p@okna.ru", responsible_id=anna(s).id)
    s.add(lead)
    s.flush()
    s.add(m.Call(linkedid="x1", direction="inbound", caller="+79161112233", started_at=NOW,
                 outcome="answered", lead_id=lead.id))
    s.flush()
    result = convert_lead(s, lead, by=anna(s), now=NOW)
    deal = s.get(m.Deal, result.deal_id)
    assert (deal.lead_id, deal.company_id, deal.contact_id, deal.responsible_id) == \
        (lead.id, result.company_id, result.contact_id, anna(s).id)
    assert deal.stage.name == "Новая" and lead.status == "converted"
    assert s.get(m.Company, result.company_id).phones[0].phone == "+79161112233"
    assert s.get(m.Contact, result.contact_id).company_id == result.company_id
    call = s.scalar(select(m.Call).where(m.Call.linkedid == "x1"))
    assert (call.deal_id, call.contact_id) == (deal.id, result.contact_id)
    with pytest.raises(FunnelError):
        convert_lead(s, lead, by=anna(s), now=NOW)


def test_a_task_needs_every_field(s):
    with pytest.raises(FunnelError) as e:
        new_task(s, title="", type="fax", responsible_id=None, deadline=None, comment=" ",
                 created_by=None, now=NOW)
    assert all(w in str(e.value) for w in ("название", "тип", "комментарий", "срок", "ответственный"))
    task = new_task(s, title="Call", type="call", responsible_id=anna(s).id,
                    deadline=NOW + timedelta(hours=1), comment="confirm", created_by=anna(s), now=NOW)
    assert task.remind_at == NOW + timedelta(minutes=45)


def test_moving_a_deal_creates_the_stages_tasks(s):
    stage = s.scalar(select(m.DealStage).where(m.DealStage.name == "КП отправлено"))
    s.add(m.DealStageTaskRule(stage_id=stage.id, type="call", title="Confirm receipt",
                              comment="Did the proposal arrive?", offset_minutes=2 * 24 * 60))
    first = s.scalar(select(m.DealStage).order_by(m.DealStage.position))
    deal = m.Deal(title="D", stage_id=first.id, responsible_id=anna(s).id)
    s.add(deal)
    s.flush()
    tasks = move_deal(s, deal, stage, by=anna(s), now=NOW)
    assert [(t.title, t.type, t.deadline, t.deal_id) for t in tasks] == \
        [("Confirm receipt", "call", NOW + timedelta(days=2), deal.id)]
    assert move_deal(s, deal, stage, by=anna(s), now=NOW) == []  # no move, no task


def test_my_tasks_overdue_first(s):
    for hours in (5, -3, 1, -1):
        new_task(s, title=f"t{hours}", type="call", responsible_id=anna(s).id,
                 deadline=NOW + timedelta(hours=hours), comment="c", created_by=None, now=NOW)
    assert [t.title for t in my_tasks(s, anna(s).id, NOW)] == ["t-3", "t-1", "t1", "t5"]

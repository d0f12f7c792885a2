"""Cold calling rules on in-memory SQLite: next entry, outcomes, call-backs, the funnel
only on request, branching scripts, the knowledge base."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from pbx_daemon.crm import models as m
from pbx_daemon.crm.cold_calling import ColdCallError, finish_entry, next_entry, search_kb, validate_script
from tests.unit.helpers import memory_session

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def s():
    with memory_session() as session:
        olga = m.Employee(full_name="Olga", login="olga", role="cold_operator")
        head = m.Employee(full_name="Head", login="head", role="head")
        session.add_all([olga, head])
        session.flush()
        mine = m.CallList(name="Mine", operators=[olga], created_by_id=head.id)
        other = m.CallList(name="Other")
        session.add_all([mine, other])
        session.flush()
        for i in range(3):
            session.add(m.CallListEntry(call_list_id=mine.id, position=i + 1, phone=f"+7903000000{i}",
                                        company_name=f"Firm {i}"))
        session.add(m.CallListEntry(call_list_id=other.id, position=1, phone="+79039999999"))
        session.add(m.KbArticle(title="Цены", body="Прайс на окна", tags="прайс"))
        session.commit()
        yield session


def olga(s):
    return s.scalar(select(m.Employee).where(m.Employee.login == "olga"))


def test_three_entries_no_answer_callback_tomorrow_and_interested_lead(s):
    e1 = next_entry(s, olga(s), NOW)
    assert e1.company_name == "Firm 0" and e1.status == "in_progress"
    assert next_entry(s, olga(s), NOW).id == e1.id  # mine until I finish it
    finish_entry(s, e1, operator=olga(s), disposition="no_answer", now=NOW)
    e2 = next_entry(s, olga(s), NOW)
    tomorrow = NOW + timedelta(days=1)
    finish_entry(s, e2, operator=olga(s), disposition="call_back_later", comment="после обеда",
                 callback_at=tomorrow, now=NOW)
    task = s.scalar(select(m.Task).where(m.Task.call_list_entry_id == e2.id))
    assert (task.type, task.deadline.replace(tzinfo=timezone.utc), task.remind_at.replace(tzinfo=timezone.utc)) == \
        ("call", tomorrow, tomorrow - timedelta(minutes=15))
    e3 = next_entry(s, olga(s), NOW)
    lead = finish_entry(s, e3, operator=olga(s), disposition="lead", answers={"q1": "Да"}, to_funnel=True, now=NOW)
    assert lead.phone == "+79030000002" and lead.source.name == "Cold calling" and "q1: Да" in lead.notes
    assert s.scalars(select(m.Lead)).all() == [lead]  # only the one moved to the funnel
    assert s.scalars(select(m.Inquiry)).all() == []   # list calls never make inquiries
    assert next_entry(s, olga(s), NOW) is None        # the call-back is not due yet; other lists are not mine
    assert next_entry(s, olga(s), tomorrow).id == e2.id


def test_bad_outcomes_are_refused(s):
    e = next_entry(s, olga(s), NOW)
    with pytest.raises(ColdCallError):
        finish_entry(s, e, operator=olga(s), disposition="martian", now=NOW)
    with pytest.raises(ColdCallError):
        finish_entry(s, e, operator=olga(s), disposition="call_back_later", now=NOW)


def test_scripts_are_validated():
    good = {"start": "q1", "nodes": {"q1": {"text": "Окна нужны?", "answers": [
        {"label": "Да", "next": "q2"}, {"label": "Нет"}]}, "q2": {"text": "Сколько?", "answers": []}}}
    assert validate_script(good) == []
    bad = {"start": "q1", "nodes": {"q1": {"text": "?", "answers": [{"label": "Да", "next": "q9"}]},
                                    "orphan": {"text": "x"}}}
    assert validate_script(bad) == ["node 'q1': answer 'Да' leads to missing 'q9'", "node 'orphan' cannot be reached"]


def test_knowledge_base_search(s):
    assert [a.title for a in search_kb(s, "прайс")] == ["Цены"]
    assert search_kb(s, "двери") == []

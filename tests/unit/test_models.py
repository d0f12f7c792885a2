"""The data model on in-memory SQLite: constraints, derived columns, lookups."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from pbx_daemon.crm import models as m
from pbx_daemon.db import make_engine, make_session_factory, seed_reference_data
from pbx_daemon.crm.lookups import find_by_phone, find_duplicates

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def session():
    engine = make_engine("sqlite://")
    m.Base.metadata.create_all(engine)
    with make_session_factory(engine)() as s:
        seed_reference_data(s)
        yield s
    engine.dispose()


@pytest.fixture
def org(session):
    sales = m.Department(name="Sales")
    session.add(sales)
    session.flush()
    head = m.Employee(full_name="Head Person", login="head", role="head", sip_endpoint="103",
                      department=sales)
    ivanov = m.Employee(full_name="Ivan Ivanov", login="ivanov", sip_endpoint="101",
                        department=sales)
    session.add_all([head, ivanov])
    session.flush()
    sales.head_id = head.id
    session.flush()
    return sales, head, ivanov


def test_seed_has_the_eight_inquiry_classes_of_seed_003(session):
    codes = session.scalars(select(m.InquiryClass.code).order_by(m.InquiryClass.position)).all()
    assert codes == ["lead", "spam", "client", "partner", "own", "non_target", "wrong_number",
                     "unclear"]
    assert session.scalar(select(m.InquiryClass.name_ru).where(m.InquiryClass.code == "spam")) == "Спам"
    seed_reference_data(session)  # idempotent
    assert session.query(m.InquiryClass).count() == 8


def test_caller_is_found_by_phone_across_cards(session, org):
    _sales, _head, ivanov = org
    romashka = m.Company(name="ООО Ромашка", responsible_id=ivanov.id,
                         phones=[m.CompanyPhone(phone="+74951234567")])
    petrov = m.Contact(full_name="Пётр Петров", company=romashka, responsible_id=ivanov.id,
                       phones=[m.ContactPhone(phone="+79161234567"),
                               m.ContactPhone(phone="+74951234567", phone_ext="12")])
    session.add_all([romashka, petrov])
    session.add(m.Inquiry(channel="call", phone="+79160000000", status="open"))
    session.add(m.Inquiry(channel="call", phone="+79160000000", status="closed"))
    session.flush()
    found = {(x.kind, x.name, x.responsible_id) for x in find_by_phone(session, "+74951234567")}
    assert found == {("company", "ООО Ромашка", ivanov.id), ("contact", "Пётр Петров", ivanov.id)}
    assert [x.kind for x in find_by_phone(session, "+79160000000")] == ["inquiry"]
    assert find_by_phone(session, "+70000000000") == []


def test_duplicates_by_phone_email_and_name(session, org):
    session.add(m.Contact(full_name="Иванов  Иван", emails=[m.ContactEmail(email="IVAN@Example.com ")]))
    session.add(m.Lead(title="Запрос", full_name="Сидоров Сидор", phone="+79031112233",
                       email="sid@example.com"))
    session.add(m.Inquiry(channel="web_form", name="Иванов иван", email="other@example.com"))
    session.flush()
    by_name = find_duplicates(session, name="  иванов   ИВАН ")
    assert sorted(x.kind for x in by_name) == ["contact", "inquiry"]
    assert [x.kind for x in find_duplicates(session, email="ivan@example.com")] == ["contact"]
    assert [(x.kind, x.field) for x in find_duplicates(session, phone="+79031112233",
                                                       email="sid@example.com")] == [("lead", "phone")]


def test_phone_columns_accept_only_e164(session):
    with pytest.raises(ValueError, match="E.164"):
        m.ContactPhone(phone="8 916 123-45-67")
    with pytest.raises(ValueError):
        m.BlockedNumber(phone="+7916&PJSIP/1")


@pytest.mark.parametrize("missing", ["type", "responsible_id", "deadline", "comment"])
def test_tasks_need_responsible_deadline_type_and_comment(session, org, missing):
    _sales, _head, ivanov = org
    fields = dict(title="Call back", type="call", responsible_id=ivanov.id,
                  deadline=NOW + timedelta(minutes=15), comment="Missed call")
    fields[missing] = None
    session.add(m.Task(**fields))
    with pytest.raises(IntegrityError):
        session.flush()


def test_empty_task_comment_is_refused(session, org):
    session.add(m.Task(title="x", type="call", responsible_id=org[2].id, deadline=NOW, comment=""))
    with pytest.raises(IntegrityError):
        session.flush()


def test_unknown_role_is_refused(session):
    session.add(m.Employee(full_name="X", login="x", role="superuser"))
    with pytest.raises(IntegrityError):
        session.flush()


def test_call_linkedid_is_unique(session):
    for _ in range(2):
        session.add(m.Call(linkedid="pbx-1.0", direction="inbound", started_at=NOW))
    with pytest.raises(IntegrityError):
        session.flush()


def test_deal_probability_is_a_percentage(session):
    stage = session.scalar(select(m.DealStage).where(m.DealStage.name == "Новая"))
    session.add(m.Deal(title="Big", stage_id=stage.id, probability=120))
    with pytest.raises(IntegrityError):
        session.flush()


def test_call_list_entry_is_unique_per_number_and_extension(session):
    lst = m.CallList(name="Import")
    lst.entries = [m.CallListEntry(phone="+74951234567", phone_ext="12"),
                   m.CallListEntry(phone="+74951234567", phone_ext="")]
    session.add(lst)
    session.flush()
    session.add(m.CallListEntry(call_list_id=lst.id, phone="+74951234567", phone_ext="12"))
    with pytest.raises(IntegrityError):
        session.flush()

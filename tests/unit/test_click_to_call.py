"""Click-to-call checks on in-memory SQLite: bad numbers, blocklist, employees, cards."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from pbx_daemon.crm import models as m
from pbx_daemon.telephony.api_client import ClickToCallError
from pbx_daemon.telephony.click_to_call import prepare_click_to_call
from tests.unit.helpers import memory_session

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def session():
    with memory_session() as s:
        anna = m.Employee(full_name="Anna", login="anna", sip_endpoint="101")
        idle = m.Employee(full_name="Gone", login="gone", sip_endpoint="109", active=False)
        nophone = m.Employee(full_name="No Phone", login="nophone")
        s.add_all([anna, idle, nophone])
        company = m.Company(name="ООО Ромашка", responsible=anna)
        company.phones = [m.CompanyPhone(phone="+74951112233")]
        contact = m.Contact(full_name="Иван Петров", company=company, responsible=anna)
        contact.phones = [m.ContactPhone(phone="+79161234567")]
        s.add_all([company, contact, m.BlockedNumber(phone="+79990001122", reason="spam")])
        s.commit()
        yield s


def prepare(session, **kw):
    kw.setdefault("employee", "anna")
    kw.setdefault("now", NOW)
    return prepare_click_to_call(session, **kw)


def test_number_is_normalised_and_the_card_found_by_number(session):
    r = prepare(session, number="8 (916) 123-45-67")
    assert (r.endpoint, r.number, r.ext) == ("101", "+79161234567", None)
    assert r.contact_id is not None and r.company_id is not None
    assert r.shown_name == "Иван Петров / ООО Ромашка"


def test_extension_is_kept_apart_from_the_number(session):
    r = prepare(session, number="8 495 111-22-33, доб. 12")
    assert (r.number, r.ext) == ("+74951112233", "12")
    assert r.company_id is not None and r.contact_id is None


def test_given_card_wins_and_unknown_number_shows_itself(session):
    contact = session.query(m.Contact).one()
    r = prepare(session, number="+74950000001", card={"kind": "contact", "id": contact.id})
    assert r.contact_id == contact.id
    r = prepare(session, number="+74950000001")
    assert r.shown_name == "+74950000001" and r.contact_id is None and r.company_id is None


@pytest.mark.parametrize("number,status,words", [
    ("abc", 400, "letters"),
    ("+7916123&4567", 400, "not allowed"),
    ("12345", 400, "too short"),
    ("", 400, "empty"),
    (None, 400, "required"),
    ("+7 999 000-11-22", 403, "blocklist"),
])
def test_bad_numbers_are_refused_with_a_reason(session, number, status, words):
    with pytest.raises(ClickToCallError) as e:
        prepare(session, number=number)
    assert e.value.status == status and words in e.value.message


@pytest.mark.parametrize("employee,status,words", [
    ("nobody", 404, "no employee"), (999, 404, "no employee"), ("gone", 409, "not active"),
    ("nophone", 409, "no SIP phone"), (None, 400, "required"), (True, 400, "required"),
])
def test_unavailable_employees_are_refused(session, employee, status, words):
    with pytest.raises(ClickToCallError) as e:
        prepare(session, employee=employee, number="+79161234567")
    assert e.value.status == status and words in e.value.message


def test_busy_employee_is_refused(session):
    with pytest.raises(ClickToCallError) as e:
        prepare(session, number="+79161234567", busy_endpoints=frozenset({"101"}))
    assert e.value.status == 409 and "on a call" in e.value.message


@pytest.mark.parametrize("card,status", [
    ({"kind": "spaceship", "id": 1}, 400), ({"kind": "deal", "id": "1"}, 400),
    ({"kind": "deal", "id": 12345}, 404), ("contact:1", 400), ({"kind": "lead", "id": 1, "x": 1}, 400),
])
def test_bad_cards_are_refused(session, card, status):
    with pytest.raises(ClickToCallError) as e:
        prepare(session, number="+79161234567", card=card)
    assert e.value.status == status

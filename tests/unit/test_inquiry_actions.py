"""Classifying inquiries and web-form intake, on in-memory SQLite."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from pbx_daemon.crm import models as m
from pbx_daemon.telephony.routing.directory import lookup_caller
from pbx_daemon.crm.inquiries.actions import InquiryActionError, classify_inquiry, create_web_inquiry
from tests.unit.helpers import memory_session

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def s():
    with memory_session() as session:
        session.add(m.Employee(full_name="Anna", login="anna", sip_endpoint="101"))
        session.commit()
        yield session


def anna(s):
    return s.scalar(select(m.Employee).where(m.Employee.login == "anna"))


def inquiry(s, phone="+79161112233", **kw):
    i = m.Inquiry(channel="call", phone=phone, status="open", missed_count=1,
                  first_seen_at=NOW, last_seen_at=NOW, **kw)
    s.add(i)
    s.flush()
    s.add(m.Task(title="Call back", type="call", responsible_id=anna(s).id,
                 deadline=NOW + timedelta(minutes=15), comment="missed", inquiry_id=i.id))
    s.add(m.Call(linkedid=f"l{i.id}", direction="inbound", caller=phone, started_at=NOW,
                 outcome="missed", inquiry_id=i.id))
    s.flush()
    return i


def test_spam_blocks_the_number_and_the_next_call_is_refused(s):
    i = inquiry(s)
    result = classify_inquiry(s, i, "spam", by=anna(s), now=NOW)
    assert result.blocked == "+79161112233" and result.tasks_cancelled == 1
    assert i.status == "closed"
    assert lookup_caller(s, "+79161112233", None, NOW).blocked  # what routing reads
    classify_inquiry(s, inquiry(s), "spam", by=anna(s), now=NOW)  # blocking twice is fine
    assert len(s.scalars(select(m.BlockedNumber)).all()) == 1


def test_lead_creates_a_lead_linked_to_the_inquiry_and_its_calls(s):
    i = inquiry(s, name="Пётр")
    result = classify_inquiry(s, i, "lead", by=anna(s), now=NOW)
    lead = s.get(m.Lead, result.lead_id)
    assert (lead.full_name, lead.phone, lead.inquiry_id, lead.responsible_id) == \
        ("Пётр", "+79161112233", i.id, anna(s).id)
    assert i.lead_id == lead.id and i.status == "closed"
    assert s.scalar(select(m.Call).where(m.Call.inquiry_id == i.id)).lead_id == lead.id
    assert s.scalar(select(m.Task).where(m.Task.inquiry_id == i.id)).status == "open"


def test_lead_links_an_open_lead_with_the_same_number_instead_of_a_duplicate(s):
    s.add(m.Lead(title="Old", phone="+79161112233", status="in_progress"))
    s.flush()
    result = classify_inquiry(s, inquiry(s), "lead", by=anna(s), now=NOW)
    assert s.get(m.Lead, result.lead_id).title == "Old"
    assert len(s.scalars(select(m.Lead)).all()) == 1


def test_client_links_the_existing_contact_or_creates_one(s):
    c = m.Contact(full_name="Есть", phones=[m.ContactPhone(phone="+79161112233")])
    s.add(c)
    s.flush()
    result = classify_inquiry(s, inquiry(s), "client", by=anna(s), now=NOW)
    assert result.contact_id == c.id
    result = classify_inquiry(s, inquiry(s, phone="+79165550000", name="Новый"), "client",
                              by=anna(s), now=NOW)
    assert s.get(m.Contact, result.contact_id).full_name == "Новый"


@pytest.mark.parametrize("code,status,cancelled", [
    ("wrong_number", "closed", 1), ("own", "closed", 1), ("non_target", "closed", 1),
    ("partner", "closed", 0), ("unclear", "open", 0)])
def test_other_classes(s, code, status, cancelled):
    i = inquiry(s)
    assert classify_inquiry(s, i, code, by=anna(s), now=NOW).tasks_cancelled == cancelled
    assert i.status == status


def test_unknown_class_and_foreign_subclass_are_refused(s):
    i = inquiry(s)
    with pytest.raises(InquiryActionError):
        classify_inquiry(s, i, "martian", by=anna(s), now=NOW)
    spam = s.scalar(select(m.InquiryClass).where(m.InquiryClass.code == "spam"))
    sub = m.InquirySubclass(class_id=spam.id, name="Robocall")
    s.add(sub)
    s.flush()
    with pytest.raises(InquiryActionError):
        classify_inquiry(s, i, "lead", by=anna(s), now=NOW, subclass_id=sub.id)
    classify_inquiry(s, i, "spam", by=anna(s), now=NOW, subclass_id=sub.id)
    assert i.subclass_id == sub.id


def test_web_form_inquiry_with_utm_fields_maps_to_a_known_source(s):
    s.add(m.Source(name="Yandex"))
    s.flush()
    i = create_web_inquiry(s, {"name": "Ольга", "phone": "8 (916) 111-22-33", "email": "o@example.ru",
                               "message": "Перезвоните", "utm_source": "yandex", "utm_campaign": "winter"},
                           now=NOW)
    assert (i.channel, i.phone, i.utm_source, i.utm_campaign, i.status) == \
        ("web_form", "+79161112233", "yandex", "winter", "open")
    assert i.source.name == "Yandex" and i.inquiry_class.code == "unclear"
    assert create_web_inquiry(s, {"email": "x@example.com", "utm_source": "yandex"}, now=NOW).source_id == i.source_id


def test_web_form_utm_values_never_create_sources_one_web_source_takes_the_rest(s):
    """The internet does not get a Source row per value it makes up."""
    ids = {create_web_inquiry(s, {"email": f"x{n}@example.com", "utm_source": f"=HYPERLINK(\"{n}\")"},
                              now=NOW).source_id for n in range(5)}
    assert len(ids) == 1
    assert s.scalars(select(m.Source.name)).all() == ["web"]


def test_web_form_inquiries_get_a_department(s):
    """The department of the source's tracking number, else the configured one: only
    that department sees the inquiry while nobody has taken it."""
    sales, support = m.Department(name="Sales"), m.Department(name="Support")
    ads = m.Source(name="ads")
    s.add_all([sales, support, ads])
    s.flush()
    s.add(m.TrackingNumber(number="+74950000001", source_id=ads.id, department_id=sales.id))
    s.flush()
    tracked = create_web_inquiry(s, {"email": "a@example.com", "utm_source": "ads"}, now=NOW,
                                 department="Support")
    other = create_web_inquiry(s, {"email": "b@example.com"}, now=NOW, department="Support")
    none = create_web_inquiry(s, {"email": "c@example.com"}, now=NOW)
    assert (tracked.department_id, other.department_id, none.department_id) == (sales.id, support.id, None)


@pytest.mark.parametrize("data,words", [
    ({"name": "x"}, "phone number or an e-mail"), ({"phone": "abc"}, "letters"),
    ({"email": "not-an-address"}, "not an address"), ({"phone": 5}, "must be text"),
    ({"phone": "+79161112233", "admin": "1"}, "unknown fields"), ([], "JSON object")])
def test_bad_web_form_inquiries_are_refused(s, data, words):
    with pytest.raises(InquiryActionError) as e:
        create_web_inquiry(s, data, now=NOW)
    assert words in str(e.value)


def test_a_call_back_after_classifying_as_lead_still_closes_the_task(s):
    from pbx_daemon.crm.inquiries.apply import apply_answered

    i = inquiry(s)
    classify_inquiry(s, i, "lead", by=anna(s), now=NOW)
    assert i.status == "closed"
    back = m.Call(linkedid="cb1", direction="outbound", callee="+79161112233", started_at=NOW,
                  outcome="answered", answered_at=NOW)
    s.add(back)
    s.flush()
    apply_answered(s, back, NOW + timedelta(minutes=5))
    assert s.scalar(select(m.Task).where(m.Task.inquiry_id == i.id)).status == "done"
    missed = s.scalar(select(m.Call).where(m.Call.linkedid == f"l{i.id}"))
    assert missed.recovered_at is not None

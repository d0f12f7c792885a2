"""What classifying an inquiry does (seeds 000 and 003), and web-form inquiries.

One function per business action, each inside the caller's transaction; the admin and
the screen-pop page call these and never reimplement them:

* **Spam** blocks the number (the daemon refuses its next call: routing reads the
  blocklist on every call), closes the inquiry and cancels its call-back tasks.
* **Lead** moves the inquiry into the funnel: links the open lead with that number, or
  creates one (name, phone, e-mail, source, responsible), and closes the inquiry.
* **Client** links the existing contact / company with that number, or creates a
  contact, and closes the inquiry.
* **Partner / Own / Non-target / Wrong number** close it; the last three cancel its
  call-back tasks (nobody needs to call back).
* **Unclear** puts it back in the queue.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pbx_daemon.crm import models as m
from pbx_daemon.crm.funnel import new_contact
from pbx_daemon.crm.lookups import find_by_phone
from pbx_daemon.crm.phones import InvalidPhoneNumber, normalize
from pbx_daemon.crm.texts import text

CLOSING = {"lead", "client", "spam", "partner", "own", "non_target", "wrong_number"}
NO_CALLBACK = {"spam", "own", "non_target", "wrong_number"}
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
_EMAIL = re.compile(r"^[^@\s<>\"']{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,}$")


class InquiryActionError(ValueError):
    """``str()`` is one line for the person who clicked."""


@dataclass(frozen=True)
class Classified:
    inquiry_id: int
    class_code: str
    blocked: str | None = None  # the number blocked (Spam)
    lead_id: int | None = None
    contact_id: int | None = None
    company_id: int | None = None
    tasks_cancelled: int = 0


def _class(session: Session, code_or_id) -> m.InquiryClass:
    if isinstance(code_or_id, int) or (isinstance(code_or_id, str) and code_or_id.isdigit()):
        cls = session.get(m.InquiryClass, int(code_or_id))
    else:
        cls = session.scalar(select(m.InquiryClass).where(m.InquiryClass.code == code_or_id))
    if cls is None:
        raise InquiryActionError(text("no_inquiry_class", code=repr(str(code_or_id)[:40])))
    return cls


def _cancel_callbacks(session: Session, inquiry: m.Inquiry, now: datetime) -> int:
    tasks = session.scalars(select(m.Task).where(m.Task.inquiry_id == inquiry.id,
                                                 m.Task.status == "open")).all()
    for task in tasks:
        task.status = "cancelled"
        task.done_at = now
    return len(tasks)


def classify_inquiry(session: Session, inquiry: m.Inquiry, class_code, *, by: m.Employee,
                     now: datetime, subclass_id: int | None = None) -> Classified:
    cls = _class(session, class_code)
    if subclass_id is not None:
        sub = session.get(m.InquirySubclass, subclass_id)
        if sub is None or sub.class_id != cls.id:
            raise InquiryActionError(text("not_a_subclass", subclass=subclass_id, cls=cls.name_ru or cls.name))
    inquiry.class_id = cls.id
    inquiry.subclass_id = subclass_id
    code = cls.code
    result = dict(inquiry_id=inquiry.id, class_code=code)
    if inquiry.responsible_id is None:
        inquiry.responsible_id = by.id
    if code == "spam":
        if not inquiry.phone:
            raise InquiryActionError(text("nothing_to_block"))
        if session.scalar(select(m.BlockedNumber).where(m.BlockedNumber.phone == inquiry.phone)) is None:
            session.add(m.BlockedNumber(phone=inquiry.phone, reason=text("spam_reason", id=inquiry.id),
                                        created_by_id=by.id, created_at=now))
        result["blocked"] = inquiry.phone
    elif code == "lead":
        result["lead_id"] = _lead_for(session, inquiry, by, now).id
    elif code == "client":
        contact_id, company_id = _client_for(session, inquiry, by)
        result.update(contact_id=contact_id, company_id=company_id)
    if code in NO_CALLBACK:
        result["tasks_cancelled"] = _cancel_callbacks(session, inquiry, now)
    if code in CLOSING:
        inquiry.status = "closed"
        inquiry.closed_at = now
    else:
        inquiry.status = "open"
        inquiry.closed_at = None
    session.flush()
    return Classified(**result)


def _lead_for(session: Session, inquiry: m.Inquiry, by: m.Employee, now: datetime) -> m.Lead:
    if inquiry.lead_id is not None:
        lead = session.get(m.Lead, inquiry.lead_id)
        if lead is not None:
            return lead
    lead = None
    if inquiry.phone:
        lead = session.scalar(select(m.Lead).where(
            m.Lead.phone == inquiry.phone, m.Lead.status.in_(("new", "in_progress")))
            .order_by(m.Lead.id).limit(1))
    if lead is None:
        lead = m.Lead(title=inquiry.name or inquiry.phone or inquiry.email or text("inquiry_title", id=inquiry.id),
                      full_name=inquiry.name, phone=inquiry.phone, phone_ext=inquiry.phone_ext,
                      email=inquiry.email, status="new", source_id=inquiry.source_id,
                      responsible_id=inquiry.responsible_id or by.id,
                      department_id=inquiry.department_id, inquiry_id=inquiry.id,
                      notes=inquiry.message)
        session.add(lead)
        session.flush()
    inquiry.lead_id = lead.id
    # The inquiry's calls belong to the lead's card from now on.
    for call in session.scalars(select(m.Call).where(m.Call.inquiry_id == inquiry.id,
                                                     m.Call.lead_id.is_(None))):
        call.lead_id = lead.id
    return lead


def _client_for(session: Session, inquiry: m.Inquiry, by: m.Employee) -> tuple[int | None, int | None]:
    matches = find_by_phone(session, inquiry.phone) if inquiry.phone else []
    contact = next((x for x in matches if x.kind == "contact"), None)
    company = next((x for x in matches if x.kind == "company"), None)
    if contact is None and company is None:
        new = new_contact(session, name=inquiry.name or inquiry.phone or "Client", phone=inquiry.phone,
                          ext=inquiry.phone_ext, email=inquiry.email,
                          responsible_id=inquiry.responsible_id or by.id)
        contact_id, company_id = new.id, None
    else:
        contact_id = contact.id if contact else None
        company_id = company.id if company else (contact.company_id if contact else None)
    inquiry.contact_id, inquiry.company_id = contact_id, company_id
    for call in session.scalars(select(m.Call).where(m.Call.inquiry_id == inquiry.id)):
        call.contact_id = call.contact_id or contact_id
        call.company_id = call.company_id or company_id
    return contact_id, company_id


def create_web_inquiry(session: Session, data: dict, *, now: datetime, region: str = "RU",
                       default_source: str = "web", department: str = "") -> m.Inquiry:
    """An inquiry posted by a site's form (name, phone and/or e-mail, message, UTM
    fields). The source is an existing one named like ``source`` / ``utm_source`` (any
    case), else ``default_source`` (created the first time): the internet does not get to
    add a source per value it makes up. The department is that of an active tracking
    number of the source, else the one named ``department``, so that only that
    department's people see the inquiry."""
    if not isinstance(data, dict):
        raise InquiryActionError("expected a JSON object")
    allowed = {"name", "phone", "email", "message", "source", *UTM_FIELDS}
    unknown = set(data) - allowed
    if unknown:
        raise InquiryActionError(f"unknown fields: {', '.join(sorted(unknown))[:200]}")
    for key, value in data.items():
        if value is not None and not isinstance(value, str):
            raise InquiryActionError(f"{key} must be text")
    phone = ext = None
    if data.get("phone"):
        try:
            number = normalize(data["phone"], region)
        except InvalidPhoneNumber as e:
            raise InquiryActionError(str(e)) from None
        phone, ext = number.e164, number.ext
    email = (data.get("email") or "").strip() or None
    if email and not _EMAIL.match(email):
        raise InquiryActionError(f"e-mail {email[:60]!r} is not an address")
    if not phone and not email:
        raise InquiryActionError("a phone number or an e-mail is required")
    name = (data.get("name") or "").strip()[:200] or None
    source = _web_source(session, (data.get("source") or data.get("utm_source") or "").strip()[:120],
                         default_source)
    department_id = session.scalar(select(m.TrackingNumber.department_id).where(
        m.TrackingNumber.source_id == source.id, m.TrackingNumber.active.is_(True),
        m.TrackingNumber.department_id.is_not(None)).order_by(m.TrackingNumber.id).limit(1))
    if department_id is None and department:
        department_id = session.scalar(select(m.Department.id).where(m.Department.name == department))
    unclear = session.scalar(select(m.InquiryClass.id).where(m.InquiryClass.code == "unclear"))
    inquiry = m.Inquiry(
        channel="web_form", phone=phone, phone_ext=ext, email=email, name=name,
        message=(data.get("message") or "")[:5000] or None,
        source_id=source.id, department_id=department_id, class_id=unclear, status="open",
        first_seen_at=now, last_seen_at=now,
        **{f: (data.get(f) or "").strip()[:200] or None for f in UTM_FIELDS})
    session.add(inquiry)
    session.flush()
    return inquiry


def _web_source(session: Session, named: str, default: str) -> m.Source:
    if named:
        found = session.scalar(select(m.Source).where(func.lower(m.Source.name) == named.lower())
                               .order_by(m.Source.id).limit(1))
        if found is not None:
            return found
    source = session.scalar(select(m.Source).where(m.Source.name == default))
    if source is None:
        source = m.Source(name=default, description="web-form inquiries naming no known source")
        session.add(source)
        session.flush()
    return source

"""Check a click-to-call before anything rings: who calls, which number, for which card.

``prepare_click_to_call`` fetches what it needs (blocking SQL: run it off the reactor)
and either returns a :class:`~pbx_daemon.telephony.calls.outbound.ClickToCallRequest` built only from
stored, validated values, or raises :class:`ClickToCallError` with an HTTP status and a
one-line reason. Nothing the web user typed reaches Asterisk: the number is normalised
to E.164 (+ an extension of digits), the endpoint comes from the employee record and is
checked against the endpoint-name pattern.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pbx_daemon.crm import models as m
from pbx_daemon.telephony.routing.directory import safe_caller_name, valid_endpoint
from pbx_daemon.crm.lookups import cards_by_phone
from pbx_daemon.telephony.api_client import ClickToCallError
from pbx_daemon.telephony.calls.outbound import ClickToCallRequest
from pbx_daemon.crm.phones import InvalidPhoneNumber, normalize

CARD_KINDS = {"company": m.Company, "contact": m.Contact, "lead": m.Lead, "deal": m.Deal,
              "inquiry": m.Inquiry, "call_list_entry": m.CallListEntry}


def _employee(session: Session, ref) -> m.Employee:
    if isinstance(ref, bool) or ref is None or ref == "":
        raise ClickToCallError(400, "employee is required (an id or a login)")
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit() and len(ref) < 12):
        employee = session.get(m.Employee, int(ref))
    elif isinstance(ref, str) and len(ref) <= 64:
        employee = session.scalar(select(m.Employee).where(m.Employee.login == ref))
    else:
        raise ClickToCallError(400, "employee must be an id or a login")
    if employee is None:
        raise ClickToCallError(404, f"no employee {str(ref)[:64]!r}")
    return employee


def _card(session: Session, card) -> tuple[str, object] | None:
    if card in (None, {}, ""):
        return None
    if not isinstance(card, dict) or set(card) - {"kind", "id"}:
        raise ClickToCallError(400, 'card must look like {"kind": "contact", "id": 12}')
    kind, card_id = card.get("kind"), card.get("id")
    if kind not in CARD_KINDS:
        raise ClickToCallError(400, f"card kind must be one of {', '.join(CARD_KINDS)}")
    if isinstance(card_id, bool) or not isinstance(card_id, int):
        raise ClickToCallError(400, "card id must be an integer")
    row = session.get(CARD_KINDS[kind], card_id)
    if row is None:
        raise ClickToCallError(404, f"no {kind} {card_id}")
    return kind, row


def _card_name(kind: str, row) -> str | None:
    if kind == "contact":
        return row.full_name + (f" / {row.company.name}" if row.company else "")
    if kind == "company":
        return row.name
    if kind == "lead":
        return row.full_name or row.title
    if kind == "deal":
        return row.title
    if kind == "call_list_entry":
        return row.company_name or row.contact_name
    return row.name


def prepare_click_to_call(session: Session, *, employee, number, card=None, now: datetime,
                          region: str = "RU", default_area_code: str = "",
                          busy_endpoints: frozenset[str] = frozenset(),
                          company_caller_id: str = "", employee_timeout: int = 30,
                          client_timeout: int = 40) -> ClickToCallRequest:
    who = _employee(session, employee)
    if not who.active:
        raise ClickToCallError(409, f"employee {who.login} is not active")
    endpoint = valid_endpoint(who.sip_endpoint)
    if endpoint is None:
        raise ClickToCallError(409, f"employee {who.login} has no SIP phone")
    if endpoint in busy_endpoints:
        raise ClickToCallError(409, f"employee {who.login} is on a call")

    if not isinstance(number, str):
        raise ClickToCallError(400, "number is required")
    try:
        phone = normalize(number, region, default_area_code)
    except InvalidPhoneNumber as e:
        raise ClickToCallError(400, str(e)) from None
    blocked = session.scalar(select(m.BlockedNumber.id).where(
        m.BlockedNumber.phone == phone.e164,
        or_(m.BlockedNumber.expires_at.is_(None), m.BlockedNumber.expires_at > now)))
    if blocked is not None:
        raise ClickToCallError(403, f"{phone.e164} is on the blocklist")

    links: dict[str, int | None] = {f"{k}_id": None for k in CARD_KINDS}
    found = _card(session, card)
    if found is None:
        # No card given: the number's own card, as inbound routing would find it.
        matches = cards_by_phone(session, phone.e164)
        if matches:
            found = matches[0].kind, session.get(CARD_KINDS[matches[0].kind], matches[0].id)
    name = None
    if found is not None:
        kind, row = found
        links[f"{kind}_id"] = row.id
        if kind == "contact" and row.company_id:
            links["company_id"] = row.company_id
        if kind == "deal":
            links["company_id"], links["contact_id"] = row.company_id, row.contact_id
        name = _card_name(kind, row)
    return ClickToCallRequest(
        employee_id=who.id, endpoint=endpoint, number=phone.e164, ext=phone.ext,
        shown_name=safe_caller_name(name) or phone.e164, caller_id=company_caller_id,
        employee_timeout=employee_timeout, client_timeout=client_timeout, **links)

"""Check a click-to-call before anything rings: who calls, which number, for which card.

``prepare_click_to_call`` fetches what it needs (blocking SQL: run it off the reactor)
and either returns a :class:`~pbx_daemon.telephony.calls.outbound.ClickToCallRequest` built only from
stored, validated values, or raises :class:`ClickToCallError` with an HTTP status and a
one-line reason. Nothing the web user typed reaches Asterisk: the number is normalised
to E.164 (+ an extension of digits), the endpoint comes from the employee record and is
checked against the endpoint-name pattern.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pbx_daemon.crm import models as m
from pbx_daemon.telephony.routing.directory import safe_caller_name, valid_endpoint
from pbx_daemon.crm.lookups import cards_by_phone
from pbx_daemon.telephony.api_client import ClickToCallError
from pbx_daemon.telephony.calls.outbound import ClickToCallRequest
from pbx_daemon.telephony.calls.phone import PhoneCallRefused, PhoneCallRequest
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

    checked = check_number(session, number, now=now, region=region,
                           default_area_code=default_area_code, card=card)
    return ClickToCallRequest(
        employee_id=who.id, endpoint=endpoint, number=checked.number, ext=checked.ext,
        shown_name=checked.shown_name, caller_id=company_caller_id,
        employee_timeout=employee_timeout, client_timeout=client_timeout, **checked.links)


@dataclass(frozen=True)
class CheckedNumber:
    """A number we may dial: E.164 (+ an extension of digits), not blocklisted, and the
    card it belongs to (``links``: ``company_id``, ``contact_id``, ... or None each)."""

    number: str
    ext: str | None
    shown_name: str  # the card's name, sanitised, or the number
    links: dict


def check_number(session: Session, number, *, now: datetime, region: str = "RU",
                 default_area_code: str = "", card=None) -> CheckedNumber:
    """The rules every call we place follows (click-to-call and desk phones): normalise to
    E.164, refuse a blocklisted number (403) or one that is not a phone number (400), and
    find its card (``card`` when the user chose one, else the number's own card, in the
    routing's match order)."""
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
    return CheckedNumber(number=phone.e164, ext=phone.ext,
                         shown_name=safe_caller_name(name) or phone.e164, links=links)


def prepare_phone_call(session: Session, *, endpoint: str, dialled: str, now: datetime,
                       region: str = "RU", default_area_code: str = "",
                       company_caller_id: str = "",
                       ring_timeout: int = 40) -> PhoneCallRequest | PhoneCallRefused:
    """Decide what a desk phone's dialled number means (blocking SQL: run it off the
    reactor). An active employee's extension -> an internal call to their phone; anything
    else must pass :func:`check_number` (the click-to-call rules) -> an outbound call to a
    client with the company's caller id; else refused (``blocked`` or ``invalid``).

    ``endpoint`` is the calling phone's (from its channel name); ``dialled`` is what it
    dialled, already digits and "+" only (the dialplan filtered it): neither reaches a dial
    string: the target endpoint comes from the employee record, the number is E.164."""
    if not valid_endpoint(endpoint):
        return PhoneCallRefused("invalid", "not a phone endpoint")
    employees = session.scalars(select(m.Employee).where(
        m.Employee.active.is_(True), m.Employee.sip_endpoint.in_({endpoint, dialled}))).all()
    caller = next((e for e in employees if e.sip_endpoint == endpoint), None)
    target = next((e for e in employees if e.sip_endpoint == dialled), None)
    base = dict(endpoint=endpoint, employee_id=caller.id if caller else None,
                caller_name=safe_caller_name(caller.full_name if caller else None) or endpoint,
                ring_timeout=ring_timeout)
    if target is not None:
        if target.sip_endpoint == endpoint:
            return PhoneCallRefused("invalid", "a phone cannot call itself")
        return PhoneCallRequest(kind="internal", target_endpoint=valid_endpoint(target.sip_endpoint),
                                target_employee_id=target.id, **base)
    try:
        checked = check_number(session, dialled, now=now, region=region,
                               default_area_code=default_area_code)
    except ClickToCallError as e:
        return PhoneCallRefused("blocked" if e.status == 403 else "invalid", e.message)
    return PhoneCallRequest(kind="outbound", number=checked.number, ext=checked.ext,
                            shown_name=checked.shown_name, caller_id=company_caller_id,
                            **checked.links, **base)

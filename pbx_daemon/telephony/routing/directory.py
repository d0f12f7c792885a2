"""Fetch, for one call, what the routing policy decides on (fetch first, then decide).

Blocking SQL: the daemon runs these in a thread pool with a deadline; the AGI fallback
script runs them in its own process. Every value that may end up in a dial string is
validated here (endpoint names) or is E.164 (numbers).
"""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pbx_daemon.crm import models as m
from pbx_daemon.telephony.names import ENDPOINT_NAME
from pbx_daemon.crm.lookups import cards_by_phone
from pbx_daemon.crm.phones import is_e164, normalize_caller_id
from pbx_daemon.crm.duty_sql import duty_by_employee
from pbx_daemon.telephony.routing.policy import Agent, Caller, DepartmentInfo, Directory, StepTimeouts

MAX_NAME = 40
# Characters that mean something to Asterisk's caller id parser, the dialplan or an
# application argument list: never part of a name we hand to Asterisk.
_NAME_FORBIDDEN = set('"<>\\;$&|,{}`\'')


def valid_endpoint(name: str | None) -> str | None:
    return name if name and ENDPOINT_NAME.match(name) else None


def endpoints_from_list(text: str | None) -> tuple[str, ...]:
    """``"101, 102,bad name"`` -> ``("101", "102")``: only valid endpoint names survive."""
    names = [n.strip() for n in (text or "").split(",")]
    return tuple(n for n in names if valid_endpoint(n))


def load_directory(session: Session, busy_endpoints: frozenset[str] = frozenset(),
                   now: datetime | None = None, tz: str = "UTC") -> Directory:
    """``busy_endpoints``: phones routing must skip (on a call, or not reachable);
    ``now``: when the call arrives (who is on duty), read from the clock by the caller;
    ``tz``: ``general.timezone``, the schedules' time."""
    at = (now or datetime.now(timezone.utc)).astimezone(ZoneInfo(tz))
    duty = duty_by_employee(session, at)
    agents = {}
    for e in session.scalars(select(m.Employee)):
        endpoint = valid_endpoint(e.sip_endpoint)
        agents[e.id] = Agent(id=e.id, name=e.full_name, endpoint=endpoint,
                             department_id=e.department_id, on_shift=duty.get(e.id, True),
                             dnd=e.dnd, active=e.active, busy=endpoint in busy_endpoints,
                             mobile=e.mobile if e.mobile_follow and e.mobile
                             and is_e164(e.mobile) else None,
                             mobile_delay=max(0, e.mobile_delay or 0))
    members: dict[int, list[int]] = {}
    for agent in agents.values():
        if agent.department_id is not None:
            members.setdefault(agent.department_id, []).append(agent.id)
    departments = {}
    for d in session.scalars(select(m.Department)):
        departments[d.id] = DepartmentInfo(
            id=d.id, name=d.name, member_ids=tuple(sorted(members.get(d.id, ()))),
            head_id=d.head_id, parent_id=d.parent_id,
            timeouts=StepTimeouts(d.owner_timeout or 0, d.group_timeout or 0,
                                  d.head_timeout or 0, d.top_timeout or 0),
            fallback_endpoints=endpoints_from_list(d.fallback_ring_group),
            hold_seconds=max(0, d.hold_seconds or 0),
        )
    top = session.get(m.Setting, m.SETTING_ESCALATION_TOP)
    default = session.get(m.Setting, "default_department_id")
    return Directory(
        agents=agents, departments=departments,
        escalation_top_id=int(top.value) if top and top.value.isdigit() else None,
        default_department_id=(int(default.value) if default and default.value.isdigit()
                               else min(departments) if departments else None),
    )


def lookup_caller(session: Session, caller_raw: str | None, dialled_raw: str | None,
                  now: datetime, region: str = "RU") -> Caller:
    number = normalize_caller_id(caller_raw, region)
    dialled = normalize_caller_id(dialled_raw, region)
    tracking = None
    if dialled is not None:
        tracking = session.scalar(select(m.TrackingNumber).where(
            m.TrackingNumber.number == dialled.e164, m.TrackingNumber.active.is_(True)))
    department_id = tracking.department_id if tracking else None
    source_id = tracking.source_id if tracking else None
    tracking_id = tracking.id if tracking else None
    if number is None:
        return Caller(number=None, department_id=department_id, source_id=source_id,
                      tracking_number_id=tracking_id)
    e164 = number.e164
    blocked = session.scalar(select(m.BlockedNumber.id).where(
        m.BlockedNumber.phone == e164,
        or_(m.BlockedNumber.expires_at.is_(None), m.BlockedNumber.expires_at > now))) is not None
    matches = cards_by_phone(session, e164)
    owner = next((x.responsible_id for x in matches if x.responsible_id is not None), None)
    name = None
    card = None
    if matches:
        best = matches[0]
        card = (best.kind, best.id)
        name = best.name
        if best.kind == "contact" and best.company_id is not None:
            company = session.get(m.Company, best.company_id)
            if company is not None:
                name = f"{best.name} / {company.name}"
    is_staff = session.scalar(select(m.Employee.id).where(m.Employee.mobile == e164)) is not None
    return Caller(number=e164, blocked=blocked, crm_name=safe_caller_name(name),
                  owner_id=owner, department_id=department_id, is_staff=is_staff,
                  source_id=source_id, tracking_number_id=tracking_id, card=card)


def safe_caller_name(name: str | None) -> str | None:
    """A CRM name fit for CALLERID(name): printable, no quotes or angle brackets, short."""
    if not name:
        return None
    cleaned = "".join(c for c in name if c.isprintable() and c not in _NAME_FORBIDDEN)
    cleaned = " ".join(cleaned.split())[:MAX_NAME].strip()
    return cleaned or None

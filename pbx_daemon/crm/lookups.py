"""Who is calling, and is this card a duplicate: indexed lookups over the CRM records.

Each lookup is one indexed equality query a table (phones are E.164, e-mails lower-case,
names compared by ``name_key``), so a caller is found in well under a millisecond even
with millions of stored numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from pbx_daemon.crm.models import (
    Company,
    CompanyPhone,
    Contact,
    ContactEmail,
    ContactPhone,
    Inquiry,
    Lead,
    normalize_name,
)


# Whose card a call is about when its number is on several: the person, then the company,
# then a lead, then an open inquiry.
MATCH_ORDER = ("contact", "company", "lead", "inquiry")


@dataclass(frozen=True)
class Match:
    kind: str  # company | contact | lead | inquiry
    id: int
    name: str
    responsible_id: int | None
    company_id: int | None = None
    field: str = "phone"  # what matched: phone | email | name


def find_by_phone(session: Session, e164: str) -> list[Match]:
    """Every card with this number: companies, contacts, leads, open inquiries."""
    out: list[Match] = []
    rows = session.execute(
        select(Company.id, Company.name, Company.responsible_id)
        .join(CompanyPhone, CompanyPhone.company_id == Company.id)
        .where(CompanyPhone.phone == e164).distinct())
    out += [Match("company", r.id, r.name, r.responsible_id, r.id) for r in rows]
    rows = session.execute(
        select(Contact.id, Contact.full_name, Contact.responsible_id, Contact.company_id)
        .join(ContactPhone, ContactPhone.contact_id == Contact.id)
        .where(ContactPhone.phone == e164).distinct())
    out += [Match("contact", r.id, r.full_name, r.responsible_id, r.company_id) for r in rows]
    rows = session.execute(
        select(Lead.id, Lead.title, Lead.full_name, Lead.responsible_id, Lead.company_id)
        .where(Lead.phone == e164, Lead.status.in_(("new", "in_progress"))))
    out += [Match("lead", r.id, r.full_name or r.title, r.responsible_id, r.company_id) for r in rows]
    rows = session.execute(
        select(Inquiry.id, Inquiry.name, Inquiry.responsible_id, Inquiry.company_id)
        .where(Inquiry.phone == e164, Inquiry.status != "closed"))
    out += [Match("inquiry", r.id, r.name or e164, r.responsible_id, r.company_id) for r in rows]
    return out


def cards_by_phone(session: Session, e164: str) -> list[Match]:
    """:func:`find_by_phone`'s cards in :data:`MATCH_ORDER`: the first is the card a call
    with this number is about (inbound routing, click-to-call, screen-pop)."""
    return sorted(find_by_phone(session, e164), key=lambda match: MATCH_ORDER.index(match.kind))


def find_duplicates(session: Session, *, phone: str | None = None, email: str | None = None,
                    name: str | None = None) -> list[Match]:
    """Cards that share a phone, an e-mail or a name with the one being created."""
    seen: set[tuple[str, int]] = set()
    out: list[Match] = []

    def add(matches):
        for m in matches:
            if (m.kind, m.id) not in seen:
                seen.add((m.kind, m.id))
                out.append(m)

    if phone:
        add(find_by_phone(session, phone))
    if email:
        email = email.strip().lower()
        add(Match("company", r.id, r.name, r.responsible_id, r.id, "email") for r in session.execute(
            select(Company.id, Company.name, Company.responsible_id).where(Company.email == email)))
        add(Match("contact", r.id, r.full_name, r.responsible_id, r.company_id, "email")
            for r in session.execute(
                select(Contact.id, Contact.full_name, Contact.responsible_id, Contact.company_id)
                .join(ContactEmail).where(ContactEmail.email == email).distinct()))
        add(Match("lead", r.id, r.title, r.responsible_id, r.company_id, "email") for r in session.execute(
            select(Lead.id, Lead.title, Lead.responsible_id, Lead.company_id).where(Lead.email == email)))
        add(Match("inquiry", r.id, r.name or email, r.responsible_id, r.company_id, "email")
            for r in session.execute(select(Inquiry.id, Inquiry.name, Inquiry.responsible_id,
                                            Inquiry.company_id).where(Inquiry.email == email)))
    key = normalize_name(name)
    if key:
        add(Match("company", r.id, r.name, r.responsible_id, r.id, "name") for r in session.execute(
            select(Company.id, Company.name, Company.responsible_id).where(Company.name_key == key)))
        add(Match("contact", r.id, r.full_name, r.responsible_id, r.company_id, "name")
            for r in session.execute(select(Contact.id, Contact.full_name, Contact.responsible_id,
                                            Contact.company_id).where(Contact.name_key == key)))
        add(Match("lead", r.id, r.full_name or r.title, r.responsible_id, r.company_id, "name")
            for r in session.execute(select(Lead.id, Lead.title, Lead.full_name, Lead.responsible_id,
                                            Lead.company_id).where(Lead.name_key == key)))
        add(Match("inquiry", r.id, r.name or "", r.responsible_id, r.company_id, "name")
            for r in session.execute(select(Inquiry.id, Inquiry.name, Inquiry.responsible_id,
                                            Inquiry.company_id).where(Inquiry.name_key == key)))
    return out

"""Merging two duplicate cards into one (issue 18): the rule, pure, and its application.

* Two companies, two contacts or two leads merge into one. The user chooses the card that
  is kept; the other (the merged card) is deleted, in the same transaction.
* Refused, nothing changes (:class:`MergeRefused` ``reason``):

  - ``same_card``: a card with itself;
  - ``different_kinds``: a company with a contact, a lead with a company...;
  - ``not_mergeable``: deals and inquiries are not merged;
  - ``not_found``: either card is gone;
  - ``not_allowed``: the user's role does not merge (only admins, owners, heads and
    managers do), or the user may not see both cards (``admin.access.can_see``: a head
    within their department, a manager only their own cards);
  - ``different_companies``: two contacts (or two leads) linked to two different
    companies are two people, not one card: link them to the same company first.

* Everything that points at the merged card points at the kept one (:data:`REPOINTED`):
  calls (their recordings hang off the calls and follow them), tasks, deals, inquiries,
  a company's contacts and leads, a contact's leads, a lead's call-list entries.
* Phones and e-mails of the merged card are added to the kept card's, except the ones it
  already has (the same number and extension; the same e-mail): those are dropped, so no
  number is on the kept card twice.
* Fields: every empty field of the kept card takes the merged card's value. The kept
  card's responsible stays (it is taken from the merged card only when the kept card has
  none); a lead's status stays. A text both cards have with different values (the name, a
  lead's phone) stays the kept card's; the merged card's value goes into the kept card's
  notes under "Из объединённой карточки № N:", with the merged card's notes, so nothing
  typed is lost.
* The audit row (``audit_log``) names who merged, when, the two ids, what moved (counts)
  and the merged card's fields, phones and e-mails as they were.

Fetch (:func:`merge_facts`), decide (:func:`decide_merge`, no database), apply
(:func:`apply_merge`); :func:`merge_cards` does all three in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from pbx_daemon.crm import models as m
from pbx_daemon.crm.texts import text

CARDS = {"company": m.Company, "contact": m.Contact, "lead": m.Lead}
MERGERS = frozenset({"admin", "owner", "head", "manager"})

# (table, column) of every row that names a card of the kind and moves to the kept card.
REPOINTED: dict[str, tuple[tuple[str, str], ...]] = {
    "company": (("contacts", "company_id"), ("leads", "company_id"), ("deals", "company_id"),
                ("inquiries", "company_id"), ("calls", "company_id"), ("tasks", "company_id")),
    "contact": (("leads", "contact_id"), ("deals", "contact_id"), ("inquiries", "contact_id"),
                ("calls", "contact_id"), ("tasks", "contact_id")),
    "lead": (("deals", "lead_id"), ("inquiries", "lead_id"), ("calls", "lead_id"),
             ("tasks", "lead_id"), ("call_list_entries", "lead_id")),
}
# The card's own phone and e-mail rows: moved or dropped as duplicates, one by one.
PHONES = {"company": m.CompanyPhone, "contact": m.ContactPhone}
EMAILS = {"contact": m.ContactEmail}
OWNED: dict[str, tuple[tuple[str, str], ...]] = {
    "company": (("company_phones", "company_id"),),
    "contact": (("contact_phones", "contact_id"), ("contact_emails", "contact_id")),
    "lead": (),
}

# The fields an empty field of the kept card takes from the merged one.
FIELDS = {
    "company": ("name", "tax_id", "email", "website", "responsible_id", "department_id"),
    "contact": ("full_name", "company_id", "position", "responsible_id"),
    "lead": ("title", "full_name", "company_name", "phone", "email", "source_id", "responsible_id",
             "department_id", "inquiry_id", "company_id", "contact_id"),
}
# Of those, the texts whose differing value goes into the kept card's notes.
NOTED = ("name", "full_name", "title", "tax_id", "email", "website", "position", "company_name", "phone")


class MergeRefused(ValueError):
    """``reason``: see the module docstring (the admin words it for the user)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class PhoneRow:
    id: int
    phone: str
    ext: str | None = None


@dataclass(frozen=True)
class EmailRow:
    id: int
    email: str


@dataclass(frozen=True)
class Card:
    """A card as fetched: every column (JSON-safe values), its phone and e-mail rows, and
    whether the user may see it."""

    kind: str
    id: int
    fields: tuple[tuple[str, Any], ...] = ()
    phones: tuple[PhoneRow, ...] = ()
    emails: tuple[EmailRow, ...] = ()
    visible: bool = True

    def get(self, name: str) -> Any:
        return dict(self.fields).get(name)


@dataclass(frozen=True)
class MergeFacts:
    kept: Card | None  # None: not found
    merged: Card | None
    role: str  # of the user merging
    references: tuple[tuple[str, str, int], ...] = ()  # (table, column, rows naming the merged card)


@dataclass(frozen=True)
class MergePlan:
    kind: str
    kept_id: int
    merged_id: int
    fill: tuple[tuple[str, Any], ...] = ()  # the kept card's fields to set
    phones_moved: tuple[int, ...] = ()  # phone rows that go to the kept card
    phones_dropped: tuple[int, ...] = ()  # numbers the kept card already has
    emails_moved: tuple[int, ...] = ()
    emails_dropped: tuple[int, ...] = ()
    moves: tuple[tuple[str, str, int], ...] = ()  # (table, column, rows) re-pointed
    snapshot: tuple[tuple[str, Any], ...] = ()  # the merged card as it was

    def counts(self) -> dict[str, int]:
        """What moves, by table (``calls``: 3), for the confirmation page and the audit."""
        out = {table: n for table, _column, n in self.moves}
        out.update(phones=len(self.phones_moved), phones_dropped=len(self.phones_dropped),
                   emails=len(self.emails_moved), emails_dropped=len(self.emails_dropped))
        return out


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _same(name: str, a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        if name in ("name", "full_name", "title", "company_name"):
            return m.normalize_name(a) == m.normalize_name(b)
        return a.strip().casefold() == b.strip().casefold()
    return a == b


def decide_merge(facts: MergeFacts) -> MergePlan:
    """What merging ``facts.merged`` into ``facts.kept`` changes; raises
    :class:`MergeRefused`."""
    kept, merged = facts.kept, facts.merged
    if kept is None or merged is None:
        raise MergeRefused("not_found")
    if kept.kind != merged.kind:
        raise MergeRefused("different_kinds")
    kind = kept.kind
    if kind not in CARDS:
        raise MergeRefused("not_mergeable")
    if kept.id == merged.id:
        raise MergeRefused("same_card")
    if facts.role not in MERGERS or not (kept.visible and merged.visible):
        raise MergeRefused("not_allowed")
    if kind in ("contact", "lead") and None not in (kept.get("company_id"), merged.get("company_id")) \
            and kept.get("company_id") != merged.get("company_id"):
        raise MergeRefused("different_companies")

    fill: dict[str, Any] = {}
    noted: list[str] = []
    for name in FIELDS[kind]:
        mine, theirs = kept.get(name), merged.get(name)
        if _empty(theirs):
            continue
        if _empty(mine):
            fill[name] = theirs
            if name == "phone":  # a lead's number comes with its extension
                fill["phone_ext"] = merged.get("phone_ext")
        elif name in NOTED and not _same(name, mine, theirs):
            shown = theirs + (f" доб. {merged.get('phone_ext')}" if name == "phone" and merged.get("phone_ext")
                              else "")
            noted.append(f"{text('merge_field_' + name)}: {shown}")
    if not _empty(merged.get("notes")):
        noted.append(merged.get("notes").strip())
    if noted:
        block = "\n".join([text("merged_from", id=merged.id), *noted])
        fill["notes"] = f"{kept.get('notes').rstrip()}\n\n{block}" if not _empty(kept.get("notes")) else block

    have = {(p.phone, p.ext or "") for p in kept.phones}
    phones_moved, phones_dropped = [], []
    for p in merged.phones:
        key = (p.phone, p.ext or "")
        (phones_dropped if key in have else phones_moved).append(p.id)
        have.add(key)
    emails = {e.email.casefold() for e in kept.emails}
    emails_moved, emails_dropped = [], []
    for e in merged.emails:
        (emails_dropped if e.email.casefold() in emails else emails_moved).append(e.id)
        emails.add(e.email.casefold())

    return MergePlan(kind, kept.id, merged.id, fill=tuple(fill.items()),
                     phones_moved=tuple(phones_moved), phones_dropped=tuple(phones_dropped),
                     emails_moved=tuple(emails_moved), emails_dropped=tuple(emails_dropped),
                     moves=tuple((t, c, n) for t, c, n in facts.references if n),
                     snapshot=merged.fields)


# ---- the database side --------------------------------------------------------------------
def _jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _card(session: Session, kind: str, card_id: int, may_see: Callable[[Any], bool], lock: bool) -> Card | None:
    model = CARDS.get(kind)
    if model is None:
        return Card(kind, card_id, visible=False)  # refused as not mergeable
    row = session.get(model, card_id, with_for_update=True if lock else None)
    if row is None:
        return None
    fields = tuple((c.key, _jsonable(getattr(row, c.key))) for c in model.__table__.columns)
    phones = emails = ()
    if kind in PHONES:
        phone = PHONES[kind]
        owner = getattr(phone, f"{kind}_id")
        phones = tuple(PhoneRow(r.id, r.phone, r.phone_ext) for r in session.execute(
            select(phone.id, phone.phone, phone.phone_ext).where(owner == card_id).order_by(phone.id)))
    if kind in EMAILS:
        emails = tuple(EmailRow(r.id, r.email) for r in session.execute(
            select(m.ContactEmail.id, m.ContactEmail.email).where(m.ContactEmail.contact_id == card_id)
            .order_by(m.ContactEmail.id)))
    return Card(kind, card_id, fields, phones, emails, visible=bool(may_see(row)))


def merge_facts(session: Session, kept_kind: str, kept_id: int, merged_kind: str, merged_id: int, *,
                role: str, may_see: Callable[[Any], bool], lock: bool = True) -> MergeFacts:
    """Both cards (``lock``: locked for the transaction on PostgreSQL) and the rows naming
    the merged one. ``may_see(row)``: may the user see this card (the admin passes
    ``can_see``)."""
    kept = _card(session, kept_kind, kept_id, may_see, lock)
    merged = _card(session, merged_kind, merged_id, may_see, lock)
    return MergeFacts(kept, merged, role, references(session, merged_kind, merged_id))


def references(session: Session, kind: str, card_id: int) -> tuple[tuple[str, str, int], ...]:
    """(table, column, rows) naming the card: what would move if it were merged away."""
    out = []
    for table_name, column in REPOINTED.get(kind, ()):
        col = m.Base.metadata.tables[table_name].c[column]
        out.append((table_name, column, session.scalar(
            select(func.count()).select_from(col.table).where(col == card_id)) or 0))
    return tuple(out)


def apply_merge(session: Session, plan: MergePlan, facts: MergeFacts, *, by_id: int | None,
                now: datetime) -> m.AuditLog:
    """Re-point, move phones and e-mails, delete the merged card, fill the kept one and
    write the audit row; flushed, not committed."""
    kind, kept_id, merged_id = plan.kind, plan.kept_id, plan.merged_id
    session.flush()
    moved: dict[str, int] = {}
    for table_name, column in REPOINTED[kind]:
        table = m.Base.metadata.tables[table_name]
        result = session.execute(update(table).where(table.c[column] == merged_id).values({column: kept_id}))
        if result.rowcount:
            moved[table_name] = result.rowcount
    for model, ids_moved, ids_dropped in ((PHONES.get(kind), plan.phones_moved, plan.phones_dropped),
                                          (EMAILS.get(kind), plan.emails_moved, plan.emails_dropped)):
        if model is None:
            continue
        owner = getattr(model, f"{kind}_id")
        if ids_moved:
            session.execute(update(model).where(model.id.in_(ids_moved)).values({owner.key: kept_id}))
        # Whatever else is still on the merged card is a duplicate (or arrived since the
        # facts were read): it goes with the card.
        session.execute(delete(model).where(owner == merged_id))
    model = CARDS[kind]
    merged_row = session.get(model, merged_id)
    if merged_row is not None:
        session.expunge(merged_row)
    session.execute(delete(model).where(model.id == merged_id))
    kept = session.get(model, kept_id)
    session.expire(kept)
    for name, value in plan.fill:
        setattr(kept, name, value)
    counts = plan.counts()
    counts.update(moved)
    audit = m.AuditLog(at=now, employee_id=by_id, action="merge", object_kind=kind, kept_id=kept_id,
                       merged_id=merged_id, details={
                           "moved": counts,
                           "filled": dict(plan.fill),
                           "merged_card": dict(plan.snapshot),
                           "merged_phones": [{"phone": p.phone, "ext": p.ext} for p in facts.merged.phones],
                           "merged_emails": [e.email for e in facts.merged.emails],
                       })
    session.add(audit)
    session.flush()
    session.expire_all()  # loaded calls, phones and collections follow the new links
    return audit


def merge_cards(session: Session, kind: str, kept_id: int, merged_id: int, *, by: m.Employee,
                may_see: Callable[[Any], bool], now: datetime, merged_kind: str | None = None) -> MergePlan:
    """Merge card ``merged_id`` into ``kept_id`` as the rule says; raises
    :class:`MergeRefused` (nothing changed). The caller commits."""
    facts = merge_facts(session, kind, kept_id, merged_kind or kind, merged_id, role=by.role, may_see=may_see)
    plan = decide_merge(facts)
    apply_merge(session, plan, facts, by_id=by.id, now=now)
    return plan

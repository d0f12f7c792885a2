"""Which cards a stored call belongs to: the card its number matches, and that card's deal.

Every call (routed by the daemon, by the AGI fallback or the fallback group, reconciled
from CEL, click-to-call) is linked the same way:

* the card is the first of :func:`pbx_daemon.crm.lookups.cards_by_phone` (contact,
  company, lead, open inquiry: the routing's match order); a contact's call is linked to
  its company too, and a lead's or an inquiry's to the company it names, so the company
  card lists it;
* the deal is the card's one open deal (not closed, not in a won or lost stage). A
  contact's own deals come before its company's; a lead's and an inquiry's own deals before
  their company's. With several, the most recently active: the latest ``updated_at`` (any
  change to the deal: stage, amount, responsible), then the latest ``created_at``, then the
  highest id. None open: no deal.

:func:`choose_links` is the rule (plain values in, no database); :func:`link_call` fetches
what it needs, applies the rule and fills the call's empty link columns, keeping any link
already there (a click-to-call started from a card keeps that card).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Sequence

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pbx_daemon.crm import models as m
from pbx_daemon.crm.lookups import Match, cards_by_phone


@dataclass(frozen=True)
class DealFacts:
    """What the rule needs of a deal: whose it is, whether it is open, when it last changed."""

    id: int
    open: bool
    updated_at: datetime
    created_at: datetime
    company_id: int | None = None
    contact_id: int | None = None
    lead_id: int | None = None
    inquiry_ids: frozenset[int] = field(default_factory=frozenset)  # inquiries naming it

    def belongs_to(self, kind: str, card_id: int) -> bool:
        if kind == "inquiry":
            return card_id in self.inquiry_ids
        return getattr(self, f"{kind}_id") == card_id


@dataclass(frozen=True)
class Links:
    """The call's link columns (``calls.<name>``); None: not linked."""

    company_id: int | None = None
    contact_id: int | None = None
    lead_id: int | None = None
    inquiry_id: int | None = None
    deal_id: int | None = None


LINK_COLUMNS = tuple(f.name for f in fields(Links))


def _deal_owners(card: Match) -> list[tuple[str, int]]:
    """Whose open deals count for ``card``, most specific first."""
    owners = [(card.kind, card.id)]
    if card.kind != "company" and card.company_id is not None:
        owners.append(("company", card.company_id))
    return owners


def most_recently_active(deals: Sequence[DealFacts]) -> DealFacts | None:
    return max(deals, key=lambda d: (d.updated_at, d.created_at, d.id), default=None)


def choose_links(cards: Sequence[Match], deals: Sequence[DealFacts]) -> Links:
    """The links for a call whose number matched ``cards`` (in :data:`MATCH_ORDER`, as
    :func:`cards_by_phone` returns them), given the deals of those cards."""
    if not cards:
        return Links()
    card = cards[0]
    company_id = card.id if card.kind == "company" else card.company_id
    chosen = {"company_id": company_id, f"{card.kind}_id": card.id}
    for kind, owner_id in _deal_owners(card):
        deal = most_recently_active([d for d in deals if d.open and d.belongs_to(kind, owner_id)])
        if deal is not None:
            chosen["deal_id"] = deal.id
            break
    return Links(**chosen)


# ---- fetch and apply -----------------------------------------------------------------------
def _given_card(session: Session, call: m.Call) -> Match | None:
    """The card a call was started from (a click-to-call's), as the rule sees a match."""
    if call.contact_id is not None:
        contact = session.get(m.Contact, call.contact_id)
        if contact is not None:
            return Match("contact", contact.id, contact.full_name, contact.responsible_id,
                         call.company_id or contact.company_id)
    if call.company_id is not None:
        return Match("company", call.company_id, "", None, call.company_id)
    if call.lead_id is not None:
        lead = session.get(m.Lead, call.lead_id)
        if lead is not None:
            return Match("lead", lead.id, lead.title, lead.responsible_id, lead.company_id)
    if call.inquiry_id is not None:
        inquiry = session.get(m.Inquiry, call.inquiry_id)
        if inquiry is not None:
            return Match("inquiry", inquiry.id, inquiry.name or "", inquiry.responsible_id,
                         inquiry.company_id)
    return None


def fetch_deals(session: Session, cards: Sequence[Match]) -> list[DealFacts]:
    """Every deal of ``cards`` (and of the companies they name), open or not."""
    ids: dict[str, set[int]] = {"company": set(), "contact": set(), "lead": set()}
    inquiry_deals: dict[int, set[int]] = {}
    for card in cards:
        if card.kind in ids:
            ids[card.kind].add(card.id)
        if card.company_id is not None:
            ids["company"].add(card.company_id)
    inquiry_ids = [c.id for c in cards if c.kind == "inquiry"]
    if inquiry_ids:
        for inquiry_id, deal_id in session.execute(select(m.Inquiry.id, m.Inquiry.deal_id).where(
                m.Inquiry.id.in_(inquiry_ids), m.Inquiry.deal_id.is_not(None))):
            inquiry_deals.setdefault(deal_id, set()).add(inquiry_id)
    clauses = [getattr(m.Deal, f"{kind}_id").in_(sorted(values))
               for kind, values in ids.items() if values]
    if inquiry_deals:
        clauses.append(m.Deal.id.in_(sorted(inquiry_deals)))
    if not clauses:
        return []
    rows = session.execute(
        select(m.Deal.id, m.Deal.company_id, m.Deal.contact_id, m.Deal.lead_id,
               m.Deal.closed_at, m.Deal.updated_at, m.Deal.created_at,
               m.DealStage.is_won, m.DealStage.is_lost)
        .join(m.DealStage, m.DealStage.id == m.Deal.stage_id).where(or_(*clauses)))
    return [DealFacts(id=r.id, open=r.closed_at is None and not r.is_won and not r.is_lost,
                      updated_at=r.updated_at or r.created_at, created_at=r.created_at,
                      company_id=r.company_id, contact_id=r.contact_id, lead_id=r.lead_id,
                      inquiry_ids=frozenset(inquiry_deals.get(r.id, ())))
            for r in rows]


def link_call(session: Session, call: m.Call, number: str | None = None) -> Links:
    """Link ``call`` to its card and deal (the rule above) and return what was chosen.

    ``number`` is the client's E.164 number (default: the caller of an inbound call, the
    callee of an outbound one). A call that already names a card (a click-to-call started
    from one) keeps it and gets that card's deal; the columns already set are never
    overwritten. A cold call (from a call list) is not linked to an inquiry: cold calls
    stay out of the inquiries."""
    if number is None:
        number = call.callee if call.direction == "outbound" else call.caller
    given = _given_card(session, call)
    if given is not None:
        cards = [given]
    elif number:
        cards = cards_by_phone(session, number)
        if call.call_list_entry_id is not None:
            cards = [c for c in cards if c.kind != "inquiry"]
    else:
        cards = []
    links = choose_links(cards, fetch_deals(session, cards))
    for column in LINK_COLUMNS:
        if getattr(call, column) is None and getattr(links, column) is not None:
            setattr(call, column, getattr(links, column))
    return links


def link_unlinked_calls(session: Session, *, batch: int = 500) -> tuple[int, int]:
    """Backfill: link every inbound or outbound call that names no card and no deal, by
    the cards and deals as they are now (calls stored before links existed). Commits
    every ``batch`` calls; returns (calls looked at, calls linked)."""
    unlinked = [getattr(m.Call, column).is_(None) for column in LINK_COLUMNS]
    seen = linked = 0
    after = 0
    while True:
        calls = session.scalars(select(m.Call).where(
            m.Call.id > after, m.Call.direction.in_(("inbound", "outbound")), *unlinked)
            .order_by(m.Call.id).limit(batch)).all()
        if not calls:
            return seen, linked
        for call in calls:
            seen += 1
            linked += link_call(session, call) != Links()
        after = calls[-1].id
        session.commit()

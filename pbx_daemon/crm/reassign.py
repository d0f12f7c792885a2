"""Reassigning a card to another employee in one action (issue 15): the rule, pure, and
its application.

* A card is an inquiry, a lead, a deal, a company or a contact; reassigning it makes
  another employee its responsible.
* The new responsible must be one the person reassigning may assign (the caller fetches
  that: ``admin.access.assignable``) and active; anyone else is refused, nothing changes.
* Reassigning to the current responsible changes nothing.
* The card's open tasks move with it:

  - an inquiry's open call-back tasks (type "call"), whoever holds them: the call-back
    goes to whoever now answers for the inquiry (the missed-call rules gave it to the
    duty person or the head while nobody was responsible);
  - any card's other open tasks held by the previous responsible; a colleague's own
    task on the card (a meeting a head set for themselves) stays theirs.

Fetch (:func:`reassign_facts`), decide (:func:`decide_reassign`, no database), apply
(:func:`apply_reassign`); :func:`reassign` does all three inside the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from pbx_daemon.crm import models as m

CARDS = {"inquiry": m.Inquiry, "lead": m.Lead, "deal": m.Deal, "company": m.Company,
         "contact": m.Contact}


class ReassignRefused(ValueError):
    """``reason``: "unknown_card", "not_assignable" (the caller words it for the user)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class OpenTask:
    id: int
    responsible_id: int
    type: str


@dataclass(frozen=True)
class ReassignFacts:
    kind: str
    card_id: int
    current_id: int | None  # the card's responsible now
    new_id: int
    new_assignable: bool  # by the person reassigning, and active
    open_tasks: tuple[OpenTask, ...] = ()


@dataclass(frozen=True)
class Reassignment:
    kind: str
    card_id: int
    previous_id: int | None
    new_id: int
    task_ids: tuple[int, ...] = ()  # the open tasks that move to ``new_id``

    @property
    def changed(self) -> bool:
        return self.previous_id != self.new_id or bool(self.task_ids)


def decide_reassign(facts: ReassignFacts) -> Reassignment:
    if facts.kind not in CARDS:
        raise ReassignRefused("unknown_card")
    if facts.new_id == facts.current_id:
        return Reassignment(facts.kind, facts.card_id, facts.current_id, facts.new_id)
    if not facts.new_assignable:
        raise ReassignRefused("not_assignable")
    moving = tuple(t.id for t in facts.open_tasks if t.responsible_id != facts.new_id and (
        (facts.kind == "inquiry" and t.type == "call")
        or (facts.current_id is not None and t.responsible_id == facts.current_id)))
    return Reassignment(facts.kind, facts.card_id, facts.current_id, facts.new_id, moving)


def reassign_facts(session: Session, kind: str, card, new_id: int, *, new_assignable: bool) -> ReassignFacts:
    if kind not in CARDS:
        raise ReassignRefused("unknown_card")
    link = getattr(m.Task, f"{kind}_id")
    tasks = session.execute(select(m.Task.id, m.Task.responsible_id, m.Task.type).where(
        link == card.id, m.Task.status == "open").order_by(m.Task.id)).all()
    active = session.scalar(select(m.Employee.active).where(m.Employee.id == new_id))
    return ReassignFacts(kind, card.id, card.responsible_id, new_id,
                         new_assignable=bool(new_assignable and active),
                         open_tasks=tuple(OpenTask(*t) for t in tasks))


def apply_reassign(session: Session, card, decision: Reassignment) -> None:
    card.responsible_id = decision.new_id
    if decision.task_ids:
        for task in session.scalars(select(m.Task).where(m.Task.id.in_(decision.task_ids))):
            task.responsible_id = decision.new_id
    session.flush()
    session.expire(card, ["responsible"])  # the relationship follows the new id


def reassign(session: Session, kind: str, card, new_id: int, *, new_assignable: bool) -> Reassignment:
    """Make ``new_id`` responsible for ``card`` (of ``kind``), moving its open tasks as the
    rule says; raises :class:`ReassignRefused`. The caller commits."""
    decision = decide_reassign(reassign_facts(session, kind, card, new_id, new_assignable=new_assignable))
    if decision.changed:
        apply_reassign(session, card, decision)
    return decision

"""Who may see a call and its recording (seed 001: a manager never sees another
manager's client card, recordings included). The admin issue extends these rules to
every card; this is the one place they live."""

from __future__ import annotations

from sqlalchemy.orm import Session

from pbx_daemon import models as m

SEE_ALL = frozenset({"admin", "owner"})
CARD_MODELS = {"company": m.Company, "contact": m.Contact, "lead": m.Lead, "deal": m.Deal,
               "inquiry": m.Inquiry}


def _card_responsibles(session: Session, call: m.Call) -> set[int]:
    out = set()
    for kind, model in CARD_MODELS.items():
        card_id = getattr(call, f"{kind}_id")
        if card_id is not None:
            card = session.get(model, card_id)
            if card is not None and card.responsible_id is not None:
                out.add(card.responsible_id)
    return out


def can_see_call(session: Session, user: m.Employee | None, call: m.Call) -> bool:
    """Admins and the owner see every call; a head, their department's; anyone, the
    calls they took part in and the calls on cards they are responsible for."""
    if user is None or not user.active:
        return False
    if user.role in SEE_ALL:
        return True
    if user.role == "head" and user.department_id is not None \
            and call.department_id == user.department_id:
        return True
    if user.id in (call.employee_id, call.answered_by_id):
        return True
    if any(leg.employee_id == user.id and leg.answered_at is not None for leg in call.legs):
        return True
    return user.id in _card_responsibles(session, call)


def can_see_card(session: Session, user: m.Employee | None, card) -> bool:
    if user is None or not user.active:
        return False
    if user.role in SEE_ALL:
        return True
    responsible = getattr(card, "responsible_id", None)
    if responsible == user.id:
        return True
    if user.role == "head" and user.department_id is not None:
        dept = getattr(card, "department_id", None)
        if dept == user.department_id:
            return True
        owner = session.get(m.Employee, responsible) if responsible else None
        return owner is not None and owner.department_id == user.department_id
    return False

"""Cold calling (seed 000): an operator works the entries of the lists assigned to them.

* :func:`next_entry` hands out the next entry: first a call-back that is due, then the
  next pending entry by position; it is the operator's until finished.
* :func:`finish_entry` records the outcome: a disposition (the inquiry classes plus
  "no answer", "secretary not passed", "call back later"), a comment, the script's
  answers, a call-back time (a call task with its reminder 15 minutes before) and, for
  the disposition "lead" (Лид), a lead: the entry's phone, company and contact, the
  operator's note and the script's answers, source "Cold calling", responsible the list's
  creator (the head who imported it) while active, else the operator. A cold call is not a
  deal until then. Nothing here creates an inquiry, so list calls never clutter the
  inquiries section.
* :func:`list_progress`: the operator's view of a list: done / total, and what is left
  for today.
* Scripts branch: ``{"start": "q1", "nodes": {"q1": {"text": ..., "answers":
  [{"label": ..., "next": "q2"}]}}}``; :func:`validate_script` checks one before it is
  saved (every ``next`` exists, no node is unreachable).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from pbx_daemon.crm import models as m
from pbx_daemon.crm.funnel import new_task

EXTRA_DISPOSITIONS = (("no_answer", "No answer", "Не ответили"),
                      ("secretary", "Secretary not passed", "Не прошли секретаря"),
                      ("call_back_later", "Call back later", "Перезвонить позже"))


LEAD = "lead"  # the disposition that makes a lead (the inquiry class Лид)
COLD_SOURCE = "Cold calling"


class ColdCallError(ValueError):
    """``str()`` is one line for the operator."""


def dispositions(session: Session) -> list[tuple[str, str, str]]:
    classes = session.scalars(select(m.InquiryClass).order_by(m.InquiryClass.position)).all()
    return [(c.code, c.name, c.name_ru) for c in classes] + list(EXTRA_DISPOSITIONS)


def _my_lists(operator: m.Employee):
    return select(m.call_list_operators.c.call_list_id).where(
        m.call_list_operators.c.employee_id == operator.id)


def claimed_entry(session: Session, operator: m.Employee) -> m.CallListEntry | None:
    """The entry ``operator`` is working on (claimed, not finished), if any. Reads only."""
    return session.scalar(select(m.CallListEntry).where(
        m.CallListEntry.status == "in_progress", m.CallListEntry.assigned_operator_id == operator.id)
        .order_by(m.CallListEntry.id).limit(1))


def _available(operator: m.Employee, now: datetime):
    return select(m.CallListEntry).where(
        m.CallListEntry.call_list_id.in_(_my_lists(operator)), m.CallListEntry.status == "pending",
        or_(m.CallListEntry.callback_at.is_(None), m.CallListEntry.callback_at <= now),
        or_(m.CallListEntry.assigned_operator_id.is_(None), m.CallListEntry.assigned_operator_id == operator.id))


def has_next_entry(session: Session, operator: m.Employee, now: datetime) -> bool:
    """Would :func:`next_entry` hand ``operator`` something? Reads only (a page's GET)."""
    return session.scalar(_available(operator, now).with_only_columns(m.CallListEntry.id).limit(1)) is not None


def next_entry(session: Session, operator: m.Employee, now: datetime) -> m.CallListEntry | None:
    """The claimed entry, else claims the next one (a change: callers POST for it)."""
    mine = claimed_entry(session, operator)
    if mine is not None:
        return mine
    entry = session.scalar(_available(operator, now)
        .order_by(m.CallListEntry.callback_at.is_(None), m.CallListEntry.callback_at, m.CallListEntry.position)
        .limit(1).with_for_update(skip_locked=True))
    if entry is not None:
        entry.status = "in_progress"
        entry.assigned_operator_id = operator.id
        session.flush()
    return entry


def finish_entry(session: Session, entry: m.CallListEntry, *, operator: m.Employee, disposition: str,
                 comment: str = "", answers: dict | None = None, callback_at: datetime | None = None,
                 to_funnel: bool = False, now: datetime) -> m.Lead | None:
    if entry.assigned_operator_id not in (None, operator.id) and operator.role == "cold_operator":
        raise ColdCallError("this entry is another operator's")
    codes = {code for code, _n, _r in dispositions(session)}
    if disposition not in codes:
        raise ColdCallError(f"pick a disposition ({', '.join(sorted(codes))})")
    if disposition == "call_back_later" and callback_at is None:
        raise ColdCallError("a call back later needs the time")
    if callback_at is not None and callback_at.tzinfo is None:
        raise ColdCallError("the call-back time needs a time zone")
    if answers is not None and (not isinstance(answers, dict) or len(str(answers)) > 20000):
        raise ColdCallError("the script's answers must be a small object")
    entry.disposition = disposition
    entry.comment = (comment or "").strip()[:5000] or None
    if answers is not None:
        entry.answers = {str(k)[:100]: str(v)[:500] for k, v in answers.items()}
    entry.assigned_operator_id = operator.id
    lead = None
    if callback_at is not None:
        entry.callback_at = callback_at.astimezone(timezone.utc)
        entry.status = "pending"  # back in the queue when it is due
        new_task(session, title=f"Call back: {entry.company_name or entry.contact_name or entry.phone}"[:300],
                 type="call", responsible_id=operator.id, deadline=callback_at,
                 comment=entry.comment or "call back as agreed", created_by=operator, now=now,
                 call_list_entry_id=entry.id)
    else:
        entry.status = "done"
        entry.callback_at = None
    if disposition == LEAD or to_funnel:
        lead = _lead_for(session, entry, operator)
    entry.updated_at = now
    session.flush()
    return lead


def _lead_for(session: Session, entry: m.CallListEntry, operator: m.Employee) -> m.Lead:
    """The entry's lead: the one it has already (saving "lead" twice makes one), else a new one."""
    if entry.lead_id is not None:
        return session.get(m.Lead, entry.lead_id)
    call_list = session.get(m.CallList, entry.call_list_id)
    creator = session.get(m.Employee, call_list.created_by_id) if call_list and call_list.created_by_id else None
    responsible = creator if creator is not None and creator.active else operator
    source = session.scalar(select(m.Source).where(m.Source.name == COLD_SOURCE))
    if source is None:
        source = m.Source(name=COLD_SOURCE, description="leads from call lists")
        session.add(source)
        session.flush()
    notes = [entry.comment] + [f"{k}: {v}" for k, v in (entry.answers or {}).items()]
    lead = m.Lead(title=(entry.company_name or entry.contact_name or entry.phone)[:300],
                  full_name=entry.contact_name, company_name=entry.company_name, phone=entry.phone,
                  phone_ext=entry.phone_ext or None, email=entry.email, status="new",
                  source_id=source.id, responsible_id=responsible.id,
                  department_id=responsible.department_id,
                  notes="\n".join(filter(None, notes)) or None)
    session.add(lead)
    session.flush()
    entry.lead_id = lead.id
    for call in session.scalars(select(m.Call).where(m.Call.call_list_entry_id == entry.id)):
        call.lead_id = lead.id
    return lead


@dataclass(frozen=True)
class ListProgress:
    """One call list as its operator sees it."""
    call_list_id: int
    name: str
    total: int
    done: int
    left_today: int  # pending now or due before the day ends, and the one in hand


def list_progress(session: Session, call_list_id: int, day_end: datetime) -> ListProgress | None:
    """Figures of a list; ``day_end``: the end of the company's today (a call-back due
    later is not "left today")."""
    call_list = session.get(m.CallList, call_list_id)
    if call_list is None:
        return None
    E = m.CallListEntry
    due_today = or_(E.status == "in_progress", and_(
        E.status == "pending", or_(E.callback_at.is_(None), E.callback_at < day_end)))
    total, done, left = session.execute(select(
        func.count(), func.coalesce(func.sum(case((E.status == "done", 1), else_=0)), 0),
        func.coalesce(func.sum(case((due_today, 1), else_=0)), 0)).where(E.call_list_id == call_list_id)).one()
    return ListProgress(call_list.id, call_list.name, int(total), int(done), int(left))


def validate_script(body) -> list[str]:
    """Problems with a branching script, as one-line messages (empty: fine)."""
    if not isinstance(body, dict) or not isinstance(body.get("nodes"), dict):
        return ['a script is {"start": ..., "nodes": {...}}']
    nodes, problems = body["nodes"], []
    start = body.get("start")
    if start not in nodes:
        problems.append(f"start {start!r} is not a node")
    for name, node in nodes.items():
        if not isinstance(node, dict) or not isinstance(node.get("text"), str):
            problems.append(f"node {name!r} needs a text")
            continue
        for answer in node.get("answers") or []:
            if not isinstance(answer, dict) or not isinstance(answer.get("label"), str):
                problems.append(f"node {name!r}: every answer needs a label")
            elif answer.get("next") is not None and answer["next"] not in nodes:
                problems.append(f"node {name!r}: answer {answer['label']!r} leads to missing {answer['next']!r}")
    reached, todo = set(), [start] if start in nodes else []
    while todo:
        name = todo.pop()
        if name in reached:
            continue
        reached.add(name)
        todo += [a.get("next") for a in nodes[name].get("answers") or []
                 if isinstance(a, dict) and a.get("next") in nodes]
    problems += [f"node {n!r} cannot be reached" for n in nodes if n not in reached and start in nodes]
    return problems


def search_kb(session: Session, query: str, limit: int = 20) -> list[m.KbArticle]:
    words = [w for w in (query or "").split() if w][:5]
    q = select(m.KbArticle)
    for word in words:
        like = f"%{word[:50]}%"
        q = q.where(or_(m.KbArticle.title.ilike(like), m.KbArticle.body.ilike(like), m.KbArticle.tags.ilike(like)))
    return session.scalars(q.order_by(m.KbArticle.title).limit(limit)).all()

"""Webhooks: business events sent as signed JSON to URLs the admins configure (issue 18).

* :func:`emit` writes an event into ``webhook_events`` (the outbox) in the session of the
  change that causes it: the event is committed with the change or rolled back with it.
  Called by the call store (``call.*``), the inquiry rules and actions (``inquiry.*``), and
  wherever a task is created or done (``task.*``).
* :mod:`.delivery` decides (pure) what to send next and when to retry;
  :mod:`.store` fans events out to the matching webhooks and records attempts (SQL);
  :mod:`pbx_daemon.telephony.outputs.webhooks` is the daemon's service that POSTs them (Twisted, treq).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from pbx_daemon.crm import models as m


def emit(session: Session, kind: str, payload: dict[str, Any],
         webhook_id: int | None = None) -> m.WebhookEvent:
    """Add a ``kind`` event to ``session`` (not committed: the caller's transaction is)."""
    event = m.WebhookEvent(kind=kind, payload=payload, webhook_id=webhook_id, fanned_out=False)
    session.add(event)
    return event


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _named(obj, attr: str) -> dict[str, Any] | None:
    return None if obj is None else {"id": obj.id, "name": getattr(obj, attr)}


def card(session: Session, row) -> dict[str, Any]:
    """The card a call or task belongs to: company, contact, lead, deal (id and name)."""
    get = session.get
    return {
        "company": _named(get(m.Company, row.company_id), "name") if row.company_id else None,
        "contact": _named(get(m.Contact, row.contact_id), "full_name") if row.contact_id else None,
        "lead": _named(get(m.Lead, row.lead_id), "title") if row.lead_id else None,
        "deal": _named(get(m.Deal, row.deal_id), "title") if row.deal_id else None,
    }


def call_payload(session: Session, call: m.Call) -> dict[str, Any]:
    """A call as the ``call.*`` events carry it. ``recording.path`` is the admin's link
    (the sender makes it absolute with ``admin.public_url``)."""
    session.flush()  # a new call gets its id
    answered_by = session.get(m.Employee, call.answered_by_id) if call.answered_by_id else None
    recording = call.recording
    return {
        "call": {
            "id": call.id, "call_id": call.linkedid, "direction": call.direction,
            "caller": call.caller, "callee": call.callee, "dialled_number": call.dialled_number,
            "caller_name": call.caller_name, "outcome": call.outcome,
            "started_at": _iso(call.started_at), "answered_at": _iso(call.answered_at),
            "ended_at": _iso(call.ended_at), "duration_seconds": call.duration_seconds,
            "talk_seconds": call.talk_seconds, "inquiry_id": call.inquiry_id,
            "answered_by": _named(answered_by, "full_name"),
        },
        "card": card(session, call),
        "recording": None if recording is None else {
            "path": f"/calls/{call.id}/recording", "duration_seconds": recording.duration_seconds,
            "size_bytes": recording.size_bytes},
    }


def inquiry_payload(session: Session, inquiry: m.Inquiry) -> dict[str, Any]:
    session.flush()
    klass = session.get(m.InquiryClass, inquiry.class_id) if inquiry.class_id else None
    return {"inquiry": {
        "id": inquiry.id, "channel": inquiry.channel, "phone": inquiry.phone,
        "email": inquiry.email, "name": inquiry.name, "status": inquiry.status,
        "class": klass.code if klass is not None else None,
        "responsible_id": inquiry.responsible_id, "department_id": inquiry.department_id,
        "missed_count": inquiry.missed_count, "first_seen_at": _iso(inquiry.first_seen_at),
    }}


def task_payload(session: Session, task: m.Task) -> dict[str, Any]:
    session.flush()
    return {
        "task": {
            "id": task.id, "title": task.title, "type": task.type, "status": task.status,
            "responsible_id": task.responsible_id, "deadline": _iso(task.deadline),
            "done_at": _iso(task.done_at), "comment": task.comment, "inquiry_id": task.inquiry_id,
        },
        "card": card(session, task),
    }


def emit_call(session: Session, kind: str, call: m.Call) -> None:
    emit(session, kind, call_payload(session, call))


def emit_inquiry(session: Session, kind: str, inquiry: m.Inquiry) -> None:
    emit(session, kind, inquiry_payload(session, inquiry))


def emit_task(session: Session, kind: str, task: m.Task) -> None:
    emit(session, kind, task_payload(session, task))

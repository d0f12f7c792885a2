"""Webhooks: business events sent as signed JSON to URLs the admins configure (issue 18).

* :func:`emit` writes an event into ``webhook_events`` (the outbox) in the session of the
  change that causes it: the event is committed with the change or rolled back with it.
  The call store and reconciliation call it (``call.*``).
* ``inquiry.*`` and ``task.*`` need no call: :func:`install_emitter` (on every session
  factory, like the rollup's dirty marker) writes them from what each flush inserted or
  changed, so no path that creates a task or an inquiry can forget its event.
* :mod:`.delivery` decides (pure) what to send next and when to retry;
  :mod:`.store` fans events out to the matching webhooks and records attempts (SQL);
  :mod:`pbx_daemon.telephony.outputs.webhooks` is the daemon's service that POSTs them (Twisted, treq).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Session, sessionmaker

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
    """A call as the ``call.*`` events carry it. ``recording.path`` is the admin's page
    (for a logged-in user), ``recording.id`` the REST API's recording; the sender adds
    both as absolute links under ``admin.public_url`` (:func:`.store.render_body`)."""
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
            "id": recording.id, "path": f"/calls/{call.id}/recording",
            "duration_seconds": recording.duration_seconds, "size_bytes": recording.size_bytes},
    }


def inquiry_payload(session: Session, inquiry: m.Inquiry) -> dict[str, Any]:
    """An inquiry as the ``inquiry.*`` events carry it (``inquiry`` flushed: it has its id)."""
    klass = session.get(m.InquiryClass, inquiry.class_id) if inquiry.class_id else None
    return {"inquiry": {
        "id": inquiry.id, "channel": inquiry.channel, "phone": inquiry.phone,
        "email": inquiry.email, "name": inquiry.name, "status": inquiry.status,
        "class": klass.code if klass is not None else None,
        "responsible_id": inquiry.responsible_id, "department_id": inquiry.department_id,
        "missed_count": inquiry.missed_count, "first_seen_at": _iso(inquiry.first_seen_at),
    }}


def task_payload(session: Session, task: m.Task) -> dict[str, Any]:
    """A task as the ``task.*`` events carry it (``task`` flushed: it has its id)."""
    return {
        "task": {
            "id": task.id, "title": task.title, "type": task.type, "status": task.status,
            "responsible_id": task.responsible_id, "deadline": _iso(task.deadline),
            "done_at": _iso(task.done_at), "comment": task.comment, "inquiry_id": task.inquiry_id,
        },
        "card": card(session, task),
    }


def emit_call(session: Session, kind: str, call: m.Call, *, reconciled: bool = False) -> None:
    """A ``call.*`` event; ``reconciled``: the call was stored later from CEL (the payload
    says ``"reconciled": true``)."""
    payload = call_payload(session, call)
    if reconciled:
        payload["reconciled"] = True
    emit(session, kind, payload)


# ---- inquiry.* and task.*, from every flush ------------------------------------------------
# The order of the events one flush makes: an inquiry before its tasks, a task created
# before it is done; then by id (the order the rows were inserted).
_RANK = {"inquiry.created": 0, "inquiry.classified": 1, "task.created": 2, "task.done": 3}
_NOTED = "pbx_crm.webhook_events"


def install_emitter(session_factory: sessionmaker) -> None:
    """Make every session of ``session_factory`` write the ``inquiry.*`` and ``task.*``
    events of what it flushes, in the same transaction (see :func:`flushed_events`).

    The daemon and the CLI get it from :func:`pbx_daemon.db.make_session_factory`, the admin
    in ``create_app``; a ``Session`` made without one of those factories writes none.
    """
    event.listen(session_factory, "after_flush", _note_events)
    event.listen(session_factory, "after_flush_postexec", _write_events)


def _changed(obj, attr: str) -> bool:
    history = getattr(inspect(obj).attrs, attr).history
    return bool(history.added) and list(history.added) != list(history.deleted)


def flushed_events(new, dirty) -> list[tuple[str, Any]]:
    """The events of one flush, from its ``new`` and ``dirty`` objects (attribute history
    still unflushed), in order:

    ====================================================  ==========================
    flushed                                               events
    ====================================================  ==========================
    a new Inquiry (any channel, any path)                 ``inquiry.created``
    an Inquiry whose class or subclass changed            ``inquiry.classified``
    a new Task                                            ``task.created``
    a new Task already done (the admin's form)            ``task.created``, ``task.done``
    a Task whose status became ``done``                   ``task.done``
    a Task cancelled, reassigned, edited; a new Call      nothing (calls emit their own)
    ====================================================  ==========================
    """
    found: list[tuple[str, Any]] = []
    for obj in new:
        if isinstance(obj, m.Inquiry):
            found.append(("inquiry.created", obj))
        elif isinstance(obj, m.Task):
            found.append(("task.created", obj))
            if obj.status == "done":
                found.append(("task.done", obj))
    for obj in dirty:
        if isinstance(obj, m.Inquiry) and (_changed(obj, "class_id")
                                           or _changed(obj, "subclass_id")):
            found.append(("inquiry.classified", obj))
        elif isinstance(obj, m.Task) and obj.status == "done" and _changed(obj, "status"):
            found.append(("task.done", obj))
    return sorted(found, key=lambda pair: (_RANK[pair[0]], pair[1].id))


def _note_events(session: Session, context) -> None:
    # Here the history is still that of the flush; the rows have their ids.
    noted = flushed_events(list(session.new), list(session.dirty))
    if noted:
        context.attributes.setdefault(_NOTED, []).extend(noted)


def _write_events(session: Session, context) -> None:
    # Here the new rows are in the identity map, so the payloads may look up their cards.
    # The ORM does not take new objects during a flush: the events go in with a plain
    # INSERT on the flush's connection (the same transaction).
    noted = context.attributes.pop(_NOTED, None)
    if not noted:
        return
    rows = [{"kind": kind, "fanned_out": False,
             "payload": task_payload(session, obj) if isinstance(obj, m.Task)
             else inquiry_payload(session, obj)} for kind, obj in noted]
    session.connection().execute(insert(m.WebhookEvent), rows)

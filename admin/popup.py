"""The screen-pop page and what it asks for (the live events come from :mod:`admin.stream`).

    GET  /screen-pop                         the page
    GET  /screen-pop/card?phone=+7...        the caller's card as JSON, or {"known": false}
    GET  /screen-pop/reminders               my call tasks due within 15 minutes
    POST /screen-pop/calls/<call id>/note    {"note"}        the call's note
    POST /screen-pop/calls/<call id>/classify {"class"}      the call's inquiry's class
    POST /screen-pop/calls/<call id>/task    {"title", "type", "deadline", "comment"}

All behind the login, CSRF on the posts (the page sends X-CSRFToken); a call is
reachable only by those who may see it (:mod:`admin.access`).
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, current_app, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext
from sqlalchemy import select

from admin.access import CARD_MODELS, can_see, can_see_card, scope
from admin.display import class_name, label_of
from admin.times import admin_now, in_company_time, typed_time
from pbx_daemon.crm import models as m
from pbx_daemon.crm.funnel import REMIND_BEFORE, FunnelError, new_task
from pbx_daemon.crm.inquiries.actions import InquiryActionError, classify_inquiry
from pbx_daemon.crm.lookups import cards_by_phone
from pbx_daemon.crm.phones import InvalidPhoneNumber, normalize

bp = Blueprint("popup", __name__)


def _session():
    return current_app.extensions["sqlalchemy"].session


def _login_or_401():
    if g.get("user") is None:
        abort(401)


@bp.route("/screen-pop")
def page():
    if g.get("user") is None:
        return redirect(url_for("login", next="/screen-pop"))
    return render_template("popup.html", user=g.user)


@bp.route("/screen-pop/card")
def card():
    _login_or_401()
    session = _session()
    try:
        phone = normalize(request.args.get("phone", ""), _config().general.default_region,
                          _config().general.default_area_code).e164
    except InvalidPhoneNumber as e:
        return jsonify(error=str(e)), 400
    matches = cards_by_phone(session, phone)
    if not matches:
        return jsonify(known=False, phone=phone,
                       create_url=url_for("lead.create_view", phone=phone))
    best = matches[0]
    row = session.get(CARD_MODELS[best.kind], best.id)
    if g.user.role == "cold_operator" and not _in_my_lists(session, phone):
        # Not a number of their call lists: a known number, nothing more.
        return jsonify(known=True, phone=phone, restricted=True)
    responsible = session.get(m.Employee, best.responsible_id) if best.responsible_id else None
    out = {"known": True, "phone": phone, "kind": best.kind, "id": best.id, "name": best.name,
           "responsible": responsible.full_name if responsible else None}
    if best.company_id:
        company = session.get(m.Company, best.company_id)
        out["company"] = company.name if company else None
    if not can_see_card(session, g.user, row):
        # Another manager's client: who it is, not their business, and no link to a card
        # that would answer 403.
        out["restricted"] = True
        return jsonify(out)
    out["url"] = url_for("card.show", kind=best.kind, card_id=best.id)
    column = getattr(m.Deal, "company_id" if best.kind == "company" else "contact_id", None)
    deals = []
    if best.kind in ("company", "contact"):
        deals = session.scalars(_scoped(m.Deal, select(m.Deal).join(m.DealStage).where(
            column == best.id, m.DealStage.is_won.is_(False), m.DealStage.is_lost.is_(False)))).all()
    # The number's last calls that the user may see: not another manager's call notes.
    calls = session.scalars(_scoped(m.Call, select(m.Call).where(
        (m.Call.caller == phone) | (m.Call.callee == phone))).order_by(m.Call.started_at.desc()).limit(5)).all()
    out.update(
        deals=[{"title": d.title, "stage": d.stage.name, "amount": str(d.amount), "currency": d.currency}
               for d in deals],
        calls=[{"at": in_company_time(c.started_at).isoformat(), "direction": label_of("call_direction", c.direction),
                "outcome": label_of("call_outcome", c.outcome),
                "who": (c.answered_by or c.employee).full_name if (c.answered_by or c.employee) else None,
                "note": c.note} for c in calls],
        notes=getattr(row, "notes", None) or getattr(row, "message", None))
    return jsonify(out)


def _scoped(model, query):
    clause = scope(model, g.user)
    return query if clause is None else query.where(clause)


def _in_my_lists(session, phone: str) -> bool:
    """Is ``phone`` an entry of a call list the (cold-calling) user works?"""
    return session.scalar(_scoped(m.CallListEntry, select(m.CallListEntry.id).where(
        m.CallListEntry.phone == phone)).limit(1)) is not None


@bp.route("/screen-pop/reminders")
def reminders():
    _login_or_401()
    now = admin_now()  # the admin's clock, as /notifications/due
    tasks = _session().scalars(select(m.Task).where(
        m.Task.responsible_id == g.user.id, m.Task.status == "open", m.Task.type == "call",
        m.Task.deadline <= now + REMIND_BEFORE).order_by(m.Task.deadline).limit(20)).all()
    return jsonify(reminders=[{"id": t.id, "title": t.title, "comment": t.comment,
                               "deadline": in_company_time(t.deadline).isoformat(),
                               "minutes": int((t.deadline - now).total_seconds() // 60)}
                              for t in tasks])


def _call(call_id: str) -> m.Call:
    _login_or_401()
    call = _session().scalar(select(m.Call).where(m.Call.linkedid == call_id))
    if call is None:
        abort(404)
    if not can_see(_session(), g.user, call):
        abort(403)
    return call


def _json() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        abort(400, gettext("Expected a JSON object."))
    return data


@bp.route("/screen-pop/calls/<call_id>")
def call_info(call_id):
    call = _call(call_id)
    classes = _session().scalars(select(m.InquiryClass).order_by(m.InquiryClass.position)).all()
    return jsonify(call_id=call.linkedid, outcome=call.outcome, note=call.note,
                   inquiry_id=call.inquiry_id, disposition=call.disposition,
                   recording=url_for("calls.recording", call_id=call.id) if call.recording else None,
                   classes=[{"code": c.code, "name": class_name(c)} for c in classes])


@bp.route("/screen-pop/calls/<call_id>/note", methods=["POST"])
def note(call_id):
    call = _call(call_id)
    text = _json().get("note")
    if not isinstance(text, str) or not text.strip() or len(text) > 5000:
        return jsonify(error=gettext("A note is 1 to 5000 characters of text.")), 400
    call.note = text.strip()
    _session().commit()
    return jsonify(ok=True)


@bp.route("/screen-pop/calls/<call_id>/classify", methods=["POST"])
def classify(call_id):
    call = _call(call_id)
    code = _json().get("class")
    session = _session()
    if call.inquiry_id is None:
        # No inquiry (an answered call from a known client): the class is the call's
        # disposition, for the analytics.
        if session.scalar(select(m.InquiryClass.id).where(m.InquiryClass.code == code)) is None:
            return jsonify(error=gettext("No such inquiry class.")), 400
        call.disposition = code
        session.commit()
        return jsonify(ok=True, disposition=code)
    try:
        result = classify_inquiry(session, session.get(m.Inquiry, call.inquiry_id), code,
                                  by=g.user, now=admin_now())
    except InquiryActionError as e:
        session.rollback()
        return jsonify(error=str(e)), 400
    call.disposition = code
    session.commit()
    return jsonify(ok=True, lead_id=result.lead_id, blocked=result.blocked)


@bp.route("/screen-pop/calls/<call_id>/task", methods=["POST"])
def task(call_id):
    call = _call(call_id)
    data = _json()
    deadline = None
    try:
        # Typed without a zone (datetime-local): the company's (general.timezone), with that
        # date's own offset (a deadline across a clock change keeps its wall-clock time).
        deadline = typed_time(datetime.fromisoformat(str(data.get("deadline", ""))))
    except (ValueError, OverflowError):
        pass
    links = {k: getattr(call, k) for k in ("company_id", "contact_id", "lead_id", "deal_id", "inquiry_id")
             if getattr(call, k) is not None}
    try:
        t = new_task(_session(), title=data.get("title"), type=data.get("type"),
                     responsible_id=g.user.id, deadline=deadline, comment=data.get("comment"),
                     created_by=g.user, now=admin_now(), **links)
    except FunnelError as e:
        _session().rollback()
        return jsonify(error=str(e)), 400
    _session().commit()
    return jsonify(ok=True, task_id=t.id, deadline=in_company_time(t.deadline).isoformat()), 201


def _config():
    return current_app.extensions["pbx_crm_config"]

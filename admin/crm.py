"""The working pages: the inquiries queue, cards, my tasks, my deals, source quality,
and the web-form inquiry endpoint. The rules are the domain's
(:mod:`pbx_daemon.crm.inquiries.actions`, :mod:`pbx_daemon.crm.funnel`); these pages fetch, call
them, and show the result. Every page is behind the login and the role scopes
(:mod:`admin.access`); every form carries a CSRF token.
"""

from __future__ import annotations

import hmac
from datetime import datetime, timezone

from flask import abort, current_app, flash, g, jsonify, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_babel import gettext as _
from sqlalchemy import case, func, select, true

from admin.access import CARD_MODELS, can_see, card_calls, scope
from admin.display import class_name, show_phone
from admin.views import OFFICE, RoleGate
from pbx_daemon.crm import models as m
from pbx_daemon.crm.funnel import FunnelError, convert_lead, my_tasks
from pbx_daemon.crm.inquiries.actions import InquiryActionError, classify_inquiry, create_web_inquiry
from pbx_daemon.crm.lookups import find_duplicates


def _now() -> datetime:
    return datetime.now(timezone.utc)


class _Page(RoleGate, BaseView):
    roles = OFFICE

    def __init__(self, db, **kwargs):
        super().__init__(**kwargs)
        self.db = db

    @property
    def s(self):
        return self.db.session

    def render(self, template, **kwargs):
        kwargs.setdefault("now", _now())
        return super().render(template, **kwargs)


def _classes(session):
    return session.scalars(select(m.InquiryClass).order_by(m.InquiryClass.position, m.InquiryClass.id)).all()


class InquiryQueueView(_Page):
    """Seeds 000 and 003: every inquiry lands here first; one click classifies it."""

    @expose("/")
    def index(self):
        status = request.args.get("status", "open")
        query = select(m.Inquiry)
        if status in m.INQUIRY_STATUSES:
            query = query.where(m.Inquiry.status == status)
        clause = scope(m.Inquiry, g.user)
        if clause is not None:
            query = query.where(clause)
        inquiries = self.s.scalars(query.order_by(m.Inquiry.last_seen_at.desc()).limit(300)).all()
        return self.render("inquiry_queue.html", inquiries=inquiries, classes=_classes(self.s),
                           status=status)

    @expose("/<int:inquiry_id>/classify", methods=("POST",))
    def classify(self, inquiry_id: int):
        inquiry = self.s.get(m.Inquiry, inquiry_id)
        if inquiry is None:
            abort(404)
        if not can_see(self.s, g.user, inquiry):
            abort(403)
        subclass = request.form.get("subclass_id", "")
        try:
            result = classify_inquiry(self.s, inquiry, request.form.get("class", ""), by=g.user,
                                      now=_now(), subclass_id=int(subclass) if subclass.isdigit() else None)
        except InquiryActionError as e:
            self.s.rollback()
            flash(str(e), "error")
            return redirect(request.referrer or url_for(".index"))
        self.s.commit()
        message = _("Inquiry #%(id)s: %(cls)s", id=inquiry.id, cls=class_name(inquiry.inquiry_class))
        if result.blocked:
            message += "; " + _("%(phone)s is blocked", phone=show_phone(result.blocked))
        if result.lead_id:
            message += "; " + _("lead #%(lead)s", lead=result.lead_id)
        flash(message, "success")
        if result.lead_id and request.form.get("open") == "1":
            return redirect(url_for("card.show", kind="lead", card_id=result.lead_id))
        return redirect(request.referrer or url_for(".index"))


class SourceQualityView(_Page):
    """Seed 003: per source, how many inquiries, the share of spam, the share that moved
    into the funnel (classified Lead or Client)."""

    roles = frozenset({"admin", "owner", "head"})

    @expose("/")
    def index(self):
        from admin.analytics_view import no_department_message
        from pbx_daemon.crm.stats.analytics import of_department

        department = None
        if g.user.role == "head":  # a head: their department's inquiries, or none
            department = g.user.department_id
            if department is None:
                flash(no_department_message(), "warning")
                return self.render("source_quality.html", rows=[])
        spam = select(m.InquiryClass.id).where(m.InquiryClass.code == "spam").scalar_subquery()
        funnel = select(m.InquiryClass.id).where(m.InquiryClass.code.in_(("lead", "client")))
        rows = self.s.execute(
            select(func.coalesce(m.Source.name, _("(no source)")).label("source"),
                   func.count(m.Inquiry.id).label("total"),
                   func.sum(case((m.Inquiry.class_id == spam, 1), else_=0)).label("spam"),
                   func.sum(case((m.Inquiry.class_id.in_(funnel), 1), else_=0)).label("funnel"))
            .select_from(m.Inquiry).outerjoin(m.Source, m.Source.id == m.Inquiry.source_id)
            .where(of_department(department) if department is not None else true())
            .group_by(m.Source.name).order_by(func.count(m.Inquiry.id).desc())).all()
        return self.render("source_quality.html", rows=rows)


class MyTasksView(_Page):
    roles = frozenset(m.ROLES)

    @expose("/")
    def index(self):
        return self.render("my_tasks.html", tasks=my_tasks(self.s, g.user.id, _now()))

    @expose("/<int:task_id>/done", methods=("POST",))
    def done(self, task_id: int):
        task = self.s.get(m.Task, task_id)
        if task is None:
            abort(404)
        if task.responsible_id != g.user.id and not can_see(self.s, g.user, task):
            abort(403)
        task.status, task.done_at = "done", _now()
        self.s.commit()
        return redirect(request.referrer or url_for(".index"))


class MyDealsView(_Page):
    @expose("/")
    def index(self):
        deals = self.s.scalars(select(m.Deal).where(m.Deal.responsible_id == g.user.id)
                               .order_by(m.Deal.created_at.desc())).all()
        calls = dict(self.s.execute(select(m.Call.deal_id, func.count(m.Call.id))
                                    .where(m.Call.deal_id.in_([d.id for d in deals]))
                                    .group_by(m.Call.deal_id)).all()) if deals else {}
        return self.render("my_deals.html", deals=deals, calls=calls)


class CardView(_Page):
    """One page per card: what it is, its phones (click-to-call), calls with legs and
    recordings, notes, tasks; a lead converts here, an inquiry is classified here."""

    def is_visible(self):
        return False  # reached from lists and links, not the menu

    @expose("/")
    def index(self):
        return redirect(url_for("queue.index"))

    @expose("/<kind>/<int:card_id>")
    def show(self, kind: str, card_id: int):
        model = CARD_MODELS.get(kind)
        if model is None:
            abort(404)
        card = self.s.get(model, card_id)
        if card is None:
            abort(404)
        if not can_see(self.s, g.user, card):
            abort(403)
        calls = self.s.scalars(select(m.Call).where(card_calls(kind, card_id))
                               .order_by(m.Call.started_at.desc()).limit(100)).all()
        tasks = self.s.scalars(select(m.Task).where(getattr(m.Task, f"{kind}_id") == card_id)
                               .order_by(m.Task.status.desc(), m.Task.deadline)).all()
        phones = _phones(kind, card)
        # The card itself and the cards it is linked to are not duplicates of it.
        own = {(kind, card_id)} | {(k, getattr(card, f"{k}_id", None)) for k in CARD_MODELS}
        if kind == "lead":
            own.add(("inquiry", card.inquiry_id))
        duplicates = [d for d in find_duplicates(
            self.s, phone=phones[0] if phones else None, email=_email(kind, card),
            name=_name(kind, card)) if (d.kind, d.id) not in own]
        # A company's card names the contact who called or was called.
        called = {c.contact_id for c in calls if c.contact_id is not None}
        contacts = dict(self.s.execute(select(m.Contact.id, m.Contact.full_name).where(
            m.Contact.id.in_(called))).all()) if kind == "company" and called else {}
        deals = []
        if kind in ("company", "contact"):
            deals = self.s.scalars(select(m.Deal).where(getattr(m.Deal, f"{kind}_id") == card_id)).all()
        return self.render("card.html", kind=kind, card=card, title=_name(kind, card) or f"{kind} #{card_id}",
                           calls=calls, tasks=tasks, phones=phones, duplicates=duplicates,
                           deals=deals, contacts=contacts, classes=_classes(self.s) if kind == "inquiry" else [])

    @expose("/lead/<int:lead_id>/convert", methods=("POST",))
    def convert(self, lead_id: int):
        lead = self.s.get(m.Lead, lead_id)
        if lead is None:
            abort(404)
        if not can_see(self.s, g.user, lead):
            abort(403)
        try:
            result = convert_lead(self.s, lead, by=g.user, now=_now(),
                                  deal_title=request.form.get("deal_title") or None)
        except FunnelError as e:
            self.s.rollback()
            flash(str(e), "error")
            return redirect(url_for(".show", kind="lead", card_id=lead_id))
        self.s.commit()
        flash(_("Lead #%(lead)s converted: deal #%(deal)s", lead=lead_id, deal=result.deal_id), "success")
        return redirect(url_for(".show", kind="deal", card_id=result.deal_id))


def _phones(kind, card) -> list[str]:
    if kind in ("company", "contact"):
        return [p.phone for p in card.phones]
    if kind == "deal":
        numbers = []
        for holder in (card.contact, card.company):
            numbers += [p.phone for p in holder.phones] if holder is not None else []
        return numbers
    return [card.phone] if card.phone else []


def _email(kind, card):
    if kind == "contact":
        return card.emails[0].email if card.emails else None
    return getattr(card, "email", None)


def _name(kind, card):
    return {"company": lambda c: c.name, "contact": lambda c: c.full_name,
            "lead": lambda c: c.full_name or c.title, "deal": lambda c: c.title,
            "inquiry": lambda c: c.name or c.phone or c.email}[kind](card)


def web_inquiry():
    """``POST /api/inquiries`` for site forms, with ``X-Api-Token: <admin.webform_token>``
    (no login, no CSRF: :func:`admin.app.register_views` exempts it)."""
    config = current_app.extensions["pbx_crm_config"]
    token = config.admin.webform_token
    given = request.headers.get("X-Api-Token", "")
    if not token:
        return jsonify(error="web-form inquiries are off (admin.webform_token is not set)"), 404
    if not hmac.compare_digest(given.encode(), token.encode()):
        return jsonify(error="missing or wrong X-Api-Token"), 401
    data = request.get_json(silent=True) if request.is_json else request.form.to_dict()
    session = current_app.extensions["sqlalchemy"].session
    try:
        inquiry = create_web_inquiry(session, data if data is not None else [], now=_now(),
                                     region=config.general.default_region,
                                     default_source=config.inquiries.web_form_source.strip(),
                                     department=config.inquiries.web_form_department.strip())
    except InquiryActionError as e:
        session.rollback()
        return jsonify(error=str(e)), 400
    session.commit()
    return jsonify(id=inquiry.id, status=inquiry.status), 201

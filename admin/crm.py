"""The working pages: the inquiries queue, cards, my tasks, my deals, source quality,
and the web-form inquiry endpoint. The rules are the domain's
(:mod:`pbx_daemon.crm.inquiries.actions`, :mod:`pbx_daemon.crm.funnel`); these pages fetch, call
them, and show the result. Every page is behind the login and the role scopes
(:mod:`admin.access`); every form carries a CSRF token.
"""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta

from flask import abort, current_app, flash, g, jsonify, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, or_, select, true
from sqlalchemy.orm import selectinload

from admin import labels
from admin.access import CARD_MODELS, SEE_ALL, assignable, can_see, card_calls, scope
from admin.display import class_name, show_phone
from admin.views import OFFICE, RoleGate
from admin.times import admin_now
from pbx_daemon.crm import models as m
from pbx_daemon.crm.funnel import FunnelError, convert_lead
from pbx_daemon.crm.inquiries.actions import InquiryActionError, classify_inquiry, create_web_inquiry
from pbx_daemon.crm.lookups import find_duplicates
from pbx_daemon.crm import merge as merging
from pbx_daemon.crm.phones import InvalidPhoneNumber, normalize
from pbx_daemon.crm.reassign import ReassignRefused, reassign


class _Page(RoleGate, BaseView):
    roles = OFFICE

    def __init__(self, db, **kwargs):
        super().__init__(**kwargs)
        self.db = db

    @property
    def s(self):
        return self.db.session

    def render(self, template, **kwargs):
        kwargs.setdefault("now", admin_now())
        return super().render(template, **kwargs)


def _classes(session):
    return session.scalars(select(m.InquiryClass).order_by(m.InquiryClass.position, m.InquiryClass.id)).all()


PAGE_SIZE = 50
CARD_EDITORS = frozenset({"admin", "head", "manager", "operator"})  # the card views' edit_roles
PERIODS = ("today", "week", "month")


def _page_number() -> int:
    raw = request.args.get("page", "1")
    page = int(raw) if raw.isdigit() else 1
    return min(max(page, 1), 1_000_000)


class Pages:
    """One page of a list: its rows, the total, and the numbers the pager shows."""

    def __init__(self, session, query, count_query, page: int, size: int = PAGE_SIZE):
        self.total = session.scalar(count_query) or 0
        self.size = size
        self.last = max(1, -(-self.total // size))
        self.page = min(page, self.last)
        self.rows = session.scalars(query.limit(size).offset((self.page - 1) * size)).all()
        self.first_row = (self.page - 1) * size + 1 if self.total else 0
        self.last_row = self.first_row + len(self.rows) - 1 if self.rows else 0

    def numbers(self) -> list[int | None]:
        """The page numbers to link (None: a gap), around the current one."""
        shown = sorted({1, self.last, *range(max(1, self.page - 2), min(self.last, self.page + 2) + 1)})
        out: list[int | None] = []
        for n in shown:
            if out and n - out[-1] > 1:
                out.append(None)
            out.append(n)
        return out


def _period_start(period: str, now: datetime) -> datetime | None:
    from admin.times import company_midnight

    if period == "today":
        return company_midnight(now)
    if period == "week":
        return now - timedelta(days=7)
    if period == "month":
        return now - timedelta(days=30)
    return None


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name, "")
    return int(raw) if raw.isdigit() and len(raw) < 10 else None


def _assignable_people(session, user) -> list[m.Employee]:
    clause = assignable(user)
    query = select(m.Employee).order_by(m.Employee.full_name)
    return session.scalars(query if clause is None else query.where(clause)).all()


def reassign_error(refused: ReassignRefused) -> str:
    if refused.reason == "not_assignable":
        return _("You may not make this employee responsible: choose someone you may assign.")
    return _("This record cannot be reassigned.")


class InquiryQueueView(_Page):
    """Seeds 000 and 003: every inquiry lands here first; one click classifies it.

    Light to click through with a thousand open inquiries: a page of 50 with the total and
    pages, searched and filtered in SQL; the class buttons carry no form of their own (one
    script posts the click with the page's CSRF token and updates the row, a plain form
    is the fallback), and a head reassigns a row in the same way."""

    @expose("/")
    def index(self):
        status = request.args.get("status", "open")
        filters = {"status": status, "class": _int_arg("class"), "source": _int_arg("source"),
                   "responsible": request.args.get("responsible", ""),
                   "period": request.args.get("period", ""), "q": request.args.get("q", "").strip()[:100],
                   "sort": request.args.get("sort", "last_seen")}
        where = []
        if status in m.INQUIRY_STATUSES:
            where.append(m.Inquiry.status == status)
        if filters["class"] is not None:
            where.append(m.Inquiry.class_id == filters["class"])
        if filters["source"] is not None:
            where.append(m.Inquiry.source_id == filters["source"])
        if filters["responsible"] == "none":
            where.append(m.Inquiry.responsible_id.is_(None))
        elif filters["responsible"] == "me":
            where.append(m.Inquiry.responsible_id == g.user.id)
        elif filters["responsible"].isdigit() and len(filters["responsible"]) < 10:
            where.append(m.Inquiry.responsible_id == int(filters["responsible"]))
        since = _period_start(filters["period"], admin_now())
        if since is not None:
            where.append(m.Inquiry.last_seen_at >= since)
        if filters["q"]:
            where.append(_inquiry_search(filters["q"]))
        clause = scope(m.Inquiry, g.user)
        if clause is not None:
            where.append(clause)
        order = {"last_seen": m.Inquiry.last_seen_at.desc(), "first_seen": m.Inquiry.first_seen_at.desc(),
                 "oldest": m.Inquiry.last_seen_at.asc(), "missed": m.Inquiry.missed_count.desc()
                 }.get(filters["sort"], m.Inquiry.last_seen_at.desc())
        query = (select(m.Inquiry).where(*where).order_by(order, m.Inquiry.id.desc())
                 .options(selectinload(m.Inquiry.source), selectinload(m.Inquiry.tracking_number),
                          selectinload(m.Inquiry.inquiry_class), selectinload(m.Inquiry.responsible)))
        pages = Pages(self.s, query, select(func.count(m.Inquiry.id)).where(*where), _page_number())
        people = _assignable_people(self.s, g.user)
        return self.render("inquiry_queue.html", pages=pages, inquiries=pages.rows,
                           classes=_classes(self.s), status=status, filters=filters,
                           sources=self.s.scalars(select(m.Source).order_by(m.Source.name)).all(),
                           people=people, can_reassign=len(people) > 1 or g.user.role in SEE_ALL,
                           args={k: v for k, v in request.args.items() if k != "page"})

    def _inquiry(self, inquiry_id: int) -> m.Inquiry:
        inquiry = self.s.get(m.Inquiry, inquiry_id)
        if inquiry is None:
            abort(404)
        if not can_see(self.s, g.user, inquiry):
            abort(403)
        return inquiry

    @expose("/<int:inquiry_id>/classify", methods=("POST",))
    def classify(self, inquiry_id: int):
        inquiry = self._inquiry(inquiry_id)
        subclass = request.form.get("subclass_id", "")
        try:
            result = classify_inquiry(self.s, inquiry, request.form.get("class", ""), by=g.user,
                                      now=admin_now(), subclass_id=int(subclass) if subclass.isdigit() else None)
        except InquiryActionError as e:
            self.s.rollback()
            if _wants_json():
                return jsonify(error=str(e)), 400
            flash(str(e), "error")
            return redirect(request.referrer or url_for(".index"))
        self.s.commit()
        message = _("Inquiry #%(id)s: %(cls)s", id=inquiry.id, cls=class_name(inquiry.inquiry_class))
        if result.blocked:
            message += "; " + _("%(phone)s is blocked", phone=show_phone(result.blocked))
        if result.lead_id:
            message += "; " + _("lead #%(lead)s", lead=result.lead_id)
        if _wants_json():
            return jsonify(_row(inquiry, message,
                                lead_url=url_for("card.show", kind="lead", card_id=result.lead_id)
                                if result.lead_id else None))
        flash(message, "success")
        if result.lead_id and request.form.get("open") == "1":
            return redirect(url_for("card.show", kind="lead", card_id=result.lead_id))
        return redirect(request.referrer or url_for(".index"))

    @expose("/<int:inquiry_id>/reassign", methods=("POST",))
    def reassign(self, inquiry_id: int):
        inquiry = self._inquiry(inquiry_id)
        return _reassign(self.s, "inquiry", inquiry, url_for(".index"))


def _row(inquiry: m.Inquiry, message: str, **extra) -> dict:
    return dict(id=inquiry.id, status=inquiry.status, class_code=inquiry.inquiry_class.code
                if inquiry.inquiry_class else None, class_name=class_name(inquiry.inquiry_class),
                responsible=inquiry.responsible.full_name if inquiry.responsible else "",
                message=message, **extra)


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json" or request.is_json


def _inquiry_search(text: str):
    """A number in any format, a name or an e-mail."""
    from admin.views import _region

    try:
        return m.Inquiry.phone == normalize(text, _region()).e164
    except InvalidPhoneNumber:
        pattern = f"%{text}%"
        return or_(m.Inquiry.name.ilike(pattern), m.Inquiry.email.ilike(pattern),
                   m.Inquiry.phone.like(pattern))


def _reassign(session, kind: str, card, back: str):
    """Reassign ``card`` to the POSTed ``to`` (:mod:`pbx_daemon.crm.reassign` decides);
    JSON for the page's script, else a redirect with a message."""
    raw = request.form.get("to", "")
    new_id = int(raw) if raw.isdigit() and len(raw) < 10 else None
    allowed = new_id is not None and session.scalar(
        select(m.Employee.id).where(m.Employee.id == new_id, assignable(g.user))) is not None
    try:
        if new_id is None:
            raise ReassignRefused("not_assignable")
        done = reassign(session, kind, card, new_id, new_assignable=allowed)
    except ReassignRefused as refused:
        session.rollback()
        if _wants_json():
            return jsonify(error=reassign_error(refused)), 400
        flash(reassign_error(refused), "error")
        return redirect(request.referrer or back)
    session.commit()
    name = session.get(m.Employee, new_id).full_name
    message = _("Responsible: %(name)s; tasks moved: %(n)s", name=name, n=len(done.task_ids))
    if _wants_json():
        return jsonify(id=card.id, responsible=name, tasks_moved=len(done.task_ids), message=message)
    flash(message, "success")
    return redirect(request.referrer or back)


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


TASK_WHEN = ("overdue", "today", "all")


def task_filter(user, when: str, now: datetime, *, department: bool = False, kind: str = "") -> list:
    """The WHERE clauses of "my tasks" (a head's ``department``: its people's): open ones,
    ``overdue`` (deadline passed), ``today`` (due today, company time), of type ``kind``."""
    from admin.times import company_day

    where = [m.Task.status == "open"]
    if department and user.role == "head" and user.department_id is not None:
        where.append(m.Task.responsible_id.in_(select(m.Employee.id).where(
            m.Employee.department_id == user.department_id)))
    else:
        where.append(m.Task.responsible_id == user.id)
    if when == "overdue":
        where.append(m.Task.deadline < now)
    elif when == "today":
        start, end = company_day(now)
        where += [m.Task.deadline >= start, m.Task.deadline < end]
    if kind in m.TASK_TYPES:
        where.append(m.Task.type == kind)
    return where


class MyTasksView(_Page):
    """Open tasks, overdue first (oldest deadline first), a page at a time with the total;
    filtered by when (overdue, today) and type; a head may look at the department's."""

    roles = frozenset(m.ROLES)

    @expose("/")
    def index(self):
        when = request.args.get("when", "all")
        kind = request.args.get("type", "")
        department = request.args.get("who") == "department" and g.user.role == "head"
        where = task_filter(g.user, when, admin_now(), department=department, kind=kind)
        query = (select(m.Task).where(*where).order_by(m.Task.deadline, m.Task.id)
                 .options(selectinload(m.Task.responsible)))
        pages = Pages(self.s, query, select(func.count(m.Task.id)).where(*where), _page_number())
        return self.render("my_tasks.html", tasks=pages.rows, pages=pages, when=when, kind=kind,
                           department=department, args={k: v for k, v in request.args.items() if k != "page"},
                           cards=_task_cards(self.s, pages.rows))

    @expose("/<int:task_id>/done", methods=("POST",))
    def done(self, task_id: int):
        task = self.s.get(m.Task, task_id)
        if task is None:
            abort(404)
        if task.responsible_id != g.user.id and not can_see(self.s, g.user, task):
            abort(403)
        if task.status != "done":
            task.status, task.done_at = "done", admin_now()
        self.s.commit()
        return redirect(request.referrer or url_for(".index"))


def _task_cards(session, tasks) -> dict:
    """(kind, id) -> the card's name, for the tasks' links to their client cards."""
    names = {}
    for kind, model in CARD_MODELS.items():
        ids = {getattr(t, f"{kind}_id") for t in tasks} - {None}
        if ids:
            for row in session.scalars(select(model).where(model.id.in_(ids))):
                names[(kind, row.id)] = _name(kind, row) or f"#{row.id}"
    return names


class MyDealsView(_Page):
    @expose("/")
    def index(self):
        where = [m.Deal.responsible_id == g.user.id]
        query = (select(m.Deal).where(*where).order_by(m.Deal.created_at.desc(), m.Deal.id.desc())
                 .options(selectinload(m.Deal.company), selectinload(m.Deal.stage)))
        pages = Pages(self.s, query, select(func.count(m.Deal.id)).where(*where), _page_number())
        deals = pages.rows
        calls = dict(self.s.execute(select(m.Call.deal_id, func.count(m.Call.id))
                                    .where(m.Call.deal_id.in_([d.id for d in deals]))
                                    .group_by(m.Call.deal_id)).all()) if deals else {}
        return self.render("my_deals.html", deals=deals, calls=calls, pages=pages, args={})


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
        people = _assignable_people(self.s, g.user) if g.user.role in CARD_EDITORS else []
        return self.render("card.html", kind=kind, card=card, title=_name(kind, card) or f"{kind} #{card_id}",
                           calls=calls, tasks=tasks, phones=phones, duplicates=duplicates,
                           can_merge=kind in merging.CARDS and g.user.role in merging.MERGERS,
                           deals=deals, contacts=contacts, classes=_classes(self.s) if kind == "inquiry" else [],
                           people=people if len(people) > 1 or card.responsible_id not in {p.id for p in people}
                           else [])

    @expose("/<kind>/<int:card_id>/reassign", methods=("POST",))
    def reassign(self, kind: str, card_id: int):
        """One action: the card and its open tasks (an inquiry's call-back) to another
        employee the user may assign (:mod:`pbx_daemon.crm.reassign`)."""
        model = CARD_MODELS.get(kind)
        if model is None:
            abort(404)
        card = self.s.get(model, card_id)
        if card is None:
            abort(404)
        if g.user.role not in CARD_EDITORS or not can_see(self.s, g.user, card):
            abort(403)
        return _reassign(self.s, kind, card, url_for(".show", kind=kind, card_id=card_id))

    @expose("/<kind>/<int:card_id>/merge", methods=("GET", "POST"))
    def merge(self, kind: str, card_id: int):
        """Merge two duplicates (:mod:`pbx_daemon.crm.merge`): GET shows both cards side by
        side, which one is kept (``keep``, the user may switch) and what moves; POST merges
        and opens the kept card. ``other``: the second card's number."""
        model = merging.CARDS.get(kind)
        if model is None:
            abort(404)
        if g.user.role not in merging.MERGERS:
            abort(403)
        values = request.form if request.method == "POST" else request.args
        raw = values.get("other", "").strip().lstrip("#№ ")
        other_id = int(raw) if raw.isdigit() and len(raw) < 10 else None
        if other_id is None:
            flash(_("Give the number of the card to merge with."), "error")
            return redirect(url_for(".show", kind=kind, card_id=card_id))
        cards = {i: self.s.get(model, i) for i in (card_id, other_id)}
        if None in cards.values():
            abort(404)
        if not all(can_see(self.s, g.user, c) for c in cards.values()):
            abort(403)
        keep = _int_arg("keep") if request.method == "GET" else (
            int(values["keep"]) if values.get("keep", "").isdigit() and len(values["keep"]) < 10 else None)
        keep = keep if keep in cards else card_id
        gone = other_id if keep == card_id else card_id
        may_see = lambda row: can_see(self.s, g.user, row)  # noqa: E731
        if request.method == "POST":
            try:
                plan = merging.merge_cards(self.s, kind, keep, gone, by=g.user, may_see=may_see, now=admin_now())
            except merging.MergeRefused as refused:
                self.s.rollback()
                if refused.reason == "not_allowed":
                    abort(403)
                flash(merge_error(refused), "error")
                return redirect(url_for(".show", kind=kind, card_id=card_id))
            self.s.commit()
            counts = plan.counts()
            flash(_("Card #%(gone)s merged into this one: %(moved)s", gone=gone,
                    moved=", ".join(f"{MOVED_LABELS[k]}: {n}" for k, n in counts.items()
                                    if n and k in MOVED_LABELS) or _("nothing else moved")), "success")
            return redirect(url_for(".show", kind=kind, card_id=keep))
        plan = error = None
        try:
            plan = merging.decide_merge(merging.merge_facts(self.s, kind, keep, kind, gone, role=g.user.role,
                                                            may_see=may_see, lock=False))
        except merging.MergeRefused as refused:
            if refused.reason == "not_allowed":
                abort(403)
            error = merge_error(refused)
        sides = [dict(card=self.s.get(model, i), keep=i == keep, title=_name(kind, self.s.get(model, i)),
                      attached={t: n for t, _c, n in merging.references(self.s, kind, i)})
                 for i in (card_id, other_id)]
        column_labels = labels.column_labels(model)
        return self.render("merge.html", kind=kind, card_id=card_id, other_id=other_id, keep=keep, gone=gone,
                           sides=sides, plan=plan, error=error, moved_labels=MOVED_LABELS,
                           fill=[(column_labels.get(n, n), _fill_value(n, v)) for n, v in plan.fill]
                           if plan else [])

    @expose("/lead/<int:lead_id>/convert", methods=("POST",))
    def convert(self, lead_id: int):
        lead = self.s.get(m.Lead, lead_id)
        if lead is None:
            abort(404)
        if not can_see(self.s, g.user, lead):
            abort(403)
        try:
            result = convert_lead(self.s, lead, by=g.user, now=admin_now(),
                                  deal_title=request.form.get("deal_title") or None)
        except FunnelError as e:
            self.s.rollback()
            flash(str(e), "error")
            return redirect(url_for(".show", kind="lead", card_id=lead_id))
        self.s.commit()
        flash(_("Lead #%(lead)s converted: deal #%(deal)s", lead=lead_id, deal=result.deal_id), "success")
        return redirect(url_for(".show", kind="deal", card_id=result.deal_id))


# What a merge moves, as the confirmation page and the message name it.
MOVED_LABELS = {
    "calls": _l("calls"), "tasks": _l("tasks"), "deals": _l("deals"), "inquiries": _l("inquiries"),
    "contacts": _l("contacts"), "leads": _l("leads"), "call_list_entries": _l("call list entries"),
    "phones": _l("phones"), "phones_dropped": _l("duplicate phones dropped"), "emails": _l("e-mail addresses"),
    "emails_dropped": _l("duplicate e-mails dropped"),
}


def merge_error(refused: merging.MergeRefused) -> str:
    return {
        "same_card": _("A card cannot be merged with itself."),
        "different_kinds": _("Only two cards of the same kind can be merged."),
        "not_mergeable": _("Only companies, contacts and leads can be merged."),
        "not_found": _("The card no longer exists."),
        "different_companies": _("These cards belong to different companies: link them to the same "
                                 "company first."),
    }.get(refused.reason, _("You may not merge these cards."))


def _fill_value(name: str, value):
    """A filled field as the page shows it: an employee's or a company's name, not its id."""
    refs = {"responsible_id": (m.Employee, "full_name"), "company_id": (m.Company, "name"),
            "department_id": (m.Department, "name"), "source_id": (m.Source, "name"),
            "contact_id": (m.Contact, "full_name")}
    if name in refs and value is not None:
        model, attr = refs[name]
        row = current_app.extensions["sqlalchemy"].session.get(model, value)
        return getattr(row, attr) if row is not None else f"#{value}"
    if name == "phone":
        return show_phone(value)
    return value


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
        inquiry = create_web_inquiry(session, data if data is not None else [], now=admin_now(),
                                     region=config.general.default_region,
                                     default_source=config.inquiries.web_form_source.strip(),
                                     department=config.inquiries.web_form_department.strip())
    except InquiryActionError as e:
        session.rollback()
        return jsonify(error=str(e)), 400
    session.commit()
    return jsonify(id=inquiry.id, status=inquiry.status), 201


def dashboard(session, user) -> dict:
    """The home page's figures, each with the list it links to: the user's new inquiries
    (open, in their scope: their own and the department's untaken), overdue call-backs,
    today's planned calls; for a head, the same for the department."""
    now = admin_now()
    if user.role == "cold_operator":
        return {}

    def count(model, where):
        return session.scalar(select(func.count(model.id)).where(*where)) or 0

    work = {}
    if user.role in OFFICE:
        inquiries = [m.Inquiry.status == "open"]
        clause = scope(m.Inquiry, user)
        mine = inquiries + ([clause] if clause is not None else [])
        work["new_inquiries"] = (count(m.Inquiry, mine), url_for("queue.index", status="open"))
    work["overdue_callbacks"] = (count(m.Task, task_filter(user, "overdue", now, kind="call")),
                                 url_for("my_tasks.index", when="overdue", type="call"))
    work["today_calls"] = (count(m.Task, task_filter(user, "today", now, kind="call")),
                           url_for("my_tasks.index", when="today", type="call"))
    if user.role == "head" and user.department_id is not None:
        in_department = or_(m.Inquiry.department_id == user.department_id,
                            m.Inquiry.responsible_id.in_(select(m.Employee.id).where(
                                m.Employee.department_id == user.department_id)))
        work["department"] = {
            "new_inquiries": (count(m.Inquiry, [m.Inquiry.status == "open", in_department]),
                              url_for("queue.index", status="open")),
            "untaken": (count(m.Inquiry, [m.Inquiry.status == "open", m.Inquiry.responsible_id.is_(None),
                                          m.Inquiry.department_id == user.department_id]),
                        url_for("queue.index", status="open", responsible="none")),
            "overdue_callbacks": (count(m.Task, task_filter(user, "overdue", now, department=True, kind="call")),
                                  url_for("my_tasks.index", when="overdue", type="call", who="department")),
            "today_calls": (count(m.Task, task_filter(user, "today", now, department=True, kind="call")),
                            url_for("my_tasks.index", when="today", type="call", who="department")),
        }
    return work

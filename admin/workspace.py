"""The cold-call operator's workspace (seed 000 "всё в рамках одного раздела"): the next
entry of my lists, one click to call it, the list's branching script, the knowledge base,
and the outcome. The rules are :mod:`pbx_daemon.crm.cold_calling`'s.

Showing the page changes nothing: an entry is claimed by a POST (the "next entry" button,
or saving the last one's outcome), never by opening a link another site could send.
"""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import abort, current_app, flash, g, jsonify, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_babel import gettext as _
from sqlalchemy import select

from admin.access import can_see
from admin.display import in_page_language
from admin.views import RoleGate
from admin.times import admin_now
from pbx_daemon.crm import models as m
from pbx_daemon.crm.cold_calling import (LEAD, ColdCallError, claimed_entry, dispositions, finish_entry,
                                         has_next_entry, list_progress, next_entry, search_kb)


def _day_end(now: datetime) -> datetime:
    """The end of the company's today (``general.timezone``), for "left today"."""
    zone = ZoneInfo(current_app.extensions["pbx_crm_config"].general.timezone)
    today = now.astimezone(zone).date()
    return datetime.combine(today + timedelta(days=1), time(), zone)


class WorkspaceView(RoleGate, BaseView):
    roles = frozenset({"cold_operator", "admin", "head"})

    def __init__(self, db, **kwargs):
        super().__init__(**kwargs)
        self.db = db

    @expose("/")
    def index(self):
        s = self.db.session
        now = admin_now()
        entry = claimed_entry(s, g.user)
        script = progress = None
        if entry is not None:
            call_list = s.get(m.CallList, entry.call_list_id)
            script = call_list.script.body if call_list and call_list.script else None
            progress = list_progress(s, entry.call_list_id, _day_end(now))
        # The script goes into the page through |tojson (escaped for a <script> block).
        return self.render("workspace.html", entry=entry, script=script or {}, progress=progress,
                           lists=self._my_lists() if entry is None else [], lead_code=LEAD,
                           more=entry is None and has_next_entry(s, g.user, now),
                           dispositions=[(code, in_page_language(name, ru_name))
                                         for code, name, ru_name in dispositions(s)])

    def _my_lists(self):
        """Each list I am on, with its figures (the page without an entry in hand)."""
        s = self.db.session
        ids = s.scalars(select(m.call_list_operators.c.call_list_id).where(
            m.call_list_operators.c.employee_id == g.user.id)).all()
        end = _day_end(admin_now())
        return sorted(filter(None, (list_progress(s, i, end) for i in ids[:50])), key=lambda p: p.name)

    @expose("/next", methods=("POST",))
    def take_next(self):
        """Claim the next entry of my lists (CSRF-checked, like every POST)."""
        s = self.db.session
        next_entry(s, g.user, admin_now())
        s.commit()
        return redirect(url_for(".index"))

    @expose("/<int:entry_id>/finish", methods=("POST",))
    def finish(self, entry_id: int):
        s = self.db.session
        entry = s.get(m.CallListEntry, entry_id)
        if entry is None:
            abort(404)
        if not can_see(s, g.user, entry):
            abort(403)
        try:
            answers = json.loads(request.form.get("answers") or "{}")
        except ValueError:
            answers = None
        callback_at = None
        if request.form.get("callback_at"):
            try:
                zone = ZoneInfo(current_app.extensions["pbx_crm_config"].general.timezone)
                callback_at = datetime.fromisoformat(request.form["callback_at"]).replace(tzinfo=zone)
            except ValueError:
                flash(_("The call-back time is not a date and time."), "error")
                return redirect(url_for(".index"))
        try:
            lead = finish_entry(s, entry, operator=g.user, disposition=request.form.get("disposition", ""),
                                comment=request.form.get("comment", ""), answers=answers, callback_at=callback_at,
                                to_funnel=request.form.get("to_funnel") == "1", now=admin_now())
        except ColdCallError as e:
            s.rollback()
            flash(str(e), "error")
            return redirect(url_for(".index"))
        s.commit()
        name = dict((code, in_page_language(n, ru)) for code, n, ru in dispositions(s)).get(entry.disposition)
        if lead is not None:
            flash(_("%(entry)s: %(disposition)s, lead #%(lead)s created (responsible: %(who)s).",
                    entry=entry.company_name or entry.phone, disposition=name, lead=lead.id,
                    who=lead.responsible.full_name if lead.responsible else "—"), "success")
        else:
            flash(_("%(entry)s: %(disposition)s.", entry=entry.company_name or entry.phone,
                    disposition=name), "success")
        next_entry(s, g.user, admin_now())  # "Save and next": this POST claims it
        s.commit()
        return redirect(url_for(".index"))

    @expose("/kb")
    def kb(self):
        """``{"articles": [...], "message": ...}``: the message says when nothing matched."""
        query = request.args.get("q", "")
        articles = search_kb(self.db.session, query)
        message = None
        if not articles and query.strip():
            message = _("Nothing found in the knowledge base for “%(query)s”.", query=query.strip()[:100])
        return jsonify({"articles": [{"title": a.title, "body": a.body, "tags": a.tags} for a in articles],
                        "message": message})

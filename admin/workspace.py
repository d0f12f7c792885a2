"""The cold-call operator's workspace (seed 000 "всё в рамках одного раздела"): the next
entry of my lists, one click to call it, the list's branching script, the knowledge base,
and the outcome. The rules are :mod:`pbx_daemon.crm.cold_calling`'s.

Showing the page changes nothing: an entry is claimed by a POST (the "next entry" button,
or saving the last one's outcome), never by opening a link another site could send.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from flask import abort, current_app, flash, g, jsonify, redirect, request, url_for
from flask_admin import BaseView, expose

from admin.access import can_see
from admin.display import in_page_language
from admin.views import RoleGate
from pbx_daemon.crm import models as m
from pbx_daemon.crm.cold_calling import (ColdCallError, claimed_entry, dispositions, finish_entry,
                                         has_next_entry, next_entry, search_kb)


class WorkspaceView(RoleGate, BaseView):
    roles = frozenset({"cold_operator", "admin", "head"})

    def __init__(self, db, **kwargs):
        super().__init__(**kwargs)
        self.db = db

    @expose("/")
    def index(self):
        s = self.db.session
        entry = claimed_entry(s, g.user)
        script = None
        if entry is not None:
            call_list = s.get(m.CallList, entry.call_list_id)
            script = call_list.script.body if call_list and call_list.script else None
        # The script goes into the page through |tojson (escaped for a <script> block).
        return self.render("workspace.html", entry=entry, script=script or {},
                           more=entry is None and has_next_entry(s, g.user, datetime.now(timezone.utc)),
                           dispositions=[(code, in_page_language(name, ru_name))
                                         for code, name, ru_name in dispositions(s)])

    @expose("/next", methods=("POST",))
    def take_next(self):
        """Claim the next entry of my lists (CSRF-checked, like every POST)."""
        s = self.db.session
        next_entry(s, g.user, datetime.now(timezone.utc))
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
                flash("the call-back time is not a date and time", "error")
                return redirect(url_for(".index"))
        try:
            lead = finish_entry(s, entry, operator=g.user, disposition=request.form.get("disposition", ""),
                                comment=request.form.get("comment", ""), answers=answers, callback_at=callback_at,
                                to_funnel=request.form.get("to_funnel") == "1", now=datetime.now(timezone.utc))
        except ColdCallError as e:
            s.rollback()
            flash(str(e), "error")
            return redirect(url_for(".index"))
        s.commit()
        flash(f"#{entry.id}: {entry.disposition}" + (f" → lead #{lead.id}" if lead else ""), "success")
        next_entry(s, g.user, datetime.now(timezone.utc))  # "Save and next": this POST claims it
        s.commit()
        return redirect(url_for(".index"))

    @expose("/kb")
    def kb(self):
        articles = search_kb(self.db.session, request.args.get("q", ""))
        return jsonify([{"title": a.title, "body": a.body, "tags": a.tags} for a in articles])

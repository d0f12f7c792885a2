"""API tokens in the admin (admins only): one per integration of the REST API (``/api/v1``).

    GET  /admin/api-tokens/                   the tokens: name, prefix, scopes, last used
    POST /admin/api-tokens/create             name + scopes -> the token, shown on this
                                              one page and never again (Cache-Control: no-store)
    POST /admin/api-tokens/<id>/revoke        the token stops working at once

Only the token's SHA-256 is stored (:mod:`admin.rest_api.auth`); a lost token is revoked
and replaced, never shown again.
"""

from __future__ import annotations

from flask import abort, flash, g, make_response, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from admin.rest_api import auth
from admin.views import RoleGate
from pbx_daemon.crm import models as m

SCOPE_NAMES = {"calls": _l("Calls"), "inquiries": _l("Inquiries"), "recordings": _l("Recordings")}
MAX_NAME = 120


class ApiTokenView(RoleGate, BaseView):
    roles = frozenset({"admin"})

    def __init__(self, db, **kwargs):
        super().__init__(**kwargs)
        self.db = db

    def _page(self, **extra):
        tokens = list(self.db.session.scalars(select(m.ApiToken).order_by(m.ApiToken.active.desc(),
                                                                          m.ApiToken.created_at.desc())))
        return self.render("api_tokens.html", tokens=tokens, scope_names=SCOPE_NAMES, **extra)

    @expose("/")
    def index(self):
        return self._page()

    @expose("/create", methods=("POST",))
    def create(self):
        name = (request.form.get("name") or "").strip()
        scopes = [s for s in m.API_SCOPES if s in request.form.getlist("scopes")]
        if not name or len(name) > MAX_NAME:
            flash(_("Give the token a name (up to %(n)s characters): the integration it is for.", n=MAX_NAME),
                  "error")
            return redirect(url_for(".index"))
        if not scopes:
            flash(_("Choose at least one thing the token may read."), "error")
            return redirect(url_for(".index"))
        token = auth.new_token()
        row = m.ApiToken(name=name, token_hash=auth.token_hash(token), prefix=token[:auth.PREFIX_LENGTH],
                         scopes=",".join(scopes), active=True, created_by_id=g.user.id)
        self.db.session.add(row)
        self.db.session.commit()
        response = make_response(self._page(created=row, token=token))
        # Shown once: no cache, no back-button copy, no proxy keeps it.
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
        return response

    @expose("/<int:token_id>/revoke", methods=("POST",))
    def revoke(self, token_id: int):
        row = self.db.session.get(m.ApiToken, token_id)
        if row is None:
            abort(404)
        row.active = False
        self.db.session.commit()
        flash(_("The token %(name)s is revoked: requests with it are refused from now on.", name=str(row)), "info")
        return redirect(url_for(".index"))

"""Client-base import in the admin (issue 18): upload an amoCRM / Bitrix24 / 1C / Excel
export, check the guessed columns and every row's dry-run result, correct the columns,
import. The rules are :mod:`pbx_daemon.crm.client_import`'s, as for ``pbx-crm
import-clients``.

Admins and the owner import into any department; a head only into theirs, with
responsible managers among their department's employees (``scope_for``); other roles get
403. The upload is read as the call-list import reads it (:class:`admin.import_view.ImportView`:
a limited child process, the same limits, the table kept as JSON under a random token).
The columns used by a real run are saved as the preset of the chosen source, and the next
file from that source starts from them.

The preview's dry run is kept next to the upload for 10 minutes on the admin's clock
(:mod:`pbx_daemon.crm.client_import_preview`), per upload, columns, match options and
scope: its pages and status filters read what was kept instead of deciding 100,000 rows
again (~8 s). "Check again" decides again. The Import button always decides every row
again in its own transaction; what was kept is only shown. An upload (and its kept dry
runs) is its uploader's: another user's upload id is a 404.
"""

from __future__ import annotations

import json
import os
import secrets
from datetime import datetime, timezone

from flask import abort, current_app, flash, g, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_babel import gettext as _
from sqlalchemy import select
from twisted.logger import Logger

from admin.import_view import _TOKEN, ImportView
from admin.views import RoleGate
from pbx_daemon.crm import models as m
from pbx_daemon.crm.client_import import (FIELDS, MATCH_KEYS, MULTI, ON_MATCH, SOURCES, Policy,
                                          guess_mapping, mapping_from_names, mapping_to_names)
from pbx_daemon.crm.client_import_preview import MAX_AGE, drop_previews, load_preview, preview_key, save_preview
from pbx_daemon.crm.client_import_sql import import_clients, load_preset, save_preset, scope_for

log = Logger(namespace="admin.client_import_view")
PAGE = 100  # report rows shown per page


class ClientImportView(RoleGate, BaseView):
    roles = frozenset({"admin", "owner", "head"})
    _dir = ImportView._dir
    _kept = ImportView._kept
    _keep_upload = ImportView._keep_upload

    def __init__(self, db, **kwargs):
        super().__init__(**kwargs)
        self.db = db

    def _scope(self):
        try:
            return scope_for(self.db.session, g.user)
        except PermissionError:
            abort(403)  # a head of no department

    def _presets(self) -> list[m.ImportPreset]:
        return self.db.session.scalars(select(m.ImportPreset).where(m.ImportPreset.kind == "clients")
                                       .order_by(m.ImportPreset.name)).all()

    @staticmethod
    def _source(values) -> str:
        return (values.get("source") or "").strip()[:120]

    def _options(self, values, headers: list[str]) -> tuple[dict[str, list[int]], Policy]:
        """The mapping and the policy a form (or a query string) carries; with no mapping
        in it, the source's preset over the guess."""
        if values.get("mapped"):
            mapping = {}
            for name in FIELDS:
                cols = [int(v) for v in values.getlist(f"map_{name}")
                        if v.isdigit() and len(v) <= 5 and int(v) < len(headers)]
                if cols:
                    mapping[name] = cols if name in MULTI else cols[:1]
        else:
            preset = load_preset(self.db.session, self._source(values)) if self._source(values) else None
            mapping = mapping_from_names(headers, preset) if preset else guess_mapping(headers)
        match = tuple(k for k in MATCH_KEYS if k in values.getlist("match")) if values.get("mapped") else MATCH_KEYS
        on_match = values.get("on_match") if values.get("on_match") in ON_MATCH else "update"
        return mapping, Policy(match=match, on_match=on_match)

    @expose("/", methods=("GET", "POST"))
    def index(self):
        self._scope()
        if request.method == "GET":
            return self.render("client_import_upload.html", sources=SOURCES, presets=self._presets())
        token, refused = self._keep_upload("client import")
        if refused is not None:
            return refused
        source = self._source(request.form) or (request.form.get("source_other") or "").strip()[:120]
        return redirect(url_for(".preview", token=token, source=source))

    def _upload(self, token: str):
        """The kept upload (path, name, headers, rows), if this user's (:meth:`_kept`)."""
        path, name, table = self._kept(token)
        return path, name, table["headers"], table["rows"]

    def _head(self, token: str) -> dict:
        """The kept upload's ``name``, ``headers``, first rows (``sample``) and row count
        (``total``), from the small ``<token>.head.json`` the first preview writes: a page
        of a kept dry run does not parse the whole table again. When it had to (the head
        not written yet), the table's ``rows`` too. 404 as :meth:`_upload`."""
        if not _TOKEN.match(token or ""):
            abort(404)
        path = self._dir() / f"{token}.head.json"
        try:
            head = json.loads(path.read_text(encoding="utf-8"))
            if not (isinstance(head, dict) and isinstance(head.get("name"), str)
                    and isinstance(head.get("headers"), list) and isinstance(head.get("sample"), list)
                    and isinstance(head.get("total"), int)):
                head = None
        except (OSError, ValueError):
            head = None
        if head is not None:
            if head.get("by") != g.user.id:
                abort(404)
            return head
        _path, name, headers, rows = self._upload(token)
        head = {"by": g.user.id, "name": name, "headers": headers, "sample": rows[:10], "total": len(rows)}
        tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
        tmp.write_text(json.dumps(head, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
        return {**head, "rows": rows}

    def _preview(self, token, head, values, plan=None):
        """The preview page: the columns, the match options and every row's dry-run
        result, :data:`PAGE` rows at a time. The dry run for these columns, options and
        scope is the kept one (at most ``MAX_AGE`` seconds old on the admin's clock), else
        made and kept; ``fresh`` in ``values`` ("Check again") makes it again, and a
        refused real run's ``plan`` replaces it."""
        scope = self._scope()
        headers = head["headers"]
        mapping, policy = self._options(values, headers)
        config = current_app.extensions["pbx_crm_config"].general
        key = preview_key(token, mapping, policy, scope, region=config.default_region,
                          default_area_code=config.default_area_code)
        now = current_app.extensions["pbx_crm_clock"].seconds()
        status = values.get("status") if values.get("status") in ("create", "update", "skip", "error") else ""
        page = int(values.get("page")) if (values.get("page") or "").isdigit() and len(values.get("page")) < 7 else 0
        report = shown = None
        if plan is None and not values.get("fresh"):
            report = load_preview(self._dir(), token, key, owner=g.user.id, now=now)
            if report is not None:
                try:
                    shown = report.page(status, page, PAGE)
                except (OSError, ValueError):  # pruned by another request meanwhile, or damaged
                    report = None
        if report is None:
            if plan is None:
                rows = head["rows"] if "rows" in head else self._upload(token)[3]
                try:
                    plan = import_clients(self.db.session, rows, mapping, policy=policy, scope=scope,
                                          region=config.default_region,
                                          default_area_code=config.default_area_code, dry_run=True).plan
                except ValueError as e:
                    flash(_("Map a column to the company's or the person's name."), "error")
                    log.info("client import preview: {error}", error=str(e))
            if plan is not None:
                report = save_preview(self._dir(), token, key, plan.rows, owner=g.user.id, now=now)
                shown = [r for r in plan.rows if not status or r.status == status][page * PAGE:(page + 1) * PAGE]
        # The status filter and the pages keep the columns being checked.
        keep = {k: values.getlist(k) for k in values.keys()
                if k.startswith("map_") or k in ("match", "on_match", "mapped", "source")}
        return self.render("client_import_preview.html", token=token, name=head["name"], headers=headers,
                           keep=keep, sample=head["sample"], total=head["total"], mapping=mapping, fields=FIELDS,
                           multi=MULTI, policy=policy, match_keys=MATCH_KEYS, on_match=ON_MATCH, report=report,
                           computed_at=datetime.fromtimestamp(report.computed_at, timezone.utc) if report else None,
                           kept_minutes=int(MAX_AGE // 60), source=self._source(values), status=status, page=page,
                           pages=max(1, -(-(report.shown(status) if report else 0) // PAGE)), shown=shown or [],
                           shown_total=report.shown(status) if report else 0)

    @expose("/preview/<token>")
    def preview(self, token):
        return self._preview(token, self._head(token), request.args)

    @expose("/run/<token>", methods=("POST",))
    def run(self, token):
        scope = self._scope()
        path, name, headers, rows = self._upload(token)
        mapping, policy = self._options(request.form, headers)
        config = current_app.extensions["pbx_crm_config"].general
        try:
            result = import_clients(self.db.session, rows, mapping, policy=policy, scope=scope,
                                    region=config.default_region, default_area_code=config.default_area_code)
        except ValueError:
            flash(_("Map a column to the company's or the person's name."), "error")
            return self._preview(token, self._head(token), request.form)
        if not result.applied:
            flash(_("Nothing was imported: %(n)s rows have errors. Correct the file or the columns.",
                    n=result.plan.count("error")), "error")
            return self._preview(token, self._head(token), request.form, result.plan)
        source = self._source(request.form)
        if source:
            save_preset(self.db.session, source, mapping_to_names(headers, mapping), g.user.id)
            self.db.session.commit()
        path.unlink(missing_ok=True)
        (self._dir() / f"{token}.head.json").unlink(missing_ok=True)
        drop_previews(self._dir(), token)
        log.info("clients imported by {login} from {file}: {summary}", login=g.user.login, file=name,
                 summary=result.plan.summary(), written=result.written)
        flash(f"{name}: {result.plan.summary()}", "success")
        return self.render("client_import_done.html", name=name, result=result, source=source)

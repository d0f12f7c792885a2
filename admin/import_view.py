"""Call-list import in the admin (seed 000: "any export"): upload a CSV or XLSX, see the
columns guessed and the first rows, correct the mapping, import, download the per-row
report. The rules are :mod:`pbx_daemon.crm.importer`'s, as for ``pbx-crm import-list``.

The upload is read once, in a limited child process (:mod:`pbx_daemon.crm.table_sandbox`,
this request's thread waits for it, at most ``LIMITS.seconds``); what it read is kept as
JSON under the upload's token for the preview and the import. A refused file is one
flashed line; the raw bytes are never kept.

The import ends on the list's staffing (seed 000: a list nobody is assigned to is never
called): the operators who work it and its script, in one form on the same page."""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from pathlib import Path

from flask import Response, abort, current_app, flash, g, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_babel import gettext as _
from sqlalchemy import and_, or_, select
from twisted.logger import Logger

from admin.access import assignable
from admin.views import RoleGate
from pbx_daemon.crm import models as m
from pbx_daemon.crm.import_limits import LIMITS
from pbx_daemon.crm.importer import FIELDS, ImportError_, check_rows, guess_mapping, import_call_list, read_table

log = Logger(namespace="admin.import_view")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
KEEP_UPLOADS = 24 * 3600  # seconds an upload's files (and its import report) are kept


def _sweep(directory: Path) -> None:
    """Files of uploads left for :data:`KEEP_UPLOADS` (previewed and never imported,
    their kept dry runs, import reports), removed at the next upload: the directory does
    not fill the disk with abandoned 20 MB tables."""
    cutoff = time.time() - KEEP_UPLOADS  # file times are the system clock's
    for path in directory.iterdir():
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:
            pass  # gone meanwhile (another request's sweep)


class ImportView(RoleGate, BaseView):
    roles = frozenset({"admin", "head"})

    def __init__(self, db, **kwargs):
        super().__init__(**kwargs)
        self.db = db

    def _dir(self) -> Path:
        path = Path(current_app.extensions["pbx_crm_config"].general.data_dir) / "uploads"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _upload(self, token: str) -> tuple[Path, str, list[str], list[list[str]]]:
        """The kept upload: its path, the file's name, and the table read from it."""
        path, name, table = self._kept(token)
        return path, name, table["headers"], table["rows"]

    def _kept(self, token: str) -> tuple[Path, str, dict]:
        """The kept upload: its path, the file's name, and what was kept (``headers``,
        ``rows``, and ``by``: the uploader's id). Only the uploader's: an upload id is no
        pass to another user's file (404, as for an unknown one)."""
        if not _TOKEN.match(token or ""):
            abort(404)
        found = sorted(self._dir().glob(f"{token}.*.upload"))
        if not found:
            abort(404)
        name = found[0].name[len(token) + 1:-len(".upload")]
        try:
            table = json.loads(found[0].read_text(encoding="utf-8"))
            if isinstance(table["headers"], list) and isinstance(table["rows"], list) \
                    and table.get("by") == g.user.id:
                return found[0], name, table
        except (ValueError, KeyError, TypeError):
            pass
        abort(404)  # kept by an older version (the raw file): upload it again

    def _keep_upload(self, what: str):
        """Read the posted file (a sandboxed child, :data:`LIMITS`; at most
        ``LIMITS.readers`` at once in this process, both import pages together) and keep its
        table under a fresh token: ``(token, None)``, or ``(None, redirect)`` with the
        reason flashed."""
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            flash(_("Choose a CSV or XLSX file."), "error")
            return None, redirect(url_for(".index"))
        data = upload.read(LIMITS.file_bytes + 1)
        if len(data) > LIMITS.file_bytes:
            flash(_("The file is larger than 20 MB."), "error")  # LIMITS.file_bytes
            return None, redirect(url_for(".index"))
        suffix = ".xlsx" if data[:4] == b"PK\x03\x04" else ".csv"
        safe_name = re.sub(r"[^\w.-]+", "_", Path(upload.filename).name)[:100] or f"upload{suffix}"
        readers = current_app.extensions.setdefault(
            "pbx_crm_table_readers", threading.BoundedSemaphore(LIMITS.readers))
        if not readers.acquire(timeout=LIMITS.queue_seconds):
            flash(_("Other files are being read; try again in a minute."), "error")
            return None, redirect(url_for(".index"))
        try:
            headers, rows = read_table(Path(safe_name).stem + suffix, data)  # the kind is sniffed
        except ImportError_ as e:
            log.info("{what} upload by {login} refused: {error}", what=what, login=g.user.login,
                     error=str(e), detail=getattr(e, "detail", ""), peak_kib=getattr(e, "peak_kib", 0))
            flash(str(e), "error")
            return None, redirect(url_for(".index"))
        finally:
            readers.release()
        _sweep(self._dir())
        token = secrets.token_urlsafe(18)
        (self._dir() / f"{token}.{safe_name}.upload").write_text(
            json.dumps({"headers": headers, "rows": rows, "by": g.user.id}, ensure_ascii=False), encoding="utf-8")
        return token, None

    @expose("/", methods=("GET", "POST"))
    def index(self):
        lists = self.db.session.scalars(select(m.CallList).order_by(m.CallList.name)).all()
        if request.method == "GET":
            return self.render("import_upload.html", lists=lists)
        token, refused = self._keep_upload("import")
        if refused is not None:
            return refused
        return redirect(url_for(".preview", token=token, list=request.form.get("list", "")))

    @expose("/preview/<token>")
    def preview(self, token):
        _path, name, headers, rows = self._upload(token)
        mapping = guess_mapping(headers)
        report, _entries = check_rows(self.db.session, rows, mapping, list_id=None,
                                      region=current_app.extensions["pbx_crm_config"].general.default_region)
        return self.render("import_preview.html", token=token, name=name, headers=headers,
                           rows=rows[:10], total=len(rows), mapping=mapping, fields=FIELDS,
                           list_name=request.args.get("list") or Path(name).stem, report=report)

    @expose("/run/<token>", methods=("POST",))
    def run(self, token):
        path, name, headers, rows = self._upload(token)
        mapping = {}
        for field in FIELDS:
            value = request.form.get(f"map_{field}", "")
            if value.isdigit() and int(value) < len(headers):
                mapping[field] = int(value)
        list_name = (request.form.get("list") or "").strip()[:200]
        if not list_name:
            flash(_("Name the call list."), "error")
            return redirect(url_for(".preview", token=token))
        config = current_app.extensions["pbx_crm_config"]
        try:
            report = import_call_list(self.db.session, name, table=(headers, rows), list_name=list_name,
                                      mapping=mapping, region=config.general.default_region,
                                      default_area_code=config.general.default_area_code,
                                      created_by_id=g.user.id)
        except ImportError_ as e:
            self.db.session.rollback()
            flash(str(e), "error")
            return redirect(url_for(".preview", token=token))
        # newline="": the CSV's own CRLF line ends, as Excel wants them, kept as they are.
        (self._dir() / f"{token}.report.csv").write_text(report.csv(), encoding="utf-8", newline="")
        path.unlink(missing_ok=True)
        flash(f"{list_name}: {report.summary()}", "success")
        call_list = self.db.session.get(m.CallList, report.list_id) if report.list_id else None
        return self.render("import_done.html", token=token, report=report, list_name=list_name,
                           call_list=call_list, operators=self._operators(),
                           scripts=self.db.session.scalars(select(m.CallScript).order_by(m.CallScript.name)).all())

    def _operators(self) -> list[m.Employee]:
        """The cold-call operators I may put on a list: the active ones I may assign (a head:
        their department's) and, for a head, the outsourced ones (who belong to no department)."""
        clause = assignable(g.user)
        if g.user.role == "head" and g.user.department_id is not None:
            clause = or_(clause, and_(m.Employee.department_id.is_(None), m.Employee.active.is_(True)))
        return self.db.session.scalars(select(m.Employee).where(
            m.Employee.role == "cold_operator", m.Employee.active.is_(True), clause)
            .order_by(m.Employee.full_name)).all()

    @expose("/lists/<int:list_id>/staff", methods=("POST",))
    def staff(self, list_id: int):
        """Put the chosen operators on the list (others stay) and set its script."""
        s = self.db.session
        call_list = s.get(m.CallList, list_id)
        if call_list is None:
            abort(404)
        allowed = {e.id: e for e in self._operators()}
        chosen = [allowed[int(i)] for i in request.form.getlist("operator")
                  if i.isdigit() and len(i) <= 9 and int(i) in allowed]
        for operator in chosen:
            if operator not in call_list.operators:
                call_list.operators.append(operator)
        script_id = request.form.get("script", "")
        if script_id.isdigit() and len(script_id) <= 9:
            script = s.get(m.CallScript, int(script_id))
            if script is not None:
                call_list.script = script
        s.commit()
        if call_list.operators:
            flash(_("%(list)s: operators %(names)s; script: %(script)s.", list=call_list.name,
                    names=", ".join(e.full_name for e in call_list.operators),
                    script=call_list.script.name if call_list.script else "—"), "success")
        else:
            flash(_("%(list)s has no operator yet: nobody will call it.", list=call_list.name), "warning")
        return redirect(url_for("calllist.edit_view", id=call_list.id))

    @expose("/report/<token>")
    def report(self, token):
        if not _TOKEN.match(token or ""):
            abort(404)
        path = self._dir() / f"{token}.report.csv"
        if not path.is_file():
            abort(404)
        # Written by ImportReport.csv (BOM included).
        with open(path, encoding="utf-8", newline="") as f:
            text = f.read()
        return Response(text, mimetype="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="import-report.csv"'})

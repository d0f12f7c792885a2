"""Analytics pages (owner, admin, heads): the figures of :mod:`pbx_daemon.crm.stats.analytics` for a
period and a department, as bar charts and tables, each table exportable as CSV."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Response, abort, current_app, flash, g, request
from flask_admin import BaseView, expose
from flask_babel import gettext
from sqlalchemy import select, true

from admin.views import RoleGate
from pbx_daemon.crm.exports import safe_cell
from pbx_daemon.crm.stats import analytics as a
from pbx_daemon.crm import models as m


class AnalyticsView(RoleGate, BaseView):
    roles = frozenset({"admin", "owner", "head"})

    def __init__(self, db, **kwargs):
        super().__init__(**kwargs)
        self.db = db

    def _period(self) -> tuple[date, date, int | None, int]:
        config = current_app.extensions["pbx_crm_config"]
        today = datetime.now(ZoneInfo(config.general.timezone)).date()
        try:
            last = date.fromisoformat(request.args.get("to", "")) if request.args.get("to") else today
            first = date.fromisoformat(request.args.get("from", "")) if request.args.get("from") \
                else last - timedelta(days=6)
        except (ValueError, OverflowError):
            first, last = today - timedelta(days=6), today
        if not (EARLIEST <= first <= LATEST and EARLIEST <= last <= LATEST):
            abort(400, f"from, to: dates between {EARLIEST} and {LATEST}")
        if first > last:
            first, last = last, first
        first = max(first, last - timedelta(days=366))  # at most a year a page
        department = request.args.get("department", "")
        department_id = int(department) if department.isdigit() and len(department) <= 9 else None
        if g.user.role == "head":
            department_id = g.user.department_id  # a head sees their own department
        window = request.args.get("within", "")
        if not window:
            return first, last, department_id, config.report.recovered_within_minutes
        if not (window.isdigit() and len(window) <= 6 and 1 <= int(window) <= MAX_WITHIN):
            abort(400, f"within: whole minutes, 1..{MAX_WITHIN}")
        return first, last, department_id, int(window)

    @expose("/")
    def index(self):
        tz = current_app.extensions["pbx_crm_config"].general.timezone
        first, last, department_id, within = self._period()
        s = self.db.session
        if g.user.role == "head" and department_id is None:
            # A head of no department has no figures to see (not the whole company's).
            flash(no_department_message(), "warning")
            return self.render("analytics.html", first=first, last=last, within=within, department_id=None,
                               department_choices=[], lcr=[], departments=[], employees=[], sources=[],
                               operators=[], export_args={})
        data = {
            "lcr": a.lost_call_rate(s, first, last, tz, recovered_within_minutes=within,
                                    department_id=department_id),
            "departments": [d for d in a.per_department(s, first, last, tz)
                            if department_id is None or d.department_id == department_id],
            "employees": a.per_employee(s, first, last, tz, department_id),
            "sources": a.per_source(s, first, last, tz, department_id),
            "operators": a.per_operator(s, first, last, tz, department_id),
        }
        export = request.args.get("export")
        if export is not None:
            if export not in data:
                abort(404, f"no export {export[:40]!r} (there are: {', '.join(data)})")
            return _csv(export, data[export], first, last)
        choices = s.scalars(select(m.Department).where(
            m.Department.id == department_id if g.user.role == "head" else true())
            .order_by(m.Department.name)).all()
        # The CSV links repeat the page's (validated) choices, not whatever the URL carried.
        export_args = {"from": first.isoformat(), "to": last.isoformat(), "within": within,
                       **({"department": department_id} if department_id is not None else {})}
        return self.render("analytics.html", first=first, last=last, within=within,
                           department_id=department_id, department_choices=choices,
                           export_args=export_args, **data)


def no_department_message() -> str:
    return gettext("You are a head of no department: there are no figures to show. "
                   "An administrator sets your department.")


MAX_WITHIN = 10080  # a week, as report.recovered_within_minutes allows
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)

COLUMNS = {
    "lcr": ("day", "inbound", "missed", "rate", "recovered", "recovered_share"),
    "departments": ("name", "calls_in", "answered", "missed", "lost_rate", "calls_out", "minutes",
                    "avg_seconds", "deals", "deals_per_call"),
    "employees": ("name", "department", "calls_in", "calls_out", "answered", "missed", "minutes",
                  "avg_seconds", "deals", "deals_per_call"),
    "sources": ("source", "inquiries", "spam", "spam_share", "funnel", "funnel_share"),
    "operators": ("name", "calls", "minutes", "avg_seconds", "entries_worked", "leads", "deals", "conversion"),
}


def _csv(kind, rows, first, last) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS[kind])
    for row in rows:
        values = []
        for column in COLUMNS[kind]:
            value = getattr(row, column)
            # Names and sources are typed by people (a web form's UTM value): not formulas.
            values.append(f"{value:.4f}" if isinstance(value, float) else safe_cell(value))
        writer.writerow(values)
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="pbx-crm-{kind}-{first}-{last}.csv"'})

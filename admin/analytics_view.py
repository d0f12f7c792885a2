"""Analytics pages (owner, admin, heads): the figures of :mod:`pbx_daemon.crm.stats.analytics` for a
period and a department, as bar charts and tables with a totals row, each table exportable
as CSV for Russian Excel (:func:`pbx_daemon.crm.exports.excel_csv`); and the daily report
(:mod:`pbx_daemon.crm.stats.report`) for a chosen day.

Numbers are written in the page's language (Babel: ``12,5`` in Russian, ``12.5`` in
English). A head sees their department only: asking for another says so, and a head of no
department gets a message instead of figures."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from flask import Response, abort, current_app, flash, g, request
from flask_admin import BaseView, expose
from flask_babel import format_decimal, format_percent, gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, true

from admin.views import RoleGate
from admin.times import admin_now
from pbx_daemon.crm import models as m
from pbx_daemon.crm.exports import excel_csv
from pbx_daemon.crm.stats import analytics as a
from pbx_daemon.crm.stats.report import build_daily


class AnalyticsView(RoleGate, BaseView):
    roles = frozenset({"admin", "owner", "head"})

    def __init__(self, db, **kwargs):
        super().__init__(**kwargs)
        self.db = db

    def _period(self) -> tuple[date, date, int | None, int]:
        config = current_app.extensions["pbx_crm_config"]
        today = admin_now().astimezone(ZoneInfo(config.general.timezone)).date()
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
        department_id = self._department()
        window = request.args.get("within", "")
        if not window:
            return first, last, department_id, config.report.recovered_within_minutes
        if not (window.isdigit() and len(window) <= 6 and 1 <= int(window) <= MAX_WITHIN):
            abort(400, f"within: whole minutes, 1..{MAX_WITHIN}")
        return first, last, department_id, int(window)

    def _department(self) -> int | None:
        """The department asked for; a head's own, whatever was asked (saying so when it differs)."""
        department = request.args.get("department", "")
        department_id = int(department) if department.isdigit() and len(department) <= 9 else None
        if g.user.role != "head":
            return department_id
        if department_id not in (None, g.user.department_id) and g.user.department_id is not None \
                and request.args.get("export") is None:
            asked = self.db.session.get(m.Department, department_id)
            name = asked.name if asked else "#" + str(department_id)
            flash(gettext("You see only your own department's figures: %(asked)s is another department's.",
                          asked=name), "warning")
        return g.user.department_id

    def _choices(self, department_id):
        return self.db.session.scalars(select(m.Department).where(
            m.Department.id == department_id if g.user.role == "head" else true())
            .order_by(m.Department.name)).all()

    def render(self, template, **kwargs):
        return super().render(template, num=number, pct=percent, **kwargs)

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
                               operators=[], export_args={}, totals={}, no_department=True)
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
        choices = self._choices(department_id)
        # The CSV links repeat the page's (validated) choices, not whatever the URL carried.
        export_args = {"from": first.isoformat(), "to": last.isoformat(), "within": within,
                       **({"department": department_id} if department_id is not None else {})}
        return self.render("analytics.html", first=first, last=last, within=within,
                           department_id=department_id, department_choices=choices,
                           export_args=export_args, totals={k: a.totals(v) for k, v in data.items()},
                           **data)

    @expose("/day")
    def day(self):
        """The daily report (what ``pbx-crm report daily`` mails) for ``?day=`` (default
        yesterday), the company's or, for a head, their department's part."""
        config = current_app.extensions["pbx_crm_config"]
        tz = config.general.timezone
        today = admin_now().astimezone(ZoneInfo(tz)).date()
        try:
            day = date.fromisoformat(request.args["day"]) if request.args.get("day") else today - timedelta(days=1)
        except (ValueError, OverflowError):
            abort(400, "day: a date, YYYY-MM-DD")
        if not EARLIEST <= day <= LATEST:
            abort(400, f"day: a date between {EARLIEST} and {LATEST}")
        department_id = self._department()
        if g.user.role == "head" and department_id is None:
            flash(no_department_message(), "warning")
            return self.render("daily_report.html", day=day, report=None, department_id=None,
                               department_choices=[], totals={}, step=timedelta(days=1))
        report = build_daily(self.db.session, day, tz, config.report.recovered_within_minutes,
                             department_id=department_id)
        tables = ("departments", "employees", "sources", "operators")
        return self.render("daily_report.html", day=day, report=report, department_id=department_id,
                           department_choices=self._choices(department_id), step=timedelta(days=1),
                           totals={k: a.totals(getattr(report, k)) for k in tables})


def number(value, places: int = 1) -> str:
    """``value`` in the page's language: ``1 234,5`` in Russian, ``1,234.5`` in English."""
    return format_decimal(value, format="#,##0" + ("." + "0" * places if places else ""))


def percent(share: float) -> str:
    """A share (0..1) as a percentage in the page's language: ``12,3 %``."""
    return format_percent(share, format="#,##0.0\u00a0%")


def no_department_message() -> str:
    return gettext("You are a head of no department: there are no figures to show. "
                   "An administrator sets your department.")


MAX_WITHIN = 10080  # a week, as report.recovered_within_minutes allows
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)

# Each export's columns: (attribute, header, how); "pct": a share written as a percentage.
COLUMNS = {
    "lcr": (("day", _l("Day"), "day"), ("inbound", _l("Inbound"), ""), ("missed", _l("Missed"), ""),
            ("rate", _l("Lost Call Rate, %"), "pct"), ("recovered", _l("Recovered"), ""),
            ("recovered_share", _l("Recovered of the missed, %"), "pct"),
            ("after_hours", _l("After hours"), ""), ("voicemail", _l("Voicemails"), "")),
    "departments": (("name", _l("Department"), ""), ("calls_in", _l("Inbound"), ""),
                    ("answered", _l("Answered"), ""), ("missed", _l("Missed"), ""),
                    ("lost_rate", _l("Lost Call Rate, %"), "pct"), ("calls_out", _l("Outbound"), ""),
                    ("minutes", _l("Minutes"), ""), ("avg_seconds", _l("Average, s"), ""),
                    ("deals", _l("Deals"), ""), ("deals_per_call", _l("Deals per call"), ""),
                    ("after_hours", _l("After hours"), ""), ("voicemail", _l("Voicemails"), "")),
    "employees": (("name", _l("Employee"), ""), ("department", _l("Department"), ""),
                  ("calls_in", _l("In"), ""), ("calls_out", _l("Out"), ""), ("answered", _l("Answered"), ""),
                  ("missed", _l("Missed"), ""), ("minutes", _l("Minutes"), ""),
                  ("avg_seconds", _l("Average, s"), ""), ("deals", _l("Deals"), ""),
                  ("deals_per_call", _l("Deals per call"), "")),
    "sources": (("source", _l("Source"), ""), ("inquiries", _l("Inquiries"), ""), ("spam", _l("Spam"), ""),
                ("spam_share", _l("Spam, %"), "pct"), ("funnel", _l("Into the funnel"), ""),
                ("funnel_share", _l("Into the funnel, %"), "pct")),
    "operators": (("name", _l("Operator"), ""), ("calls", _l("Calls"), ""), ("minutes", _l("Minutes"), ""),
                  ("avg_seconds", _l("Average, s"), ""), ("entries_worked", _l("Entries worked"), ""),
                  ("leads", _l("Leads"), ""), ("deals", _l("Deals"), ""),
                  ("conversion", _l("Conversion, %"), "pct")),
}


def _cell(row, attribute: str, how: str):
    value = getattr(row, attribute)
    if how == "pct":
        return float(100 * value)
    if how == "day":
        return value.strftime("%d.%m.%Y")  # a date to Russian Excel
    return value


def _csv(kind, rows, first, last) -> Response:
    """The table as Russian Excel opens it, its totals row last (first cell "Total")."""
    columns = COLUMNS[kind]
    body = [[_cell(row, attribute, how) for attribute, _label, how in columns] for row in rows]
    total = a.totals(rows)
    if total is not None:
        body.append([gettext("Total")] + [_cell(total, attribute, how) if attribute not in ("name", "department",
                                          "source", "day") else "" for attribute, _label, how in columns[1:]])
    text = excel_csv([str(label) for _attribute, label, _how in columns], body)
    return Response(text.encode("utf-8"), mimetype="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="pbx-crm-{kind}-{first}-{last}.csv"'})

"""Working hours in the admin: a department's weekly hours (or a tracking number's own),
its calendar days, and its after-hours greeting.

    GET  /admin/hours/?department=<id> | ?number=<id>    the page
    POST /admin/hours/save         weekly hours (empty form: no schedule, always open)
    POST /admin/hours/day          add a closed or working day
    POST /admin/hours/day/<id>/delete
    POST /admin/hours/greeting     upload a WAV / GSM greeting (or remove it)

Admins edit every department, tracking numbers and company-wide days; a head edits their
own department only (as the blocklist: admin and head). The rules of hours are
:mod:`pbx_daemon.crm.hours`'; greetings are checked and named by
:mod:`pbx_daemon.crm.greetings`, never by the uploaded file's name.
"""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from flask import abort, current_app, flash, g, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, or_, select

from admin.views import RoleGate
from admin.times import admin_now
from pbx_daemon.crm import models as m
from pbx_daemon.crm.greetings import MAX_BYTES, GreetingError, greetings_dir, remove_greeting, store_greeting
from pbx_daemon.crm.hours import format_ranges, parse_ranges, production_calendar

WEEKDAY_NAMES = (_l("Monday"), _l("Tuesday"), _l("Wednesday"), _l("Thursday"), _l("Friday"),
                 _l("Saturday"), _l("Sunday"))
KIND_NAMES = {"closed": _l("Day off"), "working": _l("Working day")}


class HoursView(RoleGate, BaseView):
    roles = frozenset({"admin", "head"})

    def __init__(self, db, **kwargs):
        super().__init__(**kwargs)
        self.db = db

    # ---- what the user may touch --------------------------------------------------------
    def _departments(self) -> list[m.Department]:
        query = select(m.Department).order_by(m.Department.name)
        if g.user.role != "admin":
            query = query.where(m.Department.id == g.user.department_id)
        return list(self.db.session.scalars(query))

    def _numbers(self) -> list[m.TrackingNumber]:
        if g.user.role != "admin":
            return []
        return list(self.db.session.scalars(select(m.TrackingNumber).order_by(m.TrackingNumber.number)))

    def _owner(self, values) -> tuple[m.Department | None, m.TrackingNumber | None]:
        """The department or tracking number the request is about; 403 outside the scope."""
        number_id = values.get("number", type=int)
        if number_id is not None:
            number = self.db.session.get(m.TrackingNumber, number_id)
            if number is None or g.user.role != "admin":
                abort(403)
            return None, number
        departments = self._departments()
        department_id = values.get("department", type=int)
        if department_id is None:
            return (departments[0] if departments else None), None
        department = next((d for d in departments if d.id == department_id), None)
        if department is None:
            abort(403)
        return department, None

    def _back(self, department, number):
        if number is not None:
            return redirect(url_for(".index", number=number.id))
        return redirect(url_for(".index", department=department.id if department else None))

    def _hours_rows(self, department, number):
        owner = (m.WorkingHours.tracking_number_id == number.id if number is not None
                 else m.WorkingHours.department_id == department.id)
        return list(self.db.session.scalars(select(m.WorkingHours).where(owner)))

    # ---- pages ----------------------------------------------------------------------------
    @expose("/")
    def index(self):
        department, number = self._owner(request.args)
        if department is None and number is None:
            return self.render("hours.html", department=None, number=None, departments=[], numbers=[],
                               weekly=None, days=[], upcoming=[], weekday_names=WEEKDAY_NAMES,
                               kind_names=KIND_NAMES, max_mb=MAX_BYTES // (1024 * 1024))
        rows = self._hours_rows(department, number)
        weekly = None
        if rows:
            by_day = {r.weekday: r.ranges for r in rows}
            weekly = [by_day.get(d, "") for d in range(7)]
        dept_id = department.id if department is not None else number.department_id
        days = list(self.db.session.scalars(select(m.CalendarDay).where(
            or_(m.CalendarDay.department_id.is_(None), m.CalendarDay.department_id == dept_id),
            m.CalendarDay.day >= self._today() - timedelta(days=31)).order_by(m.CalendarDay.day)))
        return self.render("hours.html", department=department, number=number,
                           departments=self._departments(), numbers=self._numbers(), weekly=weekly,
                           days=days, upcoming=self._upcoming(), weekday_names=WEEKDAY_NAMES,
                           kind_names=KIND_NAMES, max_mb=MAX_BYTES // (1024 * 1024))

    def _today(self) -> date:
        tz = current_app.extensions["pbx_crm_config"].general.timezone
        return admin_now().astimezone(ZoneInfo(tz)).date()

    def _upcoming(self) -> list[tuple[date, str]]:
        """The production calendar's days off and moved working days of the next 90 days."""
        today = self._today()
        off, moved = production_calendar((today.year, today.year + 1))
        end = today + timedelta(days=90)
        out = [(d, "closed") for d in off if today <= d <= end and d.weekday() < 5]
        out += [(d, "working") for d in moved if today <= d <= end]
        return sorted(out)

    @expose("/save", methods=("POST",))
    def save(self):
        department, number = self._owner(request.form)
        if department is None and number is None:
            abort(404)
        texts = [request.form.get(f"day{d}", "").strip()[:200] for d in range(7)]
        enabled = request.form.get("enabled") == "1"
        if enabled:
            try:
                texts = [format_ranges(parse_ranges(t)) for t in texts]
            except ValueError:
                flash(_("Write the hours as 09:00-18:00, several ranges separated by commas."), "error")
                return self._back(department, number)
        for row in self._hours_rows(department, number):
            self.db.session.delete(row)
        self.db.session.flush()
        if enabled:
            for d, text in enumerate(texts):
                self.db.session.add(m.WorkingHours(
                    weekday=d, ranges=text, department_id=department.id if department else None,
                    tracking_number_id=number.id if number else None))
        self.db.session.commit()
        flash(_("Working hours saved.") if enabled else _("No working hours: calls are always routed."),
              "success")
        return self._back(department, number)

    @expose("/day", methods=("POST",))
    def add_day(self):
        department, number = self._owner(request.form)
        try:
            day = date.fromisoformat(request.form.get("day", ""))
            ranges = format_ranges(parse_ranges(request.form.get("ranges", "")[:200]))
        except ValueError:
            flash(_("Give a date and hours written as 09:00-18:00."), "error")
            return self._back(department, number)
        kind = request.form.get("kind")
        if kind not in m.CALENDAR_DAY_KINDS:
            abort(400)
        company_wide = request.form.get("company_wide") == "1" and g.user.role == "admin"
        dept_id = department.id if department is not None else (number.department_id if number else None)
        if not company_wide and dept_id is None:
            abort(400)
        self.db.session.add(m.CalendarDay(day=day, kind=kind, ranges=ranges if kind == "working" else "",
                                          note=request.form.get("note", "").strip()[:200],
                                          department_id=None if company_wide else dept_id))
        self.db.session.commit()
        flash(_("Day added."), "success")
        return self._back(department, number)

    @expose("/day/<int:day_id>/delete", methods=("POST",))
    def delete_day(self, day_id: int):
        department, number = self._owner(request.form)
        row = self.db.session.get(m.CalendarDay, day_id)
        if row is None:
            abort(404)
        allowed = {d.id for d in self._departments()}
        if not (row.department_id in allowed or (row.department_id is None and g.user.role == "admin")):
            abort(403)
        self.db.session.execute(delete(m.CalendarDay).where(m.CalendarDay.id == day_id))
        self.db.session.commit()
        flash(_("Day removed."), "success")
        return self._back(department, number)

    @expose("/greeting", methods=("POST",))
    def greeting(self):
        department, number = self._owner(request.form)
        if department is None:
            abort(400)  # greetings are a department's
        directory = greetings_dir(current_app.extensions["pbx_crm_config"])
        old = department.greeting_file
        if request.form.get("remove") == "1":
            department.greeting_file = None
            self.db.session.commit()
            remove_greeting(directory, old)
            flash(_("Greeting removed: callers hear the standard prompt."), "success")
            return self._back(department, None)
        upload = request.files.get("file")
        data = upload.read(MAX_BYTES + 1) if upload is not None else b""
        try:
            name = store_greeting(directory, department.id, data)
        except GreetingError as error:
            flash(str(error), "error")
            return self._back(department, None)
        department.greeting_file = name
        self.db.session.commit()
        remove_greeting(directory, old)
        flash(_("Greeting uploaded."), "success")
        return self._back(department, None)

"""Employee schedules (issue 17): weekly shifts and absences, edited by admins and heads
(a head: their department's people), and the "Who is on duty" page where everyone can
take themselves off for a while ("off now", which expires) or set do-not-disturb; a head
or an admin can do it for the people they manage. Routing reads the same rows by the
clock (:mod:`pbx_daemon.crm.duty`)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import abort, current_app, flash, g, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from wtforms import SelectField, ValidationError

from admin.access import SEE_ALL
from admin.views import ALL_ROLES, SUPERVISORS, RoleGate, ScopedModelView
from admin.times import admin_now
from pbx_daemon.crm import models as m
from pbx_daemon.crm.duty_sql import duty_by_employee
from pbx_daemon.crm.duty import off_now_until

WEEKDAY_NAMES = (_l("Monday"), _l("Tuesday"), _l("Wednesday"), _l("Thursday"), _l("Friday"),
                 _l("Saturday"), _l("Sunday"))
EDITORS = frozenset({"admin", "head"})
OFF_HOURS = (1, 2, 4)  # the "off for N hours" buttons


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.extensions["pbx_crm_config"].general.timezone)


def _weekday(view, context, row, name):
    return WEEKDAY_NAMES[row.weekday] if 0 <= (row.weekday or 0) < 7 else row.weekday


def _after_first_day(form, field):
    if field.data and form.first_day.data and field.data < form.first_day.data:
        raise ValidationError(gettext("The last day cannot be before the first."))


class _ScheduleRows(ScopedModelView):
    """Admins and heads edit (a head: their department's rows); owners look."""

    roles = SUPERVISORS
    edit_roles = EDITORS
    column_filters = ("employee.full_name",)

    @property
    def can_delete(self):
        return self._editable()


class ShiftView(_ScheduleRows):
    column_list = ("employee", "weekday", "starts", "ends")
    column_default_sort = [("employee_id", False), ("weekday", False), ("starts", False)]
    column_formatters = {"weekday": _weekday}
    column_descriptions = {"ends": _l("at or before the start: the shift ends the next day "
                                      "(22:00-06:00); 00:00-00:00 is the whole day"),
                           "weekday": _l("in company time; an employee with no shifts is "
                                         "always on duty")}
    form_overrides = {"weekday": SelectField}
    form_args = {"weekday": {"coerce": int,
                             "choices": [(i, n) for i, n in enumerate(WEEKDAY_NAMES)]}}
    form_columns = ("employee", "weekday", "starts", "ends")


class AbsenceView(_ScheduleRows):
    column_list = ("employee", "kind", "first_day", "last_day", "note")
    column_default_sort = [("first_day", True)]
    form_columns = ("employee", "kind", "first_day", "last_day", "note")
    form_args = {"last_day": {"validators": [_after_first_day]}}


class DutyView(RoleGate, BaseView):
    """Who is on duty now; "off now" and DND buttons (POST, CSRF)."""

    roles = ALL_ROLES

    def __init__(self, db, **kwargs):
        super().__init__(**kwargs)
        self.db = db

    def _people(self, session):
        user = g.user
        query = select(m.Employee).where(m.Employee.active.is_(True)).order_by(m.Employee.full_name)
        if user.role not in SEE_ALL:
            if user.role == "head" and user.department_id is not None:
                query = query.where((m.Employee.department_id == user.department_id)
                                    | (m.Employee.id == user.id))
            else:
                query = query.where(m.Employee.id == user.id)
        return list(session.scalars(query))

    @staticmethod
    def may_change(user, employee) -> bool:
        """Oneself always; a head their department; admins and owners anyone."""
        if employee.id == user.id or user.role in SEE_ALL:
            return True
        return user.role == "head" and user.department_id is not None \
            and employee.department_id == user.department_id

    @expose("/")
    def index(self):
        s = self.db.session
        now = admin_now().astimezone(_zone())
        people = self._people(s)
        duty = duty_by_employee(s, now)
        return self.render("duty.html", people=people, duty=duty, now=now,
                           off_hours=OFF_HOURS, may_change=lambda e: self.may_change(g.user, e))

    @expose("/<int:employee_id>", methods=("POST",))
    def change(self, employee_id):
        s = self.db.session
        employee = s.get(m.Employee, employee_id)
        if employee is None:
            abort(404)
        if not employee.active or not self.may_change(g.user, employee):
            abort(403)
        action = request.form.get("action", "")
        now = admin_now().astimezone(_zone())
        if action == "off_today":
            employee.off_until = off_now_until(now)
        elif action.startswith("off_") and action[4:].isdigit() and int(action[4:]) in OFF_HOURS:
            employee.off_until = off_now_until(now, hours=int(action[4:]))
        elif action == "back":
            employee.off_until = None
        elif action in ("dnd_on", "dnd_off"):
            employee.dnd = action == "dnd_on"
        else:
            abort(400)
        s.commit()
        flash(gettext("Saved: %(name)s.", name=employee.full_name), "success")
        return redirect(url_for(".index"))

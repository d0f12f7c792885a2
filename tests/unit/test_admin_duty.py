"""Schedules in the admin: admins and heads edit shifts and absences (a head only their
department's), everyone may take themselves "off now" or set DND on the duty page, a
manager nobody else."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from sqlalchemy import select
from twisted.internet.task import Clock

from pbx_daemon.crm import models as m
from tests.unit.helpers import admin_login, staffed_admin

PEOPLE = [("root", "admin", None), ("hera", "head", "Sales"), ("max", "manager", "Sales"),
          ("sue", "manager", "Support")]


class Db:
    """Reads between requests, each in an app context of its own (a shared one would keep
    one request's CSRF token in ``g`` for the next)."""

    def __init__(self, app):
        self.app = app

    def expire_all(self):
        pass

    def get(self, model, id_):
        with self.app.app_context():
            row = self.app.extensions["sqlalchemy"].session.get(model, id_)
            self.app.extensions["sqlalchemy"].session.expunge_all()
            return row

    def scalars(self, query):
        with self.app.app_context():
            session = self.app.extensions["sqlalchemy"].session
            rows = session.scalars(query).all()
            session.expunge_all()
            return rows


@pytest.fixture
def admin(tmp_path):
    with staffed_admin(f"sqlite:///{tmp_path}/admin.sqlite3", PEOPLE) as (app, s, _, staff):
        s.commit()
        ids = {k: v.id for k, v in staff.items()}
    return app, Db(app), ids


def csrf(client, url: str) -> str:
    page = client.get(url).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def add_shift(client, employee_id):
    url = "/admin/shifts/new/"
    return client.post(url, data={"csrf_token": csrf(client, url), "employee": str(employee_id),
                                  "weekday": "0", "starts": "09:00", "ends": "18:00"})


def shifts(s):
    s.expire_all()
    return [(x.employee_id, x.weekday) for x in s.scalars(select(m.EmployeeShift))]


def test_a_head_schedules_their_department_only(admin):
    app, s, ids = admin
    head = admin_login(app, "hera")
    add_shift(head, ids["max"])
    add_shift(head, ids["sue"])  # Support: refused
    assert shifts(s) == [(ids["max"], 0)]
    assert "Sue" not in head.get("/admin/shifts/").get_data(as_text=True)
    assert admin_login(app, "root").get("/admin/shifts/").status_code == 200


def test_a_manager_cannot_open_schedules_or_absences(admin):
    app, s, ids = admin
    manager = admin_login(app, "max")
    assert manager.get("/admin/shifts/").status_code == 403
    assert manager.get("/admin/absences/").status_code == 403


def test_absence_days_must_be_in_order(admin):
    app, s, ids = admin
    root = admin_login(app, "root")
    url = "/admin/absences/new/"
    root.post(url, data={"csrf_token": csrf(root, url), "employee": str(ids["max"]),
                         "kind": "sick", "first_day": "2026-12-03", "last_day": "2026-12-01"})
    s.expire_all()
    assert s.scalars(select(m.EmployeeAbsence)) == []
    root.post(url, data={"csrf_token": csrf(root, url), "employee": str(ids["max"]),
                         "kind": "sick", "first_day": "2026-12-01", "last_day": "2026-12-03"})
    s.expire_all()
    assert [a.kind for a in s.scalars(select(m.EmployeeAbsence))] == ["sick"]


def duty(client, employee_id, action):
    return client.post(f"/admin/duty/{employee_id}",
                       data={"csrf_token": csrf(client, "/admin/duty/"), "action": action})


def test_a_manager_takes_themselves_off_and_back_but_nobody_else(admin):
    app, s, ids = admin
    manager = admin_login(app, "max")
    page = manager.get("/admin/duty/").get_data(as_text=True)
    assert "Max" in page and "Sue" not in page and "Hera" not in page
    assert duty(manager, ids["max"], "off_2").status_code == 302
    s.expire_all()
    off = s.get(m.Employee, ids["max"]).off_until
    hours = (off - datetime.now(timezone.utc)).total_seconds() / 3600
    assert 1.9 < hours <= 2
    duty(manager, ids["max"], "back")
    s.expire_all()
    assert s.get(m.Employee, ids["max"]).off_until is None
    assert duty(manager, ids["sue"], "off_today").status_code == 403
    assert duty(manager, ids["hera"], "dnd_on").status_code == 403
    assert duty(manager, ids["max"], "off_999").status_code == 400


def test_a_head_sets_dnd_for_their_department_not_another(admin):
    app, s, ids = admin
    head = admin_login(app, "hera")
    duty(head, ids["max"], "dnd_on")
    assert duty(head, ids["sue"], "dnd_on").status_code == 403
    s.expire_all()
    assert s.get(m.Employee, ids["max"]).dnd is True and s.get(m.Employee, ids["sue"]).dnd is False


def test_off_today_lasts_until_midnight_company_time(admin):
    app, s, ids = admin
    manager = admin_login(app, "max")
    duty(manager, ids["max"], "off_today")
    s.expire_all()
    off = s.get(m.Employee, ids["max"]).off_until
    assert off > datetime.now(timezone.utc)
    assert off.astimezone(timezone.utc).minute == 0


def test_the_duty_page_and_off_today_go_by_the_admins_clock(tmp_path):
    clock = Clock()  # 00:30 on 10 March in Moscow (UTC+3), whatever the machine's date
    clock.advance(datetime(2026, 3, 9, 21, 30, tzinfo=timezone.utc).timestamp())
    with staffed_admin(f"sqlite:///{tmp_path}/admin.sqlite3", PEOPLE, clock=clock) as (app, s, _, staff):
        s.commit()
        max_id = staff["max"].id
    manager = admin_login(app, "max")
    duty(manager, max_id, "off_today")
    off = Db(app).get(m.Employee, max_id).off_until
    # Until the next midnight in company time: 11 March 00:00 MSK.
    assert off.astimezone(timezone.utc).replace(tzinfo=None) == datetime(2026, 3, 10, 21, 0)
    assert "11.03.2026 00:00" in manager.get("/admin/duty/").get_data(as_text=True)

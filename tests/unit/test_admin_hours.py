"""The working-hours page: an admin sets a department's week, adds days and uploads a
greeting; a head edits only their own department; managers get nothing."""

from __future__ import annotations

import io
import re
import wave

import pytest
from sqlalchemy import select

from pbx_daemon.crm import models as m
from tests.unit.helpers import admin_login, staffed_admin

PEOPLE = [("root", "admin", None), ("vera", "head", "Sales"), ("anna", "manager", "Sales")]
RU = {"Accept-Language": "ru-RU,ru;q=0.9"}


@pytest.fixture
def hours(tmp_path):
    env = {"PBX_CRM_GENERAL_DATA_DIR": str(tmp_path / "data")}
    with staffed_admin(f"sqlite:///{tmp_path}/admin.sqlite3", PEOPLE, env) as (app, s, depts, _):
        s.commit()
        ids = {name: d.id for name, d in depts.items()}
    return app, ids, tmp_path / "data" / "greetings"


def _token(client, url):
    page = client.get(url, headers=RU).get_data(as_text=True)
    return page, re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _read(app, fn):
    with app.app_context():
        return fn(app.extensions["sqlalchemy"].session)


def _wav(seconds=1.0) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * int(8000 * seconds))
    return out.getvalue()


def test_an_admin_sets_the_week_adds_a_day_and_uploads_a_greeting(hours):
    app, ids, greetings = hours
    client = admin_login(app, "root")
    page, token = _token(client, f"/admin/hours/?department={ids['Sales']}")
    assert "Рабочее время" in page
    form = {"csrf_token": token, "department": ids["Sales"], "enabled": "1",
            **{f"day{d}": "09:00-18:00" for d in range(5)}, "day5": "10:00 - 14:00", "day6": ""}
    client.post("/admin/hours/save", data=form)
    rows = _read(app, lambda s: {r.weekday: r.ranges for r in s.scalars(select(m.WorkingHours))})
    assert rows == {0: "09:00-18:00", 1: "09:00-18:00", 2: "09:00-18:00", 3: "09:00-18:00",
                    4: "09:00-18:00", 5: "10:00-14:00", 6: ""}
    client.post("/admin/hours/day", data={"csrf_token": token, "department": ids["Sales"],
                                          "day": "2026-12-31", "kind": "closed", "note": "корпоратив"})
    assert _read(app, lambda s: [(str(d.day), d.kind, d.department_id) for d in s.scalars(select(m.CalendarDay))]) \
        == [("2026-12-31", "closed", ids["Sales"])]
    client.post("/admin/hours/greeting", data={"csrf_token": token, "department": ids["Sales"],
                                               "file": (io.BytesIO(_wav()), "../../evil name.wav")},
                content_type="multipart/form-data")
    name = _read(app, lambda s: s.get(m.Department, ids["Sales"]).greeting_file)
    assert re.match(r"^dept-\d+-[0-9a-f]{16}\.wav$", name) and (greetings / name).is_file()
    # Turning hours off removes the week: always routed again.
    client.post("/admin/hours/save", data={"csrf_token": token, "department": ids["Sales"]})
    assert _read(app, lambda s: s.scalars(select(m.WorkingHours)).all()) == []


def test_bad_hours_and_bad_greetings_are_refused(hours):
    app, ids, greetings = hours
    client = admin_login(app, "root")
    _, token = _token(client, f"/admin/hours/?department={ids['Sales']}")
    client.post("/admin/hours/save", data={"csrf_token": token, "department": ids["Sales"], "enabled": "1",
                                           "day0": "9-18"})
    assert _read(app, lambda s: s.scalars(select(m.WorkingHours)).all()) == []
    client.post("/admin/hours/greeting", data={"csrf_token": token, "department": ids["Sales"],
                                               "file": (io.BytesIO(b"MZ not audio"), "a.wav")},
                content_type="multipart/form-data")
    assert _read(app, lambda s: s.get(m.Department, ids["Sales"]).greeting_file) is None
    assert not greetings.exists() or not any(greetings.iterdir())


def test_a_head_edits_only_their_department_and_a_manager_nothing(hours):
    app, ids, _ = hours
    head = admin_login(app, "vera")
    page, token = _token(head, "/admin/hours/")
    assert "Sales" in page and "Support" not in page
    assert head.get(f"/admin/hours/?department={ids['Support']}").status_code == 403
    assert head.post("/admin/hours/save", data={"csrf_token": token, "department": ids["Support"],
                                                "enabled": "1", "day0": "09:00-18:00"}).status_code == 403
    assert admin_login(app, "anna").get("/admin/hours/").status_code == 403

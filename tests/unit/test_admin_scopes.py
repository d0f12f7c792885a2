"""Role scopes in the admin (Flask test client, SQLite): lists, counts and single rows,
phone search in any format, strict telephony settings, stage rules from the deal form."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from admin.app import create_app
from pbx_daemon.crm import models as m
from pbx_daemon.config import load_config
from tests.unit.helpers import admin_login, fast_hash
from pbx_daemon.db import seed_reference_data

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def app(tmp_path):
    url = f"sqlite:///{tmp_path}/admin.sqlite3"
    config = load_config(None, {"PBX_CRM_DATABASE_URL": url, "PBX_CRM_ADMIN_SECRET_KEY": "s" * 40})
    app = create_app(config)
    with app.app_context():
        db = app.extensions["sqlalchemy"]
        m.Base.metadata.create_all(db.engine)
        s = db.session
        seed_reference_data(s)
        sales, support = m.Department(name="Sales"), m.Department(name="Support")
        s.add_all([sales, support])
        s.flush()
        people = {}
        for login, role, dept in (("admin", "admin", None), ("anna", "manager", sales),
                                  ("boris", "manager", sales), ("vera", "head", sales),
                                  ("dina", "manager", support), ("olga", "cold_operator", None)):
            people[login] = m.Employee(full_name=login.title(), login=login, role=role,
                                       department_id=dept.id if dept else None,
                                       password_hash=fast_hash(f"{login}-Password-1"))
        s.add_all(people.values())
        s.flush()
        for owner in ("anna", "boris", "dina"):
            s.add(m.Company(name=f"Client of {owner}", responsible_id=people[owner].id,
                            phones=[m.CompanyPhone(phone=f"+7916111{len(owner):02d}{ord(owner[0]):02d}")]))
        s.add(m.Inquiry(channel="call", phone="+79990001111", status="open", department_id=sales.id,
                        first_seen_at=T0, last_seen_at=T0))
        s.add(m.Inquiry(channel="call", phone="+79990002222", status="open",
                        responsible_id=people["boris"].id, first_seen_at=T0, last_seen_at=T0))
        mine = m.CallList(name="Olga's list", operators=[people["olga"]])
        s.add_all([mine, m.CallList(name="Someone else's list")])
        s.commit()
        app.people = {k: v.id for k, v in people.items()}
        app.companies = {c.name: c.id for c in s.scalars(select(m.Company))}
    return app


login = admin_login


def names(page):
    return set(re.findall(r"Client of \w+", page))


def test_manager_lists_only_own_clients_and_gets_403_on_anothers(app):
    c = login(app, "anna")
    assert names(c.get("/admin/company/").get_data(as_text=True)) == {"Client of anna"}
    other = app.companies["Client of boris"]
    assert c.get(f"/admin/company/details/?id={other}").status_code == 403
    assert c.get(f"/admin/company/edit/?id={other}").status_code == 403
    assert c.get(f"/admin/company/details/?id={app.companies['Client of anna']}").status_code == 200


def test_head_sees_the_department_admin_sees_all(app):
    assert names(login(app, "vera").get("/admin/company/").get_data(as_text=True)) == \
        {"Client of anna", "Client of boris"}
    assert names(login(app, "admin").get("/admin/company/").get_data(as_text=True)) == \
        {"Client of anna", "Client of boris", "Client of dina"}


def test_manager_sees_own_and_the_departments_unassigned_inquiries(app):
    # The list shows numbers as people write them (issue 15).
    anna = login(app, "anna").get("/admin/inquiry/").get_data(as_text=True)
    assert "8 (999) 000-11-11" in anna and "8 (999) 000-22-22" not in anna
    dina = login(app, "dina").get("/admin/inquiry/").get_data(as_text=True)
    assert "8 (999) 000-11-11" not in dina


def test_cold_operator_sees_only_assigned_lists_and_no_crm(app):
    c = login(app, "olga")
    page = c.get("/admin/calllist/").get_data(as_text=True)
    assert "Olga&#39;s list" in page or "Olga's list" in page
    assert "Someone else" not in page
    for path in ("/admin/company/", "/admin/inquiry/", "/admin/call/", "/admin/employee/"):
        assert c.get(path).status_code == 403, path


def test_phone_search_in_any_format(app):
    c = login(app, "admin")
    anna_phone = "8 (916) 111-04-97"  # +79161110497: "anna" -> 04, ord('a') = 97
    page = c.get("/admin/company/", query_string={"search": anna_phone}).get_data(as_text=True)
    assert names(page) == {"Client of anna"}


def test_sip_endpoint_with_dial_string_characters_is_refused(app):
    c = login(app, "admin")
    form = c.get("/admin/employee/new/").get_data(as_text=True)
    token = re.search(r'csrf_token" value="([^"]+)"', form).group(1)
    r = c.post("/admin/employee/new/", data={"full_name": "Evil", "login": "evil", "role": "manager",
                                             "sip_endpoint": "101&PJSIP/999", "csrf_token": token})
    assert "попадает в строку набора" in r.get_data(as_text=True)
    with app.app_context():
        db = app.extensions["sqlalchemy"]
        assert db.session.scalar(select(m.Employee).where(m.Employee.login == "evil")) is None


@pytest.mark.parametrize("email, stored", [("olga@example.ru", True), ("olga@example.ru\r\nBcc: x@y.ru", False),
                                          ("olga example.ru", False), ("", True)])
def test_an_employees_email_is_one_address(app, email, stored):
    """Escalation e-mails go to it: nothing a mail header would split is taken."""
    c = login(app, "admin")
    form = c.get("/admin/employee/new/").get_data(as_text=True)
    token = re.search(r'csrf_token" value="([^"]+)"', form).group(1)
    c.post("/admin/employee/new/", data={"full_name": "Nadia", "login": "nadia", "role": "head",
                                         "email": email, "csrf_token": token})
    with app.app_context():
        db = app.extensions["sqlalchemy"]
        row = db.session.scalar(select(m.Employee).where(m.Employee.login == "nadia"))
        assert (row is not None) is stored
        assert row is None or row.email == (email or None)


def test_moving_a_deal_in_the_form_creates_the_stages_tasks(app):
    with app.app_context():
        db = app.extensions["sqlalchemy"]
        stage = db.session.scalar(select(m.DealStage).where(m.DealStage.name == "КП отправлено"))
        first = db.session.scalar(select(m.DealStage).order_by(m.DealStage.position))
        db.session.add(m.DealStageTaskRule(stage_id=stage.id, type="call", title="Confirm receipt",
                                           comment="Did it arrive?", offset_minutes=2880))
        deal = m.Deal(title="Окна", stage_id=first.id, responsible_id=app.people["anna"])
        db.session.add(deal)
        db.session.commit()
        deal_id, stage_id = deal.id, stage.id
    c = login(app, "anna")
    form = c.get(f"/admin/deal/edit/?id={deal_id}").get_data(as_text=True)
    token = re.search(r'csrf_token" value="([^"]+)"', form).group(1)
    r = c.post(f"/admin/deal/edit/?id={deal_id}",
               data={"title": "Окна", "stage": str(stage_id), "amount": "1000", "currency": "RUB",
                     "probability": "50", "responsible": str(app.people["anna"]), "csrf_token": token})
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    with app.app_context():
        db = app.extensions["sqlalchemy"]
        tasks = db.session.scalars(select(m.Task).where(m.Task.deal_id == deal_id)).all()
        assert [(t.title, t.responsible_id) for t in tasks] == [("Confirm receipt", app.people["anna"])]


def test_creating_a_card_that_matches_another_warns_with_a_link(app):
    c = login(app, "anna")
    form = c.get("/admin/lead/new/").get_data(as_text=True)
    token = re.search(r'csrf_token" value="([^"]+)"', form).group(1)
    r = c.post("/admin/lead/new/", data={"title": "Новый", "full_name": "Client of boris", "status": "new",
                                          "phone": "8 916 111-05-98", "csrf_token": token},
               follow_redirects=True)
    page = r.get_data(as_text=True)
    assert "/admin/card/company/" in page and "«Client of boris»" in page
    with app.app_context():
        lead = app.extensions["sqlalchemy"].session.scalar(select(m.Lead).where(m.Lead.title == "Новый"))
        assert lead.phone == "+79161110598" and lead.responsible_id == app.people["anna"]

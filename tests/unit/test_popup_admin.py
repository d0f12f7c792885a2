"""The screen-pop page's endpoints in-process: login, the card for a number (known,
unknown, another manager's), after-call note / class / task, reminders."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from admin.app import create_app
from pbx_daemon.crm import models as m
from pbx_daemon.config import load_config
from pbx_daemon.db import seed_reference_data
from tests.unit.helpers import admin_login, fast_hash

NOW = datetime.now(timezone.utc)


@pytest.fixture
def app(tmp_path):
    config = load_config(None, {"PBX_CRM_DATABASE_URL": f"sqlite:///{tmp_path}/a.sqlite3",
                                "PBX_CRM_ADMIN_SECRET_KEY": "s" * 40})
    app = create_app(config)
    with app.app_context():
        db = app.extensions["sqlalchemy"]
        m.Base.metadata.create_all(db.engine)
        s = db.session
        seed_reference_data(s)
        anna, boris = (m.Employee(full_name=n.title(), login=n, role="manager",
                                  password_hash=fast_hash(f"{n}-Password-1")) for n in ("anna", "boris"))
        s.add_all([anna, boris])
        s.flush()
        company = m.Company(name="Ромашка", responsible_id=anna.id, notes="VIP",
                            phones=[m.CompanyPhone(phone="+79161234567")])
        s.add(company)
        s.flush()
        stage = s.scalar(select(m.DealStage).order_by(m.DealStage.position))
        s.add(m.Deal(title="Окна", company_id=company.id, stage_id=stage.id, responsible_id=anna.id))
        inquiry = m.Inquiry(channel="call", phone="+79030000001", status="open", responsible_id=anna.id,
                            first_seen_at=NOW, last_seen_at=NOW)
        s.add(inquiry)
        s.flush()
        s.add_all([m.Call(linkedid="known.1", direction="inbound", caller="+79161234567", started_at=NOW,
                          outcome="answered", answered_by_id=anna.id, company_id=company.id),
                   m.Call(linkedid="missed.1", direction="inbound", caller="+79030000001", started_at=NOW,
                          outcome="missed", inquiry_id=inquiry.id),
                   m.Task(title="Перезвонить", type="call", responsible_id=anna.id, comment="обещали",
                          deadline=datetime.now(timezone.utc) + timedelta(minutes=10))])
        s.commit()
    return app


def login(app, who):
    c = admin_login(app, who)
    page = c.get("/screen-pop").get_data(as_text=True)
    c.csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    return c


def post(c, url, body):
    return c.post(url, json=body, headers={"X-CSRFToken": c.csrf})


def test_page_and_endpoints_need_a_login(app):
    c = app.test_client()
    assert "/login" in c.get("/screen-pop").headers["Location"]
    assert c.get("/screen-pop/card?phone=%2B79161234567").status_code == 401
    assert c.get("/screen-pop/reminders").status_code == 401


def test_card_of_a_known_number_in_any_format(app):
    card = login(app, "anna").get("/screen-pop/card", query_string={"phone": "8 916 123-45-67"}).get_json()
    assert (card["name"], card["responsible"], card["notes"]) == ("Ромашка", "Anna", "VIP")
    assert [d["title"] for d in card["deals"]] == ["Окна"] and card["calls"][0]["who"] == "Anna"


def test_unknown_number_offers_a_new_lead_and_bad_input_is_refused(app):
    c = login(app, "anna")
    card = c.get("/screen-pop/card", query_string={"phone": "+74950000000"}).get_json()
    assert card["known"] is False and "phone=%2B74950000000" in card["create_url"]
    assert 'value="+74950000000"' in c.get(card["create_url"]).get_data(as_text=True)  # prefilled
    assert c.get("/screen-pop/card", query_string={"phone": "<script>"}).status_code == 400


def test_another_managers_client_shows_who_it_is_but_not_their_business(app):
    card = login(app, "boris").get("/screen-pop/card", query_string={"phone": "+79161234567"}).get_json()
    assert card["name"] == "Ромашка" and card["restricted"] is True
    assert "deals" not in card and "notes" not in card and "calls" not in card


def test_after_the_call_note_class_and_task(app):
    c = login(app, "anna")
    assert post(c, "/screen-pop/calls/known.1/note", {"note": "Хотят скидку"}).status_code == 200
    assert post(c, "/screen-pop/calls/known.1/note", {"note": " "}).status_code == 400
    assert post(c, "/screen-pop/calls/known.1/classify", {"class": "client"}).get_json()["disposition"] == "client"
    r = post(c, "/screen-pop/calls/missed.1/classify", {"class": "lead"})
    assert r.status_code == 200 and r.get_json()["lead_id"]
    r = post(c, "/screen-pop/calls/known.1/task", {"title": "КП", "type": "email",
                                                   "deadline": "2026-12-01T10:00", "comment": "отправить"})
    assert r.status_code == 201
    r = post(c, "/screen-pop/calls/known.1/task", {"title": "КП", "type": "fax", "deadline": "", "comment": ""})
    assert r.status_code == 400 and "тип" in r.get_json()["error"]
    with app.app_context():
        s = app.extensions["sqlalchemy"].session
        call = s.scalar(select(m.Call).where(m.Call.linkedid == "known.1"))
        task = s.scalar(select(m.Task).where(m.Task.title == "КП"))
        assert call.note == "Хотят скидку" and task.company_id == call.company_id
        assert task.deadline.replace(tzinfo=timezone.utc) == datetime(2026, 12, 1, 7, 0, tzinfo=timezone.utc)


def test_posts_need_csrf_and_calls_need_scope(app):
    c = login(app, "boris")
    assert c.post("/screen-pop/calls/known.1/note", json={"note": "x"}).status_code == 400
    assert post(c, "/screen-pop/calls/known.1/note", {"note": "x"}).status_code == 403
    assert post(c, "/screen-pop/calls/nope/note", {"note": "x"}).status_code == 404


def test_reminder_for_a_call_planned_within_15_minutes(app):
    reminders = login(app, "anna").get("/screen-pop/reminders").get_json()["reminders"]
    assert [r["title"] for r in reminders] == ["Перезвонить"] and 8 <= reminders[0]["minutes"] <= 10


def test_the_screen_pop_page_leads_back_to_the_admin(app):
    page = admin_login(app, "anna").get("/screen-pop").get_data(as_text=True)
    assert re.search(r'<a href="/admin/?"[^>]*id="to-admin">← В админку</a>', page), page[:2000]

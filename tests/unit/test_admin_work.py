"""Issue 15, part D: an admin a sales team can work in all day (Flask test client, SQLite).

Phones typed as people write them, a manager's company with its phone, lists with totals,
pages and filters (the queue light enough to click through), names linking to the client
card, the navbar on every page, the dashboard, and reassigning in one action with the
call-back task following.
"""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from admin.app import create_app
from pbx_daemon.config import load_config
from pbx_daemon.crm import models as m
from pbx_daemon.crm.reassign import OpenTask, ReassignFacts, ReassignRefused, decide_reassign
from pbx_daemon.db import seed_reference_data
from tests.unit.helpers import admin_login, fast_hash

NOW = datetime.now(timezone.utc)
QUEUE = 120  # open inquiries of the department nobody took: three pages of 50


@pytest.fixture
def app(tmp_path):
    url = f"sqlite:///{tmp_path}/admin.sqlite3"
    config = load_config(None, {"PBX_CRM_DATABASE_URL": url, "PBX_CRM_ADMIN_SECRET_KEY": "s" * 40})
    app = create_app(config)
    with app.app_context():
        s = app.extensions["sqlalchemy"].session
        m.Base.metadata.create_all(s.get_bind())
        seed_reference_data(s)
        sales, support = m.Department(name="Sales"), m.Department(name="Support")
        s.add_all([sales, support])
        s.flush()
        people = {}
        for login, role, dept in (("admin", "admin", None), ("vera", "head", sales), ("anna", "manager", sales),
                                  ("boris", "manager", sales), ("dina", "manager", support)):
            people[login] = m.Employee(full_name=login.title(), login=login, role=role,
                                       department_id=dept.id if dept else None,
                                       password_hash=fast_hash(f"{login}-Password-1"))
        s.add_all(people.values())
        s.flush()
        sales.head_id = people["vera"].id
        for n in range(QUEUE):
            s.add(m.Inquiry(channel="call", phone=f"+7903{n:07d}", status="open", department_id=sales.id,
                            missed_count=1, first_seen_at=NOW - timedelta(minutes=n),
                            last_seen_at=NOW - timedelta(minutes=n)))
        # Anna's missed call, with its call-back task (overdue), as the missed-call rules leave it.
        mine = m.Inquiry(channel="call", phone="+79160000001", name="Пётр Звонарёв", status="open",
                         department_id=sales.id, responsible_id=people["anna"].id, missed_count=2,
                         first_seen_at=NOW, last_seen_at=NOW + timedelta(minutes=1))
        s.add(mine)
        s.flush()
        s.add(m.Task(title="Call back +79160000001", type="call", responsible_id=people["anna"].id,
                     deadline=NOW - timedelta(minutes=5), comment="missed", inquiry_id=mine.id))
        s.add(m.Task(title="Own meeting", type="meeting", responsible_id=people["vera"].id,
                     deadline=NOW + timedelta(days=2), comment="-", inquiry_id=mine.id))
        s.add(m.Company(name="Старый клиент", responsible_id=people["anna"].id, department_id=sales.id,
                        phones=[m.CompanyPhone(phone="+74951112233")]))
        s.commit()
        app.people = {k: v.id for k, v in people.items()}
        app.mine = mine.id
    return app


def token(page: str) -> str:
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)


def get(client, url) -> str:
    r = client.get(url)
    assert r.status_code == 200, (url, r.status_code)
    return html.unescape(r.get_data(as_text=True))


def session(app):
    return app.extensions["sqlalchemy"].session


# ---- 1. phones typed as people write them -------------------------------------------------
@pytest.mark.parametrize("typed, e164, ext", [
    ("8 (916) 999-88-77", "+79169998877", None),
    ("+7 916 999 88 77 доб. 12", "+79169998877", "12"),
    ("  +7(916)999-88-77  ", "+79169998877", None),
])
def test_the_lead_form_takes_a_number_as_people_type_it(app, typed, e164, ext):
    client = admin_login(app, "anna")
    page = get(client, "/admin/lead/new/")
    assert 'maxlength="40"' in page and 'maxlength="16"' not in page
    r = client.post("/admin/lead/new/", data={"title": "Звонок", "phone": typed, "status": "new",
                                              "csrf_token": token(page)})
    assert r.status_code == 302
    with app.app_context():
        lead = session(app).scalar(select(m.Lead).where(m.Lead.title == "Звонок"))
        assert (lead.phone, lead.phone_ext) == (e164, ext)


def test_a_bad_number_is_a_russian_field_error_not_a_failed_record(app):
    client = admin_login(app, "anna")
    page = get(client, "/admin/lead/new/")
    r = client.post("/admin/lead/new/", data={"title": "Плохой", "phone": "8 (916) 999-88", "status": "new",
                                              "csrf_token": token(page)})
    text = html.unescape(r.get_data(as_text=True))
    assert r.status_code == 200
    assert "Это не номер телефона" in text and "Failed to create record" not in text
    with app.app_context():
        assert session(app).scalar(select(m.Lead).where(m.Lead.title == "Плохой")) is None


def test_the_screen_pops_new_lead_keeps_a_long_typed_number(app):
    page = get(admin_login(app, "anna"), "/admin/lead/new/?phone=%2B7%20916%20999%2088%2077%20доб.%2012")
    assert 'value="+7 916 999 88 77 доб. 12"' in page


@pytest.mark.parametrize("view, field, extra", [
    ("trackingnumber", "number", {"active": "y"}),
    ("blockednumber", "phone", {"reason": "спам"}),
])
def test_tracking_numbers_and_the_blocklist_take_formatted_numbers(app, view, field, extra):
    client = admin_login(app, "admin")
    page = get(client, f"/admin/{view}/new/")
    r = client.post(f"/admin/{view}/new/", data={field: "8 (495) 777-66-55", **extra, "csrf_token": token(page)})
    assert r.status_code == 302, html.unescape(r.get_data(as_text=True))[-2000:]
    model = {"trackingnumber": m.TrackingNumber, "blockednumber": m.BlockedNumber}[view]
    with app.app_context():
        assert session(app).scalar(select(getattr(model, field))) == "+74957776655"


# ---- 2. a manager's company with its phone ------------------------------------------------
def test_a_manager_creates_a_company_with_a_typed_phone_and_finds_it_on_their_list(app):
    client = admin_login(app, "anna")
    page = get(client, "/admin/company/new/")
    options = re.search(r'<select[^>]*name="responsible".*?</select>', page, re.S).group(0)
    assert re.findall(r'<option[^>]*value="(\d+)"', options) == [str(app.people["anna"])]
    assert re.search(r'<option selected[^>]*value="%d"|<option[^>]*value="%d"[^>]*selected'
                     % (app.people["anna"], app.people["anna"]), options)
    r = client.post("/admin/company/new/", data={
        "name": "ООО Новая", "responsible": str(app.people["anna"]),
        "phones-0-phone": "8 (916) 999-88-77", "phones-0-kind": "work", "csrf_token": token(page)})
    assert r.status_code == 302
    with app.app_context():
        company = session(app).scalar(select(m.Company).where(m.Company.name == "ООО Новая"))
        assert company.responsible_id == app.people["anna"]
        assert [p.phone for p in company.phones] == ["+79169998877"]
        company_id = company.id
    listed = get(client, "/admin/company/")
    assert "ООО Новая" in listed and "8 (916) 999-88-77" in listed
    assert f'href="/admin/card/company/{company_id}"' in listed


# ---- 3. lists with totals, pages and filters; the light queue -----------------------------
def test_the_queue_shows_its_total_and_pages_with_one_form(app):
    client = admin_login(app, "vera")
    page = get(client, "/admin/queue/")
    assert f"Показаны 1–50 из {QUEUE + 1}" in page
    assert "/admin/queue/?page=3" in page
    # The classify form, the language switch and logout (the navbar's), the filters: none per row.
    assert page.count('method="post"') == 3 and page.count("<form") == 4
    assert len(re.findall(r"<tr data-inquiry=", page)) == 50
    last = get(client, "/admin/queue/?page=3")
    assert f"Показаны 101–{QUEUE + 1} из {QUEUE + 1}" in last


def test_the_queue_filters_by_responsible_period_class_and_search(app):
    client = admin_login(app, "vera")
    assert "из 1<" in get(client, f"/admin/queue/?responsible={app.people['anna']}").replace("</span>", "<")
    assert f"из {QUEUE}<" in get(client, "/admin/queue/?responsible=none").replace("</span>", "<")
    found = get(client, "/admin/queue/?q=8+(916)+000-00-01")
    assert "Пётр Звонарёв" in found and "из 1<" in found.replace("</span>", "<")
    with app.app_context():
        spam = session(app).scalar(select(m.InquiryClass.id).where(m.InquiryClass.code == "spam"))
    assert "Показаны 0–0 из 0" in get(client, f"/admin/queue/?class={spam}")
    assert f"из {QUEUE + 1}<" in get(client, "/admin/queue/?period=today&sort=missed").replace("</span>", "<")


def test_classify_by_script_answers_the_row_as_json(app):
    client = admin_login(app, "vera")
    page = get(client, "/admin/queue/")
    r = client.post(f"/admin/queue/{app.mine}/classify", data={"class": "partner"},
                    headers={"X-CSRFToken": token(page), "Accept": "application/json"})
    assert r.status_code == 200
    row = r.get_json()
    assert row["id"] == app.mine and row["status"] == "closed" and row["class_code"] == "partner"
    assert row["responsible"] == "Anna"
    bad = client.post(f"/admin/queue/{app.mine}/classify", data={"class": "nope"},
                      headers={"X-CSRFToken": token(page), "Accept": "application/json"})
    assert bad.status_code == 400 and "error" in bad.get_json()


def test_my_tasks_and_my_deals_are_paginated_with_totals(app):
    with app.app_context():
        s = session(app)
        stage = s.scalar(select(m.DealStage).order_by(m.DealStage.position))
        for n in range(60):
            s.add(m.Task(title=f"Task {n}", type="call", responsible_id=app.people["boris"],
                         deadline=NOW + timedelta(hours=n), comment="-"))
            s.add(m.Deal(title=f"Deal {n}", stage_id=stage.id, responsible_id=app.people["boris"]))
        s.commit()
    client = admin_login(app, "boris")
    assert "Показаны 1–50 из 60" in get(client, "/admin/my-tasks/")
    assert "Показаны 51–60 из 60" in get(client, "/admin/my-tasks/?page=2")
    assert "Показаны 1–50 из 60" in get(client, "/admin/my-deals/")
    anna = admin_login(app, "anna")
    overdue = get(anna, "/admin/my-tasks/?when=overdue&type=call")
    assert "Показаны 1–1 из 1" in overdue and "Пётр Звонарёв" in overdue  # the client card's name


# ---- 4. navigation ------------------------------------------------------------------------
@pytest.mark.parametrize("url", ["/admin/", "/admin/company/", "/admin/queue/", "/admin/my-tasks/",
                                 "/admin/lead/new/", "/admin/card/company/1"])
def test_every_page_has_lang_the_screen_pop_language_switch_and_logout(app, url):
    page = get(admin_login(app, "anna"), url)
    assert '<html lang="ru">' in page
    for marker in ('id="nav-screen-pop"', 'id="nav-language"', 'id="nav-logout"'):
        assert marker in page, (url, marker)


def test_menus_show_only_what_the_role_can_use(app):
    anna = get(admin_login(app, "anna"), "/admin/")
    for hidden in ("/admin/dealstage/", "/admin/source/", "/admin/inquiryclass/", "/admin/employee/",
                   "/admin/analytics/", "/admin/calllist/"):
        assert hidden not in anna, hidden
    assert "/admin/company/" in anna and "/admin/queue/" in anna
    vera = get(admin_login(app, "vera"), "/admin/")
    for shown in ("/admin/dealstage/", "/admin/source/", "/admin/employee/", "/admin/analytics/"):
        assert shown in vera, shown


def test_names_in_lists_link_to_the_client_card(app):
    client = admin_login(app, "anna")
    with app.app_context():
        company = session(app).scalar(select(m.Company.id).where(m.Company.name == "Старый клиент"))
    assert f'<a href="/admin/card/company/{company}">Старый клиент</a>' in get(client, "/admin/company/")
    assert f'href="/admin/card/inquiry/{app.mine}">Пётр Звонарёв' in get(client, "/admin/queue/")
    assert f'href="/admin/card/inquiry/{app.mine}"' in get(client, "/admin/task/")


def test_the_home_page_counts_ones_work_and_a_heads_department(app):
    anna = get(admin_login(app, "anna"), "/admin/")
    new = re.search(r'id="dash-new-inquiries".*?display-4[^>]*>(\d+)<', anna, re.S).group(1)
    overdue = re.search(r'id="dash-overdue".*?display-4[^>]*>(\d+)<', anna, re.S).group(1)
    assert (new, overdue) == (str(QUEUE + 1), "1")  # her own and the department's untaken
    assert "/admin/my-tasks/?when=overdue&type=call" in anna.replace("&amp;", "&")
    vera = get(admin_login(app, "vera"), "/admin/")
    assert 'id="dash-department"' in vera
    untaken = re.search(r'id="dash-dept-untaken".*?display-4[^>]*>(\d+)<', vera, re.S).group(1)
    assert untaken == str(QUEUE)
    assert 'id="dash-department"' not in anna


# ---- 5. reassigning in one action ---------------------------------------------------------
def test_a_head_reassigns_an_inquiry_from_the_queue_and_its_call_back_follows(app):
    client = admin_login(app, "vera")
    page = get(client, "/admin/queue/")
    r = client.post(f"/admin/queue/{app.mine}/reassign", data={"to": str(app.people["boris"])},
                    headers={"X-CSRFToken": token(page), "Accept": "application/json"})
    assert r.status_code == 200 and r.get_json()["responsible"] == "Boris"
    assert r.get_json()["tasks_moved"] == 1
    with app.app_context():
        s = session(app)
        assert s.get(m.Inquiry, app.mine).responsible_id == app.people["boris"]
        tasks = {t.type: t.responsible_id for t in s.scalars(select(m.Task).where(m.Task.inquiry_id == app.mine))}
        assert tasks == {"call": app.people["boris"], "meeting": app.people["vera"]}  # hers stays hers


def test_reassign_from_the_card_offers_only_assignable_people(app):
    vera = admin_login(app, "vera")
    card = get(vera, f"/admin/card/inquiry/{app.mine}")
    options = re.search(r'<select[^>]*id="reassign-to".*?</select>', card, re.S).group(0)
    names = set(re.findall(r">([^<]+)</option>", options))
    assert names == {"Vera", "Anna", "Boris"}  # not Dina (Support), not the admin
    r = vera.post(f"/admin/card/inquiry/{app.mine}/reassign",
                  data={"to": str(app.people["dina"]), "csrf_token": token(card)})
    assert r.status_code == 302
    with app.app_context():
        assert session(app).get(m.Inquiry, app.mine).responsible_id == app.people["anna"]
    # A manager may assign only themselves: no reassign form, and a forged POST is refused.
    anna = admin_login(app, "anna")
    mine = get(anna, f"/admin/card/inquiry/{app.mine}")
    assert 'id="reassign"' not in mine
    r = anna.post(f"/admin/queue/{app.mine}/reassign", data={"to": str(app.people["boris"])},
                  headers={"X-CSRFToken": token(mine), "Accept": "application/json"})
    assert r.status_code == 400 and "нельзя назначить" in r.get_json()["error"]
    with app.app_context():
        assert session(app).get(m.Inquiry, app.mine).responsible_id == app.people["anna"]


REASSIGN_CASES = [
    # kind, current, new, assignable, tasks (id, holder, type) -> moved task ids
    ("inquiry", 1, 2, True, [(10, 1, "call"), (11, 3, "meeting"), (12, 1, "email")], (10, 12)),
    ("inquiry", None, 2, True, [(10, 7, "call"), (11, 7, "meeting")], (10,)),  # the duty's call-back
    ("deal", 1, 2, True, [(10, 1, "call"), (11, 3, "call")], (10,)),
    ("deal", None, 2, True, [(10, 3, "call")], ()),
    ("company", 1, 1, False, [(10, 1, "call")], ()),  # the same person: nothing to do
]


@pytest.mark.parametrize("kind, current, new, allowed, tasks, moved", REASSIGN_CASES)
def test_the_reassign_rule_moves_the_cards_open_tasks(kind, current, new, allowed, tasks, moved):
    decision = decide_reassign(ReassignFacts(kind, 5, current, new, allowed,
                                             tuple(OpenTask(*t) for t in tasks)))
    assert decision.task_ids == moved and decision.new_id == new


@pytest.mark.parametrize("facts, reason", [
    (ReassignFacts("inquiry", 5, 1, 2, False), "not_assignable"),
    (ReassignFacts("call", 5, 1, 2, True), "unknown_card"),
])
def test_the_reassign_rule_refuses(facts, reason):
    with pytest.raises(ReassignRefused) as refused:
        decide_reassign(facts)
    assert refused.value.reason == reason

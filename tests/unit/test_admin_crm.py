"""The working pages in-process: inquiries queue (one-click classes), cards, lead
conversion, my tasks / deals, source quality, web-form inquiries, the language switch."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from admin.app import create_app
from pbx_daemon.crm import models as m
from pbx_daemon.config import load_config
from tests.unit.helpers import admin_login, fast_hash
from pbx_daemon.db import seed_reference_data

T0 = datetime.now(timezone.utc) - timedelta(hours=1)
WEBFORM = "w" * 24


@pytest.fixture
def app(tmp_path):
    url = f"sqlite:///{tmp_path}/admin.sqlite3"
    config = load_config(None, {"PBX_CRM_DATABASE_URL": url, "PBX_CRM_ADMIN_SECRET_KEY": "s" * 40,
                                "PBX_CRM_ADMIN_WEBFORM_TOKEN": WEBFORM})
    app = create_app(config)
    with app.app_context():
        db = app.extensions["sqlalchemy"]
        m.Base.metadata.create_all(db.engine)
        s = db.session
        seed_reference_data(s)
        sales = m.Department(name="Sales")
        s.add(sales)
        s.flush()
        people = {login: m.Employee(full_name=login.title(), login=login, role=role, department_id=sales.id,
                                    password_hash=fast_hash(f"{login}-Password-1"))
                  for login, role in (("anna", "manager"), ("boris", "manager"), ("owner", "owner"))}
        s.add_all(people.values())
        s.flush()
        for n, phone in enumerate(("+79031110001", "+79031110002")):
            inq = m.Inquiry(channel="call", phone=phone, status="open", department_id=sales.id,
                            missed_count=2, first_seen_at=T0, last_seen_at=T0 + timedelta(minutes=n))
            s.add(inq)
            s.flush()
            s.add(m.Call(linkedid=f"c{n}", direction="inbound", caller=phone, started_at=T0,
                         outcome="missed", inquiry_id=inq.id))
        s.add(m.Company(name="Ромашка", responsible_id=people["anna"].id,
                        phones=[m.CompanyPhone(phone="+74951112233")]))
        s.add(m.Company(name="Ромашка", responsible_id=people["boris"].id))
        s.commit()
        app.people = {k: v.id for k, v in people.items()}
    return app


login = admin_login


def csrf(client, path="/admin/queue/"):
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def db_session(app):
    return app.extensions["sqlalchemy"].session


def inquiry_id(app, phone):
    with app.app_context():
        return db_session(app).scalar(select(m.Inquiry.id).where(m.Inquiry.phone == phone))


def test_queue_lists_the_departments_inquiries_with_class_buttons(app):
    page = login(app, "anna").get("/admin/queue/").get_data(as_text=True)
    assert "8 (903) 111-00-01" in page and "8 (903) 111-00-02" in page
    assert 'data-class="spam"' in page and 'data-class="lead"' in page


def test_classify_lead_creates_and_links_a_lead_and_opens_it(app):
    c = login(app, "anna")
    iid = inquiry_id(app, "+79031110001")
    r = c.post(f"/admin/queue/{iid}/classify", data={"class": "lead", "open": "1", "csrf_token": csrf(c)})
    assert r.status_code == 302 and "/admin/card/lead/" in r.headers["Location"]
    card = c.get(r.headers["Location"]).get_data(as_text=True)
    assert f"/admin/card/inquiry/{iid}" in card and 'id="convert"' in card
    with app.app_context():
        lead = db_session(app).scalar(select(m.Lead).where(m.Lead.inquiry_id == iid))
        assert lead.responsible_id == app.people["anna"] and lead.phone == "+79031110001"


def test_classify_spam_blocks_the_number(app):
    c = login(app, "anna")
    iid = inquiry_id(app, "+79031110002")
    c.post(f"/admin/queue/{iid}/classify", data={"class": "spam", "csrf_token": csrf(c)})
    with app.app_context():
        assert db_session(app).scalar(select(m.BlockedNumber).where(m.BlockedNumber.phone == "+79031110002"))


def test_classify_needs_csrf_and_scope(app):
    c = login(app, "anna")
    iid = inquiry_id(app, "+79031110002")
    assert c.post(f"/admin/queue/{iid}/classify", data={"class": "spam"}).status_code == 400
    token = csrf(c)
    with app.app_context():
        s = db_session(app)
        s.get(m.Inquiry, iid).responsible_id = app.people["boris"]
        s.commit()
    assert c.post(f"/admin/queue/{iid}/classify", data={"class": "spam", "csrf_token": token}).status_code == 403


def test_convert_lead_then_the_deal_is_in_my_deals_with_its_calls(app):
    c = login(app, "anna")
    iid = inquiry_id(app, "+79031110001")
    c.post(f"/admin/queue/{iid}/classify", data={"class": "lead", "csrf_token": csrf(c)})
    with app.app_context():
        lead_id = db_session(app).scalar(select(m.Lead.id).where(m.Lead.inquiry_id == iid))
    r = c.post(f"/admin/card/lead/{lead_id}/convert", data={"csrf_token": csrf(c)})
    assert r.status_code == 302 and "/admin/card/deal/" in r.headers["Location"]
    deals = c.get("/admin/my-deals/").get_data(as_text=True)
    assert "8 (903) 111-00-01" in deals or "+79031110001" in deals
    assert re.search(r"<td>1</td></tr>", deals)  # the inquiry's call came along
    assert "calls.recording" not in deals


def test_card_shows_duplicates_click_to_call_and_refuses_other_managers(app):
    c = login(app, "anna")
    with app.app_context():
        mine, theirs = db_session(app).scalars(select(m.Company.id).order_by(m.Company.id)).all()
    page = c.get(f"/admin/card/company/{mine}").get_data(as_text=True)
    assert 'id="duplicates"' in page and 'data-number="+74951112233"' in page
    assert c.get(f"/admin/card/company/{theirs}").status_code == 403
    assert c.get("/admin/card/spaceship/1").status_code == 404


def test_my_tasks_puts_overdue_first(app):
    with app.app_context():
        s = db_session(app)
        now = datetime.now(timezone.utc)
        for title, delta in (("later", 5), ("overdue", -5)):
            s.add(m.Task(title=title, type="call", responsible_id=app.people["anna"],
                         deadline=now + timedelta(hours=delta), comment="c"))
        s.commit()
    page = login(app, "anna").get("/admin/my-tasks/").get_data(as_text=True)
    assert page.index("overdue") < page.index("later") and "table-danger" in page


def test_source_quality_for_supervisors_only(app):
    assert login(app, "anna").get("/admin/source-quality/").status_code == 403
    assert "(без источника)" in login(app, "owner").get("/admin/source-quality/").get_data(as_text=True)


def test_web_form_inquiry_needs_the_token_and_lands_in_the_queue(app):
    c = app.test_client()
    data = {"name": "Ольга", "phone": "+7 916 555-44-33", "utm_source": "yandex", "utm_campaign": "winter"}
    assert c.post("/api/inquiries", json=data).status_code == 401
    assert c.post("/api/inquiries", json={"name": "x"}, headers={"X-Api-Token": WEBFORM}).status_code == 400
    r = c.post("/api/inquiries", json=data, headers={"X-Api-Token": WEBFORM})
    assert r.status_code == 201
    page = login(app, "owner").get("/admin/queue/").get_data(as_text=True)
    assert "Ольга" in page and "web" in page  # no source "yandex": the one web source


def test_russian_by_default_english_on_request(app):
    c = login(app, "anna")
    assert "Обращения" in c.get("/admin/queue/").get_data(as_text=True)
    c.post("/lang/en", headers={"Referer": "http://localhost/admin/queue/"},
           data={"csrf_token": csrf(c)})
    assert "Inquiries" in c.get("/admin/queue/").get_data(as_text=True)


def test_every_admin_string_has_its_russian_and_the_catalog_is_compiled():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "translations.py"
    spec = importlib.util.spec_from_file_location("translations", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.problems() == []


def test_deal_card_offers_click_to_call_on_its_contacts_and_companys_phones(app):
    c = login(app, "anna")
    iid = inquiry_id(app, "+79031110001")
    c.post(f"/admin/queue/{iid}/classify", data={"class": "lead", "csrf_token": csrf(c)})
    with app.app_context():
        lead_id = db_session(app).scalar(select(m.Lead.id).where(m.Lead.inquiry_id == iid))
    deal_url = c.post(f"/admin/card/lead/{lead_id}/convert", data={"csrf_token": csrf(c)}).headers["Location"]
    page = c.get(deal_url).get_data(as_text=True)
    assert 'data-number="+79031110001"' in page


def test_analytics_for_supervisors_with_csv_export(app):
    assert login(app, "anna").get("/admin/analytics/").status_code == 403
    c = login(app, "owner")
    page = c.get("/admin/analytics/", query_string={"from": "2026-11-01", "to": "2026-11-07"}).get_data(as_text=True)
    assert 'id="lcr"' in page and "Нет данных за период." in page  # no call that week
    r = c.get("/admin/analytics/", query_string={"from": "2026-11-01", "to": "2026-11-02", "export": "lcr"})
    assert r.mimetype == "text/csv"
    lines = r.get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert lines[0] == ("День;Входящие;Пропущено;Доля потерянных звонков, %;Перезвонили;"
                        "Перезвонили из пропущенных, %;В нерабочее время;Голосовые сообщения")
    assert lines[1:] == ["01.11.2026;0;0;0,00;0;0,00;0;0", "02.11.2026;0;0;0,00;0;0,00;0;0", "Итого;0;0;0,00;0;0,00;0;0"]
    assert c.get("/admin/analytics/", query_string={"from": "bad"}).status_code == 200


def test_import_a_cp1251_csv_from_the_admin_with_preview_and_report(app, tmp_path):
    from tests.unit.test_importer import CSV_RU

    app.extensions["pbx_crm_config"] = app.extensions["pbx_crm_config"].__class__(
        **{**app.extensions["pbx_crm_config"].__dict__,
           "general": app.extensions["pbx_crm_config"].general.__class__(
               **{**app.extensions["pbx_crm_config"].general.__dict__, "data_dir": str(tmp_path)})})
    with app.app_context():
        s = db_session(app)
        for who in ("head", "hank"):
            s.add(m.Employee(full_name=who.title(), login=who, role="head",
                             password_hash=fast_hash(f"{who}-Password-1")))
        s.commit()
    assert login(app, "anna").get("/admin/import/").status_code == 403
    c = login(app, "head")
    import io
    r = c.post("/admin/import/", data={"csrf_token": csrf(c, "/admin/import/"), "list": "Окна",
                                       "file": (io.BytesIO(CSV_RU), "список.csv")},
               content_type="multipart/form-data")
    assert r.status_code == 302 and "/admin/import/preview/" in r.headers["Location"]
    preview = c.get(r.headers["Location"]).get_data(as_text=True)
    assert "Телефон" in preview and 'selected>Телефон' in preview.replace('" selected>', ' selected>').replace("value=\"2\" selected>", "selected>")
    token = r.headers["Location"].split("/preview/")[1].split("?")[0]
    # The upload id is no pass for another user, even one who may import.
    other = login(app, "hank")
    assert other.get(f"/admin/import/preview/{token}").status_code == 404
    assert other.post(f"/admin/import/run/{token}", data={"csrf_token": csrf(other, "/admin/import/"),
                                                          "list": "Чужой", "map_phone": "2"}).status_code == 404
    done = c.post(f"/admin/import/run/{token}", data={"csrf_token": csrf(c, "/admin/import/"), "list": "Окна",
                                                      "map_phone": "2", "map_company_name": "0",
                                                      "map_contact_name": "1", "map_email": "3"})
    assert "4 добавлено" in done.get_data(as_text=True)  # this database has no client or blocklist matches
    report = c.get(f"/admin/import/report/{token}").get_data(as_text=True)
    # For Russian Excel: the BOM once, ";", Russian headers.
    assert report.startswith("\ufeffСтрока;Телефон;Доб.;Итог\r\n") and report.count("\ufeff") == 1
    assert "чёрном списке" not in report
    assert c.get("/admin/import/report/../../etc").status_code == 404


# ---- new numbers (issue 12) -----------------------------------------------------------------
NEW_NUMBER = "+79035550077"


def _answered_call(app, linkedid, number, who, direction="inbound"):
    """A call stored as the daemon stores it, answered by ``who``; the inquiry rules run."""
    from pbx_daemon.crm.inquiries.apply import apply_answered

    with app.app_context():
        s = db_session(app)
        call = m.Call(linkedid=linkedid, direction=direction, started_at=T0, answered_at=T0,
                      outcome="answered", answered_by_id=app.people[who],
                      employee_id=app.people[who] if direction == "outbound" else None,
                      **({"callee": number} if direction == "outbound" else {"caller": number}))
        s.add(call)
        s.flush()
        apply_answered(s, call, T0)
        s.commit()
        return call.id


def test_an_answered_new_number_is_in_the_answerers_queue_and_spam_blocks_it(app):
    _answered_call(app, "n1", NEW_NUMBER, "anna")
    _answered_call(app, "n2", NEW_NUMBER, "anna")  # they call again: the same inquiry
    iid = inquiry_id(app, NEW_NUMBER)
    anna = login(app, "anna")
    queue = anna.get("/admin/queue/").get_data(as_text=True)
    assert queue.count(f'data-inquiry="{iid}"') == 1 and "8 (903) 555-00-77" in queue
    assert f'data-inquiry="{iid}"' not in login(app, "boris").get("/admin/queue/").get_data(as_text=True)
    assert 'data-class="spam"' in anna.get(f"/admin/card/inquiry/{iid}").get_data(as_text=True)
    anna.post(f"/admin/queue/{iid}/classify", data={"class": "spam", "csrf_token": csrf(anna)})
    with app.app_context():
        s = db_session(app)
        assert s.scalar(select(m.BlockedNumber).where(m.BlockedNumber.phone == NEW_NUMBER))
        assert s.get(m.Inquiry, iid).status == "closed"
        assert s.scalar(select(func.count(m.Inquiry.id)).where(m.Inquiry.phone == NEW_NUMBER)) == 1


def test_an_answered_new_number_classified_lead_takes_its_calls_to_the_lead(app):
    call_id = _answered_call(app, "n1", NEW_NUMBER, "anna")
    iid = inquiry_id(app, NEW_NUMBER)
    anna = login(app, "anna")
    r = anna.post(f"/admin/queue/{iid}/classify", data={"class": "lead", "open": "1",
                                                         "csrf_token": csrf(anna)})
    assert r.status_code == 302 and "/admin/card/lead/" in r.headers["Location"]
    with app.app_context():
        s = db_session(app)
        lead = s.scalar(select(m.Lead).where(m.Lead.inquiry_id == iid))
        assert (lead.phone, lead.responsible_id) == (NEW_NUMBER, app.people["anna"])
        assert s.get(m.Call, call_id).lead_id == lead.id


def test_an_outbound_call_to_an_unknown_number_offers_new_lead_on_its_row(app):
    call_id = _answered_call(app, "o1", NEW_NUMBER, "anna", direction="outbound")
    known = _answered_call(app, "o2", "+74951112233", "anna", direction="outbound")
    with app.app_context():  # the card links are another part's; here the call is linked
        s = db_session(app)
        s.get(m.Call, known).company_id = s.scalar(select(m.Company.id).join(m.CompanyPhone))
        s.commit()
        assert s.scalars(select(m.Inquiry).where(m.Inquiry.phone == NEW_NUMBER)).all() == []
    anna = login(app, "anna")
    page = anna.get("/admin/call/").get_data(as_text=True)
    assert page.count('class="badge badge-warning call-unknown"') == 1
    assert f'data-call="{call_id}"' in page and f'data-call="{known}"' not in page
    assert anna.post(f"/calls/{call_id}/new-lead").status_code == 400  # no CSRF token
    boris = login(app, "boris")
    assert boris.post(f"/calls/{call_id}/new-lead",
                      data={"csrf_token": csrf(boris)}).status_code == 403  # not his call
    r = anna.post(f"/calls/{call_id}/new-lead", data={"csrf_token": csrf(anna)})
    assert r.status_code == 302 and "/admin/card/lead/" in r.headers["Location"]
    with app.app_context():
        s = db_session(app)
        lead = s.scalar(select(m.Lead).where(m.Lead.phone == NEW_NUMBER))
        assert (lead.title, lead.status, lead.responsible_id) == (NEW_NUMBER, "new", app.people["anna"])
        assert s.get(m.Call, call_id).lead_id == lead.id
    assert "call-unknown" not in anna.get("/admin/call/").get_data(as_text=True)
    card = anna.get(r.headers["Location"]).get_data(as_text=True)
    assert "8 (903) 555-00-77" in card and 'id="convert"' in card
    # A second click (another tab): no second lead.
    r = anna.post(f"/calls/{call_id}/new-lead", data={"csrf_token": csrf(anna)})
    with app.app_context():
        assert db_session(app).scalar(select(func.count(m.Lead.id)).where(m.Lead.phone == NEW_NUMBER)) == 1


def test_new_lead_on_a_number_a_card_has_meanwhile_links_the_call_to_it(app):
    call_id = _answered_call(app, "o1", "+74951112233", "anna", direction="outbound")
    anna = login(app, "anna")
    r = anna.post(f"/calls/{call_id}/new-lead", data={"csrf_token": csrf(anna)})
    assert r.status_code == 302 and "/admin/card/company/" in r.headers["Location"]
    with app.app_context():
        s = db_session(app)
        assert s.get(m.Call, call_id).company_id is not None
        assert s.scalars(select(m.Lead)).all() == []

"""Issue 15, part D, in a real headless Chromium (Russian browser, 1280 px) against a real
admin server (no PBX lab): a manager's company with a typed phone, a head reassigning an
inquiry with its call-back, and the queue with 1,000 open inquiries (total, pages, a
classify click that updates its row without loading the page)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from pbx_daemon import db
from pbx_daemon.crm import models as m
from tests.integration.browser import chromium, login, running_admin, screenshot, wait

OPEN = 1000


@pytest.fixture
def database(tmp_path):
    url = f"sqlite:///{tmp_path}/pbx.sqlite3"
    db.upgrade(url)
    now = datetime.now(timezone.utc)
    with db.make_session_factory(db.make_engine(url))() as s:
        sales = m.Department(name="Продажи")
        s.add(sales)
        s.flush()
        people = {}
        for login_name, name, role in (("admin", "Администратор", "admin"), ("vera", "Вера Руководитель", "head"),
                                       ("anna", "Анна Смирнова", "manager"), ("boris", "Борис Петров", "manager")):
            people[login_name] = m.Employee(full_name=name, login=login_name, role=role,
                                            department_id=sales.id if role != "admin" else None,
                                            password_hash=generate_password_hash(f"{login_name}-Password-1"))
        s.add_all(people.values())
        s.flush()
        sales.head_id = people["vera"].id
        for n in range(OPEN):
            at = now - timedelta(minutes=n)
            s.add(m.Inquiry(channel="call", phone=f"+7903{n:07d}", status="open", department_id=sales.id,
                            missed_count=1, first_seen_at=at, last_seen_at=at))
        missed = m.Inquiry(channel="call", phone="+79160000001", name="Пётр Звонарёв", status="open",
                           department_id=sales.id, responsible_id=people["anna"].id, missed_count=2,
                           first_seen_at=now, last_seen_at=now + timedelta(minutes=1))
        s.add(missed)
        s.flush()
        s.add(m.Task(title="Перезвонить +79160000001", type="call", responsible_id=people["anna"].id,
                     deadline=now - timedelta(minutes=5), comment="пропущенный", inquiry_id=missed.id))
        s.commit()
        return url, {k: v.id for k, v in people.items()}, missed.id


def test_a_manager_creates_a_company_typing_the_phone_and_finds_it_on_their_list(tmp_path, database):
    url, people, _ = database
    with running_admin(tmp_path, url) as base, chromium() as driver:
        login(driver, base, "anna", "anna-Password-1")
        driver.get(f"{base}/admin/company/new/")
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ru"
        # The responsible is already Anna, and nobody else is offered.
        options = [o.get_attribute("value") for o in driver.find_elements(By.CSS_SELECTOR, "#responsible option")]
        assert str(people["anna"]) in options and str(people["boris"]) not in options
        assert Select(driver.find_element(By.ID, "responsible")).first_selected_option.get_attribute("value") \
            == str(people["anna"])
        driver.find_element(By.ID, "name").send_keys("ООО Ромашка")
        driver.find_element(By.ID, "phones-button").click()
        phone = wait(driver, lambda d: d.find_element(By.ID, "phones-0-phone"), 5, "the inline phone row")
        phone.send_keys("8 (916) 999-88-77")
        assert phone.get_attribute("value") == "8 (916) 999-88-77"  # not cut at 16 characters
        screenshot(driver, "work-manager-company-form")
        driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        wait(driver, lambda d: "/admin/company/" in d.current_url and "/new/" not in d.current_url, 10,
             "the company to be saved")
        table = driver.find_element(By.CSS_SELECTOR, "table.model-list").text
        assert "ООО Ромашка" in table and "8 (916) 999-88-77" in table
        link = driver.find_element(By.LINK_TEXT, "ООО Ромашка")
        assert "/admin/card/company/" in link.get_attribute("href")
        screenshot(driver, "work-manager-company-list")
        link.click()
        wait(driver, lambda d: "ООО Ромашка" in d.find_element(By.ID, "card-title").text, 5, "the card")
        screenshot(driver, "work-manager-company-card")


def test_a_head_reassigns_an_inquiry_and_the_call_back_follows(tmp_path, database):
    url, people, missed = database
    with running_admin(tmp_path, url) as base, chromium() as driver:
        login(driver, base, "vera", "vera-Password-1")
        screenshot(driver, "work-head-home")
        nav = driver.find_element(By.CSS_SELECTOR, "nav.navbar")
        assert nav.size["height"] < 70, nav.size  # one line at 1280 px
        driver.get(f"{base}/admin/card/inquiry/{missed}")
        Select(driver.find_element(By.ID, "reassign-to")).select_by_visible_text("Борис Петров")
        driver.find_element(By.CSS_SELECTOR, "#reassign button[type=submit]").click()
        wait(driver, lambda d: "Борис Петров" in d.find_element(By.CSS_SELECTOR, "dl").text, 10, "the new responsible")
        wait(driver, lambda d: "Борис Петров" in d.find_element(By.ID, "tasks").text, 5, "the task to follow")
        screenshot(driver, "work-head-reassigned-card")
    with db.make_session_factory(db.make_engine(url))() as s:
        assert s.get(m.Inquiry, missed).responsible_id == people["boris"]
        assert s.scalars(select(m.Task.responsible_id).where(m.Task.inquiry_id == missed)).all() == [people["boris"]]


def test_the_queue_of_a_thousand_shows_total_and_pages_and_classifies_in_place(tmp_path, database):
    url, people, missed = database
    with running_admin(tmp_path, url) as base, chromium() as driver:
        login(driver, base, "admin", "admin-Password-1")
        nav = driver.find_element(By.CSS_SELECTOR, "nav.navbar")
        assert nav.size["height"] < 70, nav.size
        screenshot(driver, "work-admin-home")
        driver.get(f"{base}/admin/queue/")
        assert f"из {OPEN + 1}" in driver.find_element(By.ID, "total").text
        assert driver.find_elements(By.LINK_TEXT, "21")  # the last page of 50
        driver.execute_script("window.__same_page = 1")
        row = driver.find_elements(By.CSS_SELECTOR, "tr[data-inquiry]")[1]
        row_id = row.get_attribute("data-inquiry")
        row.find_element(By.CSS_SELECTOR, "button[data-class=partner]").click()
        wait(driver, lambda d: "table-success" in d.find_element(
            By.CSS_SELECTOR, f"tr[data-inquiry='{row_id}']").get_attribute("class"), 5, "the row to update")
        assert driver.execute_script("return window.__same_page") == 1  # no page load
        assert "Партнёр" in driver.find_element(By.CSS_SELECTOR, f"tr[data-inquiry='{row_id}'] .q-class").text
        screenshot(driver, "work-queue-classified")
        driver.find_element(By.LINK_TEXT, "21").click()
        wait(driver, lambda d: f"1001–{OPEN + 1} из {OPEN + 1}" in d.find_element(By.ID, "total").text
             or f"из {OPEN}" in d.find_element(By.ID, "total").text, 5, "the last page")
    with db.make_session_factory(db.make_engine(url))() as s:
        assert s.get(m.Inquiry, int(row_id)).status == "closed"

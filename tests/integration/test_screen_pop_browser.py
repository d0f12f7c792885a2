"""The screen-pop page in a real headless Chromium against a real admin server and a
real Redis (no PBX): events show at once, names are text not markup, and a dead Redis
makes the page say it is reconnecting."""

from __future__ import annotations

import json
import time

import pytest
from selenium.webdriver.common.by import By
from werkzeug.security import generate_password_hash

from pbx_daemon import db
from pbx_daemon.crm import models as m
from tests.integration.browser import chromium, login, redis_answers, running_admin, screenshot, wait

REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture
def database(tmp_path):
    url = f"sqlite:///{tmp_path}/pbx.sqlite3"
    db.upgrade(url)
    with db.make_session_factory(db.make_engine(url))() as s:
        anna = m.Employee(full_name="Анна Смирнова", login="anna", role="manager", sip_endpoint="101",
                          password_hash=generate_password_hash("anna-Password-1"))
        s.add(anna)
        s.flush()
        s.add(m.Company(name="ООО Ромашка", responsible_id=anna.id, notes="Ключевой клиент",
                        phones=[m.CompanyPhone(phone="+79161234567")]))
        s.commit()
        return url, anna.id


def test_ringing_event_shows_the_card_and_names_are_text_not_markup(tmp_path, database):
    import redis

    redis_answers(REDIS)
    url, anna_id = database
    r = redis.Redis.from_url(REDIS)
    with running_admin(tmp_path, url) as base, chromium() as driver:
        login(driver, base, "anna", "anna-Password-1")
        driver.get(f"{base}/screen-pop")
        wait(driver, lambda d: d.find_element(By.ID, "status").get_attribute("class") == "ok", 10,
             "the stream to connect")
        hostile = '<img src=x onerror="window.__xss=1">'
        r.publish(f"pbxcrm:screenpop:{anna_id}", json.dumps(
            {"event": "ringing", "call_id": "t1", "at": time.time(), "employee_id": anna_id,
             "direction": "inbound", "phone": "+74950000009", "name": hostile, "card": None}))
        wait(driver, lambda d: d.find_element(By.ID, "caller-name").text == hostile, 5, "the name as text")
        wait(driver, lambda d: d.find_element(By.ID, "new-number").is_displayed(), 5, "'new number'")
        assert driver.execute_script("return window.__xss") is None
        r.publish(f"pbxcrm:screenpop:{anna_id}", json.dumps(
            {"event": "ringing", "call_id": "t2", "at": time.time(), "employee_id": anna_id,
             "direction": "inbound", "phone": "+79161234567", "name": "ООО Ромашка", "card": None}))
        wait(driver, lambda d: "Анна Смирнова" in d.find_element(By.ID, "card").text, 5, "the card")
        assert "Ключевой клиент" in driver.find_element(By.ID, "card").text
        # Another employee's channel never reaches this page.
        r.publish(f"pbxcrm:screenpop:{anna_id + 1}", json.dumps(
            {"event": "ringing", "call_id": "t3", "at": time.time(), "employee_id": anna_id + 1,
             "phone": "+74951111111", "name": "Чужой", "card": None}))
        time.sleep(0.5)
        assert driver.find_element(By.ID, "caller-name").text == "ООО Ромашка"
        screenshot(driver, "screen-pop-card")


def test_page_says_reconnecting_when_redis_is_down(tmp_path, database):
    url, _ = database
    with running_admin(tmp_path, url, redis_url="redis://127.0.0.1:6399/0") as base, chromium() as driver:
        login(driver, base, "anna", "anna-Password-1")
        driver.get(f"{base}/screen-pop")
        wait(driver, lambda d: d.find_element(By.ID, "status").get_attribute("class") == "bad"
             and "переподключение" in d.find_element(By.ID, "status").text, 10, "'reconnecting'")
        screenshot(driver, "screen-pop-reconnecting")

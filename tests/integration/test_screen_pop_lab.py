"""Screen-pop with a real call: a PSTN caller rings the lab PBX, the daemon routes it to
the client's manager and publishes on Redis, and the manager's page in headless Chromium
shows the caller's name before the lab phone answers."""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from pbx_daemon import db
from pbx_daemon.crm import models as m
from pbx_daemon.lab import Lab
from tests.integration.browser import chromium, login, redis_answers, running_admin, screenshot, wait
from tests.integration.conftest import running_daemon
from tests.integration.test_routing_lab import CLIENT, SALES_NUMBER, seed

pytestmark = pytest.mark.lab


def test_caller_name_shows_on_the_managers_page_before_the_phone_answers(lab: Lab, tmp_path):
    redis_answers()
    url = f"sqlite:///{tmp_path}/pbx.sqlite3"
    db.upgrade(url)
    seed(url)
    with db.make_session_factory(db.make_engine(url))() as s:
        anna = s.scalar(select(m.Employee).where(m.Employee.login == "anna"))
        anna.password_hash = generate_password_hash("anna-Password-1")
        s.commit()
    with running_daemon(lab, tmp_path, url), running_admin(tmp_path, url) as base, chromium() as driver:
        login(driver, base, "anna", "anna-Password-1")
        driver.get(f"{base}/screen-pop")
        wait(driver, lambda d: d.find_element(By.ID, "status").get_attribute("class") == "ok", 10,
             "the stream to connect")
        lab.wait_idle()
        lab.reset_behaviour()
        lab.set_phone("101", "answer:3:2")  # the manager picks up after 3 s of ringing
        start = time.time()
        lab.call(CLIENT, SALES_NUMBER, ring_timeout=20, hold=4)
        wait(driver, lambda d: d.find_element(By.ID, "caller-name").text == "ООО Ромашка", 10,
             "the caller's name on the page")
        shown_at = driver.execute_script(
            "return window.__pops.filter(function (p) { return p.event === 'ringing'; })[0].received") / 1000
        screenshot(driver, "screen-pop-lab-ringing")
        ring = lab.wait_for(lambda: next((r for r in lab.rings(start) if r.target == "101" and r.answered_at),
                                         None), 15, "the lab phone to answer")
        assert shown_at < ring.answered_at, (shown_at, ring.answered_at)
        assert shown_at - ring.rang_at < 1.0  # well before: within a second of the ring
        # After the call: the page offers the after-call forms, then the recording.
        wait(driver, lambda d: d.find_element(By.ID, "after").is_displayed(), 20, "the after-call forms")
        wait(driver, lambda d: d.find_element(By.ID, "recording").is_displayed(), 10, "the recording link")
        screenshot(driver, "screen-pop-lab-after-call")

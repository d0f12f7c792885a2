"""Browser notifications on an ordinary admin page (the tasks list) in a real headless
Chromium with the notification permission granted (CDP) and ``window.Notification``
wrapped to record what was shown (issue 18):

* a planned call's reminder appears at its time minus 15 minutes on the admin's clock (a
  test clock, advanced, not slept), not a second before, and once (not in a second tab,
  not again on reload);
* a ringing call published to Redis pops one notification (one tab of the browser listens)
  with the caller's card, and a click opens the card;
* the permission is offered once; "Not now" is remembered."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from werkzeug.security import generate_password_hash

from pbx_daemon import db
from pbx_daemon.crm import models as m
from tests.integration.browser import chromium, free_port, login, redis_answers, running_admin, screenshot, wait

REDIS = "redis://127.0.0.1:6379/0"
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)  # the planned call
MIN = timedelta(minutes=1)

# Runs before the page's scripts: every notification shown is recorded in window.__shown.
RECORD = """
(function () {
  var Real = window.Notification;
  window.__shown = [];
  function Recorded(title, options) {
    var n;
    try { n = new Real(title, options); } catch (e) { n = {close: function () {}}; }
    window.__shown.push({title: title, body: (options || {}).body, tag: (options || {}).tag, n: n});
    return n;
  }
  Object.defineProperty(Recorded, 'permission', {get: function () { return Real.permission; }});
  Recorded.requestPermission = function () { return Real.requestPermission.apply(Real, arguments); };
  window.Notification = Recorded;
})();
"""
SHOWN = "return (window.__shown || []).map(function (s) { return {title: s.title, body: s.body, tag: s.tag}; })"


class Clock:
    def __init__(self, at: datetime):
        self.now = at.timestamp()

    def seconds(self) -> float:
        return self.now


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
        s.add(m.Task(title="Позвонить в Ромашку", type="call", responsible_id=anna.id, deadline=T0,
                     remind_at=T0 - 15 * MIN, comment="обсудить КП"))
        s.commit()
        return url, anna.id


@contextlib.contextmanager
def admin_in_process(url: str, clock: Clock):
    """The admin's Flask app on ``clock`` behind werkzeug's threaded server (no stream:
    the reminders need only the pages and /notifications/due)."""
    from werkzeug.serving import make_server

    from admin.app import create_app
    from pbx_daemon.config import load_config

    port = free_port()
    config = load_config(None, {"PBX_CRM_DATABASE_URL": url, "PBX_CRM_ADMIN_SECRET_KEY": "s" * 40,
                                "PBX_CRM_ADMIN_PUBLIC_URL": f"http://127.0.0.1:{port}"})
    server = make_server("127.0.0.1", port, create_app(config, clock=clock), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(5)


def allow_and_record(driver, base: str) -> None:
    driver.execute_cdp_cmd("Browser.grantPermissions", {"origin": base, "permissions": ["notifications"]})
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD})


def open_tab(driver, url: str) -> str:
    """A second tab of the same browser on ``url`` (recording its notifications too)."""
    driver.switch_to.new_window("tab")
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD})
    driver.get(url)
    wait(driver, lambda d: d.execute_script("return !!window.pbxNotify"), 10, "notify.js in the new tab")
    return driver.current_window_handle


def poll_now(driver) -> list[dict]:
    """Ask /notifications/due now (as the page does every 30 s); what was shown by then."""
    driver.execute_async_script("var done = arguments[arguments.length - 1]; "
                                "window.pbxNotify.poll().then(function () { done(); });")
    return driver.execute_script(SHOWN)


def test_reminder_pops_at_planned_time_minus_15_minutes_on_the_admins_clock(tmp_path, database):
    url, _ = database
    clock = Clock(T0 - 16 * MIN)
    with admin_in_process(url, clock) as base, chromium() as driver:
        allow_and_record(driver, base)
        login(driver, base, "anna", "anna-Password-1")
        driver.get(f"{base}/admin/task/")
        wait(driver, lambda d: d.execute_script("return !!window.pbxNotify"), 10, "notify.js")
        assert driver.execute_script("return Notification.permission") == "granted"
        # Granted already: no "Enable notifications" banner.
        assert driver.execute_script("return document.getElementById('pbx-notify-offer')") is None
        assert poll_now(driver) == [], "16 minutes before the call: nothing yet"
        clock.now = (T0 - 15 * MIN - timedelta(seconds=1)).timestamp()
        assert poll_now(driver) == [], "one second early: nothing yet"
        first_tab = driver.current_window_handle
        second_tab = open_tab(driver, f"{base}/admin/")  # another admin page open meanwhile
        driver.switch_to.window(first_tab)
        clock.now = (T0 - 15 * MIN).timestamp()
        shown = poll_now(driver)
        assert len(shown) == 1, shown
        driver.switch_to.window(second_tab)
        assert poll_now(driver) == [], "the other tab does not show it again"
        driver.switch_to.window(first_tab)
        assert "12:00" in shown[0]["title"]  # the call's time, company time (Moscow)
        assert "Позвонить в Ромашку" in shown[0]["body"] and shown[0]["tag"].startswith("pbx-reminder-")
        wait(driver, lambda d: "Позвонить в Ромашку" in d.find_element("id", "pbx-notify-messages").text,
             5, "the message on the page")
        screenshot(driver, "notify-reminder")
        clock.now += 60
        assert len(poll_now(driver)) == 1, "the next poll does not show it again"
        driver.refresh()  # a new page load: remembered, not shown again
        wait(driver, lambda d: d.execute_script("return !!window.pbxNotify"), 10, "notify.js")
        assert poll_now(driver) == []


def test_a_ringing_call_pops_a_notification_with_the_card(tmp_path, database):
    import redis

    redis_answers(REDIS)
    url, anna_id = database
    with running_admin(tmp_path, url) as base, chromium() as driver:
        allow_and_record(driver, base)
        login(driver, base, "anna", "anna-Password-1")
        driver.get(f"{base}/admin/task/")
        wait(driver, lambda d: d.execute_script("return window.pbxNotify && window.pbxNotify.listening"), 10,
             "the page to listen to the screen-pop stream")
        listening_tab = driver.current_window_handle
        other_tab = open_tab(driver, f"{base}/admin/")
        time.sleep(1)
        assert not driver.execute_script("return window.pbxNotify.listening"), \
            "one tab of the browser listens, not each"
        driver.switch_to.window(listening_tab)
        r = redis.Redis.from_url(REDIS)
        r.publish(f"pbxcrm:screenpop:{anna_id}", json.dumps(
            {"event": "ringing", "call_id": "n1", "at": time.time(), "employee_id": anna_id,
             "direction": "inbound", "phone": "+79161234567", "name": "ООО Ромашка", "card": None}))
        wait(driver, lambda d: d.execute_script(SHOWN), 5, "the ringing notification")
        shown = driver.execute_script(SHOWN)
        assert len(shown) == 1 and shown[0]["title"] == "ООО Ромашка" and shown[0]["tag"] == "pbx-call-n1"
        assert "+79161234567" in shown[0]["body"] and "Анна Смирнова" in shown[0]["body"]
        # Another employee's call never reaches this page.
        r.publish(f"pbxcrm:screenpop:{anna_id + 1}", json.dumps(
            {"event": "ringing", "call_id": "n2", "at": time.time(), "employee_id": anna_id + 1,
             "direction": "inbound", "phone": "+74951111111", "name": "Чужой", "card": None}))
        time.sleep(0.5)
        assert len(driver.execute_script(SHOWN)) == 1
        driver.switch_to.window(other_tab)
        assert driver.execute_script(SHOWN) == []
        driver.switch_to.window(listening_tab)
        driver.execute_script("window.__shown[0].n.onclick()")  # the click opens the card
        wait(driver, lambda d: "/admin/card/" in d.current_url, 5, "the card to open")
        assert "ООО Ромашка" in driver.page_source


def test_permission_is_offered_once_and_not_now_is_remembered(tmp_path, database):
    url, _ = database
    with admin_in_process(url, Clock(T0 - 16 * MIN)) as base, chromium() as driver:
        login(driver, base, "anna", "anna-Password-1")
        driver.get(f"{base}/admin/task/")
        wait(driver, lambda d: d.execute_script("return !!window.pbxNotify"), 10, "notify.js")
        assert driver.execute_script("return Notification.permission") == "default"
        offer = wait(driver, lambda d: d.find_element("id", "pbx-notify-offer"), 5, "the offer")
        assert "Включить уведомления" in offer.text
        screenshot(driver, "notify-offer")
        driver.find_element("id", "pbx-notify-later").click()
        driver.get(f"{base}/admin/")  # another page, another load: never asked again
        wait(driver, lambda d: d.execute_script("return !!window.pbxNotify"), 10, "notify.js")
        assert driver.execute_script("return document.getElementById('pbx-notify-offer')") is None

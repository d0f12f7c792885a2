"""Issue 18, "Merging two contacts moves their calls and recordings; the card shows them
together", in a real headless Chromium (Russian browser) against a real admin server (no
PBX lab): the manager clicks "Объединить…" next to the duplicate, confirms, and the kept
card lists both calls with players whose recordings load."""

from __future__ import annotations

import wave
from datetime import datetime, timezone

import pytest
from selenium.webdriver.common.by import By
from werkzeug.security import generate_password_hash

from pbx_daemon import db
from pbx_daemon.crm import models as m
from tests.integration.browser import chromium, login, running_admin, screenshot, wait

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def database(tmp_path):
    url = f"sqlite:///{tmp_path}/pbx.sqlite3"
    db.upgrade(url)
    store = tmp_path / "recordings"
    store.mkdir()
    engine = db.make_engine(url)
    with db.make_session_factory(engine)() as s:
        anna = m.Employee(full_name="Анна Смирнова", login="anna", role="manager",
                          password_hash=generate_password_hash("anna-Password-1"))
        s.add(anna)
        s.flush()
        cards = [m.Contact(full_name="Пётр Петров", responsible_id=anna.id,
                           phones=[m.ContactPhone(phone="+79161234567")]),
                 m.Contact(full_name="Пётр Петров", responsible_id=anna.id,
                           phones=[m.ContactPhone(phone="+74951112233")])]
        s.add_all(cards)
        s.flush()
        for n, card in enumerate(cards):
            call = m.Call(linkedid=f"browser.{n}", direction="inbound", caller=card.phones[0].phone,
                          started_at=T0, outcome="answered", contact_id=card.id, answered_by_id=anna.id)
            s.add(call)
            s.flush()
            with wave.open(str(store / f"{call.linkedid}.wav"), "wb") as w:
                w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
                w.writeframes(b"\x01\x00" * 8000)
            s.add(m.Recording(call_id=call.id, path=f"{call.linkedid}.wav"))
        s.commit()
        ids = [c.id for c in cards]
    engine.dispose()
    return url, ids


def test_merging_two_contacts_in_the_browser_shows_both_calls_with_players(tmp_path, database):
    url, (kept, twin) = database
    with running_admin(tmp_path, url) as base, chromium() as driver:
        login(driver, base, "anna", "anna-Password-1")
        driver.get(f"{base}/admin/card/contact/{kept}")
        assert len(driver.find_elements(By.CSS_SELECTOR, "#calls audio")) == 1
        link = driver.find_element(By.CSS_SELECTOR, "#duplicates a.merge-link")
        assert link.text == "Объединить…"
        link.click()
        wait(driver, lambda d: d.find_element(By.ID, "merge-form"), 10, "the confirmation page")
        plan = driver.find_element(By.ID, "merge-plan").text
        assert "Звонки: 1" in plan, plan
        screenshot(driver, "merge-confirm")
        driver.find_element(By.CSS_SELECTOR, "#merge-form button[type=submit]").click()
        wait(driver, lambda d: d.current_url.endswith(f"/admin/card/contact/{kept}"), 10, "the kept card")
        assert "объединена с этой" in driver.find_element(By.CSS_SELECTOR, ".alert-success").text
        players = driver.find_elements(By.CSS_SELECTOR, "#calls audio")
        assert len(players) == 2
        # Each player's recording loads (the browser fetches it with the session).
        statuses = driver.execute_async_script(
            "var done = arguments[arguments.length - 1];"
            "Promise.all(Array.from(document.querySelectorAll('#calls audio')).map(function (a) {"
            "  return fetch(a.src, {credentials: 'same-origin'}).then(function (r) { return r.status; }); }))"
            ".then(done);")
        assert statuses == [200, 200]
        screenshot(driver, "merge-kept-card")
        driver.get(f"{base}/admin/card/contact/{twin}")
        assert "404" in driver.title or "не найден" in driver.page_source.lower() or \
            "not found" in driver.page_source.lower()

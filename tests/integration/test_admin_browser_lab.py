"""The admin in a real headless Chromium against the running daemon and the lab PBX:

* a manager opens an inquiry from a lab missed call and classifies it as Lead: the lead
  is created and linked; another as Spam: the next call from that number rings nobody;
* the lead converts into company + contact + deal; the deal is in "my deals" with its call;
* click-to-call from the card rings the manager's own lab phone first, then the client;
* an admin changes a department's step timeout and the next routed call follows it.

Screenshots of the main pages land in tests/artifacts/ for a reviewer.
"""

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
from tests.integration.conftest import TEST_API_PORT, TEST_API_TOKEN, running_daemon
from tests.integration.test_routing_lab import SALES_NUMBER, seed

pytestmark = pytest.mark.lab

LEAD_CALLER = "+79037770001"
SPAM_CALLER = "+79037770002"
UNKNOWN = "+79037770003"


def _session(url):
    return db.make_session_factory(db.make_engine(url))()


@pytest.fixture(scope="module")
def stack(lab: Lab, tmp_path_factory):
    redis_answers()
    tmp = tmp_path_factory.mktemp("admin-browser")
    url = f"sqlite:///{tmp}/pbx.sqlite3"
    db.upgrade(url)
    seed(url)
    with _session(url) as s:
        people = {e.login: e for e in s.scalars(select(m.Employee))}
        people["anna"].password_hash = generate_password_hash("anna-Password-1")
        s.add(m.Employee(full_name="Root", login="root", role="admin",
                         password_hash=generate_password_hash("root-Password-1")))
        sales = s.scalar(select(m.Department).where(m.Department.name == "Sales"))
        sales.duty_employee_id = people["anna"].id  # unknown callers' call-backs go to Anna
        s.commit()
    with running_daemon(lab, tmp, url, "[click_to_call]\nclient_timeout = 6\n"), \
            running_admin(tmp, url, api_port=TEST_API_PORT, api_token=TEST_API_TOKEN) as base, \
            chromium() as driver:
        yield lab, url, base, driver


def _wait_inquiry(lab, url, phone):
    def found():
        with _session(url) as s:
            return s.scalar(select(m.Inquiry.id).where(m.Inquiry.phone == phone))
    return lab.wait_for(found, 20, f"the inquiry from {phone}")


def test_manager_classifies_missed_calls_converts_the_lead_and_calls_back(stack):
    lab, url, base, driver = stack
    for caller in (LEAD_CALLER, SPAM_CALLER):  # two missed calls: nobody answers in 2 s
        lab.wait_idle()
        lab.reset_behaviour()
        lab.call(caller, SALES_NUMBER, ring_timeout=2, hold=1)
        _wait_inquiry(lab, url, caller)
    lead_inquiry = _wait_inquiry(lab, url, LEAD_CALLER)

    login(driver, base, "anna", "anna-Password-1")
    driver.get(f"{base}/admin/queue/")
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-phone="{LEAD_CALLER}"]'), 5, "the queue")
    screenshot(driver, "inquiries-queue")

    # Open the inquiry and classify it as Lead: the lead card opens, linked both ways.
    driver.get(f"{base}/admin/card/inquiry/{lead_inquiry}")
    driver.find_element(By.CSS_SELECTOR, 'button[data-class="lead"]').click()
    wait(driver, lambda d: "/admin/card/lead/" in d.current_url, 5, "the lead's card")
    assert driver.find_element(By.ID, "lead-status").text == "новый"
    assert driver.find_elements(By.CSS_SELECTOR, f'a[href="/admin/card/inquiry/{lead_inquiry}"]')
    with _session(url) as s:
        lead = s.scalar(select(m.Lead).where(m.Lead.inquiry_id == lead_inquiry))
        assert lead is not None and s.get(m.Inquiry, lead_inquiry).lead_id == lead.id

    # Spam from the queue: the next call from that number rings nobody.
    driver.get(f"{base}/admin/queue/")
    driver.find_element(By.CSS_SELECTOR, f'tr[data-phone="{SPAM_CALLER}"] button[data-class="spam"]').click()
    # Classified in place (no page load): the row shows its class and takes no more clicks.
    wait(driver, lambda d: "Спам" in d.find_element(By.CSS_SELECTOR, f'tr[data-phone="{SPAM_CALLER}"]').text
         and not d.find_elements(By.CSS_SELECTOR, f'tr[data-phone="{SPAM_CALLER}"] button[data-class]'), 5,
         "the spam inquiry to be classified in its row")
    driver.get(f"{base}/admin/queue/")  # and it has left the open queue
    assert not driver.find_elements(By.CSS_SELECTOR, f'tr[data-phone="{SPAM_CALLER}"]')
    lab.wait_idle()
    start = time.time()
    lab.call(SPAM_CALLER, SALES_NUMBER, ring_timeout=5, hold=1)
    time.sleep(4)
    assert [r for r in lab.rings(start) if r.caller_num == SPAM_CALLER] == []

    # Convert the lead: company + contact + deal, the deal in "my deals" with its call.
    driver.get(f"{base}/admin/card/lead/{lead.id}")
    driver.find_element(By.ID, "convert").click()
    wait(driver, lambda d: "/admin/card/deal/" in d.current_url, 5, "the deal's card")
    deal_id = int(driver.current_url.rstrip("/").split("/")[-1])
    driver.get(f"{base}/admin/my-deals/")
    row = driver.find_element(By.CSS_SELECTOR, f'#deals a[href="/admin/card/deal/{deal_id}"]').find_element(By.XPATH, "../..")
    assert row.find_elements(By.TAG_NAME, "td")[-1].text == "1"  # the missed call came along

    # Click-to-call from the deal's card: Anna's lab phone rings first, then the client.
    lab.wait_idle()
    lab.reset_behaviour()
    lab.set_phone("101", "answer:1")
    lab.set_client(LEAD_CALLER, "answer:1:3")
    driver.get(f"{base}/admin/card/deal/{deal_id}")
    start = time.time()
    driver.find_element(By.CSS_SELECTOR, f'button.c2c[data-number="{LEAD_CALLER}"]').click()
    wait(driver, lambda d: "text-success" in d.find_element(By.ID, "c2c-result").get_attribute("class"), 5,
         "'your phone is ringing'")
    rings = lab.wait_for(lambda: [r for r in lab.rings(start) if r.ended_at and r.kind == "pstn"]
                         and lab.rings(start), 30, "the call-back to end")
    assert [(r.kind, r.target) for r in rings] == [("phone", "101"), ("pstn", LEAD_CALLER)]

    def recorded():
        with _session(url) as s:
            call = s.scalar(select(m.Call).where(m.Call.deal_id == deal_id, m.Call.direction == "outbound"))
            return call if call is not None and call.recording is not None else None
    call = lab.wait_for(recorded, 10, "the call-back's recording on the deal")
    assert call.outcome == "answered" and call.employee_id == call.answered_by_id
    driver.get(f"{base}/admin/card/deal/{deal_id}")
    assert driver.find_elements(By.CSS_SELECTOR, f'audio[src="/calls/{call.id}/recording"]')
    screenshot(driver, "client-card-with-recording")
    with _session(url) as s:
        task = s.scalar(select(m.Task).where(m.Task.inquiry_id == lead_inquiry))
        assert task.status == "done"  # the call-back closed the missed call's task
    driver.get(f"{base}/admin/my-tasks/")
    screenshot(driver, "tasks")


def _step_gap(lab, caller):
    """Seconds between the group step's first ring and the head being added."""
    lab.wait_idle()
    lab.reset_behaviour()
    start = time.time()
    lab.call(caller, SALES_NUMBER, ring_timeout=12, hold=1)
    rings = lab.wait_for(lambda: (lambda rs: rs if any(r.target == "103" for r in rs) else None)(
        [r for r in lab.rings(start) if r.caller_num == caller]), 20, "the head to be added")
    first = min(r.rang_at for r in rings if r.target in ("101", "102"))
    head = min(r.rang_at for r in rings if r.target == "103")
    lab.wait_idle(30)
    return head - first


def test_admin_changes_a_step_timeout_and_the_next_call_follows_it(stack):
    lab, url, base, driver = stack
    before = _step_gap(lab, "+79037770011")
    driver.delete_all_cookies()
    login(driver, base, "root", "root-Password-1")
    with _session(url) as s:
        sales_id = s.scalar(select(m.Department.id).where(m.Department.name == "Sales"))
    driver.get(f"{base}/admin/department/edit/?id={sales_id}")
    field = driver.find_element(By.ID, "group_timeout")
    field.clear()
    field.send_keys("6")
    screenshot(driver, "department-timeouts")
    driver.find_element(By.CSS_SELECTOR, "input[type=submit][value]").click()
    wait(driver, lambda d: "/admin/department/" in d.current_url and "edit" not in d.current_url, 5, "saved")
    after = _step_gap(lab, "+79037770012")
    assert 1.5 <= before <= 3.5, before   # the seeded 2 s
    assert 5.5 <= after <= 7.5, after     # the 6 s just set, without restarting anything


def test_cold_call_operator_works_three_entries_and_only_the_interested_one_becomes_a_lead(stack):
    """Seed 000: no answer, call back tomorrow, interested -> lead, following a branching
    script; the list's calls and entries stay out of the inquiries and the funnel."""
    from datetime import datetime, timedelta

    from selenium.webdriver.support.ui import Select

    lab, url, base, driver = stack
    numbers = ["+79035550101", "+79035550102", "+79035550103"]
    with _session(url) as s:
        olga = m.Employee(full_name="Ольга Оператор", login="olga", role="cold_operator", sip_endpoint="108",
                          password_hash=generate_password_hash("olga-Password-1"))
        s.add(olga)
        s.flush()
        script = m.CallScript(name="Окна", body={"start": "q1", "nodes": {
            "q1": {"text": "Вам нужны новые окна?", "answers": [{"label": "Да", "next": "q2"}, {"label": "Нет"}]},
            "q2": {"text": "Сколько окон?", "answers": [{"label": "до 10"}, {"label": "больше 10"}]}}})
        s.add(script)
        s.flush()
        call_list = m.CallList(name="Холодный список", operators=[olga], script_id=script.id)
        s.add(call_list)
        s.flush()
        for i, number in enumerate(numbers):
            s.add(m.CallListEntry(call_list_id=call_list.id, position=i, phone=number, company_name=f"Фирма {i + 1}"))
        s.commit()
        list_id = call_list.id
    driver.delete_all_cookies()
    login(driver, base, "olga", "olga-Password-1")
    assert driver.execute_script("return fetch('/admin/company/').then(r => r.status)") == 403

    def work(disposition, *, callback=False, interested=False, call=False):
        driver.get(f"{base}/admin/workspace/")
        if driver.find_elements(By.ID, "take-next"):  # opening the page claims nothing
            driver.find_element(By.ID, "take-next").click()
        wait(driver, lambda d: d.find_elements(By.ID, "entry"), 5, "an entry")
        if call:
            lab.wait_idle()
            lab.reset_behaviour()
            lab.set_phone("108", "answer:1")
            lab.set_client(numbers[0], "ring")  # nobody picks up
            start = time.time()
            driver.find_element(By.ID, "call").click()
            rings = lab.wait_for(lambda: (lambda rs: rs if len(rs) == 2 and all(r.ended_at for r in rs) else None)(
                lab.rings(start)), 40, "the operator's phone, then the client's, to ring out")
            assert [(r.kind, r.target) for r in rings] == [("phone", "108"), ("pstn", numbers[0])]
        if interested:
            driver.find_element(By.CSS_SELECTOR, 'button[data-answer="Да"]').click()
            wait(driver, lambda d: d.find_element(By.ID, "script-text").text == "Сколько окон?", 3, "the next question")
            driver.find_element(By.CSS_SELECTOR, 'button[data-answer="больше 10"]').click()
            screenshot(driver, "operator-workspace")
        Select(driver.find_element(By.ID, "disposition")).select_by_value(disposition)
        if callback:
            tomorrow = (datetime.now() + timedelta(days=1)).replace(hour=11, minute=0)
            driver.execute_script("document.getElementById('callback_at').value = arguments[0]",
                                  tomorrow.strftime("%Y-%m-%dT%H:%M"))
        driver.find_element(By.ID, "comment").send_keys(f"итог: {disposition}")
        driver.find_element(By.ID, "save").click()
        wait(driver, lambda d: "/admin/workspace" in d.current_url, 5, "the next entry")

    work("no_answer", call=True)
    work("call_back_later", callback=True)
    work("lead", interested=True)
    wait(driver, lambda d: d.find_elements(By.ID, "no-entry"), 5, "the list to be worked through")
    with _session(url) as s:
        entries = s.scalars(select(m.CallListEntry).where(m.CallListEntry.call_list_id == list_id)
                            .order_by(m.CallListEntry.position)).all()
        assert [(e.disposition, e.status, e.lead_id is not None) for e in entries] == [
            ("no_answer", "done", False), ("call_back_later", "pending", False), ("lead", "done", True)]
        assert entries[2].answers == {"q1": "Да", "q2": "больше 10"}
        leads = s.scalars(select(m.Lead).where(m.Lead.phone.in_(numbers))).all()
        assert [lead.phone for lead in leads] == [numbers[2]]
        assert s.scalars(select(m.Inquiry).where(m.Inquiry.phone.in_(numbers))).all() == []
        assert s.scalars(select(m.Deal).where(m.Deal.lead_id.in_([lead.id for lead in leads]))).all() == []
        call = s.scalar(select(m.Call).where(m.Call.callee == numbers[0]))
        assert call.call_list_entry_id == entries[0].id and call.outcome == "no_answer"
        task = s.scalar(select(m.Task).where(m.Task.call_list_entry_id == entries[1].id))
        assert task.type == "call" and task.responsible_id == entries[1].assigned_operator_id

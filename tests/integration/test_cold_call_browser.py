"""The cold-call operator's workspace in a real headless Chromium against a real admin
server (no PBX): the list and its progress, the script stepping back, an empty knowledge-
base search, and "Лид" making the lead; then the owner's analytics page with totals."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from pbx_daemon import db
from pbx_daemon.crm import models as m
from tests.integration.browser import chromium, login, running_admin, screenshot, wait

SCRIPT = {"start": "q1", "nodes": {
    "q1": {"text": "Здравствуйте! Вам нужны пластиковые окна?", "answers": [
        {"label": "Да", "next": "q2"}, {"label": "Нет"}]},
    "q2": {"text": "Сколько окон в помещении?", "answers": [{"label": "До 10"}, {"label": "Больше 10"}]}}}


def _database(tmp_path):
    url = f"sqlite:///{tmp_path}/pbx.sqlite3"
    db.upgrade(url)
    with db.make_session_factory(db.make_engine(url))() as s:
        sales = m.Department(name="Продажи")
        s.add(sales)
        s.flush()
        head = m.Employee(full_name="Вера Руководитель", login="vera", role="head", department_id=sales.id,
                          password_hash=generate_password_hash("vera-Password-1"))
        olga = m.Employee(full_name="Ольга Операторова", login="olga", role="cold_operator",
                          password_hash=generate_password_hash("olga-Password-1"))
        owner = m.Employee(full_name="Иван Владелец", login="ivan", role="owner",
                           password_hash=generate_password_hash("ivan-Password-1"))
        s.add_all([head, olga, owner])
        s.flush()
        call_list = m.CallList(name="Рестораны Москвы", operators=[olga], created_by_id=head.id,
                               script=m.CallScript(name="Окна", body=SCRIPT))
        s.add(call_list)
        s.flush()
        for i, name in enumerate(("Кафе «Ромашка»", "Бар «Лютик»", "Столовая №5")):
            s.add(m.CallListEntry(call_list_id=call_list.id, position=i + 1, phone=f"+7916555000{i}",
                                  company_name=name, contact_name="Иван Петрович"))
        s.add(m.KbArticle(title="Цены", body="Окно ПВХ от 9 900 ₽", tags="прайс"))
        t = datetime.now(timezone.utc) - timedelta(hours=1)
        for n, (outcome, talk) in enumerate((("answered", 125), ("missed", 0), ("answered", 47))):
            s.add(m.Call(linkedid=f"b{n}", direction="inbound", outcome=outcome, caller=f"+7900111000{n}",
                         started_at=t + timedelta(minutes=n), department_id=sales.id,
                         answered_by_id=head.id if outcome == "answered" else None, talk_seconds=talk))
        s.commit()
    return url


def test_an_operator_works_an_entry_and_lead_creates_the_lead(tmp_path):
    url = _database(tmp_path)
    with running_admin(tmp_path, url) as base, chromium() as driver:
        login(driver, base, "olga", "olga-Password-1")
        driver.get(f"{base}/admin/workspace/")
        assert "Готово 0 из 3" in driver.find_element(By.ID, "my-lists").text
        driver.find_element(By.ID, "take-next").click()
        wait(driver, lambda d: d.find_elements(By.ID, "entry"), 5, "the claimed entry")
        assert driver.find_element(By.ID, "list-name").text == "Рестораны Москвы"
        assert "Готово 0 из 3, осталось на сегодня: 3" in driver.find_element(By.ID, "progress").text
        # The script: answer, step back, answer again.
        text = lambda d: d.find_element(By.ID, "script-text").text  # noqa: E731
        assert not driver.find_element(By.ID, "script-back").is_displayed()
        driver.find_element(By.CSS_SELECTOR, '#script-answers [data-answer="Да"]').click()
        assert text(driver) == "Сколько окон в помещении?"
        driver.find_element(By.ID, "script-back").click()
        assert text(driver) == "Здравствуйте! Вам нужны пластиковые окна?"
        assert driver.find_element(By.ID, "answers").get_attribute("value") == "{}"
        driver.find_element(By.CSS_SELECTOR, '#script-answers [data-answer="Да"]').click()
        driver.find_element(By.CSS_SELECTOR, '#script-answers [data-answer="Больше 10"]').click()
        # The knowledge base: nothing found says so, a hit shows the article.
        driver.find_element(By.ID, "kb-q").send_keys("вертолёт")
        wait(driver, lambda d: d.find_elements(By.ID, "kb-none"), 5, "the empty-search message")
        assert "ничего не найдено" in driver.find_element(By.ID, "kb-none").text
        driver.find_element(By.ID, "kb-q").clear()
        driver.find_element(By.ID, "kb-q").send_keys("прайс")
        wait(driver, lambda d: "9 900" in d.find_element(By.ID, "kb-results").text, 5, "the article")
        Select(driver.find_element(By.ID, "disposition")).select_by_visible_text("Лид")
        driver.find_element(By.ID, "comment").send_keys("Нужно 14 окон, смета к пятнице")
        screenshot(driver, "cold-call-workspace")
        driver.find_element(By.ID, "save").click()
        wait(driver, lambda d: "создан лид" in d.find_element(By.TAG_NAME, "body").text, 5, "the lead's message")
        assert "Готово 1 из 3" in driver.find_element(By.ID, "progress").text
        screenshot(driver, "cold-call-workspace-after-lead")
    with db.make_session_factory(db.make_engine(url))() as s:
        (lead,) = s.scalars(select(m.Lead)).all()
        assert (lead.phone, lead.company_name, lead.responsible.login) == ("+79165550000", "Кафе «Ромашка»", "vera")
        assert "Нужно 14 окон" in lead.notes and "q2: Больше 10" in lead.notes


def test_the_owners_analytics_page_and_daily_report_in_russian(tmp_path):
    url = _database(tmp_path)
    with running_admin(tmp_path, url) as base, chromium(height=1400) as driver:
        login(driver, base, "ivan", "ivan-Password-1")
        driver.get(f"{base}/admin/analytics/")
        wait(driver, lambda d: d.find_elements(By.ID, "lcr"), 5, "the analytics page")
        totals = driver.find_elements(By.CSS_SELECTOR, "#lcr tr.totals td")
        assert totals[0].text == "Итого" and totals[3].text == "33,3 %"
        screenshot(driver, "analytics-ru")
        driver.find_element(By.ID, "daily-report-link").click()
        wait(driver, lambda d: d.find_elements(By.ID, "pick-day"), 5, "the daily report")
        screenshot(driver, "daily-report-ru")

"""Each role's main pages in a real headless Chromium with a Russian browser, against a real
admin server on the demo data (no PBX, no Redis needed for these pages): each page is in
Russian with ``lang`` set by the pages that own it, errors are Russian pages with a way
back, and a screenshot of each lands in ``tests/artifacts/`` to be looked at."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from pbx_daemon import db
from pbx_daemon.lab import demo
from tests.integration.browser import chromium, login, running_admin, screenshot
from tests.unit.test_russian import english_words, visible_text

PASSWORD = "Demo-Password-1"
# login -> the pages of their day
DAYS = {
    "anna": ["/admin/", "/admin/my-tasks/", "/admin/company/", "/admin/call/", "/admin/inquiry/",
             "/admin/company/new/", "/admin/card/company/1", "/screen-pop", "/admin/employee/"],
    "vera": ["/admin/", "/admin/employee/", "/admin/deal/", "/admin/source-quality/", "/admin/analytics/",
             "/admin/task/"],
    "oleg": ["/admin/", "/admin/call/", "/admin/department/", "/admin/lead/"],
    "olga": ["/admin/", "/admin/workspace/", "/admin/calllistentry/", "/admin/company/"],
}


@pytest.fixture
def database(tmp_path):
    url = f"sqlite:///{tmp_path}/pbx.sqlite3"
    db.upgrade(url)
    with db.make_session_factory(db.make_engine(url))() as s:
        demo.seed(s, PASSWORD)
    return url


@pytest.mark.parametrize("who", sorted(DAYS))
def test_each_roles_main_pages_are_russian_in_a_russian_browser(tmp_path, database, who):
    found = {}
    with running_admin(tmp_path, database) as base, chromium() as driver:
        login(driver, base, who, PASSWORD)
        for path in DAYS[who]:
            driver.get(base + path)
            name = f"ru-{who}-{path.strip('/').replace('/', '-') or 'home'}"
            screenshot(driver, name)
            words = english_words(visible_text(driver.page_source))
            if words:
                found[path] = sorted(words)
            body = driver.find_element(By.TAG_NAME, "body").text
            assert "Forbidden" not in body and "Not Found" not in body, path
    assert found == {}

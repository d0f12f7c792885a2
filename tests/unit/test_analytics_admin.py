"""Analytics for a Russian office (issue 15, item 9): CSV that Russian Excel opens (BOM,
``;``, decimal comma, Russian headers, a totals row, formulas neutralised), numbers in the
page's language, totals rows, "no data" for empty tables, the daily report in the admin
for a chosen day, and heads kept to their department with a message when they ask for another."""

from __future__ import annotations

import html
from datetime import datetime, timedelta, timezone

import pytest
from pbx_daemon.crm import models as m
from tests.unit.helpers import admin_login, staffed_admin

T = datetime(2026, 11, 20, 7, 0, tzinfo=timezone.utc)  # 10:00 in Moscow, 20.11.2026
DAY = {"from": "2026-11-20", "to": "2026-11-20"}
PEOPLE = (("admin", "admin", None), ("ivan", "owner", None), ("vera", "head", "Sales"),
          ("hugo", "head", None), ("anna", "manager", "Sales"), ("dina", "manager", "Support"))


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('analytics')}/admin.sqlite3"
    with staffed_admin(url, PEOPLE) as (app, s, departments, people):
        n = iter(range(100))
        for who, outcome, talk in (("anna", "answered", 125), ("anna", "missed", 0), ("dina", "answered", 50)):
            e = people[who]
            s.add(m.Call(linkedid=f"c{next(n)}", direction="inbound", outcome=outcome, caller=f"+7900111000{next(n)}",
                         started_at=T + timedelta(minutes=next(n)), department_id=e.department_id,
                         answered_by_id=e.id if outcome == "answered" else None, talk_seconds=talk))
        source = m.Source(name='=HYPERLINK("http://evil.example","x")')
        s.add(source)
        s.flush()
        s.add(m.Inquiry(channel="web_form", email="a@example.com", source_id=source.id,
                        department_id=departments["Sales"].id, first_seen_at=T, last_seen_at=T))
        s.commit()
        app.departments = {n: d.id for n, d in departments.items()}
    return app


def csv_lines(client, kind, **args):
    response = client.get("/admin/analytics/", query_string={**DAY, "export": kind, **args})
    assert response.mimetype == "text/csv"
    return response.get_data()


def test_the_csv_is_for_russian_excel_bom_semicolons_decimal_commas_russian_headers_and_totals(app):
    body = csv_lines(admin_login(app, "ivan"), "employees")
    assert body.startswith(b"\xef\xbb\xbf")
    lines = body.decode("utf-8").lstrip("\ufeff").split("\r\n")
    assert lines[0].startswith("Сотрудник;Отдел;") and len(lines[0].split(";")) == 10
    assert lines[1] == "Anna;Sales;1;0;1;0;2,10;125,00;0;0,00"
    assert lines[2] == "Dina;Support;1;0;1;0;0,80;50,00;0;0,00"
    assert lines[3] == "Итого;;2;0;2;0;2,90;87,50;0;0,00"  # the average weighted by the answered calls
    departments = csv_lines(admin_login(app, "ivan"), "departments").decode("utf-8").split("\r\n")
    assert departments[0].split(";")[:5] == ["\ufeffОтдел", "Входящие", "Отвечено", "Пропущено", "Доля потерянных звонков, %"]
    assert departments[-2].startswith("Итого;3;2;1;33,33;")  # 1 missed of all 3 inbound, not a mean of rates


def test_the_csv_still_neutralises_formulas(app):
    lines = csv_lines(admin_login(app, "ivan"), "sources").decode("utf-8").split("\r\n")
    assert lines[1].startswith('"\'=HYPERLINK(""http://evil.example"",""x"")";1;0;0,00;')
    assert lines[2].startswith("Итого;1;")


@pytest.mark.parametrize("language, rate, minutes", [("ru", "33,3\u00a0%", "2,1"), ("en", "33.3\u00a0%", "2.1")])
def test_numbers_on_the_page_follow_its_language(app, language, rate, minutes):
    client = admin_login(app, "ivan")
    page = client.get("/admin/analytics/", query_string=DAY, headers={"Accept-Language": language}).get_data(as_text=True)
    total_lcr = page[page.index('id="lcr"'):].split('class="font-weight-bold totals"')[1].split("</tr>")[0]
    assert rate in total_lcr
    employees = page[page.index('id="employees"'):page.index('id="sources"')]
    assert f"<td>{minutes}</td>" in employees and ("Итого" if language == "ru" else "Total") in employees


def test_an_empty_period_says_no_data(app):
    page = admin_login(app, "ivan").get("/admin/analytics/", query_string={"from": "2026-10-01", "to": "2026-10-02"})
    text = page.get_data(as_text=True)
    assert text.count("Нет данных за период.") == 5 and "totals" not in text


def test_a_head_asking_for_another_department_is_told_and_sees_their_own(app):
    vera = admin_login(app, "vera")
    page = html.unescape(vera.get("/admin/analytics/", query_string={
        **DAY, "department": app.departments["Support"]}).get_data(as_text=True))
    assert "Вы видите только показатели своего отдела: «Support» — другой отдел." in page
    employees = page[page.index('id="employees"'):page.index('id="sources"')]
    assert "Anna" in employees and "Dina" not in employees
    own = html.unescape(vera.get("/admin/analytics/", query_string={
        **DAY, "department": app.departments["Sales"]}).get_data(as_text=True))
    assert "другой отдел" not in own
    assert "Все отделы" not in own  # a head is offered their department only


@pytest.mark.parametrize("who", ["admin", "ivan"])
def test_the_daily_report_for_a_chosen_day(app, who):
    page = html.unescape(admin_login(app, who).get("/admin/analytics/day", query_string={"day": "2026-11-20"})
                         .get_data(as_text=True))
    assert "Отчёт за 20.11.2026" in page
    assert "Доля потерянных звонков: 33,3\u00a0%" in page  # 1 missed of 3 inbound
    assert "Anna" in page and "Dina" in page and "Итого" in page
    assert "?day=2026-11-19" in page and "?day=2026-11-21" in page
    empty = html.unescape(admin_login(app, who).get("/admin/analytics/day", query_string={"day": "2026-10-01"})
                          .get_data(as_text=True))
    assert "Нет данных за этот день." in empty


def test_the_daily_report_is_scoped_per_role(app):
    vera = html.unescape(admin_login(app, "vera").get("/admin/analytics/day", query_string={
        "day": "2026-11-20", "department": app.departments["Support"]}).get_data(as_text=True))
    assert "Anna" in vera and "Dina" not in vera and "Доля потерянных звонков: 50,0\u00a0%" in vera
    assert "«Support» — другой отдел" in vera
    hugo = html.unescape(admin_login(app, "hugo").get("/admin/analytics/day", query_string={"day": "2026-11-20"})
                         .get_data(as_text=True))
    assert "руководитель без отдела" in hugo and "Anna" not in hugo
    for who in ("anna", "dina"):
        assert admin_login(app, who).get("/admin/analytics/day").status_code == 403


def test_the_daily_report_refuses_a_malformed_day(app):
    client = admin_login(app, "ivan")
    assert client.get("/admin/analytics/day", query_string={"day": "вчера"}).status_code == 400
    assert client.get("/admin/analytics/day", query_string={"day": "1900-01-01"}).status_code == 400
    assert client.get("/admin/analytics/day").status_code == 200  # yesterday

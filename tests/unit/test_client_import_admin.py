"""The admin's "Import clients" page: who may use it, the dry-run preview, the all-or-nothing
run, a head's department limits, the preset saved per source, and hostile uploads refused."""

from __future__ import annotations

import html
import io
import re

import pytest
from sqlalchemy import func, select

from pbx_daemon.crm import models as m
from tests.unit.helpers import admin_login, staffed_admin

PEOPLE = (("admin", "admin", None), ("owner", "owner", None), ("vera", "head", "Sales"),
          ("mark", "manager", "Sales"), ("olga", "manager", "Support"), ("oleg", "operator", "Sales"))


@pytest.fixture
def app(tmp_path):
    with staffed_admin(f"sqlite:///{tmp_path}/admin.sqlite3", PEOPLE,
                       {"PBX_CRM_GENERAL_DATA_DIR": str(tmp_path)}) as (app, s, _departments, _people):
        s.commit()
    return app


def token(page: str) -> str:
    return re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page).group(1)


def upload(client, data: bytes, name="clients.csv", source="1C"):
    page = client.get("/admin/import-clients/").get_data(as_text=True)
    return client.post("/admin/import-clients/", data={"csrf_token": token(page), "source": source,
                                                       "file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def run(client, location: str, **form):
    preview = client.get(location).get_data(as_text=True)
    tok = location.split("/preview/")[1].split("?")[0]
    fields = dict(re.findall(r'<select name="(map_\w+)" id="run-map_\w+"[^>]*>\s*(?:<option value="">—</option>)?\s*'
                             r'(?:<option value="\d+" >[^<]*</option>\s*)*<option value="(\d+)" selected', preview))
    data = {"csrf_token": token(preview), "mapped": "1", "source": "1C", "on_match": "update",
            "match": ["phone", "email", "inn", "name"], **fields, **form}
    return client.post(f"/admin/import-clients/run/{tok}", data=data)


CSV = ("Наименование;ИНН;Контактное лицо;Телефон;Ответственный\n"
       "ООО Ромашка;7701234567;Иванов Иван;8 916 123-45-67;mark\n"
       "ООО Лютик;;;8 916 123-45-68;\n").encode("utf-8")


def count(app, model):
    with app.app_context():
        return app.extensions["sqlalchemy"].session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("who,status", [("manager", 403), ("operator", 403)])
def test_managers_and_operators_get_403(app, who, status):
    client = admin_login(app, {"manager": "mark", "operator": "oleg"}[who])
    assert client.get("/admin/import-clients/").status_code == status


def test_the_menu_offers_the_page_to_admin_owner_and_head_only(app):
    for login, shown in (("admin", True), ("owner", True), ("vera", True), ("mark", False)):
        page = admin_login(app, login).get("/admin/").get_data(as_text=True)
        assert ("/admin/import-clients/" in page) is shown, login


def test_upload_preview_shows_every_rows_dry_run_then_the_import_writes(app):
    admin = admin_login(app, "admin")
    r = upload(admin, CSV)
    assert r.status_code == 302 and "/admin/import-clients/preview/" in r.headers["Location"]
    preview = html.unescape(admin.get(r.headers["Location"]).get_data(as_text=True))
    assert "2 строки: 2 создано" in preview and "контакт «Иванов Иван» — создано" in preview
    assert count(app, m.Company) == 0  # the preview writes nothing
    done = html.unescape(run(admin, r.headers["Location"]).get_data(as_text=True))
    assert "2 строки: 2 создано" in done and count(app, m.Company) == 2 and count(app, m.Contact) == 1
    with app.app_context():
        s = app.extensions["sqlalchemy"].session
        mark = s.scalar(select(m.Employee).where(m.Employee.login == "mark"))
        assert s.scalar(select(m.Contact.responsible_id)) == mark.id
        assert s.scalar(select(m.ImportPreset.mapping).where(m.ImportPreset.name == "1C"))["phone"] == ["Телефон"]


def test_a_row_in_error_blocks_the_whole_import(app):
    admin = admin_login(app, "admin")
    bad = CSV + "ООО Ошибка;;;8 916 123-45-69;nobody\n".encode("utf-8")
    r = upload(admin, bad)
    preview = html.unescape(admin.get(r.headers["Location"]).get_data(as_text=True))
    assert "1 ошибка" in preview and 'id="run-import" disabled' in preview
    page = html.unescape(run(admin, r.headers["Location"]).get_data(as_text=True))
    assert "Nothing was imported" in page or "Ничего не импортировано" in page
    assert count(app, m.Company) == 0 and count(app, m.Contact) == 0


def test_a_head_imports_only_with_their_departments_managers(app):
    vera = admin_login(app, "vera")
    r = upload(vera, CSV.replace(b";mark\n", b";olga\n"))
    preview = html.unescape(vera.get(r.headers["Location"]).get_data(as_text=True))
    assert "ответственный «olga» не из вашего отдела" in preview
    r = upload(vera, CSV)
    run(vera, r.headers["Location"])
    with app.app_context():
        s = app.extensions["sqlalchemy"].session
        sales = s.scalar(select(m.Department.id).where(m.Department.name == "Sales"))
        assert set(s.scalars(select(m.Company.department_id))) == {sales}


def test_the_next_file_from_the_source_starts_from_the_saved_columns(app):
    admin = admin_login(app, "admin")
    with app.app_context():
        s = app.extensions["sqlalchemy"].session
        s.add(m.ImportPreset(name="Склад", kind="clients", mapping={"company_name": ["Клиент"], "phone": ["Тел"]}))
        s.commit()
    r = upload(admin, "Тел;Клиент\n89161234567;ООО Ромашка\n".encode("utf-8"), source="Склад")
    preview = admin.get(r.headers["Location"]).get_data(as_text=True)
    assert re.search(r'id="map_company_name"[^>]*>.*?<option value="1" selected', preview, re.S)
    assert "1 создано" in html.unescape(preview)


def test_a_hostile_upload_is_refused_with_one_line(app):
    admin = admin_login(app, "admin")
    r = upload(admin, b"%PDF-1.4 not a table", name="clients.csv")
    assert r.status_code == 302 and r.headers["Location"].endswith("/admin/import-clients/")
    page = admin.get("/admin/import-clients/").get_data(as_text=True)
    assert "a PDF document, not a CSV or XLSX table" in page
    upload(admin, b"x" * (20 * 1024 * 1024 + 1))
    page = html.unescape(admin.get("/admin/import-clients/").get_data(as_text=True))
    assert "20 MB" in page or "20 МБ" in page
    assert count(app, m.Company) == 0


def test_the_upload_needs_the_csrf_token(app):
    admin = admin_login(app, "admin")
    r = admin.post("/admin/import-clients/", data={"file": (io.BytesIO(CSV), "c.csv")},
                   content_type="multipart/form-data")
    assert r.status_code in (400, 403) and count(app, m.Company) == 0


def test_every_hostile_upload_is_refused_in_one_line_and_nothing_is_kept(app, tmp_path):
    from markupsafe import escape

    from tests.hostile import CORPUS

    admin = admin_login(app, "admin")
    for case, (filename, build, words) in CORPUS.items():
        r = upload(admin, build(), name=filename)
        assert r.status_code == 302 and r.headers["Location"].endswith("/admin/import-clients/"), case
        assert str(escape(words)) in admin.get("/admin/import-clients/").get_data(as_text=True), case
    assert not list((tmp_path / "uploads").glob("*.upload"))
    assert count(app, m.Company) == 0


def test_the_status_filter_keeps_the_corrected_columns(app):
    admin = admin_login(app, "admin")
    r = upload(admin, "Клиент;Тел\nООО А;89161234567\nООО Б;нет\n".encode("utf-8"), source="")
    tok = r.headers["Location"].split("/preview/")[1].split("?")[0]
    page = html.unescape(admin.get(f"/admin/import-clients/preview/{tok}?mapped=1&map_company_name=0&map_phone=1"
                                   "&match=phone&on_match=update").get_data(as_text=True))
    assert "2 строки: 1 создано, 1 ошибка" in page
    link = re.search(r'href="([^"]*status=error[^"]*)"', page).group(1)
    assert "map_company_name=0" in link and "map_phone=1" in link
    errors = html.unescape(admin.get(link).get_data(as_text=True))
    assert "неверный номер «нет»" in errors and "ООО А" not in errors.split('id="rows"')[1].split("</table>")[0]


# ---- the kept dry run -------------------------------------------------------------------
MIXED = ("Наименование;ИНН;Телефон\n"
         "ООО Новая 1;;8 916 111-11-01\n"
         "ООО Старая;7701234567;8 916 222-22-22\n"  # found by INN, gets the phone: update
         "ООО Плохая 1;;нет\n"
         "ООО Старая;7701234567;\n"  # found again, nothing new: skip
         "ООО Новая 2;;8 916 111-11-02\n"
         "ООО Плохая 2;;тоже нет\n"
         "ООО Новая 3;;8 916 111-11-03\n").encode("utf-8")
START = 1_800_000_000.0  # the admin's clock: 2027-01-15 08:00 UTC


@pytest.fixture
def clocked(tmp_path):
    """(app, clock): the admin's clock a Clock the test advances; "ООО Старая" stored."""
    from twisted.internet.task import Clock

    clock = Clock()
    clock.advance(START)
    with staffed_admin(f"sqlite:///{tmp_path}/admin.sqlite3", PEOPLE,
                       {"PBX_CRM_GENERAL_DATA_DIR": str(tmp_path)}, clock=clock) as (app, s, _departments, _people):
        s.add(m.Company(name="ООО Старая", name_key="ооо старая", tax_id="7701234567"))
        s.commit()
    return app, clock


@pytest.fixture
def calls(monkeypatch):
    """How many times a preview read the kept table and made the dry run."""
    import admin.client_import_view as view
    from admin.import_view import ImportView

    counted = {"read": 0, "dry run": 0, "sandbox": 0}

    def counting(name, f):
        def wrapper(*args, **kwargs):
            counted[name] += 1
            return f(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(view.ClientImportView, "_kept", counting("read", ImportView._kept))
    monkeypatch.setattr(view, "import_clients", counting("dry run", view.import_clients))
    import admin.import_view
    monkeypatch.setattr(admin.import_view, "read_table", counting("sandbox", admin.import_view.read_table))
    return counted


def shown_rows(page: str) -> list[tuple[str, ...]]:
    """The report table's rows: (line, company, contact, result)."""
    table = html.unescape(page).split('id="rows"')[1].split("</table>")[0]
    return [tuple(c.strip() for c in re.findall(r"<td>(.*?)</td>", tr, re.S))
            for tr in re.findall(r"<tr class=[^>]*>(.*?)</tr>", table, re.S)]


def expected_rows(app, status="") -> list[tuple[str, ...]]:
    """What the dry run decides for MIXED, straight from the rules (no page, no kept file)."""
    from pbx_daemon.crm.client_import import guess_mapping
    from pbx_daemon.crm.client_import_sql import import_clients

    headers, *rows = [line.split(";") for line in MIXED.decode().splitlines()]
    with app.app_context():
        plan = import_clients(app.extensions["sqlalchemy"].session, rows, guess_mapping(headers), dry_run=True).plan
    return [(str(r.line), r.company, r.contact, r.message) for r in plan.rows if not status or r.status == status]


def test_pages_and_status_filters_read_the_kept_dry_run(clocked, calls, monkeypatch):
    """The dry run is made once; every page and filter after it shows the same rows as
    the rules decide, without reading the table or deciding again."""
    import admin.client_import_view as view

    monkeypatch.setattr(view, "PAGE", 2)
    app, _clock = clocked
    admin = admin_login(app, "admin")
    location = upload(admin, MIXED, source="").headers["Location"]
    assert calls == {"read": 0, "dry run": 0, "sandbox": 1}  # the upload's read
    first = admin.get(location).get_data(as_text=True)
    assert calls == {"read": 1, "dry run": 1, "sandbox": 1}
    assert "7 строк: 3 создано, 1 обновлено, 1 пропущено, 2 ошибка" in html.unescape(first)
    every = expected_rows(app)
    assert {r[3].split(":")[0] for r in every} == {"создано", "обновлено", "пропущено", "ошибка"}
    assert shown_rows(first) == every[:2]
    pages = [shown_rows(admin.get(f"{location}&page={p}").get_data(as_text=True)) for p in range(5)]
    assert sum(pages, []) == every and pages[3] == every[6:] and pages[4] == []
    for status in ("create", "update", "skip", "error"):
        got = []
        for p in range(2):
            got += shown_rows(admin.get(f"{location}&status={status}&page={p}").get_data(as_text=True))
        assert got == expected_rows(app, status), status
    assert calls == {"read": 1, "dry run": 1, "sandbox": 1}
    page = html.unescape(admin.get(f"{location}&status=error").get_data(as_text=True))
    assert "2027-01-15" in page and 'id="run-import" disabled' in page and "ошибки (2)" in page


def test_other_columns_or_options_or_check_again_decide_again(clocked, calls):
    app, _clock = clocked
    admin = admin_login(app, "admin")
    tok = upload(admin, MIXED, source="").headers["Location"].split("/preview/")[1].split("?")[0]
    base = f"/admin/import-clients/preview/{tok}?mapped=1&map_company_name=0&map_tax_id=1&map_phone=2&match=inn"
    assert "3 создано, 1 обновлено" in html.unescape(admin.get(base).get_data(as_text=True))
    admin.get(base + "&status=create")
    assert calls["dry run"] == 1
    without_phone = html.unescape(admin.get(base.replace("&map_phone=2", "")).get_data(as_text=True))
    assert calls["dry run"] == 2 and "7 строк: 5 создано, 2 пропущено" in without_phone
    admin.get(base + "&on_match=skip")
    assert calls["dry run"] == 3
    admin.get(base + "&page=1")  # the first mapping's dry run is still kept
    assert calls["dry run"] == 3
    admin.get(base + "&fresh=1")  # "Check again"
    assert calls["dry run"] == 4


def checked_at(app, seconds: float) -> str:
    """The page's "checked at" time for the admin's clock at ``seconds``."""
    from datetime import datetime, timezone

    from admin.times import company_time

    with app.app_context():
        return company_time(datetime.fromtimestamp(seconds, timezone.utc), "%Y-%m-%d %H:%M:%S")


def test_a_kept_dry_run_is_shown_for_ten_minutes_on_the_admins_clock(clocked, calls):
    app, clock = clocked
    admin = admin_login(app, "admin")
    location = upload(admin, MIXED, source="").headers["Location"]
    admin.get(location)
    clock.advance(599)
    assert checked_at(app, START) in admin.get(f"{location}&status=error").get_data(as_text=True)
    assert calls["dry run"] == 1
    clock.advance(2)
    page = admin.get(f"{location}&status=error").get_data(as_text=True)
    assert calls["dry run"] == 2 and checked_at(app, START + 601) in page
    assert checked_at(app, START + 601) in admin.get(location).get_data(as_text=True) and calls["dry run"] == 2


def test_the_import_decides_every_row_again_not_from_the_kept_dry_run(clocked, tmp_path):
    app, _clock = clocked
    admin = admin_login(app, "admin")
    location = upload(admin, "Наименование;Телефон\nООО Поздняя;8 916 333-33-33\n".encode("utf-8"),
                      source="").headers["Location"]
    assert "1 создано" in html.unescape(admin.get(location).get_data(as_text=True))
    with app.app_context():  # meanwhile someone stores the company
        s = app.extensions["sqlalchemy"].session
        s.add(m.Company(name="ООО Поздняя", name_key="ооо поздняя"))
        s.commit()
    done = html.unescape(run(admin, location).get_data(as_text=True))
    assert "1 строка: 1 обновлено" in done and count(app, m.Company) == 2  # with "ООО Старая"
    tok = location.split("/preview/")[1].split("?")[0]
    assert list((tmp_path / "uploads").glob(f"{tok}.*")) == []


@pytest.mark.parametrize("other", ["owner", "vera"])
def test_another_users_upload_id_is_a_404(clocked, other):
    """The upload and its kept dry run are the uploader's: the id opens nothing for
    another admin, the owner or a head (before and after the dry run was kept)."""
    app, _clock = clocked
    admin = admin_login(app, "admin")
    location = upload(admin, MIXED, source="").headers["Location"]
    intruder = admin_login(app, other)
    assert intruder.get(location).status_code == 404  # nothing kept yet
    assert admin.get(location).status_code == 200
    assert intruder.get(location).status_code == 404
    assert intruder.get(f"{location}&status=error&page=0").status_code == 404
    page = intruder.get("/admin/import-clients/").get_data(as_text=True)
    tok = location.split("/preview/")[1].split("?")[0]
    assert intruder.post(f"/admin/import-clients/run/{tok}", data={"csrf_token": token(page), "mapped": "1",
                                                                    "map_company_name": "0"}).status_code == 404
    assert count(app, m.Company) == 1


def test_a_successful_import_removes_the_upload_and_its_kept_dry_runs(app, tmp_path):
    admin = admin_login(app, "admin")
    r = upload(admin, CSV)
    admin.get(r.headers["Location"])
    admin.get(r.headers["Location"] + "&status=create")
    tok = r.headers["Location"].split("/preview/")[1].split("?")[0]
    assert len(list((tmp_path / "uploads").glob(f"{tok}.preview.*"))) == 3  # an entry, its rows, its index
    run(admin, r.headers["Location"])
    assert list((tmp_path / "uploads").glob(f"{tok}.*")) == []


def test_an_abandoned_upload_and_its_kept_dry_runs_go_at_an_upload_a_day_later(app, tmp_path):
    import os
    import time

    admin = admin_login(app, "admin")
    first = upload(admin, CSV).headers["Location"]
    admin.get(first)  # previewed, never imported
    tok = first.split("/preview/")[1].split("?")[0]
    left = list((tmp_path / "uploads").glob(f"{tok}.*"))
    assert len(left) >= 4  # the table, its head, an entry with its rows and index
    day_ago = time.time() - 24 * 3600 - 60
    for path in left[1:]:
        os.utime(path, (day_ago, day_ago))
    upload(admin, CSV)  # the next upload sweeps what is older than a day
    assert list((tmp_path / "uploads").glob(f"{tok}.*")) == left[:1]

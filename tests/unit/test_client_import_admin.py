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

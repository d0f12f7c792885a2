"""Call-list import on in-memory SQLite: cp1251 CSV with Russian headers, XLSX, extensions,
per-row reasons, all-or-nothing, and a second import that adds nothing and says so."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from pbx_daemon.crm import models as m
from pbx_daemon.crm.importer import ImportError_, guess_mapping, import_call_list, read_table
from tests.unit.helpers import memory_session

CSV_RU = ("Компания;ФИО;Телефон;E-mail\n"
          "ООО Окна;Иванов Иван;8 (916) 111-22-33;ivan@okna.ru\n"
          "ООО Двери;Петров Пётр;+7 495 123-45-67, доб. 12;\n"
          "ООО Окна (дубль);Иванов;+79161112233;\n"
          "Без телефона;Сидоров;звоните в офис;\n"
          "Наш клиент;Клиентов;8 903 000-00-01;\n"
          "Спамер;Спамов;+7 999 000-00-02;\n").encode("cp1251")


@pytest.fixture
def s():
    with memory_session() as session:
        session.add(m.Company(name="Клиент", phones=[m.CompanyPhone(phone="+79030000001")]))
        session.add(m.BlockedNumber(phone="+79990000002", reason="spam"))
        session.commit()
        yield session


def test_guesses_russian_and_english_headers():
    assert guess_mapping(["Компания", "ФИО", "Телефон", "E-mail"]) == \
        {"company_name": 0, "contact_name": 1, "phone": 2, "email": 3}
    assert guess_mapping(["Name", "Phone number", "Company", "Email"]) == \
        {"contact_name": 0, "phone": 1, "company_name": 2, "email": 3}
    assert guess_mapping(["Организация", "Контактное лицо", "Моб. телефон"])["company_name"] == 0


def test_cp1251_csv_with_russian_headers_imports_without_manual_help(s):
    report = import_call_list(s, "list.csv", data=CSV_RU, list_name="Окна")
    assert [(r.line, r.status) for r in report.rows] == [
        (2, "ok"), (3, "ok"), (4, "duplicate_in_file"), (5, "no_phone"), (6, "client"), (7, "blocklisted")]
    entries = s.scalars(select(m.CallListEntry).order_by(m.CallListEntry.position)).all()
    assert [(e.company_name, e.contact_name, e.phone, e.phone_ext, e.email) for e in entries] == [
        ("ООО Окна", "Иванов Иван", "+79161112233", "", "ivan@okna.ru"),
        ("ООО Двери", "Петров Пётр", "+74951234567", "12", None)]  # "доб. 12" keeps the extension
    assert "letters" in report.rows[3].message
    assert report.csv().splitlines()[0] == "\ufeffСтрока;Телефон;Доб.;Итог"


def test_importing_the_same_file_twice_adds_nothing_and_says_so(s):
    import_call_list(s, "list.csv", data=CSV_RU, list_name="Окна")
    again = import_call_list(s, "list.csv", data=CSV_RU, list_name="Окна")
    assert again.added == 0 and "импортировано раньше" in again.summary()
    assert len(s.scalars(select(m.CallListEntry)).all()) == 2


def test_xlsx_with_numbers_as_numbers(s):
    book = Workbook()
    sheet = book.active
    sheet.append(["Phone", "Company", "Name"])
    sheet.append([79161234567, "Acme", "John"])
    sheet.append(["8 (916) 765-43-21", "Beta", None])
    buf = io.BytesIO()
    book.save(buf)
    report = import_call_list(s, "list.xlsx", data=buf.getvalue(), list_name="X")
    assert report.added == 2
    assert {e.phone for e in s.scalars(select(m.CallListEntry))} == {"+79161234567", "+79167654321"}


def test_dry_run_adds_nothing_and_a_mapping_override_is_checked(s):
    report = import_call_list(s, "list.csv", data=CSV_RU, list_name="Окна", dry_run=True)
    assert report.count("ok") == 2 and s.scalars(select(m.CallListEntry)).all() == []
    with pytest.raises(ImportError_) as e:
        import_call_list(s, "list.csv", data=CSV_RU, list_name="Окна", overrides={"phone": "Мобильный"})
    assert "no column" in str(e.value)


@pytest.mark.parametrize("data,words", [(b"", "no rows"), (b"Name;City\nx;y\n", "no phone column"),
                                        (b"PK\x03\x04garbage", "XLSX")])
def test_unreadable_or_unmappable_files_say_why(s, data, words):
    with pytest.raises(ImportError_) as e:
        import_call_list(s, "f.csv", data=data, list_name="L")
    assert words in str(e.value)


def test_tab_and_comma_delimited_utf8(s):
    for text in ("Телефон\tИмя\n+79161112233\tА\n", "phone,name\n\"+7 916 111-22-34\",B\n"):
        headers, rows = read_table("x.csv", text.encode("utf-8-sig"))
        assert len(headers) == 2 and len(rows) == 1


def test_the_header_line_decides_the_delimiter_even_with_tabs_and_line_breaks_in_cells():
    from pbx_daemon.crm.import_limits import LIMITS
    from pbx_daemon.crm.tables import _csv_rows as rows

    def _csv_rows(text):
        return list(rows(text, LIMITS))

    text = 'Компания;Телефон\n"ООО\tТаб";8 916 111-22-33\n"Две\nстроки";+7 916 111-22-34\n'
    assert _csv_rows(text) == [["Компания", "Телефон"], ["ООО\tТаб", "8 916 111-22-33"],
                               ["Две\nстроки", "+7 916 111-22-34"]]
    assert _csv_rows("Phone\n+79161112233\n") == [["Phone"], ["+79161112233"]]  # one column
    assert _csv_rows("a|b|c\n1|2|3\n")[1] == ["1", "2", "3"]

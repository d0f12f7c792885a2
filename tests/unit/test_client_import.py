"""Client-base import (issue 18): the mapping guess per exporting system, row parsing, the
per-row decision table, the apply step on SQLite, all or nothing, presets and the CLI."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from pbx_daemon.crm import models as m
from pbx_daemon.crm.client_import import (
    Card,
    ClientRow,
    Known,
    Person,
    PhoneReader,
    Policy,
    Scope,
    decide_rows,
    guess_mapping,
    mapping_from_names,
    mapping_to_names,
    parse_row,
)
from pbx_daemon.crm.client_import_sql import import_clients, load_preset, save_preset
from pbx_daemon.crm.phones import normalize
from tests.unit.helpers import memory_session

# ---- mapping guess: headers as each system exports them ---------------------------------
GUESSES = [
    ("1C counterparties",
     ["Наименование", "ИНН", "КПП", "Телефон", "Адрес электронной почты", "Основной менеджер", "Комментарий",
      "Почтовый адрес"],
     {"company_name": [0], "tax_id": [1], "phone": [3], "email": [4], "responsible": [5], "notes": [6]}),
    ("1C with a contact person",
     ["Наименование", "ИНН", "Контактное лицо", "Телефон", "Эл. почта", "Ответственный", "Подразделение"],
     {"company_name": [0], "tax_id": [1], "contact_name": [2], "phone": [3], "email": [4], "responsible": [5],
      "department": [6]}),
    ("Bitrix24 companies",
     ["ID", "Название компании", "Рабочий телефон", "Мобильный телефон", "Рабочий e-mail", "Ответственный",
      "Комментарий", "Факс"],
     {"company_name": [1], "phone": [2, 3], "email": [4], "responsible": [5], "notes": [6]}),
    ("Bitrix24 contacts (name in parts)",
     ["Фамилия", "Имя", "Отчество", "Должность", "Компания", "Рабочий телефон", "Домашний телефон",
      "Частный e-mail", "Ответственный"],
     {"last_name": [0], "first_name": [1], "middle_name": [2], "position": [3], "company_name": [4],
      "phone": [5, 6], "email": [7], "responsible": [8]}),
    ("amoCRM contacts",
     ["ID", "Полное имя", "Компания", "Рабочий телефон", "Мобильный телефон", "Рабочий email", "Ответственный",
      "Примечание"],
     {"contact_name": [1], "company_name": [2], "phone": [3, 4], "email": [5], "responsible": [6], "notes": [7]}),
    ("amoCRM companies",
     ["Название", "Рабочий телефон", "Рабочий email", "Ответственный", "Web"],
     {"company_name": [0], "phone": [1], "email": [2], "responsible": [3]}),
    ("English Excel sheet",
     ["Company", "Contact name", "Phone", "Mobile", "E-mail", "Manager", "Notes", "INN"],
     {"company_name": [0], "contact_name": [1], "phone": [2, 3], "email": [4], "responsible": [5], "notes": [6],
      "tax_id": [7]}),
]


@pytest.mark.parametrize("system,headers,expected", GUESSES, ids=[g[0] for g in GUESSES])
def test_the_mapping_is_guessed_from_each_systems_headers(system, headers, expected):
    assert guess_mapping(headers) == expected


def test_a_preset_maps_by_header_name_even_when_the_columns_move():
    saved = mapping_to_names(["Клиент", "Тел1", "Тел2"], {"company_name": [0], "phone": [1, 2]})
    assert saved == {"company_name": ["Клиент"], "phone": ["Тел1", "Тел2"]}
    # The next file has the columns in another order, and one more the guess recognises.
    assert mapping_from_names(["Тел2", "ИНН", "Клиент", "Тел1"], saved) == {
        "company_name": [2], "phone": [3, 0], "tax_id": [1]}


# ---- parsing one row --------------------------------------------------------------------
MAP = {"company_name": [0], "contact_name": [1], "phone": [2, 3], "email": [4], "tax_id": [5], "responsible": [6]}


def row(*cells, line=2):
    return parse_row(line, list(cells), MAP)


def test_several_numbers_and_addresses_in_a_cell_are_split_and_an_extension_kept():
    r = row("ООО Ромашка", "", "8 916 123-45-67; +7 (495) 111-22-33, доб. 12\n8 916 123-45-67", "79161234568",
            "A@X.RU, b@x.ru;a@x.ru", " 7701234567 ")
    assert r.phones == (("+79161234567", ""), ("+74951112233", "12"), ("+79161234568", ""))
    assert r.emails == ("a@x.ru", "b@x.ru")
    assert r.tax_id == "7701234567" and r.errors == ()


@pytest.mark.parametrize("cells,error", [
    (("ООО", "", "нет телефона", "", "", ""), "неверный номер «нет телефона»"),
    (("ООО", "", "", "", "почта@", ""), "неверный e-mail «почта@»"),
    (("ООО", "", "", "", "", "12345"), "ИНН «12345» не из 10 или 12 цифр"),
])
def test_a_value_that_does_not_parse_is_an_error_of_the_row_never_dropped(cells, error):
    assert any(error in e for e in row(*cells).errors)


def test_an_inn_excel_kept_as_a_number_gets_its_leading_zero_back():
    assert row("ООО", "", "", "", "", "105012345").tax_id == "0105012345"


@pytest.mark.parametrize("raw", ["8 (916) 123-45-67", "+7 916 123 45 67", "79161234567", "8 495 111-22-33 доб. 7",
                                 "8 (800) 555-35-35", "+44 20 7946 0958", "8 (000) 123-45-67", "916 123 45 67"])
def test_the_phone_shortcut_reads_every_number_as_normalize_does(raw):
    reader = PhoneReader()
    for attempt in range(2):  # the second time through the shortcut
        try:
            expected = normalize(raw)
            assert reader(raw) == (expected.e164, expected.ext or "")
        except ValueError:
            with pytest.raises(ValueError):
                reader(raw)


# ---- the decision table -----------------------------------------------------------------
IVAN = Person(1, "ivanov", "Иванов Иван", "ivanov@firm.ru", 10)
OLGA = Person(2, "olga", "Ольга Смирнова", None, 20)
GONE = Person(3, "gone", "Уволенный Сотрудник", None, 10, active=False)
TWINS = (Person(4, "petrov1", "Петров Пётр", None, 10), Person(5, "petrov2", "Петров Пётр", None, 20))
ROMASHKA = Card(("company", 7), "ООО Ромашка", 1, 10, phones=frozenset({("+74951112233", "")}), tax_id="7701234567")
ANNA = Card(("contact", 8), "Анна Белова", 2, company_key=("company", 7), phones=frozenset({("+79160000008", "")}))
KNOWN = Known(companies={7: ROMASHKA}, contacts={8: ANNA}, company_by_phone={"+74951112233": (7,)},
              contact_by_phone={"+79160000008": (8,)}, company_by_tax_id={"7701234567": (7,)},
              company_by_name={"ооо ромашка": (7,)}, contact_by_name={"анна белова": (8,)},
              people=(IVAN, OLGA, GONE) + TWINS, departments={"продажи": 10, "опт": 20})
HEAD_OF_20 = Scope(frozenset({2}), 20)


def R(**kw):
    return ClientRow(line=2, **kw)


DECISIONS = [
    # (described case, row, policy, scope, status, words in the reason)
    ("a new company with a contact: both created", R(company_name="ООО Лютик", contact_name="Пётр",
     phones=(("+79161111111", ""),), responsible="ivanov"), Policy(), Scope(), "create", ["компания «ООО Лютик» — создано",
                                                                                          "контакт «Пётр» — создано"]),
    ("only a person: a contact", R(contact_name="Пётр", phones=(("+79161111111", ""),)), Policy(), Scope(), "create",
     ["контакт «Пётр»"]),
    ("an empty row is skipped, not an error", R(), Policy(), Scope(), "skip", ["пустая строка"]),
    ("phones but no name: error", R(phones=(("+79161111111", ""),)), Policy(), Scope(), "error",
     ["нет ни названия компании, ни имени контакта"]),
    ("responsible by full name in the other word order", R(company_name="X", responsible="Иван Иванов"), Policy(),
     Scope(), "create", []),
    ("responsible by e-mail", R(company_name="X", responsible="IVANOV@firm.ru"), Policy(), Scope(), "create", []),
    ("responsible unknown: error", R(company_name="X", responsible="Сидоров"), Policy(), Scope(), "error",
     ["ответственный «Сидоров» не найден"]),
    ("responsible deactivated: error", R(company_name="X", responsible="gone"), Policy(), Scope(), "error",
     ["не работает"]),
    ("two employees with that name: error", R(company_name="X", responsible="Петров Пётр"), Policy(), Scope(),
     "error", ["несколько сотрудников"]),
    ("unknown department: error", R(company_name="X", department="Склад"), Policy(), Scope(), "error",
     ["нет отдела «Склад»"]),
    ("found by INN, update: the new phone is added", R(company_name="Ромашка ООО", tax_id="7701234567",
     phones=(("+74951112234", ""),)), Policy(), Scope(), "update", ["(совпал ИНН) — обновлено"]),
    ("found by phone, nothing new: skipped as unchanged", R(company_name="ООО Ромашка",
     phones=(("+74951112233", ""),)), Policy(), Scope(), "skip", ["без изменений"]),
    ("found, policy skip", R(company_name="ООО Ромашка", phones=(("+74951112239", ""),)),
     Policy(on_match="skip"), Scope(), "skip", ["(совпало имя) — пропущено"]),
    ("found, policy create: a second card", R(company_name="ООО Ромашка"), Policy(on_match="create"), Scope(),
     "create", ["но выбрано «создавать»"]),
    ("matching by phone only: the name does not find it", R(company_name="ООО Ромашка"),
     Policy(match=("phone",)), Scope(), "create", ["компания «ООО Ромашка» — создано"]),
    ("a contact found by phone gets the row's responsible", R(company_name="ООО Ромашка",
     contact_name="Анна Белова", phones=(("+79160000008", ""),), responsible="ivanov"), Policy(), Scope(),
     "update", ["контакт «Анна Белова» (совпал телефон) — обновлено"]),
    ("a head: a responsible of another department is an error", R(company_name="X", responsible="ivanov"),
     Policy(), HEAD_OF_20, "error", ["не из вашего отдела"]),
    ("a head: another department named is an error", R(company_name="X", department="Продажи"), Policy(),
     HEAD_OF_20, "error", ["не ваш"]),
    ("a head: another department's card is not updated", R(company_name="ООО Ромашка", phones=(("+74951110000", ""),)),
     Policy(), HEAD_OF_20, "error", ["из чужого отдела"]),
    ("a head: another department's card may be skipped", R(company_name="ООО Ромашка"), Policy(on_match="skip"),
     HEAD_OF_20, "skip", []),
    ("a parse error is reported with the row", R(company_name="X", errors=("неверный номер «1»",)), Policy(), Scope(),
     "error", ["неверный номер «1»"]),
]


@pytest.mark.parametrize("case,row,policy,scope,status,words", DECISIONS, ids=[d[0] for d in DECISIONS])
def test_each_row_gets_its_decision(case, row, policy, scope, status, words):
    plan = decide_rows([row], KNOWN, policy, scope)
    (result,) = plan.rows
    assert result.status == status, result.reason
    for w in words:
        assert w in result.reason


def test_the_responsible_and_department_go_onto_new_cards():
    plan = decide_rows([R(company_name="ООО Лютик", contact_name="Пётр", phones=(("+79161111111", ""),),
                          emails=("a@x.ru", "b@x.ru"), responsible="olga")], KNOWN)
    company, contact = plan.cards
    assert (company.responsible_id, company.department_id, company.phones, company.email) == (2, 20, (), None)
    assert (contact.responsible_id, contact.company_key, contact.phones) == (2, company.key, (("+79161111111", ""),))
    assert contact.emails == ("a@x.ru", "b@x.ru")


def test_a_company_repeated_on_its_contacts_rows_is_created_once():
    rows = [ClientRow(line=n, company_name="ООО Лютик", tax_id="7700000001", contact_name=name,
                      phones=((f"+7916111111{n}", ""),)) for n, name in ((2, "Пётр"), (3, "Анна"))]
    plan = decide_rows(rows, Known())
    assert [c.key[0] for c in plan.cards] == ["company", "contact", "contact"]
    assert plan.cards[2].company_key == plan.cards[0].key
    assert "совпал ИНН" in plan.rows[1].reason


def test_a_row_matching_two_cards_is_an_error_naming_them():
    known = Known(companies={7: ROMASHKA, 9: Card(("company", 9), "Ромашка 2", 1)},
                  company_by_phone={"+74951112233": (7, 9)})
    (result,) = decide_rows([R(company_name="Ромашка", phones=(("+74951112233", ""),))], known).rows
    assert result.status == "error" and "несколькими карточками (7, 9)" in result.reason


# ---- apply on SQLite --------------------------------------------------------------------
HEADERS = ["Наименование", "ИНН", "Контактное лицо", "Телефон", "Эл. почта", "Ответственный", "Комментарий"]
ROWS = [["ООО Ромашка", "7701234567", "Иванов Иван", "8 916 123-45-67; +7 495 111-22-33, доб. 12", "a@x.ru, b@x.ru",
         "petrov", "важный"],
        ["ООО Ромашка", "7701234567", "Сидорова Анна", "8 916 123-45-68", "", "Пётр Петров", ""],
        ["ИП Лютик", "", "", "8 916 000-00-01", "l@x.ru;m@x.ru", "", ""]]


@pytest.fixture
def session():
    with memory_session() as s:
        sales = m.Department(name="Продажи")
        s.add(sales)
        s.flush()
        s.add(m.Employee(full_name="Петров Пётр", login="petrov", role="manager", department_id=sales.id))
        s.commit()
        yield s


def counts(s):
    return tuple(s.scalar(select(func.count()).select_from(t)) for t in (m.Company, m.Contact, m.CompanyPhone,
                                                                          m.ContactPhone, m.ContactEmail))


def test_an_import_writes_companies_contacts_phones_emails_and_the_responsible(session):
    result = import_clients(session, ROWS, guess_mapping(HEADERS))
    assert result.applied and result.plan.summary() == "3 строки: 3 создано"
    petrov = session.scalar(select(m.Employee).where(m.Employee.login == "petrov"))
    romashka = session.scalar(select(m.Company).where(m.Company.name == "ООО Ромашка"))
    assert (romashka.tax_id, romashka.responsible_id, romashka.department_id, romashka.notes) == (
        "7701234567", petrov.id, petrov.department_id, "важный")
    assert romashka.name_key == "ооо ромашка"
    ivanov = session.scalar(select(m.Contact).where(m.Contact.full_name == "Иванов Иван"))
    assert ivanov.company_id == romashka.id and ivanov.responsible_id == petrov.id and ivanov.name_key == "иванов иван"
    assert sorted((p.phone, p.phone_ext) for p in ivanov.phones) == [("+74951112233", "12"), ("+79161234567", None)]
    assert sorted(e.email for e in ivanov.emails) == ["a@x.ru", "b@x.ru"]
    lutik = session.scalar(select(m.Company).where(m.Company.name == "ИП Лютик"))
    assert (lutik.email, lutik.notes, [p.phone for p in lutik.phones]) == ("l@x.ru", "E-mail: m@x.ru", ["+79160000001"])
    assert counts(session) == (2, 2, 1, 3, 2)


def test_the_same_file_again_changes_nothing(session):
    import_clients(session, ROWS, guess_mapping(HEADERS))
    before = counts(session)
    again = import_clients(session, ROWS, guess_mapping(HEADERS))
    assert again.plan.count("skip") == 3 and counts(session) == before


def test_an_update_adds_the_new_phone_and_appends_the_note(session):
    import_clients(session, ROWS, guess_mapping(HEADERS))
    changed = [["ООО Ромашка", "7701234567", "Иванов Иван", "8 916 999-99-99", "", "", "перезвонить"]]
    result = import_clients(session, changed, guess_mapping(HEADERS))
    assert result.plan.rows[0].status == "update", result.plan.rows[0].reason
    ivanov = session.scalar(select(m.Contact).where(m.Contact.full_name == "Иванов Иван"))
    assert "+79169999999" in {p.phone for p in ivanov.phones}
    assert session.scalar(select(m.Company.notes).where(m.Company.name == "ООО Ромашка")) == "важный\nперезвонить"


def test_one_bad_row_and_nothing_is_written(session):
    bad = ROWS + [["ООО Ошибка", "", "", "8 916 000-00-02", "", "никто", ""]]
    result = import_clients(session, bad, guess_mapping(HEADERS))
    assert not result.applied and result.plan.count("error") == 1
    assert result.plan.problems()[0].line == 5
    assert counts(session) == (0, 0, 0, 0, 0)


def test_a_dry_run_reports_every_row_and_writes_nothing(session):
    result = import_clients(session, ROWS, guess_mapping(HEADERS), dry_run=True)
    assert [r.status for r in result.plan.rows] == ["create", "create", "create"] and not result.applied
    assert counts(session) == (0, 0, 0, 0, 0)


def test_a_file_without_a_name_column_is_refused(session):
    with pytest.raises(ValueError):
        import_clients(session, [["8 916 000-00-02"]], {"phone": [0]})


def test_a_preset_is_saved_per_source_and_replaced(session):
    save_preset(session, "1C", {"company_name": ["Наименование"]}, None)
    session.commit()
    save_preset(session, "1C", {"company_name": ["Контрагент"]}, None)
    session.commit()
    assert load_preset(session, "1C") == {"company_name": ["Контрагент"]}
    assert load_preset(session, "amoCRM") is None
    assert session.scalar(select(func.count()).select_from(m.ImportPreset)) == 1


# ---- the CLI ----------------------------------------------------------------------------
@pytest.fixture
def cli_db(tmp_path, monkeypatch):
    from pbx_daemon import db

    url = f"sqlite:///{tmp_path}/pbx.sqlite3"
    db.upgrade(url)
    engine = db.make_engine(url)
    with db.make_session_factory(engine)() as s:
        s.add(m.Employee(full_name="Петров Пётр", login="petrov", role="manager"))
        s.commit()
    engine.dispose()
    monkeypatch.setenv("PBX_CRM_DATABASE_URL", url)
    return url


def write_xlsx(path, headers, rows):
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(headers)
    for r in rows:
        book.active.append(r)
    book.save(path)


def run_cli(*argv):
    from pbx_daemon.cli import main

    out, err = io.StringIO(), io.StringIO()
    import contextlib

    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_the_cli_imports_an_xlsx_and_saves_the_sources_columns(cli_db, tmp_path):
    from pbx_daemon import db

    path = tmp_path / "clients.xlsx"
    write_xlsx(path, ["Клиент", "ИНН", "Телефон", "Менеджер"], [["ООО Ромашка", "7701234567", "89161234567", "petrov"]])
    code, out, _err = run_cli("import-clients", str(path), "--source", "1C", "--map", "company_name=Клиент",
                              "--dry-run")
    assert code == 0 and "1 строка: 1 создано" in out and "пробный запуск" in out
    code, out, _err = run_cli("import-clients", str(path), "--source", "1C", "--map", "company_name=Клиент")
    assert code == 0 and "компаний 1 новых" in out
    engine = db.make_engine(cli_db)
    with db.make_session_factory(engine)() as s:
        assert s.scalar(select(m.Company.tax_id)) == "7701234567"
        assert load_preset(s, "1C")["company_name"] == ["Клиент"]
    engine.dispose()
    # The next file from 1C starts from the saved columns: no --map needed.
    write_xlsx(path, ["Телефон", "Клиент"], [["89161234599", "ООО Лютик"]])
    code, out, err = run_cli("import-clients", str(path), "--source", "1C")
    assert code == 0 and "preset '1C'" in err and "1 строка: 1 создано" in out


def test_the_cli_exits_non_zero_and_names_the_bad_rows(cli_db, tmp_path):
    path = tmp_path / "clients.csv"
    path.write_text("Наименование;Телефон;Ответственный\nООО А;89161234567;petrov\nООО Б;нет;никто\n", encoding="utf-8")
    code, out, _err = run_cli("import-clients", str(path))
    assert code == 1
    assert "строка 3:" in out and "неверный номер «нет»" in out and "ответственный «никто» не найден" in out
    assert "ничего не записано" in out
    code, _out, err = run_cli("import-clients", str(path), "--match", "phone,fax")
    assert code == 2 and "unknown match keys: fax" in err


def test_the_cli_refuses_every_hostile_file_in_one_line(cli_db, tmp_path):
    """The same sandboxed reader and limits as the call-list import (tests/hostile.py)."""
    from tests.hostile import CORPUS

    for case, (filename, build, words) in CORPUS.items():
        path = tmp_path / filename
        path.write_bytes(build())
        code, out, err = run_cli("import-clients", str(path), "--dry-run")
        assert code == 1 and out == "", case
        assert err.startswith("pbx-crm: ") and err.count("\n") == 1 and words in err, (case, err)


def test_a_found_contact_without_a_company_is_attached_to_the_rows_company():
    loner = Card(("contact", 9), "Пётр Одинокий", 1, phones=frozenset({("+79160000009", "")}))
    known = Known(companies={7: ROMASHKA}, contacts={9: loner}, company_by_name={"ооо ромашка": (7,)},
                  contact_by_phone={"+79160000009": (9,)}, people=(IVAN,))
    plan = decide_rows([R(company_name="ООО Ромашка", contact_name="Пётр Одинокий",
                          phones=(("+79160000009", ""),))], known)
    assert plan.rows[0].status == "update"
    (change,) = plan.cards
    assert change.key == ("contact", 9) and change.company_key == ("company", 7) and change.phones == ()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request, tmp_path):
    """A migrated database on each backend (PostgreSQL: a throwaway one, skipped without a server)."""
    from tests.postgres import migrated_sessions

    with migrated_sessions(request.param, tmp_path) as sessions:
        yield sessions


def test_the_import_and_a_second_run_work_on_both_backends(any_db):
    """New ids come from the table's sequence on PostgreSQL and after the largest id on SQLite."""
    with any_db() as s:
        s.add(m.Employee(full_name="Петров Пётр", login="petrov", role="manager"))
        s.add(m.Company(name="Старая", phones=[m.CompanyPhone(phone="+79160000099")]))
        s.commit()
        first = import_clients(s, ROWS, guess_mapping(HEADERS))
        assert first.applied and first.written["companies_created"] == 2
        s.add(m.Company(name="Добавлена после импорта"))  # the sequence / max id moved on
        s.commit()
        more = [["ООО Новая", "", "Новиков Ник", "8 916 000-00-07", "n@x.ru", "petrov", ""]] + ROWS
        second = import_clients(s, more, guess_mapping(HEADERS))
        assert [r.status for r in second.plan.rows] == ["create", "skip", "skip", "skip"]
        new = s.scalar(select(m.Contact).where(m.Contact.full_name == "Новиков Ник"))
        assert new.company.name == "ООО Новая" and [p.phone for p in new.phones] == ["+79160000007"]
        assert abs((m.utcnow() - new.company.created_at).total_seconds()) < 600  # aware UTC, read back
        assert new.phones[0].kind == "mobile" and new.company.name_key == "ооо новая"
        assert counts(s) == (5, 3, 2, 4, 3)

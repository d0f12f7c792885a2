"""Issue 18's acceptance for the client-base import, against the real lab Asterisk: a
1C-style XLSX of companies and contacts with responsible managers (the lab's seeded
employees, named as 1C writes them: full name, word order of its own, or login) is
imported with `pbx-crm import-clients`; the next call from one of those numbers rings its
manager first, and the call is stored on that card.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from pbx_daemon import db
from pbx_daemon.crm import models as m
from pbx_daemon.lab import Lab
from tests.integration.conftest import seeded_daemon

pytestmark = pytest.mark.lab

SALES_NUMBER = "+74951110001"
CONTACT_PHONE = "+79165554433"  # Пётр Импортов of ООО Импорт, Boris's
COMPANY_PHONE = "+74957776655"  # ИП Лютиков, Anna's


def seed(url: str) -> None:
    engine = db.make_engine(url)
    with db.make_session_factory(engine)() as s:
        sales = m.Department(name="Продажи", owner_timeout=3, group_timeout=2, head_timeout=1, top_timeout=2)
        s.add(sales)
        s.flush()
        people = {
            "anna": m.Employee(full_name="Анна Смирнова", login="anna", sip_endpoint="101", department_id=sales.id),
            "boris": m.Employee(full_name="Борис Борисов", login="boris", sip_endpoint="102",
                                department_id=sales.id),
            "vera": m.Employee(full_name="Вера Head", login="vera", role="head", sip_endpoint="103",
                               department_id=sales.id),
            "oleg": m.Employee(full_name="Олег Owner", login="oleg", role="owner", sip_endpoint="104"),
        }
        s.add_all(people.values())
        s.flush()
        sales.head_id = people["vera"].id
        s.add(m.Setting(key=m.SETTING_ESCALATION_TOP, value=str(people["oleg"].id)))
        s.add(m.TrackingNumber(number=SALES_NUMBER, department_id=sales.id))
        s.commit()
    engine.dispose()


@pytest.fixture(scope="module")
def imported(lab: Lab, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("client-import")
    with seeded_daemon(lab, tmp, seed) as (lab, url, log):
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        sheet.title = "Контрагенты"
        sheet.append(["Наименование", "ИНН", "Контактное лицо", "Телефон", "Эл. почта", "Основной менеджер",
                      "Подразделение", "Комментарий"])
        sheet.append(["ООО Импорт", 7701234567, "Пётр Импортов", "8 (916) 555-44-33; +7 916 555-44-34",
                      "petr@import.ru", "Борисов Борис", "Продажи", "из 1С"])
        sheet.append(["ИП Лютиков", "500100732259", "", "8 495 777-66-55", "lutikov@mail.ru", "anna", "", ""])
        path = tmp / "kontragenty.xlsx"
        book.save(path)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PBX_CRM_")}
        env["PBX_CRM_DATABASE_URL"] = url
        proc = subprocess.run([sys.executable, "-m", "pbx_daemon.cli", "import-clients", str(path),
                               "--source", "1C"], env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "2 строки: 2 создано" in proc.stdout
        yield lab, url


def _stored_call(url, caller):
    engine = db.make_engine(url)
    try:
        with db.make_session_factory(engine)() as s:
            call = s.scalar(select(m.Call).where(m.Call.caller == caller).order_by(m.Call.id.desc()))
            if call is None or call.ended_at is None:
                return None
            return (call.outcome, call.answered_by.login if call.answered_by else None,
                    call.contact_id, call.company_id)
    finally:
        engine.dispose()


def _card_ids(url, contact_name, company_name):
    engine = db.make_engine(url)
    try:
        with db.make_session_factory(engine)() as s:
            contact = s.scalar(select(m.Contact.id).where(m.Contact.full_name == contact_name)) if contact_name else None
            company = s.scalar(select(m.Company.id).where(m.Company.name == company_name))
            return contact, company
    finally:
        engine.dispose()


@pytest.mark.parametrize("caller,manager,phone,contact,company", [
    (CONTACT_PHONE, "boris", "102", "Пётр Импортов", "ООО Импорт"),
    (COMPANY_PHONE, "anna", "101", None, "ИП Лютиков"),
])
def test_a_call_from_an_imported_number_rings_its_manager_first_and_lands_on_the_card(
        imported, caller, manager, phone, contact, company):
    lab, url = imported
    lab.wait_idle()
    lab.reset_behaviour()
    lab.set_phone(phone, "answer:1:1")
    start = time.time()
    lab.call(caller, SALES_NUMBER, ring_timeout=20, hold=2)
    stored = lab.wait_for(lambda: _stored_call(url, caller), 25, f"the call from {caller} to be stored")
    rings = [r for r in lab.rings(start) if r.caller_num == caller]
    assert [r.target for r in rings] == [phone]  # the manager first, and they answered
    contact_id, company_id = _card_ids(url, contact, company)
    assert stored == ("answered", manager, contact_id, company_id)

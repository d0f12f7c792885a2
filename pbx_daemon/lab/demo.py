"""Demo data and a scripted burst of demo calls on the lab (the README's main command).

``seed`` fills an empty database with a small sales department: managers on lab phones
101-105, a head, the owner, a cold-call operator (108), two tracking numbers with their
sources, clients with their own managers, a call list with a branching script, knowledge
base articles and a stage task rule. Every demo login gets the password given.

``burst`` places real calls through the lab PBX (the daemon must be running) and says
what they imply, so the analytics can be checked against it:

1. ООО Ромашка calls; its manager Anna answers (routed to the owner);
2. Пётр (АО Вектор) calls; his manager Boris does not answer, the department rings and
   Anna answers (escalated);
3. two unknown numbers call and give up while the phones ring (missed -> two inquiries);
4. a third unknown number calls and Anna answers in the department step (a new number:
   an inquiry in Anna's queue to classify, no task);
5. Anna calls the first missed number back with click-to-call; it answers (recovered);
6. Anna calls Пётр back from her desk phone, keying the number the usual way
   ("8 (916) 222-33-44"): the trunk gets E.164, the call lands on АО Вектор's card;
7. ООО Ромашка calls again; Anna answers and transfers the caller to Boris (her phone's
   blind transfer, SIP REFER): one call, Anna's part and Boris's, one recording.

Inbound 6, missed 2: Lost Call Rate 33 %, one of the two missed recovered; 2 outbound.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from pbx_daemon.crm import models as m

SALES_NUMBER = "+74951110001"
SUPPORT_NUMBER = "+74951110002"
ROMASHKA = "+79161234567"
PETR = "+79162223344"
PETR_AS_KEYED = "8 (916) 222-33-44"  # how a person keys it on a desk phone
UNKNOWN = ("+79035550001", "+79035550002", "+79035550003")


class DemoError(Exception):
    pass


def seed(session: Session, password: str) -> dict[str, int]:
    if session.scalar(select(m.Employee.id).where(m.Employee.login == "anna")) is not None:
        raise DemoError("the demo data is there already (employee 'anna' exists)")
    hashed = generate_password_hash(password)
    sales = m.Department(name="Продажи", owner_timeout=5, group_timeout=6, head_timeout=4, top_timeout=4,
                         fallback_ring_group="101,102")
    support = m.Department(name="Поддержка", group_timeout=8)
    session.add_all([sales, support])
    session.flush()
    people = {}
    for login, name, role, endpoint, dept in (
            ("anna", "Анна Смирнова", "manager", "101", sales), ("boris", "Борис Орлов", "manager", "102", sales),
            ("vera", "Вера Кузнецова", "head", "103", sales), ("oleg", "Олег Петров", "owner", "104", None),
            ("dina", "Дина Волкова", "manager", "105", support), ("olga", "Ольга Звонова", "cold_operator", "108", None)):
        people[login] = m.Employee(full_name=name, login=login, role=role, sip_endpoint=endpoint,
                                   department_id=dept.id if dept else None, password_hash=hashed)
    session.add_all(people.values())
    session.flush()
    sales.head_id = people["vera"].id
    session.add(m.Setting(key=m.SETTING_ESCALATION_TOP, value=str(people["oleg"].id)))
    session.add(m.Setting(key="default_department_id", value=str(sales.id)))
    direct, site = m.Source(name="Яндекс.Директ"), m.Source(name="Сайт")
    session.add_all([direct, site])
    session.flush()
    session.add_all([m.TrackingNumber(number=SALES_NUMBER, department_id=sales.id, source_id=direct.id),
                     m.TrackingNumber(number=SUPPORT_NUMBER, department_id=support.id, source_id=site.id)])
    romashka = m.Company(name="ООО Ромашка", responsible_id=people["anna"].id, department_id=sales.id,
                         notes="Ключевой клиент: окна для трёх офисов", phones=[m.CompanyPhone(phone=ROMASHKA)])
    vector = m.Company(name="АО Вектор", responsible_id=people["boris"].id, department_id=sales.id)
    session.add_all([romashka, vector])
    session.flush()
    session.add(m.Contact(full_name="Пётр Иванов", company_id=vector.id, responsible_id=people["boris"].id,
                          phones=[m.ContactPhone(phone=PETR)]))
    stages = {s.name: s for s in session.scalars(select(m.DealStage))}
    session.add(m.Deal(title="Окна для офиса на Тверской", company_id=romashka.id, stage_id=stages["КП отправлено"].id,
                       amount=480000, responsible_id=people["anna"].id, department_id=sales.id))
    session.add(m.DealStageTaskRule(stage_id=stages["КП отправлено"].id, type="call", title="Подтвердить получение КП",
                                    comment="Позвонить и убедиться, что КП получили", offset_minutes=2 * 24 * 60))
    script = m.CallScript(name="Окна: первый звонок", body={"start": "q1", "nodes": {
        "q1": {"text": "Здравствуйте! Планируете замену окон в офисе в этом году?",
               "answers": [{"label": "Да", "next": "q2"}, {"label": "Нет"}, {"label": "Не решаю я", "next": "q3"}]},
        "q2": {"text": "Сколько окон?", "answers": [{"label": "до 10"}, {"label": "больше 10"}]},
        "q3": {"text": "Подскажите, кто принимает решение?", "answers": [{"label": "Записал контакт"}]}}})
    session.add(script)
    session.flush()
    call_list = m.CallList(name="Демо-обзвон", script_id=script.id, operators=[people["olga"]],
                           created_by_id=people["vera"].id)
    session.add(call_list)
    session.flush()
    for i, (company, number) in enumerate((("ООО Стройка", "+79037770101"), ("ИП Сидоров", "+79037770102"),
                                           ("ООО Бизнес-центр", "+79037770103"))):
        session.add(m.CallListEntry(call_list_id=call_list.id, position=i + 1, phone=number, company_name=company))
    session.add_all([m.KbArticle(title="Цены", body="Окно 1,2×1,4 м — от 18 000 ₽ с установкой", tags="прайс цена"),
                     m.KbArticle(title="Сроки", body="Производство 10 рабочих дней, монтаж 1 день", tags="срок")])
    session.commit()
    return {login: e.id for login, e in people.items()}


@dataclass(frozen=True)
class BurstResult:
    inbound: int
    missed: int
    recovered: int

    @property
    def lost_call_rate(self) -> float:
        return self.missed / self.inbound


def burst(lab, *, api_url: str, api_token: str, log=print, ring_giveup: int = 6) -> BurstResult:
    """Place the demo calls (module docstring); returns what they imply."""
    from pbx_daemon.telephony.api_client import click_to_call

    def call(caller, name, *, phones=(), giveup=30, hold=4, wait_answer=True):
        lab.wait_idle(60)
        lab.reset_behaviour()
        for ext, mode in phones:
            lab.set_phone(ext, mode)
        start = time.time()
        lab.call(caller, SALES_NUMBER, name=name, ring_timeout=giveup, hold=hold)
        lab.wait_for(lambda: any(r.caller_num == caller for r in lab.rings(start)), 20, f"{caller} to ring")
        lab.wait_for(lambda: lab.ari_get("/channels") == [], 90, f"the call from {caller} to end")

    log("demo: 1/8 ООО Ромашка calls; Anna (its manager) answers")
    call(ROMASHKA, "Romashka", phones=[("101", "answer:2:4")])
    log("demo: 2/8 Пётр (АО Вектор) calls; Boris does not answer, the department rings, Anna answers")
    call(PETR, "Petr", phones=[("102", "ring"), ("101", "answer:2:4")])
    log("demo: 3/8 an unknown number calls and gives up while the phones ring (missed)")
    call(UNKNOWN[0], "", giveup=ring_giveup, hold=1)
    log("demo: 4/8 another unknown number gives up (missed)")
    call(UNKNOWN[1], "", giveup=ring_giveup, hold=1)
    log("demo: 5/8 a third unknown number calls; Anna answers in the department step")
    call(UNKNOWN[2], "", phones=[("101", "answer:2:3")])
    log("demo: 6/8 Anna calls the first missed number back (click-to-call); it answers")
    lab.wait_idle(60)
    lab.reset_behaviour()
    lab.set_phone("101", "answer:1")
    lab.set_client(UNKNOWN[0], "answer:2:4")
    start = time.time()
    click_to_call(api_url, api_token, employee="anna", number=UNKNOWN[0])
    lab.wait_for(lambda: any(r.kind == "pstn" and r.ended_at for r in lab.rings(start)), 60, "the call-back")
    lab.wait_for(lambda: lab.ari_get("/channels") == [], 30, "the call-back to end")
    log("demo: 7/8 Anna calls Пётр back from her desk phone, keying 8 (916) 222-33-44")
    lab.wait_idle(60)
    lab.reset_behaviour()
    lab.set_client(PETR, "answer:2")
    start = time.time()
    lab.phone_dial("101", PETR_AS_KEYED, hold=4)
    lab.wait_for(lambda: any(r.kind == "pstn" and r.target == PETR and r.ended_at
                             for r in lab.rings(start)), 60, "the desk-phone call")
    lab.wait_for(lambda: lab.ari_get("/channels") == [], 30, "the desk-phone call to end")
    log("demo: 8/8 ООО Ромашка calls again; Anna answers and transfers it to Boris")
    call(ROMASHKA, "Romashka", phones=[("101", "blind:2:3:102"), ("102", "answer:2")], hold=10)
    result = BurstResult(inbound=6, missed=2, recovered=1)
    log(f"demo: done: {result.inbound} inbound, {result.missed} missed -> Lost Call Rate "
        f"{result.lost_call_rate * 100:.0f} %, {result.recovered} of the missed called back")
    return result

"""Smart inbound routing against the real lab Asterisk (issue 3's acceptance list).

The daemon runs as `pbx-crm daemon` on a migrated SQLite database seeded with:
Sales (tracking number +74951110001): Anna 101 (owner of client ООО Ромашка), Boris 102,
head Vera 103; Support (+74951110002): Dina 105; the company's owner Oleg 104.
Steps are short (owner 2 s, the others 1-2 s) to keep the suite quick.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from pbx_daemon import db
from pbx_daemon.crm import models as m
from pbx_daemon.lab import Lab
from tests.integration.conftest import seeded_daemon

pytestmark = pytest.mark.lab

CLIENT = "+79161234567"
SALES_NUMBER = "+74951110001"
SUPPORT_NUMBER = "+74951110002"
KEY_CLIENT = "+79267778899"


def seed(url: str) -> None:
    engine = db.make_engine(url)
    with db.make_session_factory(engine)() as s:
        sales = m.Department(name="Sales", owner_timeout=2, group_timeout=2, head_timeout=1,
                             top_timeout=2, fallback_ring_group="101,102")
        support = m.Department(name="Support", group_timeout=2, head_timeout=1, top_timeout=2)
        s.add_all([sales, support])
        s.flush()
        people = {
            "anna": m.Employee(full_name="Anna", login="anna", sip_endpoint="101", department_id=sales.id),
            "boris": m.Employee(full_name="Boris", login="boris", sip_endpoint="102", department_id=sales.id),
            "vera": m.Employee(full_name="Vera", login="vera", role="head", sip_endpoint="103",
                               department_id=sales.id),
            "oleg": m.Employee(full_name="Oleg", login="oleg", role="owner", sip_endpoint="104"),
            "dina": m.Employee(full_name="Dina", login="dina", sip_endpoint="105", department_id=support.id),
        }
        s.add_all(people.values())
        s.flush()
        sales.head_id = people["vera"].id
        s.add(m.Setting(key=m.SETTING_ESCALATION_TOP, value=str(people["oleg"].id)))
        s.add(m.Setting(key="default_department_id", value=str(sales.id)))
        s.add_all([m.TrackingNumber(number=SALES_NUMBER, department_id=sales.id),
                   m.TrackingNumber(number=SUPPORT_NUMBER, department_id=support.id)])
        client = m.Company(name="ООО Ромашка", responsible_id=people["anna"].id,
                           phones=[m.CompanyPhone(phone=CLIENT)])
        s.add(client)
        s.add(m.BlockedNumber(phone="+79990000000", reason="spam"))
        # Key accounts sets no timeouts of its own: the config's defaults (owner 10 s) apply.
        keys = m.Department(name="Key accounts")
        s.add(keys)
        s.flush()
        gena = m.Employee(full_name="Gena", login="gena", sip_endpoint="106", department_id=keys.id)
        s.add_all([gena, m.Employee(full_name="Zoya", login="zoya", sip_endpoint="107",
                                    department_id=keys.id)])
        s.flush()
        s.add(m.Company(name="АО Большой клиент", responsible_id=gena.id,
                        phones=[m.CompanyPhone(phone=KEY_CLIENT)]))
        s.commit()
    engine.dispose()


@pytest.fixture(scope="module")
def routed(lab: Lab, tmp_path_factory):
    with seeded_daemon(lab, tmp_path_factory.mktemp("routing"), seed) as routed:
        yield routed


def _session(url):
    return db.make_session_factory(db.make_engine(url))()


def _call_record(url, caller):
    with _session(url) as s:
        call = s.scalar(select(m.Call).where(m.Call.caller == caller).order_by(m.Call.id.desc()))
        if call is None or call.ended_at is None:
            return None
        legs = [(leg.endpoint, leg.step, leg.outcome, leg.ringing_at, leg.answered_at)
                for leg in call.legs]
        answered_by = call.answered_by.login if call.answered_by else None
        return call.outcome, answered_by, legs, call.linkedid


def _wait_call(lab, url, caller, timeout=25):
    return lab.wait_for(lambda: _call_record(url, caller), timeout, f"the call from {caller} to be stored")


def _rings(lab, caller, since):
    return [r for r in lab.rings(since) if r.caller_num == caller]


def _set_employee(url, login, **fields):
    with _session(url) as s:
        e = s.scalar(select(m.Employee).where(m.Employee.login == login))
        for k, v in fields.items():
            setattr(e, k, v)
        s.commit()


def test_known_client_owner_answers_only_the_owner_rang(routed):
    lab, url, _log = routed
    lab.wait_idle()
    lab.reset_behaviour()
    lab.set_phone("101", "answer:1:2")
    start = time.time()
    lab.call(CLIENT, SALES_NUMBER, name="PSTN name", ring_timeout=20, hold=4)
    outcome, answered_by, legs, linkedid = _wait_call(lab, url, CLIENT)
    rings = _rings(lab, CLIENT, start)
    assert [r.target for r in rings] == ["101"]
    assert rings[0].caller_name == "ООО Ромашка"  # the CRM name, not the trunk's
    assert outcome == "answered" and answered_by == "anna"
    assert [(e, st, o) for e, st, o, *_ in legs] == [("PJSIP/101", 1, "answered")]
    # The recording leaves Asterisk's spool for the store and is attached to the call
    # within 5 s of the hang-up.
    hung_up = rings[0].ended_at
    row = lab.wait_for(lambda: _recording(url, linkedid), 5, "the recording to be attached")
    path, size, attached_at = row
    stored = Path(url.removeprefix("sqlite:///")).parent / "recordings" / path
    assert path == f"{linkedid}.wav" and stored.stat().st_size == size > 1000
    assert attached_at - hung_up < 5
    assert not (lab.instance_dir("pbx") / "spool" / "recording" / path).exists()


def _recording(url, linkedid):
    with _session(url) as s:
        call = s.scalar(select(m.Call).where(m.Call.linkedid == linkedid))
        r = call.recording if call else None
        return (r.path, r.size_bytes, r.created_at.replace(tzinfo=timezone.utc).timestamp()) \
            if r else None


def test_owner_does_not_answer_the_department_rings_and_a_member_answers(routed):
    lab, url, _log = routed
    lab.wait_idle()
    lab.reset_behaviour()
    lab.set_phone("102", "answer:1:1")
    caller = "+79031230001"
    with _session(url) as s:  # a contact of Anna's
        anna = s.scalar(select(m.Employee).where(m.Employee.login == "anna"))
        s.add(m.Contact(full_name="Пётр Петров", responsible_id=anna.id,
                        phones=[m.ContactPhone(phone=caller)]))
        s.commit()
    start = time.time()
    lab.call(caller, SALES_NUMBER, ring_timeout=20, hold=2)
    outcome, answered_by, legs, _ = _wait_call(lab, url, caller)
    rings = {r.target: r for r in _rings(lab, caller, start)}
    assert set(rings) == {"101", "102"}
    assert rings["102"].rang_at - rings["101"].rang_at == pytest.approx(2.0, abs=0.6)
    assert rings["101"].answered_at is None and rings["101"].hangup_cause == 26
    assert outcome == "answered" and answered_by == "boris"
    assert [(e, st) for e, st, *_ in legs] == [("PJSIP/101", 1), ("PJSIP/102", 2)]


def test_nobody_answers_head_then_owner_added_every_phone_recorded(routed):
    lab, url, _log = routed
    lab.wait_idle()
    lab.reset_behaviour()
    caller = "+79031230002"
    with _session(url) as s:
        anna = s.scalar(select(m.Employee).where(m.Employee.login == "anna"))
        s.add(m.Lead(title="Лид", phone=caller, responsible_id=anna.id))
        s.commit()
    start = time.time()
    lab.call(caller, SALES_NUMBER, ring_timeout=30, hold=1)
    outcome, answered_by, legs, _ = _wait_call(lab, url, caller)
    rings = {r.target: r for r in _rings(lab, caller, start)}
    assert set(rings) == {"101", "102", "103", "104"}
    t0 = rings["101"].rang_at
    assert [round(rings[p].rang_at - t0) for p in ("101", "102", "103", "104")] == [0, 2, 4, 5]
    assert all(r.answered_at is None for r in rings.values())
    assert outcome == "missed" and answered_by is None
    assert [(e, st, o) for e, st, o, *_ in legs] == [
        ("PJSIP/101", 1, "no_answer"), ("PJSIP/102", 2, "no_answer"),
        ("PJSIP/103", 3, "no_answer"), ("PJSIP/104", 4, "no_answer")]


def test_unknown_caller_to_supports_number_rings_support_first(routed):
    lab, url, _log = routed
    lab.wait_idle()
    lab.reset_behaviour()
    lab.set_phone("105", "answer:1:1")
    caller = "+79031230003"
    start = time.time()
    lab.call(caller, SUPPORT_NUMBER, ring_timeout=20, hold=1)
    outcome, answered_by, legs, _ = _wait_call(lab, url, caller)
    assert [r.target for r in _rings(lab, caller, start)] == ["105"]
    assert answered_by == "dina"


@pytest.mark.parametrize("state", [{"dnd": True},
                                   {"off_until": datetime(2100, 1, 1, tzinfo=timezone.utc)}],
                         ids=["dnd", "off now"])
def test_owner_on_dnd_or_off_shift_is_skipped(routed, state):
    lab, url, _log = routed
    lab.wait_idle()
    lab.reset_behaviour()
    lab.set_phone("102", "answer:1:1")
    _set_employee(url, "anna", **state)
    try:
        caller = "+79161234567"
        start = time.time()
        lab.call(caller, SALES_NUMBER, ring_timeout=20, hold=1)
        lab.wait_for(lambda: [r for r in _rings(lab, caller, start) if r.ended_at], 20, "a ring")
        time.sleep(0.5)
        rings = _rings(lab, caller, start)
        assert [r.target for r in rings] == ["102"]
    finally:
        _set_employee(url, "anna", dnd=False, off_until=None)


def test_owner_already_on_a_call_is_skipped(routed):
    lab, url, _log = routed
    lab.wait_idle()
    lab.reset_behaviour()
    lab.set_phone("101", "answer:1:8")
    lab.set_phone("102", "answer:1:1")
    start = time.time()
    lab.call("+79031230004", SUPPORT_NUMBER, ring_timeout=20, hold=8)  # unknown -> Support: 105
    lab.set_phone("105", "ring")
    # Anna takes a call first: a caller of hers, answered by 101.
    with _session(url) as s:
        anna = s.scalar(select(m.Employee).where(m.Employee.login == "anna"))
        s.add(m.Contact(full_name="Second", responsible_id=anna.id,
                        phones=[m.ContactPhone(phone="+79031230005"), m.ContactPhone(phone="+79031230006")]))
        s.commit()
    lab.call("+79031230005", SALES_NUMBER, ring_timeout=20, hold=8)
    lab.wait_for(lambda: [r for r in _rings(lab, "+79031230005", start) if r.answered_at], 10,
                 "Anna to answer the first call")
    lab.call("+79031230006", SALES_NUMBER, ring_timeout=20, hold=1)
    lab.wait_for(lambda: [r for r in _rings(lab, "+79031230006", start) if r.answered_at], 15,
                 "the second call to be answered")
    assert [r.target for r in _rings(lab, "+79031230006", start)] == ["102"]


def test_blocked_number_rings_nobody(routed):
    lab, url, _log = routed
    lab.wait_idle()
    lab.reset_behaviour()
    caller = "+79990000000"
    start = time.time()
    lab.call(caller, SALES_NUMBER, ring_timeout=10, hold=1)
    outcome, _answered_by, legs, _ = _wait_call(lab, url, caller, 10)
    assert outcome == "blocked" and legs == []
    time.sleep(1)
    assert _rings(lab, caller, start) == []


HOSTILE = [
    ("+7916&PJSIP/108", "a&b"),
    ("+7916,108", "Name, with, commas"),
    ("79161|108", "pipe|name"),
    ("+7916;108", "semi;colon"),
    ('"+79161"', 'He said "hi"'),
    ("${EXTEN}", "${SHELL}"),
    ("9" * 150, "Я" * 150),
    ("+7 916 ٣٣٣", "emoji 😀 name"),
]


@pytest.mark.parametrize("number,name", HOSTILE, ids=[h[0][:12] for h in HOSTILE])
def test_hostile_caller_ids_ring_only_the_department_and_never_reach_a_dial_string(routed, number, name):
    """Nothing a caller sends is dialled: the call is an unknown caller to Sales."""
    lab, url, _log = routed
    lab.wait_idle()
    lab.reset_behaviour()
    lab.set_phone("101", "answer:1:1")
    start = time.time()
    lab.call(number, SALES_NUMBER, name=name, ring_timeout=15, hold=1)

    def rang():
        rings = [r for r in lab.rings(start) if r.ended_at]
        return rings if any(r.answered_at for r in rings) else None

    rings = lab.wait_for(rang, 15, "the Sales group to ring")
    assert {r.target for r in rings} == {"101", "102"}  # Boris and Anna, nobody injected
    for ring in rings:
        # Digits only, or "unknown": nothing else of what the caller sent reaches a phone.
        assert re.fullmatch(r"\+?[0-9]{0,20}|unknown", ring.caller_num), ring.caller_num
        assert not set(ring.caller_name) & set('"<>;$&|,{}`\\\'')
    with _session(url) as s:
        call = s.scalar(select(m.Call).order_by(m.Call.id.desc()))
        assert call.caller is None and len(call.caller_raw) <= 80


def test_asterisk_restart_the_daemon_reconnects_and_routes_the_next_call(routed):
    lab, url, log_path = routed
    lab.wait_idle()
    lab.restart_pbx()
    lab.wait_for(lambda: any(a["name"] == "pbx-crm" for a in lab.ari_get("/applications")), 20,
                 "the daemon to re-register after the restart")
    lab.reset_behaviour()
    lab.set_phone("101", "answer:1:1")
    caller = "+79161234567"
    start = time.time()
    lab.call(caller, SALES_NUMBER, ring_timeout=15, hold=1)
    lab.wait_for(lambda: [r for r in _rings(lab, caller, start) if r.answered_at], 15, "an answer")
    assert [r.target for r in _rings(lab, caller, start)] == ["101"]
    records = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    assert any("reconnecting" in r.get("log_format", "") for r in records)


def test_default_ten_second_owner_step(routed):
    """The one test on the default timings: the owner rings alone for 10 s."""
    lab, url, _log = routed
    lab.wait_idle()
    lab.reset_behaviour()
    lab.set_phone("107", "answer:1:1")
    start = time.time()
    lab.call(KEY_CLIENT, SALES_NUMBER, ring_timeout=30, hold=1)
    outcome, answered_by, legs, _ = _wait_call(lab, url, KEY_CLIENT, 30)
    rings = {r.target: r for r in _rings(lab, KEY_CLIENT, start)}
    assert set(rings) == {"106", "107"}
    assert rings["107"].rang_at - rings["106"].rang_at == pytest.approx(10.0, abs=0.6)
    assert answered_by == "zoya" and rings["106"].caller_name == "АО Большой клиент"


def test_missed_calls_become_one_inquiry_with_a_task_closed_by_a_later_answer(routed):
    lab, url, _log = routed
    caller = "+79031230010"
    with _session(url) as s:
        anna = s.scalar(select(m.Employee).where(m.Employee.login == "anna"))
        s.add(m.Contact(full_name="Клиент Повторный", responsible_id=anna.id,
                        phones=[m.ContactPhone(phone=caller)]))
        s.commit()
        anna_id = anna.id
    for attempt in range(2):  # the caller gives up after 3 s of ringing, twice
        lab.wait_idle()
        lab.reset_behaviour()
        lab.call(caller, SALES_NUMBER, ring_timeout=3, hold=1)
        lab.wait_for(lambda: _call_count(url, caller, "missed") == attempt + 1, 15, "a missed call")
    with _session(url) as s:
        inquiries = s.scalars(select(m.Inquiry).where(m.Inquiry.phone == caller)).all()
        assert [(i.missed_count, i.status, i.responsible_id) for i in inquiries] == [(2, "open", anna_id)]
        tasks = s.scalars(select(m.Task).where(m.Task.inquiry_id == inquiries[0].id)).all()
        assert [(t.type, t.responsible_id, t.status) for t in tasks] == [("call", anna_id, "open")]
    lab.wait_idle()
    lab.set_phone("101", "answer:1:1")
    lab.call(caller, SALES_NUMBER, ring_timeout=10, hold=1)
    lab.wait_for(lambda: _call_count(url, caller, "answered") == 1, 15, "the answered call")

    def task_done():
        with _session(url) as s:
            task = s.scalar(select(m.Task).where(m.Task.inquiry_id == inquiries[0].id))
            missed = s.scalars(select(m.Call).where(m.Call.caller == caller,
                                                    m.Call.outcome == "missed")).all()
            return task.status == "done" and all(c.recovered_at for c in missed)

    lab.wait_for(task_done, 5, "the call-back task to be done and the misses recovered")


def _call_count(url, caller, outcome):
    with _session(url) as s:
        return len(s.scalars(select(m.Call).where(m.Call.caller == caller,
                                                  m.Call.outcome == outcome)).all())

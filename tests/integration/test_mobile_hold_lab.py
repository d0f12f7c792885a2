"""Follow-me mobiles and the short hold, against the real lab Asterisk (issue 17).

Sales (+74951110001): Anna 101, whose mobile +79160000101 follows her after 1 s (owner
step 12 s), Boris 102. Support (+74951110002): Dina 105 alone, holding callers 20 s when
she is busy. The world plays the mobile: ``press1`` answers and keys 1, ``answer`` answers
and keys nothing (a voicemail).
"""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select

from pbx_daemon import db
from pbx_daemon.crm import models as m
from pbx_daemon.lab import Lab
from tests.integration.conftest import running_daemon

pytestmark = pytest.mark.lab

SALES_NUMBER = "+74951110001"
SUPPORT_NUMBER = "+74951110002"
MOBILE = "+79160000101"


def seed(url: str) -> None:
    engine = db.make_engine(url)
    with db.make_session_factory(engine)() as s:
        sales = m.Department(name="Sales", owner_timeout=12, group_timeout=6, head_timeout=1,
                             top_timeout=1)
        support = m.Department(name="Support", group_timeout=5, hold_seconds=20)
        s.add_all([sales, support])
        s.flush()
        anna = m.Employee(full_name="Anna", login="anna", sip_endpoint="101",
                          department_id=sales.id, mobile=MOBILE, mobile_follow=True,
                          mobile_delay=1)
        s.add_all([anna,
                   m.Employee(full_name="Boris", login="boris", sip_endpoint="102",
                              department_id=sales.id),
                   m.Employee(full_name="Dina", login="dina", sip_endpoint="105",
                              department_id=support.id)])
        s.flush()
        s.add(m.Setting(key="default_department_id", value=str(sales.id)))
        s.add_all([m.TrackingNumber(number=SALES_NUMBER, department_id=sales.id),
                   m.TrackingNumber(number=SUPPORT_NUMBER, department_id=support.id)])
        for n, phone in enumerate(("+79031110001", "+79031110002")):
            s.add(m.Company(name=f"Клиент {n}", responsible_id=anna.id,
                            phones=[m.CompanyPhone(phone=phone)]))
        s.commit()
    engine.dispose()


@pytest.fixture(scope="module")
def daemon(lab: Lab, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mobile")
    url = f"sqlite:///{tmp}/pbx.sqlite3"
    db.upgrade(url)
    seed(url)
    with running_daemon(lab, tmp, url):
        yield lab, url, tmp / "daemon.log"


def _call_record(url, caller):
    with db.make_session_factory(db.make_engine(url))() as s:
        call = s.scalar(select(m.Call).where(m.Call.caller == caller).order_by(m.Call.id.desc()))
        if call is None or call.ended_at is None:
            return None
        legs = [(leg.endpoint, leg.step, leg.outcome) for leg in call.legs]
        return call.outcome, call.answered_by.login if call.answered_by else None, legs


def _wait_call(lab, url, caller, timeout=40):
    return lab.wait_for(lambda: _call_record(url, caller), timeout,
                        f"the call from {caller} to be stored")


def _pbx_log(lab):
    return lab.log_dir("pbx") / "messages.log"


def _pbx_log_since(lab, offset):
    """What the lab PBX logged (verbose: the files it played) after ``offset`` bytes."""
    with open(_pbx_log(lab), "rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")


def _rings(lab, caller, since):
    """The phones rung for ``caller``, and the mobile (the lab trunk's From user is fixed,
    so the world does not see the caller's number there)."""
    return {r.target: r for r in lab.rings(since) if r.caller_num == caller or r.target == MOBILE}


def test_the_owners_mobile_rings_through_the_trunk_and_1_takes_the_call(daemon):
    lab, url, _log = daemon
    lab.wait_idle()
    lab.reset_behaviour()
    lab.set_client(MOBILE, "press1:1")
    caller = "+79031110001"
    log_from = _pbx_log(lab).stat().st_size
    start = time.time()
    lab.call(caller, SALES_NUMBER, ring_timeout=30, hold=3)
    outcome, answered_by, legs = _wait_call(lab, url, caller)
    rings = _rings(lab, caller, start)
    assert set(rings) == {"101", MOBILE}
    assert rings[MOBILE].rang_at - rings["101"].rang_at == pytest.approx(1.0, abs=0.7)
    assert rings["101"].answered_at is None and rings["101"].hangup_cause == 26
    assert outcome == "answered" and answered_by == "anna"
    assert legs == [("PJSIP/101", 1, "cancelled"), (f"PJSIP/{MOBILE}@trunk", 1, "answered")]
    said = _pbx_log_since(lab, log_from)
    assert "Playing 'vm-press.gsm'" in said and "Playing 'digits/1.gsm'" in said  # "press 1"


def test_a_mobile_that_answers_without_1_is_dropped_and_the_call_goes_on(daemon):
    lab, url, _log = daemon
    lab.wait_idle()
    lab.reset_behaviour()
    lab.set_client(MOBILE, "answer:1")  # a mobile voicemail: answers, keys nothing
    lab.set_phone("102", "answer:1:1")
    caller = "+79031110002"
    start = time.time()
    lab.call(caller, SALES_NUMBER, ring_timeout=40, hold=2)
    outcome, answered_by, legs = _wait_call(lab, url, caller)
    rings = _rings(lab, caller, start)
    assert rings[MOBILE].answered_at is not None
    # Answered ~2 s in, asked for 1 for 8 s, then hung up; 102 rings at the step's end.
    assert rings[MOBILE].ended_at - rings[MOBILE].answered_at == pytest.approx(8, abs=1.5)
    assert rings["102"].rang_at - rings["101"].rang_at == pytest.approx(12, abs=1)
    assert outcome == "answered" and answered_by == "boris"
    assert legs == [("PJSIP/101", 1, "cancelled"), (f"PJSIP/{MOBILE}@trunk", 1, "no_answer"),
                    ("PJSIP/102", 2, "answered")]


def test_everyone_busy_the_caller_holds_and_gets_the_phone_that_frees(daemon):
    lab, url, log = daemon
    lab.wait_idle()
    lab.reset_behaviour()
    lab.set_phone("105", "answer:1:8")  # Dina takes the first call and talks ~8 s
    first, second = "+79032220001", "+79032220002"
    log_from = _pbx_log(lab).stat().st_size
    start = time.time()
    lab.call(first, SUPPORT_NUMBER, ring_timeout=20, hold=30)
    lab.wait_for(lambda: [r for r in lab.rings(start) if r.caller_num == first and r.answered_at],
                 10, "Dina to answer the first caller")
    time.sleep(1)
    # Once answered (here: to wait) the world's caller stays ``hold`` seconds.
    lab.call(second, SUPPORT_NUMBER, ring_timeout=30, hold=25)
    # The PBX answers the second caller at once to hold them (music, "you are next").
    answered = lab.wait_for(lambda: [e for e in lab.events(start)
                                     if e.type == "ANSWER" and e.caller_num == second], 5,
                            "the waiting caller to be answered")
    assert not [r for r in lab.rings(start) if r.caller_num == second], "105 is busy"
    outcome, answered_by, legs = _wait_call(lab, url, second)
    ring = next(r for r in lab.rings(start) if r.caller_num == second)
    first_ring = next(r for r in lab.rings(start) if r.caller_num == first)
    # 105 rings for the waiting caller as soon as the first call is over.
    assert ring.target == "105" and ring.rang_at - first_ring.ended_at < 2
    assert ring.rang_at - answered[0].time > 4
    assert outcome == "answered" and answered_by == "dina"
    assert legs == [("PJSIP/105", 1, "answered")]
    # The PBX's own log: the announcement played to the waiting caller, then the music.
    said = _pbx_log_since(lab, log_from)
    announced = said.find("Playing 'queue-youarenext.gsm'")
    assert announced >= 0 and said.find("Started music on hold, class 'default'") > announced
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    assert any("waits in line" in (x.get("log_format") or "") and x.get("position") == 1
               for x in lines)

"""Schedules, presence and DND from the phone against the real lab Asterisk (issue 17).

Sales (+74951110001): Anna 101 (owner of the client), Boris 102, head Vera 103; Ivan 109,
a registering phone nobody registered (the lab renders 109 without a contact). Steps are
short (owner 2 s, group 2 s, head 1 s); the fallback group is 104.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, time as dtime, timedelta, timezone

import pytest
from sqlalchemy import delete, select

from pbx_daemon import db
from pbx_daemon.crm import models as m
from pbx_daemon.lab import Lab
from tests.integration.conftest import seeded_daemon

pytestmark = pytest.mark.lab

CLIENT = "+79161234567"  # Anna's client
SALES_NUMBER = "+74951110001"
IVANS_CLIENT = "+79031239001"


def seed(url: str) -> None:
    engine = db.make_engine(url)
    with db.make_session_factory(engine)() as s:
        sales = m.Department(name="Sales", owner_timeout=2, group_timeout=2, head_timeout=1,
                             top_timeout=2, fallback_ring_group="104")
        s.add(sales)
        s.flush()
        people = {
            "anna": m.Employee(full_name="Anna", login="anna", sip_endpoint="101", department_id=sales.id),
            "boris": m.Employee(full_name="Boris", login="boris", sip_endpoint="102", department_id=sales.id),
            "vera": m.Employee(full_name="Vera", login="vera", role="head", sip_endpoint="103",
                               department_id=sales.id),
            "ivan": m.Employee(full_name="Ivan", login="ivan", sip_endpoint="109", department_id=sales.id),
        }
        s.add_all(people.values())
        s.flush()
        sales.head_id = people["vera"].id
        s.add(m.Setting(key="default_department_id", value=str(sales.id)))
        s.add(m.TrackingNumber(number=SALES_NUMBER, department_id=sales.id))
        s.add(m.Company(name="ООО Ромашка", responsible_id=people["anna"].id,
                        phones=[m.CompanyPhone(phone=CLIENT)]))
        s.commit()
    engine.dispose()


@pytest.fixture(scope="module")
def routed(lab: Lab, tmp_path_factory):
    with seeded_daemon(lab, tmp_path_factory.mktemp("presence"), seed) as routed:
        yield routed


def _session(url):
    return db.make_session_factory(db.make_engine(url))()


def _anna(url, **fields):
    """Set Anna's fields; ``shifts`` replaces her weekly schedule."""
    with _session(url) as s:
        e = s.scalar(select(m.Employee).where(m.Employee.login == "anna"))
        shifts = fields.pop("shifts", None)
        if shifts is not None:
            s.execute(delete(m.EmployeeShift).where(m.EmployeeShift.employee_id == e.id))
            s.add_all(m.EmployeeShift(employee_id=e.id, weekday=d, starts=a, ends=b) for d, a, b in shifts)
        for k, v in fields.items():
            setattr(e, k, v)
        s.commit()


def _employee(url, login):
    with _session(url) as s:
        return s.scalar(select(m.Employee).where(m.Employee.login == login))


def _rings(lab, caller, since):
    return [r for r in lab.rings(since) if r.caller_num == caller]


def _call(lab, caller, answerer, ring_timeout=15):
    """``caller`` calls Sales; ``answerer`` picks up after 1 s. The rings, once answered."""
    lab.wait_idle()
    lab.reset_behaviour()
    lab.set_phone(answerer, "answer:1:1")
    start = time.time()
    lab.call(caller, SALES_NUMBER, ring_timeout=ring_timeout, hold=1)
    lab.wait_for(lambda: [r for r in _rings(lab, caller, start) if r.answered_at], 20,
                 f"{answerer} to answer")
    return start, _rings(lab, caller, start)


def test_the_unregistered_lab_phone_is_offline_in_ari(routed):
    """What ARI says: a static contact (no qualify) is online, a registering phone nobody
    registered is offline."""
    lab, _url, log = routed
    assert lab.ari_get("/endpoints/PJSIP/101")["state"] == "online"
    assert lab.ari_get("/endpoints/PJSIP/109")["state"] == "offline"

    def snapshot_says():
        said = [json.loads(line) for line in log.read_text().splitlines() if "presence" in line]
        return any(e.get("offline") == "109" for e in said)
    lab.wait_for(snapshot_says, 5, "the daemon's snapshot to list 109 offline")


def test_off_schedule_is_skipped_and_on_schedule_rings(routed):
    lab, url, _log = routed
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).weekday()
    # UTC (general.timezone's default); a shift on another weekday only: off now.
    _anna(url, shifts=[(tomorrow, dtime(9), dtime(9, 1))])
    try:
        _start, rings = _call(lab, CLIENT, "102")
        assert [r.target for r in rings] == ["102"], "Anna is off schedule: the group, without her"
        # Every day, all day: on schedule, she rings first, alone.
        _anna(url, shifts=[(d, dtime(0), dtime(0)) for d in range(7)])
        _start, rings = _call(lab, CLIENT, "101")
        assert [r.target for r in rings] == ["101"]
    finally:
        _anna(url, shifts=[])


def test_off_now_expires_by_itself(routed):
    lab, url, _log = routed
    _anna(url, off_until=datetime.now(timezone.utc) + timedelta(seconds=3))
    _start, rings = _call(lab, CLIENT, "102")
    assert [r.target for r in rings] == ["102"]
    lab.wait_for(lambda: datetime.now(timezone.utc) > _employee(url, "anna").off_until, 10,
                 "the override to expire")
    _start, rings = _call(lab, CLIENT, "101")
    assert [r.target for r in rings] == ["101"], "nobody switched her back: the clock did"


def test_a_phone_not_registered_is_skipped_without_delay(routed):
    """Ivan's client calls: Ivan's phone 109 is registered nowhere (offline), so his step
    is skipped: no leg is even tried, the group (101, 102) rings at once."""
    lab, url, _log = routed
    with _session(url) as s:
        ivan = s.scalar(select(m.Employee).where(m.Employee.login == "ivan"))
        s.add(m.Contact(full_name="Ivan's client", responsible_id=ivan.id,
                        phones=[m.ContactPhone(phone=IVANS_CLIENT)]))
        s.commit()
    start, rings = _call(lab, IVANS_CLIENT, "102")
    assert sorted(r.target for r in rings) == ["101", "102"]
    assert min(r.rang_at for r in rings) - start < 2, "nothing waited for 109"

    def legs():
        with _session(url) as s:
            call = s.scalar(select(m.Call).where(m.Call.caller == IVANS_CLIENT))
            return call is not None and call.ended_at is not None and \
                [leg.endpoint for leg in call.legs]
    assert "109" not in lab.wait_for(legs, 20, "the call to be stored")


def test_a_phone_on_an_internal_call_is_skipped(routed):
    """102 dials 103 and both talk (a desk-phone call); another call the daemon knows
    nothing about is placed on 101 from the PBX console. Then an unknown caller rings
    only the rest of the group: 109 is offline, so nobody: the fallback group (104)."""
    lab, url, _log = routed
    lab.wait_idle()
    lab.reset_behaviour()
    lab.set_phone("103", "answer:1:15")
    lab.set_phone("101", "answer:1:15")
    lab.phone_dial("102", "103", hold=15)
    lab.cli("pbx", "channel originate PJSIP/101 application Wait 15")
    lab.wait_for(lambda: len(lab.ari_get("/endpoints/PJSIP/101")["channel_ids"]) == 1
                 and len(lab.ari_get("/endpoints/PJSIP/103")["channel_ids"]) == 1, 10,
                 "101 and 103 to be on their calls")
    time.sleep(1.5)  # the daemon lists the phones every second
    lab.set_phone("104", "answer:1:1")
    caller = "+79031239002"
    start = time.time()
    lab.call(caller, SALES_NUMBER, ring_timeout=15, hold=1)
    lab.wait_for(lambda: [r for r in _rings(lab, caller, start) if r.answered_at], 20,
                 "the fallback group to answer")
    rings = _rings(lab, caller, start)
    assert [r.target for r in rings] == ["104"], \
        "101 (foreign call), 102 and 103 (internal call) busy, 109 offline: fallback at once"
    assert rings[0].rang_at - start < 3, "unreachable is not a ring: no step waited out"


def test_star_78_sets_dnd_and_the_next_call_skips_that_phone(routed):
    lab, url, _log = routed
    lab.wait_idle()
    lab.reset_behaviour()
    lab.phone_dial("101", "*78", hold=1, ring_timeout=5)
    lab.wait_for(lambda: _employee(url, "anna").dnd, 10, "*78 to set Anna's DND")
    try:
        _start, rings = _call(lab, CLIENT, "102")
        assert [r.target for r in rings] == ["102"]
        lab.wait_idle()
        lab.phone_dial("101", "*79", hold=1, ring_timeout=5)
        lab.wait_for(lambda: not _employee(url, "anna").dnd, 10, "*79 to clear it")
    finally:
        _anna(url, dnd=False)

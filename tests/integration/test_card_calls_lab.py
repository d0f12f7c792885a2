"""Issue 12, Links, against the real lab Asterisk: a contact of ООО Ромашка calls, Anna (the
card's manager) answers, and within seconds of the hang-up the company card and its open
deal's card list the call with its recording and who talked, for Anna, her head Vera and
the owner Oleg; Boris, another manager, gets 403 for the cards and the recording.

The daemon runs as `pbx-crm daemon` (the routing suite's seed); the admin is the Flask
app in-process, on the same database and recordings store.
"""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from pbx_daemon import db
from pbx_daemon.config import load_config
from pbx_daemon.crm import models as m
from pbx_daemon.lab import Lab
from tests.integration.conftest import running_daemon
from tests.integration.test_routing_lab import SALES_NUMBER, seed
from tests.unit.helpers import admin_login

pytestmark = pytest.mark.lab

CONTACT_NUMBER = "+79031239001"


def _session(url):
    return db.make_session_factory(db.make_engine(url))()


@pytest.fixture(scope="module")
def linked(lab: Lab, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("card-calls")
    url = f"sqlite:///{tmp}/pbx.sqlite3"
    db.upgrade(url)
    seed(url)
    with _session(url) as s:
        people = {e.login: e for e in s.scalars(select(m.Employee))}
        for login in ("anna", "boris", "vera", "oleg"):
            people[login].password_hash = generate_password_hash(f"{login}-Password-1")
        company = s.scalar(select(m.Company).where(m.Company.name == "ООО Ромашка"))
        contact = m.Contact(full_name="Пётр Петров", company_id=company.id,
                            responsible_id=people["anna"].id,
                            phones=[m.ContactPhone(phone=CONTACT_NUMBER)])
        stage = s.scalar(select(m.DealStage).where(m.DealStage.is_won.is_(False),
                                                   m.DealStage.is_lost.is_(False))
                         .order_by(m.DealStage.position))
        deal = m.Deal(title="Окна на дачу", company_id=company.id, stage_id=stage.id,
                      responsible_id=people["anna"].id)
        s.add_all([contact, deal])
        s.commit()
        ids = {"company": company.id, "contact": contact.id, "deal": deal.id}
    from admin.app import create_app

    app = create_app(load_config(None, {
        "PBX_CRM_DATABASE_URL": url, "PBX_CRM_ADMIN_SECRET_KEY": "s" * 40,
        "PBX_CRM_RECORDINGS_DIR": str(tmp / "recordings")}))
    with running_daemon(lab, tmp, url) as _daemon:
        yield lab, url, app, ids


def _call_row(url, caller):
    with _session(url) as s:
        call = s.scalar(select(m.Call).where(m.Call.caller == caller).order_by(m.Call.id.desc()))
        return call.id if call is not None and call.recording is not None else None


def _listed(page: str, call_id: int) -> str | None:
    row = re.search(rf'<tr data-call="{call_id}">(.*?)</tr>', page, re.S)
    return row.group(1) if row else None


def test_a_contacts_call_answered_by_the_manager_is_on_the_company_and_deal_cards(linked):
    lab, url, app, ids = linked
    lab.wait_idle()
    lab.reset_behaviour()
    lab.set_phone("101", "answer:1:2")
    start = time.time()
    lab.call(CONTACT_NUMBER, SALES_NUMBER, ring_timeout=20, hold=3)
    ring = lab.wait_for(lambda: [r for r in lab.rings(start) if r.caller_num == CONTACT_NUMBER
                                 and r.target == "101" and r.ended_at], 25, "the call to end")[0]
    anna = admin_login(app, "anna")
    # The card lists the call with its recording within seconds of the hang-up.
    call_id = lab.wait_for(lambda: _call_row(url, CONTACT_NUMBER), 10, "the call and its recording")
    lab.wait_for(lambda: _listed(anna.get(f"/admin/card/company/{ids['company']}")
                                 .get_data(as_text=True), call_id), 5, "the call on the card")
    assert time.time() - ring.ended_at < 8

    with _session(url) as s:
        call = s.get(m.Call, call_id)
        assert (call.company_id, call.contact_id, call.deal_id) == \
            (ids["company"], ids["contact"], ids["deal"])
        assert call.answered_by.login == "anna" and call.outcome == "answered"

    for who in ("anna", "vera", "oleg"):
        client = admin_login(app, who)
        for kind in ("company", "deal"):
            page = client.get(f"/admin/card/{kind}/{ids[kind]}").get_data(as_text=True)
            row = _listed(page, call_id)
            assert row is not None, f"{who} does not see the call on the {kind} card"
            assert '<td class="talked">Anna</td>' in row
            assert f'<audio controls preload="none" src="/calls/{call_id}/recording">' in row
        recording = client.get(f"/calls/{call_id}/recording")
        assert recording.status_code == 200 and recording.data[:4] == b"RIFF" \
            and len(recording.data) > 1000

    boris = admin_login(app, "boris")
    for kind in ("company", "deal", "contact"):
        assert boris.get(f"/admin/card/{kind}/{ids[kind]}").status_code == 403
    assert boris.get(f"/calls/{call_id}/recording").status_code == 403

"""New numbers through the real PBX (issue 12): an answered unknown caller leaves one
inquiry (repeat calls merge), for the employee who answered, with no call-back task;
classified Spam in the admin, the number is blocked and its next call is refused;
classified Lead, the lead takes its calls."""

from __future__ import annotations

import random
import re
import time

import pytest
from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from pbx_daemon import db
from pbx_daemon.crm import models as m
from pbx_daemon.lab import Lab
from tests.integration.conftest import running_daemon
from tests.integration.test_routing_lab import SALES_NUMBER, seed
from tests.unit.helpers import admin_login

pytestmark = pytest.mark.lab


def _session(url):
    return db.make_session_factory(db.make_engine(url))()


def _calls(url, caller, outcome):
    with _session(url) as s:
        return s.scalars(select(m.Call).where(m.Call.caller == caller, m.Call.outcome == outcome)
                         .order_by(m.Call.id)).all()


def _answered_by_101(lab, url, caller, count):
    lab.wait_idle()
    lab.reset_behaviour()
    lab.set_phone("101", "answer:1:2")
    lab.call(caller, SALES_NUMBER, ring_timeout=15, hold=3)

    def stored():
        calls = _calls(url, caller, "answered")
        return calls if len(calls) == count and calls[-1].ended_at is not None else None

    return lab.wait_for(stored, 25, f"answered call {count} from {caller} to be stored")


def _admin(url):
    from admin.app import create_app
    from pbx_daemon.config import load_config

    config = load_config(None, {"PBX_CRM_DATABASE_URL": url, "PBX_CRM_ADMIN_SECRET_KEY": "s" * 40})
    return create_app(config)


def test_an_answered_unknown_caller_leaves_one_inquiry_classifiable_as_spam_or_lead(lab: Lab, tmp_path):
    suffix = random.randrange(1000, 9999)  # the PBX's CEL log outlives runs: our numbers only
    spammer, prospect = f"+790377{suffix}1", f"+790377{suffix}2"
    url = f"sqlite:///{tmp_path}/pbx.sqlite3"
    db.upgrade(url)
    seed(url)
    with _session(url) as s:
        anna = s.scalar(select(m.Employee).where(m.Employee.login == "anna"))
        anna.password_hash = generate_password_hash("anna-Password-1")
        s.commit()
        anna_id = anna.id
    with running_daemon(lab, tmp_path, url):
        _answered_by_101(lab, url, spammer, 1)
        calls = _answered_by_101(lab, url, spammer, 2)  # calls again: merges
        _answered_by_101(lab, url, prospect, 1)
        with _session(url) as s:
            inquiries = s.scalars(select(m.Inquiry).where(m.Inquiry.phone == spammer)).all()
            assert [(i.inquiry_class.code, i.status, i.responsible_id, i.missed_count)
                    for i in inquiries] == [("unclear", "open", anna_id, 0)]
            assert {c.inquiry_id for c in calls} == {inquiries[0].id}
            assert s.scalar(select(func.count(m.Task.id))) == 0  # they talked: no call-back
            spam_id = inquiries[0].id
            lead_inquiry = s.scalar(select(m.Inquiry.id).where(m.Inquiry.phone == prospect))

        # Anna classifies both in her queue.
        app = _admin(url)
        client = admin_login(app, "anna")
        queue = client.get("/admin/queue/").get_data(as_text=True)
        assert f'data-inquiry="{spam_id}"' in queue and f'data-inquiry="{lead_inquiry}"' in queue
        token = re.search(r'name="csrf_token" value="([^"]+)"', queue).group(1)
        assert client.post(f"/admin/queue/{spam_id}/classify",
                           data={"class": "spam", "csrf_token": token}).status_code == 302
        assert client.post(f"/admin/queue/{lead_inquiry}/classify",
                           data={"class": "lead", "csrf_token": token}).status_code == 302

        # Spam blocked the number: its next call rings nobody.
        lab.wait_idle()
        lab.reset_behaviour()
        lab.set_phone("101", "answer:1:2")
        start = time.time()
        lab.call(spammer, SALES_NUMBER, ring_timeout=8, hold=1)
        lab.wait_for(lambda: _calls(url, spammer, "blocked"), 20, "the blocked call to be stored")
        assert [r for r in lab.rings(start) if r.caller_num == spammer] == []

    with _session(url) as s:
        assert s.scalar(select(m.BlockedNumber).where(m.BlockedNumber.phone == spammer))
        assert s.scalar(select(func.count(m.Inquiry.id)).where(m.Inquiry.phone == spammer)) == 1
        lead = s.scalar(select(m.Lead).where(m.Lead.inquiry_id == lead_inquiry))
        assert (lead.phone, lead.responsible_id) == (prospect, anna_id)
        assert [c.lead_id for c in s.scalars(select(m.Call).where(m.Call.caller == prospect))] == [lead.id]

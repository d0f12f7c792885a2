"""Nothing lost while the daemon was down: three calls arrive with the daemon stopped
(one answered via the AGI fallback, two missed from distinct numbers); when the daemon
starts it stores all three from Asterisk's CEL, attaches the answered one's recording,
makes one inquiry per missed number, and a second reconcile changes nothing."""

from __future__ import annotations

import random
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from pbx_daemon import db
from pbx_daemon.crm import models as m
from pbx_daemon.lab import Lab
from tests.integration.conftest import reconciled_to_the_end, running_daemon
from tests.integration.test_routing_lab import CLIENT, SALES_NUMBER, seed

pytestmark = pytest.mark.lab


def test_calls_during_downtime_are_stored_once_with_inquiries_and_recording(lab: Lab, tmp_path):
    # The PBX's CEL log outlives test runs: numbers of this run only.
    suffix = random.randrange(1000, 9999)
    missed_numbers = [f"+790355{suffix}1", f"+790355{suffix}2"]
    url = f"sqlite:///{tmp_path}/pbx.sqlite3"
    db.upgrade(url)
    seed(url)
    deal_id = _open_deal(url, "ООО Ромашка")
    cel = reconciled_to_the_end(lab, url)  # before the daemon went down
    lab.attach_database(url)
    try:
        lab.wait_idle()
        lab.reset_behaviour()
        lab.set_phone("101", "answer:1:2")
        start = time.time()
        lab.call(CLIENT, SALES_NUMBER, ring_timeout=15, hold=3)  # answered via the AGI
        lab.wait_for(lambda: [r for r in lab.rings(start) if r.answered_at and r.ended_at], 20,
                     "the AGI-routed call to be answered and over")
        lab.wait_idle(20)
        lab.reset_behaviour()
        # Two missed: give up after 6 s (the process AGI starts Python first: ~0.6 s on an
        # idle box, seconds on a loaded one, and a caller gone before that rings nobody).
        for caller in missed_numbers:
            lab.call(caller, SALES_NUMBER, ring_timeout=6, hold=1)
        lab.wait_for(lambda: len({r.caller_num for r in lab.rings(start) if r.ended_at} - {CLIENT}) == 2,
                     30, "both missed calls to ring out")
        lab.wait_idle(20)
        time.sleep(1)
    finally:
        lab.attach_database("sqlite:////nonexistent/no-database-attached.sqlite3")

    engine = db.make_engine(url)
    sessions = db.make_session_factory(engine)

    def stored():
        with sessions() as s:
            calls = s.scalars(select(m.Call).where(m.Call.started_at >= _utc(start - 1))).all()
            return calls if len(calls) == 3 else None

    time.sleep(5)  # the daemon leaves calls that ended in the last 5 s alone
    with running_daemon(lab, tmp_path, url,
                        asterisk_extra=f'cel_log = "{cel}"\nreconcile_interval = 1\n'):
        calls = lab.wait_for(stored, 15, "the three calls to be reconciled")
    by_caller = {c.caller: c for c in calls}
    with sessions() as s:
        answered = s.get(m.Call, by_caller[CLIENT].id)
        assert answered.outcome == "answered" and answered.handled_by == "reconciled"
        assert answered.answered_by.login == "anna"
        # Linked like a call the daemon routed: the company its number is on, its open deal.
        company = s.get(m.Company, answered.company_id) if answered.company_id else None
        assert (company.name if company else None, answered.deal_id) == ("ООО Ромашка", deal_id)
        assert answered.recording is not None and answered.recording.size_bytes > 1000
        # Moved out of Asterisk's spool into the store, named by the call's linkedid.
        assert (tmp_path / "recordings" / f"{answered.linkedid}.wav").stat().st_size \
            == answered.recording.size_bytes
        for caller in missed_numbers:
            call = s.get(m.Call, by_caller[caller].id)
            assert call.outcome == "missed" and call.inquiry_id is not None
            assert call.legs and call.legs[0].endpoint == "PJSIP/101"
        inquiries = s.scalars(select(m.Inquiry).where(
            m.Inquiry.phone.in_(missed_numbers))).all()
        assert sorted(i.phone for i in inquiries) == missed_numbers
        # One missed call each; on a failure, say what the store holds for those numbers.
        stored_calls = {n: [(c.linkedid, c.outcome, c.handled_by) for c in s.scalars(
            select(m.Call).where(m.Call.caller == n))] for n in missed_numbers}
        assert {i.phone: i.missed_count for i in inquiries} == dict.fromkeys(missed_numbers, 1), \
            stored_calls
        # The webhooks' outbox has each call's events once, in order, marked reconciled.
        events = {}
        for e in s.scalars(select(m.WebhookEvent).where(m.WebhookEvent.kind.startswith("call."))
                           .order_by(m.WebhookEvent.id)):
            assert e.payload["reconciled"] is True
            events.setdefault(e.payload["call"]["call_id"], []).append(e.kind)
        assert events[answered.linkedid] == ["call.started", "call.answered", "call.ended",
                                             "call.recording_ready"]
        for caller in missed_numbers:
            assert events[by_caller[caller].linkedid] == ["call.started", "call.ended"]
        before = s.scalar(select(func.count()).select_from(m.Call))
        tasks_before = s.scalar(select(func.count()).select_from(m.Task))
        events_before = s.scalar(select(func.count()).select_from(m.WebhookEvent))

    # A second reconcile (the ops command) changes nothing.
    config = tmp_path / "pbx-crm.toml"
    again = subprocess.run([sys.executable, "-m", "pbx_daemon.cli", "--config", str(config),
                            "reconcile"], capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert " 0 stored" in again.stdout
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(m.Call)) == before
        assert s.scalar(select(func.count()).select_from(m.Task)) == tasks_before
        assert s.scalar(select(func.count()).select_from(m.WebhookEvent)) == events_before
    engine.dispose()


def _open_deal(url, company_name):
    engine = db.make_engine(url)
    with db.make_session_factory(engine)() as s:
        company = s.scalar(select(m.Company).where(m.Company.name == company_name))
        stage = s.scalar(select(m.DealStage).where(m.DealStage.is_won.is_(False),
                                                   m.DealStage.is_lost.is_(False)))
        deal = m.Deal(title="Поставка", company_id=company.id, stage_id=stage.id,
                      responsible_id=company.responsible_id)
        s.add(deal)
        s.commit()
        deal_id = deal.id
    engine.dispose()
    return deal_id


def _utc(ts):
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts, timezone.utc)


def test_call_handed_to_the_fallback_group_is_completed_from_cel_with_its_recording(lab: Lab, tmp_path):
    """Nobody is available, so the daemon hands the caller to the department's fallback
    group in the dialplan; how that call ended is only in CEL: reconciliation fills it in
    (answered by whom, the recording) instead of leaving it in progress forever."""
    url = f"sqlite:///{tmp_path}/pbx.sqlite3"
    db.upgrade(url)
    seed(url)
    engine = db.make_engine(url)
    sessions = db.make_session_factory(engine)
    with sessions() as s:
        for e in s.scalars(select(m.Employee)):
            e.dnd = True
        s.commit()
    caller = f"+790366{random.randrange(10000, 99999)}"
    cel = reconciled_to_the_end(lab, url)
    with running_daemon(lab, tmp_path, url,
                        asterisk_extra=f'cel_log = "{cel}"\nreconcile_interval = 1\n'):
        lab.wait_idle()
        lab.reset_behaviour()
        lab.set_phone("102", "answer:1:2")
        start = time.time()
        lab.call(caller, SALES_NUMBER, ring_timeout=20, hold=5)

        def completed():
            with sessions() as s:
                call = s.scalar(select(m.Call).where(m.Call.caller == caller))
                return call if call is not None and call.outcome != "in_progress" \
                    and call.recording is not None else None

        call = lab.wait_for(completed, 25, "the fallback call to be completed from CEL")
    rings = [r for r in lab.rings(start) if r.caller_num == caller]
    assert sorted(r.target for r in rings) == ["101", "102"]
    with sessions() as s:
        call = s.get(m.Call, call.id)
        assert (call.handled_by, call.outcome, call.answered_by.login) == ("fallback_group", "answered", "boris")
        assert call.recording.size_bytes > 1000
        assert (tmp_path / "recordings" / call.recording.path).is_file()
        assert s.scalar(select(func.count()).select_from(m.Call).where(m.Call.caller == caller)) == 1
        # A new number, answered: one inquiry to classify, for who answered, no task.
        inquiries = s.scalars(select(m.Inquiry).where(m.Inquiry.phone == caller)).all()
        assert [(i.responsible.login, i.missed_count) for i in inquiries] == [("boris", 0)]
        assert call.inquiry_id == inquiries[0].id
        assert s.scalar(select(func.count()).select_from(m.Task).where(
            m.Task.inquiry_id == inquiries[0].id)) == 0
    engine.dispose()

"""Webhooks (issue 18): every path that creates an inquiry or a task, classifies an inquiry
or marks a task done writes its event in the same transaction (the flush listener every
session factory installs), and calls stored later from CEL send their call events once,
marked ``reconciled``."""

from __future__ import annotations

import json
import re
import wave
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from twisted.internet.defer import succeed

from pbx_daemon.crm import models as m
from pbx_daemon.crm.cold_calling import finish_entry, next_entry
from pbx_daemon.crm.funnel import entered_stage, new_task
from pbx_daemon.crm.inquiries.actions import classify_inquiry
from pbx_daemon.crm.webhooks.store import render_body
from pbx_daemon.db import make_engine, make_session_factory, seed_reference_data
from pbx_daemon.telephony.calls.interfaces import CallDetails
from pbx_daemon.telephony.outputs.store import SqlCallRecorder
from pbx_daemon.telephony.reconcile import close_abandoned, reconcile
from pbx_daemon.telephony.routing.policy import RoutePlan
from tests.unit.cel_builder import SALES_NUMBER, inbound, leg_id
from tests.unit.helpers import admin_login, staffed_admin

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def sessions(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/pbx.sqlite3")
    m.Base.metadata.create_all(engine)
    factory = make_session_factory(engine)
    with factory() as s:
        seed_reference_data(s)
        sales = m.Department(name="Sales")
        s.add(sales)
        s.flush()
        anna = m.Employee(full_name="Anna", login="anna", role="head", sip_endpoint="101",
                          department_id=sales.id)
        s.add_all([anna, m.Employee(full_name="Olga", login="olga", role="cold_operator"),
                   m.TrackingNumber(number=SALES_NUMBER, department_id=sales.id)])
        s.flush()
        sales.head_id = anna.id  # a missed call to the sales number: her call-back task
        s.commit()
    yield factory
    engine.dispose()


def events(sessions, kind_prefix: str = "") -> list[tuple[str, dict]]:
    with sessions() as s:
        return [(e.kind, e.payload) for e in s.scalars(select(m.WebhookEvent).order_by(m.WebhookEvent.id))
                if e.kind.startswith(kind_prefix)]


def kinds(sessions, kind_prefix: str = "") -> list[str]:
    return [k for k, _ in events(sessions, kind_prefix)]


def employee(s, login) -> m.Employee:
    return s.scalar(select(m.Employee).where(m.Employee.login == login))


def task(**kw) -> m.Task:
    return m.Task(**{"title": "Call back", "type": "call", "comment": "c", "deadline": NOW} | kw)


# ---- the listener: whatever the path --------------------------------------------------------
def test_a_task_added_any_way_gets_task_created_and_a_rolled_back_one_nothing(sessions):
    with sessions() as s:
        s.add(task(title="Rolled back", responsible_id=employee(s, "anna").id))
        s.flush()
        s.rollback()
    assert kinds(sessions) == []
    with sessions() as s:
        s.add(task(title="Plain ORM", responsible_id=employee(s, "anna").id))
        s.commit()
    ((kind, payload),) = events(sessions)
    assert kind == "task.created" and payload["task"]["title"] == "Plain ORM"
    assert payload["task"]["id"] and payload["task"]["status"] == "open"


def test_done_is_sent_once_when_the_status_becomes_done_and_cancel_or_edits_send_nothing(sessions):
    with sessions() as s:
        anna = employee(s, "anna").id
        one, two = task(title="one", responsible_id=anna), task(title="two", responsible_id=anna)
        s.add_all([one, two])
        s.commit()
        one.comment = "edited"
        s.commit()
        one.status, one.done_at = "done", NOW
        s.commit()
        one.comment = "edited after done"
        s.commit()
        two.status = "cancelled"
        s.commit()
        s.add(task(title="born done", responsible_id=anna, status="done", done_at=NOW))
        s.commit()
    assert [(k, p["task"]["title"]) for k, p in events(sessions)] == [
        ("task.created", "one"), ("task.created", "two"), ("task.done", "one"),
        ("task.created", "born done"), ("task.done", "born done")]
    assert events(sessions)[2][1]["task"]["status"] == "done"


def test_done_again_on_a_task_read_afresh_sends_nothing(sessions):
    """An expired task (the admin's sessions expire on commit) set to done again is no change."""
    with sessions() as s:
        one = task(title="one", responsible_id=employee(s, "anna").id, status="done", done_at=NOW)
        s.add(one)
        s.commit()
        s.expire(one)
        one.status = "done"
        inquiry = m.Inquiry(channel="call", phone="+79161234567", status="open", first_seen_at=NOW,
                            last_seen_at=NOW, class_id=None)
        s.add(inquiry)
        s.commit()
        s.expire(inquiry)
        inquiry.class_id = None
        s.commit()
    assert kinds(sessions) == ["task.created", "task.done", "inquiry.created"]


def test_an_inquiry_created_and_classified_any_way(sessions):
    with sessions() as s:
        classes = {c.code: c.id for c in s.scalars(select(m.InquiryClass))}
        inquiry = m.Inquiry(channel="call", phone="+79161234567", status="open", class_id=classes["unclear"],
                            first_seen_at=NOW, last_seen_at=NOW)
        s.add(inquiry)
        s.commit()
        inquiry.missed_count = 3  # not a classification
        s.commit()
        inquiry.class_id = classes["spam"]
        s.commit()
    assert [(k, p["inquiry"]["class"]) for k, p in events(sessions)] == [
        ("inquiry.created", "unclear"), ("inquiry.classified", "spam")]


def test_one_flush_sends_the_inquiry_before_its_tasks_in_insert_order(sessions):
    with sessions() as s:
        anna = employee(s, "anna").id
        inquiry = m.Inquiry(channel="web_form", phone="+79161234567", status="open", first_seen_at=NOW,
                            last_seen_at=NOW)
        s.add_all([task(title="first", responsible_id=anna), task(title="second", responsible_id=anna)])
        s.add(inquiry)
        s.commit()
    assert [k for k in kinds(sessions)] == ["inquiry.created", "task.created", "task.created"]
    assert [p["task"]["title"] for _, p in events(sessions, "task.")] == ["first", "second"]


# ---- the paths the brief named --------------------------------------------------------------
def test_funnel_tasks_deal_stage_rules_and_cold_call_backs_send_task_created(sessions):
    with sessions() as s:
        anna, olga = employee(s, "anna"), employee(s, "olga")
        new_task(s, title="Send the offer", type="email", responsible_id=anna.id, deadline=NOW + timedelta(hours=1),
                 comment="c", created_by=anna, now=NOW)
        stage = s.scalar(select(m.DealStage).order_by(m.DealStage.position))
        s.add(m.DealStageTaskRule(stage_id=stage.id, type="call", title="Call about the offer", comment="c"))
        deal = m.Deal(title="Windows", stage_id=stage.id, responsible_id=anna.id)
        s.add(deal)
        s.flush()
        entered_stage(s, deal, stage, by=anna, now=NOW)
        call_list = m.CallList(name="L", operators=[olga])
        s.add(call_list)
        s.flush()
        s.add(m.CallListEntry(call_list_id=call_list.id, phone="+79165550000", company_name="Cafe"))
        s.flush()
        finish_entry(s, next_entry(s, olga, NOW), operator=olga, disposition="call_back_later",
                     callback_at=NOW + timedelta(days=1), now=NOW)
        s.commit()
    assert [(k, p["task"]["title"]) for k, p in events(sessions)] == [
        ("task.created", "Send the offer"), ("task.created", "Call about the offer"),
        ("task.created", "Call back: Cafe")]
    assert events(sessions)[1][1]["card"]["deal"]["name"] == "Windows"


def test_classify_inquiry_sends_classified_and_an_answered_call_back_sends_done(sessions):
    recorder = SqlCallRecorder(sessions, run=lambda fn: succeed(fn()))
    with sessions() as s:
        anna = employee(s, "anna").id
    recorder.caller_identified("c1", CallDetails("+79169999999", "+79169999999", None, owner_id=anna))
    recorder.call_started("c1", "c1", RoutePlan(steps=()), NOW.timestamp())
    recorder.call_ended("c1", "missed", (NOW + timedelta(seconds=20)).timestamp())
    # The client calls again and gets through: the call-back task is done.
    recorder.caller_identified("c2", CallDetails("+79169999999", "+79169999999", None, owner_id=anna))
    recorder.call_started("c2", "c2", RoutePlan(steps=()), (NOW + timedelta(minutes=5)).timestamp())
    recorder.call_answered("c2", "leg", anna, (NOW + timedelta(minutes=5, seconds=3)).timestamp())
    with sessions() as s:
        inquiry = s.scalar(select(m.Inquiry))
        classify_inquiry(s, inquiry, "client", by=s.get(m.Employee, anna), now=NOW + timedelta(minutes=9))
        s.commit()
    assert kinds(sessions) == ["call.started", "inquiry.created", "task.created", "call.ended",
                               "call.started", "call.answered", "task.done", "inquiry.classified"]
    assert events(sessions, "inquiry.classified")[0][1]["inquiry"]["class"] == "client"


# ---- the admin's pages (its own session factory) --------------------------------------------
@pytest.fixture
def admin(tmp_path):
    """The admin app on a fresh database: anna (a manager) with a company and its call, root."""
    with staffed_admin(f"sqlite:///{tmp_path}/a.sqlite3",
                       [("root", "admin", None), ("anna", "manager", "Sales")]) as (app, s, _d, staff):
        company = m.Company(name="Romashka", responsible_id=staff["anna"].id,
                            phones=[m.CompanyPhone(phone="+79161234567")])
        s.add(company)
        s.flush()
        s.add(m.Call(linkedid="known.1", direction="inbound", caller="+79161234567", started_at=NOW,
                     outcome="answered", answered_by_id=staff["anna"].id, company_id=company.id))
        s.commit()
        anna = staff["anna"].id
    # Requests outside that app context: each gets its own ``g`` (and CSRF token).
    yield app, anna


def admin_events(app) -> list[tuple[str, str | None]]:
    with app.app_context():
        rows = app.extensions["sqlalchemy"].session.scalars(select(m.WebhookEvent).order_by(m.WebhookEvent.id))
        return [(e.kind, (e.payload.get("task") or {}).get("title") or (e.payload.get("inquiry") or {}).get("phone"))
                for e in rows]


def csrf(client, url) -> str:
    page = client.get(url).get_data(as_text=True)
    return re.search(r'csrf_token"(?: type="hidden")? value="([^"]+)"', page).group(1)


def test_the_admin_forms_screen_pop_and_my_tasks_send_their_events(admin):
    app, anna_id = admin
    anna = admin_login(app, "anna")
    # The screen-pop's after-call task.
    page = anna.get("/screen-pop").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    r = anna.post("/screen-pop/calls/known.1/task", headers={"X-CSRFToken": token},
                  json={"title": "Offer", "type": "email", "deadline": "2026-12-01T10:00", "comment": "c"})
    assert r.status_code == 201, r.get_data(as_text=True)
    # The Tasks form.
    r = anna.post("/admin/task/new/", data={
        "csrf_token": csrf(anna, "/admin/task/new/"), "title": "From the form", "type": "call",
        "responsible": str(anna_id), "deadline": "2026-12-02 10:00:00", "status": "open",
        "comment": "c"})
    assert r.status_code == 302, r.get_data(as_text=True)[-2000:]
    # The Inquiries form (an admin).
    root = admin_login(app, "root")
    r = root.post("/admin/inquiry/new/", data={
        "csrf_token": csrf(root, "/admin/inquiry/new/"), "channel": "web_form", "phone": "+79035550000",
        "status": "open", "first_seen_at": "2026-12-01 10:00:00", "last_seen_at": "2026-12-01 10:00:00"})
    assert r.status_code == 302, r.get_data(as_text=True)[-2000:]
    # My tasks: done, twice (the second changes nothing).
    with app.app_context():
        form_task = app.extensions["sqlalchemy"].session.scalar(
            select(m.Task.id).where(m.Task.title == "From the form"))
    for _ in range(2):
        r = anna.post(f"/admin/my-tasks/{form_task}/done", data={"csrf_token": csrf(anna, "/admin/my-tasks/")})
        assert r.status_code == 302
    assert admin_events(app) == [("task.created", "Offer"), ("task.created", "From the form"),
                                 ("inquiry.created", "+79035550000"), ("task.done", "From the form")]


# ---- calls completed from CEL ---------------------------------------------------------------
def run_reconcile(sessions, tmp_path, lines, **kw):
    (tmp_path / "spool").mkdir(exist_ok=True)
    with sessions() as s:
        return reconcile(s, lines, recordings_dir=tmp_path / "spool", **kw)


def call_events(sessions):
    return [(k, p["call"]["call_id"], p.get("reconciled")) for k, p in events(sessions, "call.")]


def test_a_missed_call_the_daemon_never_saw_sends_its_events_once_in_order(sessions, tmp_path):
    start, rest = inbound("pbx-1.1", "+79162220001", NOW.timestamp())
    run_reconcile(sessions, tmp_path, start + rest)
    assert kinds(sessions) == ["call.started", "inquiry.created", "task.created", "call.ended"]
    assert call_events(sessions) == [("call.started", "pbx-1.1", True), ("call.ended", "pbx-1.1", True)]
    ended = events(sessions, "call.ended")[0][1]
    assert ended["call"]["outcome"] == "missed" and ended["call"]["ended_at"] is not None
    run_reconcile(sessions, tmp_path, start + rest)  # read again: stored, nothing more
    assert len(events(sessions)) == 4


def test_an_answered_call_from_cel_sends_answered_and_its_recording(sessions, tmp_path):
    start, rest = inbound("pbx-1.2", "+79162220002", NOW.timestamp(), answered_by="101", ring=4, talk=40)
    (tmp_path / "spool").mkdir()
    with wave.open(str(tmp_path / "spool" / "pbx-1.2.wav"), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes(b"\0\0" * 8000)
    run_reconcile(sessions, tmp_path, start + rest)
    assert call_events(sessions) == [("call.started", "pbx-1.2", True), ("call.answered", "pbx-1.2", True),
                                     ("call.ended", "pbx-1.2", True), ("call.recording_ready", "pbx-1.2", True)]
    assert events(sessions, "call.answered")[0][1]["call"]["answered_by"]["name"] == "Anna"
    with sessions() as s:
        ready = s.scalar(select(m.WebhookEvent).where(m.WebhookEvent.kind == "call.recording_ready"))
        call = s.scalar(select(m.Call).where(m.Call.linkedid == "pbx-1.2"))
        rec = call.recording
        assert ready.payload["recording"] == {"id": rec.id, "path": f"/calls/{call.id}/recording",
                                              "duration_seconds": 1, "size_bytes": rec.size_bytes}
        # The body the receiver gets: both links absolute, the REST API's for a token.
        body = json.loads(render_body(ready, "https://crm.example.ru/"))
    assert body["data"]["recording"] == {
        "id": rec.id, "path": f"/calls/{call.id}/recording", "duration_seconds": 1,
        "size_bytes": rec.size_bytes, "url": f"https://crm.example.ru/calls/{call.id}/recording",
        "api_url": f"https://crm.example.ru/api/v1/recordings/{rec.id}/audio"}


def daemon_began(sessions, linkedid, caller, t0, answered=False):
    """What the daemon wrote before it was killed: the call, its ringing leg, maybe the answer."""
    recorder = SqlCallRecorder(sessions, run=lambda fn: succeed(fn()))
    with sessions() as s:
        anna = employee(s, "anna").id
    recorder.caller_identified(linkedid, CallDetails(caller, caller, None))
    recorder.call_started(linkedid, "chan", RoutePlan(steps=()), t0)
    recorder.leg_ringing(linkedid, leg_id(linkedid, "101"), "101", anna, 1, t0 + 0.1)
    if answered:
        recorder.call_answered(linkedid, leg_id(linkedid, "101"), anna, t0 + 4)


@pytest.mark.parametrize("answered", [False, True], ids=["ringing when lost", "answered when lost"])
def test_a_call_the_daemon_began_gets_only_the_events_it_missed(sessions, tmp_path, answered):
    daemon_began(sessions, "pbx-2.1", "+79162220003", NOW.timestamp(), answered=answered)
    start, rest = inbound("pbx-2.1", "+79162220003", NOW.timestamp(), answered_by="101", ring=4, talk=10)
    run_reconcile(sessions, tmp_path, start + rest)
    run_reconcile(sessions, tmp_path, start + rest)
    by_daemon = [("call.started", "pbx-2.1", None)] + ([("call.answered", "pbx-2.1", None)] if answered else [])
    by_reconcile = ([] if answered else [("call.answered", "pbx-2.1", True)]) + [("call.ended", "pbx-2.1", True)]
    assert call_events(sessions) == by_daemon + by_reconcile


def test_a_row_closed_as_failed_with_no_end_in_cel_sends_call_ended(sessions, tmp_path):
    daemon_began(sessions, "pbx-3.1", "+79162220004", NOW.timestamp())
    with sessions() as s:
        assert close_abandoned(s, NOW + timedelta(hours=7), keep=()) == ["pbx-3.1"]
        s.commit()
    assert call_events(sessions) == [("call.started", "pbx-3.1", None), ("call.ended", "pbx-3.1", True)]
    assert events(sessions, "call.ended")[0][1]["call"]["outcome"] == "failed"

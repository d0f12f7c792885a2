"""Desk-phone calls: the state machine (Clock), the registry (check under a deadline,
refusals, the dialplan fallback), the ARI requests through the Stasis application (fake
REST), the number check (in-memory SQLite) and the store."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock

from pbx_daemon.crm import models as m
from pbx_daemon.telephony.ari.control import AriCallControl
from pbx_daemon.telephony.ari.messages import Channel
from pbx_daemon.telephony.calls.phone import PhoneCall, PhoneCallRefused, PhoneCallRequest
from pbx_daemon.telephony.calls.phone_calls import PhoneCalls, phone_endpoint
from pbx_daemon.telephony.click_to_call import prepare_phone_call
from pbx_daemon.telephony.outputs.store import SqlCallRecorder
from pbx_daemon.telephony.routing.policy import StepTimeouts
from pbx_daemon.telephony.stasis import StasisApp
from pbx_daemon.testing import FakePhoneControl, MemoryRecorder
from tests.unit.helpers import memory_session

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
OUT = PhoneCallRequest(kind="outbound", endpoint="101", employee_id=7, caller_name="Anna",
                       number="+79161234567", shown_name="Иван Петров", caller_id="+74951110001",
                       contact_id=3, ring_timeout=40)
INTERNAL = PhoneCallRequest(kind="internal", endpoint="101", employee_id=7, caller_name="Anna",
                            target_endpoint="102", target_employee_id=8, ring_timeout=20)


def make_call(request=OUT):
    clock, control, recorder = Clock(), FakePhoneControl(), MemoryRecorder()
    call = PhoneCall("1700.1", request, control, recorder, clock)
    call.start()
    return call, clock, control, recorder


# ---- the state machine ------------------------------------------------------------------
def test_a_client_is_dialled_through_the_trunk_with_the_company_caller_id():
    call, clock, control, recorder = make_call()
    assert control.actions == [("dial_out", "1700.1-peer", "+79161234567", "+74951110001")]
    clock.advance(5)
    call.peer_answered()
    assert call.state == "connected" and control.actions[-1] == ("connect", "1700.1", "1700.1-peer", None)
    assert not clock.getDelayedCalls()  # the ring timer went with the answer
    clock.advance(30)
    call.phone_gone(16)
    assert call.outcome == "answered"
    assert control.actions[-2:] == [("hangup", "1700.1-peer", 16), ("release", "1700.1")]
    assert [e[0] for e in recorder.events] == ["phone_started", "phone_answered", "phone_ended"]
    assert recorder.events[0][2] == "outbound" and recorder.events[-1][2:] == ("answered", 35)


def test_an_extension_rings_showing_the_callers_name():
    call, clock, control, recorder = make_call(INTERNAL)
    assert control.actions == [("ring_extension", "1700.1-peer", "102", "Anna", "101")]
    call.peer_answered()
    assert control.actions[-1] == ("connect", "1700.1", "1700.1-peer", None)
    call.peer_gone(16)  # the callee hangs up: the phone is hung up too
    assert call.outcome == "answered" and ("hangup", "1700.1", 16) in control.actions


@pytest.mark.parametrize("cause,outcome,passed", [(17, "busy", 17), (21, "busy", 21),
                                                  (19, "no_answer", 19), (34, "failed", 16),
                                                  (None, "failed", 16)])
def test_the_far_side_not_answering_hangs_up_the_phone_with_its_cause(cause, outcome, passed):
    call, clock, control, recorder = make_call()
    call.peer_gone(cause)
    assert call.outcome == outcome
    assert control.actions[-2:] == [("hangup", "1700.1", passed), ("release", "1700.1")]
    assert not clock.getDelayedCalls()


def test_our_ring_timer_ends_an_unanswered_call():
    call, clock, control, recorder = make_call()
    clock.advance(39)
    assert call.state == "ringing"
    clock.advance(1)
    assert call.outcome == "no_answer"
    assert ("hangup", "1700.1-peer", 19) in control.actions and ("hangup", "1700.1", 19) in control.actions
    assert not clock.getDelayedCalls()


def test_the_phone_hanging_up_while_it_rings_is_abandoned():
    call, clock, control, recorder = make_call()
    call.phone_gone(16)
    assert call.outcome == "abandoned" and ("hangup", "1700.1-peer", 16) in control.actions
    call.peer_answered()  # too late: that leg is hung up, nothing is connected
    assert "connect" not in control.kinds()
    assert not clock.getDelayedCalls()


def test_a_failed_origination_ends_the_call_at_once():
    call, clock, control, recorder = make_call()
    call.origination_failed()
    assert call.outcome == "failed" and not clock.getDelayedCalls()


# ---- the registry -----------------------------------------------------------------------
def phone_channel(channel_id="1700.1", endpoint="101"):
    return Channel(channel_id, name=f"PJSIP/{endpoint}-0000002a", caller_number=endpoint)


def make_calls(result=None, deferred=None):
    clock, control, recorder = Clock(), FakePhoneControl(), MemoryRecorder()
    over, checked = [], []

    def check(endpoint, dialled, now):
        checked.append((endpoint, dialled, now))
        return deferred if deferred is not None else succeed(result)

    calls = PhoneCalls(control=control, recorder=recorder, clock=clock, check=check,
                       deadline=0.5, call_over=lambda call_id, answered: over.append((call_id, answered)))
    return calls, clock, control, recorder, over, checked


def test_the_phones_endpoint_comes_from_its_channel_name():
    assert phone_endpoint(phone_channel()) == "101"
    assert phone_endpoint(Channel("x", name="PJSIP/desk-7.a-00000001")) == "desk-7.a"
    assert phone_endpoint(Channel("x", name="Local/101@x-0001;1")) is None
    assert phone_endpoint(Channel("x", name="")) is None


def test_a_checked_call_rings_the_far_side_and_ends_with_call_over():
    calls, clock, control, recorder, over, checked = make_calls(OUT)
    calls.start(phone_channel(), "89161234567")
    assert checked == [("101", "89161234567", datetime.fromtimestamp(0, timezone.utc))]
    assert control.actions[:2] == [("indicate_ringing", "1700.1"),
                                   ("dial_out", "1700.1-peer", "+79161234567", "+74951110001")]
    assert calls.busy_endpoints() == {"101"}
    calls.answered("1700.1-peer")
    calls.gone("1700.1", 16)
    assert over == [("1700.1", True)] and calls.calls == {} and calls.channels == {}
    assert not clock.getDelayedCalls()


def test_an_internal_call_makes_both_phones_busy():
    calls, clock, control, recorder, over, checked = make_calls(INTERNAL)
    calls.start(phone_channel(), "102")
    assert calls.busy_endpoints() == {"101", "102"}


def test_a_blocklisted_number_plays_the_message_and_an_invalid_one_is_hung_up():
    calls, clock, control, *_ = make_calls(PhoneCallRefused("blocked", "+79990001122 is on the blocklist"))
    calls.start(phone_channel(), "+79990001122")
    assert control.actions == [("indicate_ringing", "1700.1"), ("refuse", "1700.1")]
    calls, clock, control, *_ = make_calls(PhoneCallRefused("invalid", "not a number"))
    calls.start(phone_channel(), "12")
    assert control.actions == [("indicate_ringing", "1700.1"), ("hangup", "1700.1", 1)]
    assert calls.calls == {} and not calls.pending


def test_a_check_past_its_deadline_hands_the_phone_to_the_dialplan():
    calls, clock, control, recorder, over, checked = make_calls(deferred=Deferred())
    calls.start(phone_channel(), "89161234567")
    clock.advance(0.5)
    assert control.actions[-1] == ("to_dialplan", "1700.1", "89161234567")
    assert not calls.pending and recorder.events == [] and not clock.getDelayedCalls()


def test_a_phone_that_hangs_up_during_the_check_rings_nobody():
    d = Deferred()
    calls, clock, control, recorder, over, checked = make_calls(deferred=d)
    calls.start(phone_channel(), "89161234567")
    calls.gone("1700.1", 16)
    d.callback(OUT)
    assert control.kinds() == ["indicate_ringing"] and recorder.events == []


def test_without_a_check_the_dialplan_places_the_call():
    clock, control = Clock(), FakePhoneControl()
    calls = PhoneCalls(control=control, recorder=MemoryRecorder(), clock=clock, check=None,
                       deadline=0.5, call_over=lambda *a: None)
    calls.start(phone_channel(), "102")
    assert control.actions == [("to_dialplan", "1700.1", "102")]


# ---- the ARI requests, through the Stasis application --------------------------------------
class FakeRest:
    def __init__(self):
        self.requests = []

    def request(self, method, path, params=None, body=None):
        self.requests.append((method, path, dict(params or {})))
        return succeed(None)


def make_app(result):
    rest, clock = FakeRest(), Clock()
    app = StasisApp(app="pbx-crm", rest=rest, control=AriCallControl(rest, "pbx-crm"),
                    recorder=MemoryRecorder(), clock=clock, lookup=lambda *a: Deferred(),
                    timeouts=StepTimeouts(), deadline=0.5,
                    phone_check=lambda endpoint, dialled, now: succeed(result))
    return app, rest, clock


def stasis_start(channel_id, *args, name="PJSIP/101-0000002a"):
    return {"type": "StasisStart", "args": list(args),
            "channel": {"id": channel_id, "name": name, "caller": {"number": "101"}}}


def test_the_stasis_application_places_a_desk_phone_call_over_ari():
    app, rest, clock = make_app(OUT)
    app.on_event(stasis_start("1700.1", "phone", "89161234567"))
    assert rest.requests[0][:2] == ("POST", "/channels/1700.1/ring")
    method, path, params = rest.requests[1]
    assert (method, path) == ("POST", "/channels")
    assert params == {"endpoint": "PJSIP/+79161234567@pbxcrm-trunk", "app": "pbx-crm",
                      "appArgs": "phone-peer,1700.1", "channelId": "1700.1-peer",
                      "originator": "1700.1", "timeout": 45, "callerId": "+74951110001"}
    assert "101" in app.busy_endpoints()
    app.on_event(stasis_start("1700.1-peer", "phone-peer", "1700.1", name="PJSIP/pbxcrm-trunk-0000002b"))
    paths = [(m_, p) for m_, p, _ in rest.requests]
    assert paths[2:] == [("POST", "/channels/1700.1/answer"), ("POST", "/bridges"),
                         ("POST", "/bridges/br-1700.1/addChannel"),
                         ("POST", "/bridges/br-1700.1/record")]
    assert rest.requests[-1][2]["name"] == "1700.1"
    app.on_event({"type": "StasisEnd", "channel": {"id": "1700.1"}})  # the phone hangs up
    assert ("DELETE", "/channels/1700.1-peer") in [(m_, p) for m_, p, _ in rest.requests]
    assert ("DELETE", "/bridges/br-1700.1") in [(m_, p) for m_, p, _ in rest.requests]
    assert app.phone.calls == {} and app.recordings is not None


def test_an_internal_call_shows_the_callers_name_on_the_other_phone():
    app, rest, clock = make_app(INTERNAL)
    app.on_event(stasis_start("1700.1", "phone", "102"))
    params = rest.requests[1][2]
    assert params["endpoint"] == "PJSIP/102" and params["callerId"] == '"Anna" <101>'
    assert params["originator"] == "1700.1" and params["appArgs"] == "phone-peer,1700.1"


def test_a_blocked_number_sends_the_phone_to_the_blocked_message():
    app, rest, clock = make_app(PhoneCallRefused("blocked"))
    app.on_event(stasis_start("1700.1", "phone", "+79990001122"))
    assert rest.requests[-1] == ("POST", "/channels/1700.1/continue",
                                 {"context": "pbxcrm-blocked", "extension": "message", "priority": 1})


def test_the_dialplan_fallback_gets_only_digits_and_plus():
    from pbx_daemon.telephony.ari.control import AriPhoneControl

    rest = FakeRest()
    control = AriPhoneControl(rest, "pbx-crm")
    control.to_dialplan("1700.1", "89161234567")
    control.to_dialplan("1700.2", "8916;Dial(x)")
    assert rest.requests == [
        ("POST", "/channels/1700.1/continue",
         {"context": "pbxcrm-phone-fallback", "extension": "89161234567", "priority": 1}),
        ("POST", "/channels/1700.2/continue",
         {"context": "pbxcrm-internal", "extension": "invalid", "priority": 1})]


def test_a_peer_leg_nobody_knows_is_stopped():
    app, rest, clock = make_app(OUT)
    app.on_event(stasis_start("9.9-peer", "phone-peer", "9.9", name="PJSIP/pbxcrm-trunk-1"))
    assert rest.requests[-1][:2] == ("DELETE", "/channels/9.9-peer")


# ---- the check (in-memory SQLite) -----------------------------------------------------------
@pytest.fixture
def session():
    with memory_session() as s:
        sales = m.Department(name="Sales")
        s.add(sales)
        s.flush()
        anna = m.Employee(full_name="Anna <Sales>", login="anna", sip_endpoint="101", department_id=sales.id)
        boris = m.Employee(full_name="Boris", login="boris", sip_endpoint="102", department_id=sales.id)
        gone = m.Employee(full_name="Gone", login="gone", sip_endpoint="109", active=False)
        company = m.Company(name="ООО Ромашка", responsible=anna)
        company.phones = [m.CompanyPhone(phone="+74951112233")]
        contact = m.Contact(full_name="Иван Петров", company=company, responsible=anna)
        contact.phones = [m.ContactPhone(phone="+79161234567")]
        s.add_all([anna, boris, gone, company, contact,
                   m.BlockedNumber(phone="+79990001122", reason="spam")])
        s.commit()
        yield s


def check(session, dialled, endpoint="101"):
    return prepare_phone_call(session, endpoint=endpoint, dialled=dialled, now=NOW,
                              company_caller_id="+74951110001", ring_timeout=30)


def test_a_national_number_is_the_employees_outbound_call_to_the_card(session):
    r = check(session, "89161234567")
    anna = session.scalar(select(m.Employee).where(m.Employee.login == "anna"))
    contact = session.scalar(select(m.Contact))
    assert (r.kind, r.number, r.caller_id, r.employee_id, r.endpoint) == \
        ("outbound", "+79161234567", "+74951110001", anna.id, "101")
    assert (r.contact_id, r.company_id, r.shown_name) == \
        (contact.id, contact.company_id, "Иван Петров / ООО Ромашка")
    assert r.ring_timeout == 30


def test_an_employees_extension_is_an_internal_call(session):
    r = check(session, "102")
    boris = session.scalar(select(m.Employee).where(m.Employee.login == "boris"))
    assert (r.kind, r.target_endpoint, r.target_employee_id, r.number) == ("internal", "102", boris.id, None)
    assert r.caller_name == "Anna Sales"  # sanitised for a caller id


@pytest.mark.parametrize("dialled,reason", [
    ("+79990001122", "blocked"), ("89990001122", "blocked"), ("12", "invalid"),
    ("109", "invalid"),  # an inactive employee's extension is nobody's
    ("101", "invalid"),  # the phone itself
])
def test_refused_numbers(session, dialled, reason):
    r = check(session, dialled)
    assert isinstance(r, PhoneCallRefused) and r.reason == reason


def test_a_phone_no_employee_has_still_calls_out(session):
    r = check(session, "+74951112233", endpoint="108")
    assert (r.kind, r.employee_id, r.caller_name, r.company_id is not None) == ("outbound", None, "108", True)
    assert isinstance(check(session, "102", endpoint="bad endpoint"), PhoneCallRefused)


# ---- the store -----------------------------------------------------------------------------
def store_for(session):
    from contextlib import nullcontext

    def run(fn):
        return succeed(fn())

    return SqlCallRecorder(lambda: nullcontext(session), run)


def test_the_store_writes_an_outbound_desk_call_like_a_click_to_call(session):
    request = check(session, "89161234567")
    store = store_for(session)
    store.phone_call_started("1700.1", request, NOW.timestamp())
    store.phone_call_answered("1700.1", request, NOW.timestamp() + 4)
    store.phone_call_ended("1700.1", request, "answered", NOW.timestamp() + 64)
    call = session.scalar(select(m.Call).where(m.Call.linkedid == "1700.1"))
    assert (call.direction, call.outcome, call.callee, call.caller, call.handled_by) == \
        ("outbound", "answered", "+79161234567", "+74951110001", "daemon")
    assert call.employee_id == call.answered_by_id == request.employee_id
    assert call.contact_id == request.contact_id and call.department_id is not None
    assert (call.talk_seconds, call.duration_seconds) == (60, 64)
    assert [(leg.endpoint, leg.outcome, leg.channel_id)
            for leg in sorted(call.legs, key=lambda leg: leg.step)] == [
        ("PJSIP/101", "answered", "1700.1"),
        ("PJSIP/+79161234567@trunk", "answered", "1700.1-peer")]


def test_the_store_writes_an_internal_call_and_an_unanswered_one(session):
    request = check(session, "102")
    store = store_for(session)
    store.phone_call_started("1700.2", request, NOW.timestamp())
    store.phone_call_ended("1700.2", request, "no_answer", NOW.timestamp() + 30)
    call = session.scalar(select(m.Call).where(m.Call.linkedid == "1700.2"))
    assert (call.direction, call.outcome, call.caller_raw, call.dialled_number, call.callee) == \
        ("internal", "no_answer", "101", "102", None)
    peer = max(call.legs, key=lambda leg: leg.step)
    assert call.answered_at is None and peer.outcome == "no_answer"
    assert peer.employee_id == request.target_employee_id


def test_a_call_back_from_a_desk_phone_closes_the_task_and_recovers_the_misses(session):
    inquiry = m.Inquiry(channel="call", phone="+79035550077", status="open",
                        first_seen_at=NOW, last_seen_at=NOW)
    session.add(inquiry)
    session.flush()
    missed = m.Call(linkedid="missed-1", direction="inbound", caller="+79035550077",
                    outcome="missed", started_at=NOW, inquiry_id=inquiry.id)
    anna = session.scalar(select(m.Employee).where(m.Employee.login == "anna"))
    task = m.Task(type="call", title="call back", inquiry_id=inquiry.id, status="open",
                  responsible_id=anna.id, deadline=NOW, comment="call back")
    session.add_all([missed, task])
    session.commit()
    request = check(session, "89035550077")
    store = store_for(session)
    store.phone_call_started("1700.3", request, NOW.timestamp() + 60)
    store.phone_call_answered("1700.3", request, NOW.timestamp() + 65)
    session.refresh(task)
    session.refresh(missed)
    assert task.status == "done" and missed.recovered_at is not None


def test_after_a_reconnect_a_waiting_desk_phone_is_decided_again_and_an_orphan_stopped():
    from pbx_daemon.testing import FakeCallControl, FakeInventory

    control, phone_control = FakeCallControl(), FakePhoneControl()
    inventory = FakeInventory(channels=[
        Channel("1700.5", name="PJSIP/101-00000005", state="Ring", app_name="Stasis",
                app_data="pbx-crm,phone,102"),
        Channel("1700.4-peer", state="Ringing")])
    app = StasisApp(app="pbx-crm", rest=None, control=control, recorder=MemoryRecorder(),
                    clock=Clock(), lookup=lambda *a: Deferred(), timeouts=StepTimeouts(),
                    deadline=0.5, inventory=inventory, phone_control=phone_control,
                    phone_check=lambda endpoint, dialled, now: succeed(INTERNAL))
    app.on_connect()
    assert control.actions == [("stop", "1700.4-peer")]
    assert phone_control.actions == [("indicate_ringing", "1700.5"),
                                     ("ring_extension", "1700.5-peer", "102", "Anna", "101")]

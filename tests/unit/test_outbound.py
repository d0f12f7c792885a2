"""Click-to-call state machine: employee first, then the client; outcomes; timers (Clock)."""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock
from zope.interface.verify import verifyObject

from pbx_daemon.telephony.calls.interfaces import IOutboundControl, IOutboundRecorder
from pbx_daemon.telephony.calls.outbound import ClickToCallRequest, OutboundCall
from pbx_daemon.testing import FakeOutboundControl, MemoryRecorder

REQ = ClickToCallRequest(employee_id=7, endpoint="101", number="+79161234567", ext=None,
                         shown_name="Ivan Petrov", caller_id="+74951234567",
                         employee_timeout=30, client_timeout=40)


@pytest.fixture
def call():
    clock, control, recorder = Clock(), FakeOutboundControl(), MemoryRecorder()
    c = OutboundCall("c2c-1", REQ, control, recorder, clock)
    c.start()
    return c, clock, control, recorder


def test_fakes_implement_the_interfaces():
    assert verifyObject(IOutboundControl, FakeOutboundControl())
    assert verifyObject(IOutboundRecorder, MemoryRecorder())


def test_employee_phone_rings_first_showing_the_client():
    clock, control, recorder = Clock(), FakeOutboundControl(), MemoryRecorder()
    c = OutboundCall("c2c-1", REQ, control, recorder, clock)
    c.start()
    assert control.actions == [("ring_employee", "c2c-1", "101", "Ivan Petrov", "+79161234567")]
    assert c.state == "employee_ringing"
    assert "dial_client" not in control.kinds()


def test_client_is_dialled_only_after_the_employee_answers(call):
    c, clock, control, recorder = call
    clock.advance(3)
    c.employee_answered()
    assert control.kinds()[1:] == ["ringback", "dial_client"]
    assert control.actions[2] == ("dial_client", "c2c-1-client", "+79161234567", "+74951234567")
    clock.advance(2)
    c.client_answered()
    assert c.state == "connected"
    assert control.actions[-1] == ("connect", "c2c-1", "c2c-1-client", None)
    clock.advance(60)  # no timer is left once connected
    assert c.state == "connected" and not clock.getDelayedCalls()
    c.client_gone(16)
    assert c.outcome == "answered"
    assert ("hangup", "c2c-1", 16) in control.actions and control.actions[-1] == ("release", "c2c-1")
    assert [e[0] for e in recorder.events] == ["outbound_started", "employee_answered",
                                               "client_answered", "outbound_ended"]
    assert recorder.events[-1][2:] == ("answered", 65)


@pytest.mark.parametrize("cause,outcome", [(17, "busy"), (21, "busy"), (19, "no_answer"),
                                           (18, "no_answer"), (34, "failed"), (None, "failed")])
def test_client_not_answering_is_stored_with_its_outcome(call, cause, outcome):
    c, clock, control, recorder = call
    c.employee_answered()
    c.client_gone(cause)
    assert c.outcome == outcome
    assert ("hangup", "c2c-1", 16) in control.actions  # the employee is not left waiting
    assert recorder.of("outbound_ended")[0][2] == outcome


def test_client_ring_timeout_ends_as_no_answer(call):
    c, clock, control, _ = call
    c.employee_answered()
    clock.advance(39.9)
    assert c.state == "client_ringing"
    clock.advance(0.2)
    assert c.outcome == "no_answer"
    assert ("hangup", "c2c-1-client", 19) in control.actions
    assert not clock.getDelayedCalls()


def test_employee_not_answering_dials_nothing(call):
    c, clock, control, _ = call
    clock.advance(30)
    assert c.outcome == "abandoned"
    assert "dial_client" not in control.kinds()
    assert ("hangup", "c2c-1", 19) in control.actions


def test_employee_rejecting_dials_nothing(call):
    c, clock, control, _ = call
    c.employee_gone(21)
    assert c.outcome == "abandoned" and "dial_client" not in control.kinds()
    assert not clock.getDelayedCalls()


def test_employee_hanging_up_while_client_rings_stops_the_client(call):
    c, _, control, _ = call
    c.employee_answered()
    c.employee_gone(16)
    assert c.outcome == "abandoned"
    assert ("hangup", "c2c-1-client", 16) in control.actions


def test_extension_is_passed_to_connect():
    control = FakeOutboundControl()
    c = OutboundCall("c2c-2", ClickToCallRequest(1, "101", "+74951234567", ext="12"), control,
                     MemoryRecorder(), Clock())
    c.start()
    c.employee_answered()
    c.client_answered()
    assert control.actions[-1] == ("connect", "c2c-2", "c2c-2-client", "12")


def test_client_answering_after_the_end_is_hung_up(call):
    c, clock, control, _ = call
    c.employee_answered()
    clock.advance(40)
    c.client_answered()
    assert c.outcome == "no_answer"
    assert control.actions[-1] == ("hangup", "c2c-1-client", 16)


def test_employee_origination_failure_ends_the_call_failed_with_no_timer_left():
    clock, control, recorder = Clock(), FakeOutboundControl(), MemoryRecorder()
    c = OutboundCall("c2c-1", REQ, control, recorder, clock)
    control.ring_employee = lambda *args: c.origination_failed("employee")  # refused at once
    c.start()
    assert (c.state, c.outcome) == ("ended", "failed")
    assert recorder.of("outbound_ended") == [("outbound_ended", "c2c-1", "failed", 0)]
    assert clock.getDelayedCalls() == []
    c.origination_failed("employee")  # a second report changes nothing
    assert len(recorder.of("outbound_ended")) == 1


def test_client_origination_failure_hangs_up_the_employee_and_ends_failed(call):
    c, clock, control, recorder = call
    c.employee_answered()
    c.origination_failed("client")
    assert ("hangup", "c2c-1", 16) in control.actions
    assert (c.state, c.outcome) == ("ended", "failed")
    assert clock.getDelayedCalls() == []

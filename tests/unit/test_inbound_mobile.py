"""Follow-me mobiles in the inbound state machine: ring after a delay, answer only with 1."""

from __future__ import annotations

import itertools

import pytest
from twisted.internet.task import Clock

from pbx_daemon.telephony.calls.inbound import CONFIRM_SECONDS, InboundCall
from pbx_daemon.telephony.routing.policy import RingStep, RoutePlan
from pbx_daemon.testing import FakeCallControl, MemoryRecorder

MOBILE = (1, "+79160000001", 5)
PLAN = RoutePlan(steps=(
    RingStep("owner", 20, ("101",), (1,), (MOBILE,)),
    RingStep("group", 15, ("101", "102"), (1, 2), (MOBILE,)),
))


@pytest.fixture
def world():
    clock = Clock()
    control, recorder = FakeCallControl(), MemoryRecorder()
    counter = itertools.count(1)
    call = InboundCall("call-1", "caller-chan", PLAN, control, recorder, clock, "+79161234567",
                       lambda: f"leg-{next(counter)}")
    return call, clock, control, recorder


def mobile_answers(call, clock, control):
    call.start()
    assert control.ringing_endpoints() == {"101"}
    clock.advance(5)
    assert control.ringing_endpoints() == {"101", "+79160000001"}
    assert control.actions[-1] == ("ring", "leg-2", "+79160000001", "mobile", "+79161234567")
    call.leg_answered("leg-2")
    assert control.actions[-1] == ("confirm", "leg-2", True)


def test_the_mobile_rings_after_its_delay_and_1_connects_its_owner(world):
    call, clock, control, recorder = world
    mobile_answers(call, clock, control)
    assert call.state == "ringing", "a mobile that answered is not yet an answer"
    clock.advance(2)
    call.leg_dtmf("leg-2", "5")
    assert call.state == "ringing"
    call.leg_dtmf("leg-2", "1")
    assert call.state == "answered"
    assert ("confirm", "leg-2", False) in control.actions
    assert control.actions[-1] == ("connect", "caller-chan", "leg-2")
    assert control.stop_reasons["leg-1"] == "answered_elsewhere"
    assert recorder.of("answered") == [("answered", 1, 7)]
    assert ("ringing", "+79160000001", 1, 5) in recorder.events
    assert not clock.getDelayedCalls()


def test_no_1_drops_the_mobile_and_the_call_goes_on_to_the_next_step(world):
    call, clock, control, recorder = world
    mobile_answers(call, clock, control)
    clock.advance(CONFIRM_SECONDS)
    assert ("stop", "leg-2") in control.actions
    assert ("leg_ended", "leg-2", "no_answer", 5 + CONFIRM_SECONDS) in recorder.events
    assert call.state == "ringing" and control.ringing_endpoints() == {"101"}
    clock.advance(20 - 5 - CONFIRM_SECONDS)
    assert control.ringing_endpoints() == {"101", "102"}, "the mobile is not rung again"
    call.leg_dtmf("leg-2", "1")  # too late: nothing happens
    assert call.state == "ringing"
    clock.advance(15)
    assert recorder.of("ended") == [("ended", "missed", 35)]
    assert not clock.getDelayedCalls()


def test_caller_hanging_up_while_the_mobile_is_asked_stops_everything(world):
    call, clock, control, recorder = world
    mobile_answers(call, clock, control)
    call.caller_hung_up()
    assert control.ringing_endpoints() == set()
    assert recorder.of("ended") == [("ended", "missed", 5)]
    assert not clock.getDelayedCalls()


def test_caller_hanging_up_before_the_delay_never_rings_the_mobile(world):
    call, clock, control, recorder = world
    call.start()
    clock.advance(2)
    call.caller_hung_up()
    assert not clock.getDelayedCalls()
    assert all(a[2] != "+79160000001" for a in control.actions if a[0] == "ring")


def test_a_desk_phone_answering_first_cancels_the_mobile(world):
    call, clock, control, recorder = world
    mobile_answers(call, clock, control)
    call.leg_answered("leg-1")
    assert control.stop_reasons["leg-2"] == "answered_elsewhere"
    call.leg_dtmf("leg-2", "1")
    assert control.actions.count(("connect", "caller-chan", "leg-1")) == 1
    assert not any(a[0] == "connect" and a[2] == "leg-2" for a in control.actions)
    assert not clock.getDelayedCalls()


def test_the_mobile_hanging_up_during_the_prompt_leaves_no_timer(world):
    call, clock, control, recorder = world
    mobile_answers(call, clock, control)
    call.leg_ended("leg-2", 16)
    assert call.state == "ringing"
    assert [d for d in clock.getDelayedCalls()] and len(clock.getDelayedCalls()) == 1  # step


def test_an_employee_calling_from_their_mobile_does_not_ring_it():
    clock, control, recorder = Clock(), FakeCallControl(), MemoryRecorder()
    call = InboundCall("call-1", "caller-chan", PLAN, control, recorder, clock, "+79160000001",
                       lambda: "leg-1")
    call.start()
    clock.advance(5)
    assert control.ringing_endpoints() == {"101"}
    call.caller_hung_up()
    assert not clock.getDelayedCalls()


LAST = RoutePlan(steps=(RingStep("owner", 10, ("101",), (1,), (MOBILE,)),))


def last_step_world():
    clock, control, recorder = Clock(), FakeCallControl(), MemoryRecorder()
    counter = itertools.count(1)
    call = InboundCall("call-1", "caller-chan", LAST, control, recorder, clock, "+79161234567",
                       lambda: f"leg-{next(counter)}")
    call.start()
    clock.advance(5)
    clock.advance(3)
    call.leg_answered("leg-2")  # the mobile answers 2 s before the last step ends
    clock.advance(2)
    return call, clock, control, recorder


def test_the_last_step_ending_waits_for_a_mobile_being_asked():
    call, clock, control, recorder = last_step_world()
    assert control.ringing_endpoints() == {"+79160000001"}, "the desk phone stops"
    assert call.state == "ringing"
    clock.advance(1)
    call.leg_dtmf("leg-2", "1")
    assert control.actions[-1] == ("connect", "caller-chan", "leg-2")
    assert recorder.of("answered") == [("answered", 1, 11)]
    assert not clock.getDelayedCalls()


def test_the_last_step_ended_and_no_1_is_a_missed_call():
    call, clock, control, recorder = last_step_world()
    clock.advance(CONFIRM_SECONDS - 2)
    assert recorder.of("ended") == [("ended", "missed", 8 + CONFIRM_SECONDS)]
    assert control.actions[-1] == ("hangup", "caller-chan", 19)
    assert not clock.getDelayedCalls()

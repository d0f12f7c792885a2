"""Transfers of an answered inbound call (SIP REFER from the answering phone), as the
state machine sees them: the call stays one call; each leg keeps its own times; a blind
transfer nobody takes rings the transferring phone back once, then gives up. Clock-driven;
every test ends with no timer left."""

from __future__ import annotations

import itertools

import pytest
from twisted.internet.task import Clock

from pbx_daemon.crm.models import TRANSFER_STEP
from pbx_daemon.telephony.calls.inbound import TRANSFER_RING_SECONDS, InboundCall
from pbx_daemon.telephony.routing.policy import RingStep, RoutePlan
from pbx_daemon.testing import FakeCallControl, MemoryRecorder

PLAN = RoutePlan(steps=(RingStep("owner", 10, ("101",), (1,)),), caller_name="ООО Ромашка")


@pytest.fixture
def talking():
    """ООО Ромашка's call, answered by Anna's 101 at t=2."""
    clock = Clock()
    control, recorder = FakeCallControl(), MemoryRecorder()
    counter = itertools.count(1)
    call = InboundCall("call-1", "caller", PLAN, control, recorder, clock, "+79161234567",
                       lambda: f"leg-{next(counter)}")
    call.start()
    clock.advance(2)
    call.leg_answered("leg-1")
    clock.advance(10)
    control.actions.clear()
    recorder.events.clear()
    yield call, clock, control, recorder
    assert not clock.getDelayedCalls(), "a timer was left behind"


def test_blind_transfer_rings_the_target_as_a_leg_of_the_same_call(talking):
    call, clock, control, recorder = talking
    assert call.transfer_blind("leg-1", "102", 2)
    # 101 hears its transfer went through and leaves; the caller hears ringback; 102 rings
    # with the caller's name and number.
    assert control.actions == [
        ("transfer_progress", "leg-1", "channel_answered"), ("stop", "leg-1"),
        ("hold", "call-1", True), ("ring", "leg-2", "102", "ООО Ромашка", "+79161234567")]
    assert recorder.events == [("leg_ended", "leg-1", "answered", 12),
                               ("ringing", "102", TRANSFER_STEP, 12)]
    clock.advance(3)
    call.leg_answered("leg-2")
    assert control.actions[-2:] == [("hold", "call-1", False), ("join", "call-1", "leg-2")]
    assert recorder.events[-1] == ("leg_answered", "leg-2", 2, 15)
    assert call.state == "answered" and call.answered_endpoint == "102"
    # 101's channel going away now changes nothing; the caller hanging up ends it answered.
    call.leg_ended("leg-1", 16)
    clock.advance(20)
    call.caller_hung_up()
    assert control.actions[-1] == ("stop", "leg-2")
    assert recorder.of("ended") == [("ended", "answered", 35)]
    assert recorder.of("leg_ended")[-1] == ("leg_ended", "leg-2", "answered", 35)


def test_the_target_hanging_up_ends_the_call(talking):
    call, clock, control, recorder = talking
    call.transfer_blind("leg-1", "102", 2)
    call.leg_answered("leg-2")
    clock.advance(5)
    call.leg_ended("leg-2", 16)
    assert control.actions[-1] == ("hangup", "caller", 16)
    assert recorder.of("ended") == [("ended", "answered", 17)]


def test_unanswered_blind_transfer_rings_the_transferring_phone_back_once(talking):
    call, clock, control, recorder = talking
    call.transfer_blind("leg-1", "102", 2)
    clock.advance(TRANSFER_RING_SECONDS)
    assert control.actions[-2:] == [("stop", "leg-2"),
                                    ("ring", "leg-3", "101", "ООО Ромашка", "+79161234567")]
    assert ("leg_ended", "leg-2", "no_answer", 12 + TRANSFER_RING_SECONDS) in recorder.events
    call.leg_ended("leg-3", 17)  # 101 is busy now: nobody is left to take it
    assert control.actions[-1] == ("hangup", "caller", 19)
    assert recorder.of("ended") == [("ended", "answered", 12 + TRANSFER_RING_SECONDS)]


def test_a_rejected_transfer_rings_back_at_once_and_the_recall_can_answer(talking):
    call, clock, control, recorder = talking
    call.transfer_blind("leg-1", "102", 2)
    call.leg_ended("leg-2", 21)
    assert control.actions[-1] == ("ring", "leg-3", "101", "ООО Ромашка", "+79161234567")
    call.leg_answered("leg-3")
    assert call.state == "answered" and call.answered_leg == "leg-3"
    call.caller_hung_up()


def test_caller_hanging_up_during_the_transfer_stops_the_ringing_target(talking):
    call, clock, control, recorder = talking
    call.transfer_blind("leg-1", "102", 2)
    clock.advance(4)
    call.caller_hung_up()
    assert control.actions[-1] == ("stop", "leg-2")
    assert recorder.of("ended") == [("ended", "answered", 16)]
    assert recorder.of("leg_ended")[-1] == ("leg_ended", "leg-2", "cancelled", 16)


def test_attended_transfer_moves_the_consulted_leg_into_the_call(talking):
    call, clock, control, recorder = talking
    assert call.transfer_attended("leg-1", "consult-peer", "102", 2)
    assert control.actions == [("transfer_progress", "leg-1", "channel_answered"),
                               ("stop", "leg-1"), ("join", "call-1", "consult-peer")]
    assert recorder.events == [("leg_ended", "leg-1", "answered", 12),
                               ("ringing", "102", TRANSFER_STEP, 12),
                               ("leg_answered", "consult-peer", 2, 12)]
    clock.advance(7)
    call.leg_ended("consult-peer", 16)
    assert recorder.of("ended") == [("ended", "answered", 19)]


def test_only_the_answered_leg_of_a_connected_call_may_transfer(talking):
    call, clock, control, recorder = talking
    assert not call.transfer_blind("leg-9", "102", 2)
    assert not call.transfer_attended("leg-9", "peer", "102", 2)
    assert control.actions == [] and recorder.events == []
    call.transfer_blind("leg-1", "102", 2)
    assert not call.transfer_blind("leg-1", "103", 3)  # already transferring
    call.caller_hung_up()

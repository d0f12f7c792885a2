"""The inbound call state machine with an injected clock and in-memory fakes."""

from __future__ import annotations

import itertools

import pytest
from twisted.internet.task import Clock
from zope.interface.verify import verifyObject

from pbx_daemon.telephony.calls.inbound import InboundCall
from pbx_daemon.telephony.calls.interfaces import ICallControl, ICallRecorder
from pbx_daemon.telephony.routing.policy import RingStep, RoutePlan
from pbx_daemon.testing import FakeCallControl, MemoryRecorder

PLAN = RoutePlan(
    steps=(
        RingStep("owner", 10, ("101",), (1,)),
        RingStep("group", 15, ("101", "102"), (1, 2)),
        RingStep("head", 15, ("101", "102", "103"), (1, 2, 3)),
        RingStep("top", 20, ("101", "102", "103", "900"), (1, 2, 3, 9)),
    ),
    caller_name="ООО Ромашка",
    fallback_endpoints=("101", "102"),
)


@pytest.fixture
def world():
    clock = Clock()
    control, recorder = FakeCallControl(), MemoryRecorder()
    counter = itertools.count(1)
    call = InboundCall("call-1", "caller-chan", PLAN, control, recorder, clock, "+79161234567",
                       lambda: f"leg-{next(counter)}")
    return call, clock, control, recorder


def test_fakes_implement_the_interfaces():
    assert verifyObject(ICallControl, FakeCallControl())
    assert verifyObject(ICallRecorder, MemoryRecorder())


def test_owner_rings_alone_with_the_crm_name_and_answers(world):
    call, clock, control, recorder = world
    call.start()
    assert control.actions == [("ring", "leg-1", "101", "ООО Ромашка", "+79161234567")]
    clock.advance(4)
    call.leg_answered("leg-1")
    assert control.actions[-1] == ("connect", "caller-chan", "leg-1")
    assert recorder.of("answered") == [("answered", 1, 4)]
    assert not clock.getDelayedCalls(), "the step timer must be cancelled"
    clock.advance(60)
    call.leg_ended("leg-1", 16)  # the manager hangs up
    assert control.actions[-1] == ("hangup", "caller-chan", 16)
    assert recorder.of("ended") == [("ended", "answered", 64)]


def test_escalation_adds_phones_at_each_step_boundary(world):
    call, clock, control, recorder = world
    call.start()
    clock.advance(9.9)
    assert control.ringing_endpoints() == {"101"}
    clock.advance(0.1)
    assert control.ringing_endpoints() == {"101", "102"}
    clock.advance(15)
    assert control.ringing_endpoints() == {"101", "102", "103"}
    clock.advance(15)
    assert control.ringing_endpoints() == {"101", "102", "103", "900"}
    # The owner's leg was never restarted: one ring action per endpoint.
    assert [a[2] for a in control.actions if a[0] == "ring"] == ["101", "102", "103", "900"]
    assert [(e[1], e[2], e[3]) for e in recorder.of("ringing")] == [
        ("101", 1, 0), ("102", 2, 10), ("103", 3, 25), ("900", 4, 40)]


def test_first_answer_wins_and_every_other_leg_stops_at_once(world):
    call, clock, control, recorder = world
    call.start()
    clock.advance(10)
    clock.advance(15)  # head step: 101, 102, 103 ringing
    call.leg_answered(control.leg_for("102"))
    assert control.ringing_endpoints() == {"102"}
    stopped = {a[1] for a in control.actions if a[0] == "stop"}
    assert stopped == {control.leg_for("101"), control.leg_for("103")}
    assert {control.stop_reasons[leg] for leg in stopped} == {"answered_elsewhere"}
    call.leg_answered(control.leg_for("103"))  # a late answer is not connected
    assert [a for a in control.actions if a[0] == "connect"] == [("connect", "caller-chan", "leg-2")]


def test_every_step_rings_out_then_the_call_is_missed(world):
    call, clock, control, recorder = world
    call.start()
    for step in (10, 15, 15, 20):
        clock.advance(step)
    assert control.ringing_endpoints() == set()
    assert control.actions[-1] == ("hangup", "caller-chan", 19)
    assert recorder.of("ended") == [("ended", "missed", 60)]
    assert not clock.getDelayedCalls()


def test_caller_hanging_up_while_ringing_stops_every_leg(world):
    call, clock, control, recorder = world
    call.start()
    clock.advance(12)
    call.caller_hung_up()
    assert control.ringing_endpoints() == set()
    assert recorder.of("ended") == [("ended", "missed", 12)]
    assert not clock.getDelayedCalls()


def test_a_step_whose_phones_all_reject_moves_on_at_once(world):
    call, clock, control, recorder = world
    call.start()
    clock.advance(3)
    call.leg_ended("leg-1", 21)  # the owner rejects
    assert control.ringing_endpoints() == {"101", "102"}
    assert ("leg_ended", "leg-1", "rejected", 3) in recorder.events
    assert ("ringing", "102", 2, 3) in recorder.events


def test_caller_hanging_up_after_answer_stops_the_answerer(world):
    call, clock, control, recorder = world
    call.start()
    call.leg_answered("leg-1")
    clock.advance(30)
    call.caller_hung_up()
    assert control.actions[-1] == ("stop", "leg-1")
    assert recorder.of("ended") == [("ended", "answered", 30)]


def test_blocked_caller_gets_busy_and_nothing_rings():
    clock, control, recorder = Clock(), FakeCallControl(), MemoryRecorder()
    call = InboundCall("c", "chan", RoutePlan(steps=(), blocked=True), control, recorder, clock,
                       "+79161234567", lambda: "leg")
    call.start()
    assert control.actions == [("refuse", "chan")]
    assert recorder.of("ended") == [("ended", "blocked", 0)]


def test_nobody_available_hands_the_call_to_the_fallback_group():
    clock, control, recorder = Clock(), FakeCallControl(), MemoryRecorder()
    call = InboundCall("c", "chan", RoutePlan(steps=(), fallback_endpoints=("101", "102")),
                       control, recorder, clock, None, lambda: "leg")
    call.start()
    assert control.actions == [("fallback", "chan", ("101", "102"))]


def test_every_phone_failing_at_once_goes_to_the_fallback_not_a_480(world):
    """Unreachable is not a ring: legs that all fail at once (unreachable 20, busy 17)
    through every step hand the caller to the fallback group within the same second."""
    call, clock, control, recorder = world
    call.start()
    for _ in range(4):
        for leg in [a[1] for a in control.actions if a[0] == "ring"]:
            call.leg_ended(leg, 20 if leg != "leg-2" else 17)
    assert control.actions[-1] == ("fallback", "caller-chan", ("101", "102"))
    assert recorder.of("ended") == [("ended", "fallback", 0)]
    assert not any(a[0] == "hangup" for a in control.actions)
    assert not clock.getDelayedCalls()


def test_a_phone_that_rang_and_rejected_still_makes_the_call_missed(world):
    call, clock, control, recorder = world
    call.start()
    clock.advance(2)
    call.leg_ended("leg-1", 21)  # rejected: a person saw it
    for _ in range(3):
        for leg in [a[1] for a in control.actions if a[0] == "ring"]:
            call.leg_ended(leg, 20)
    assert control.actions[-1] == ("hangup", "caller-chan", 19)
    assert recorder.of("ended") == [("ended", "missed", 2)]

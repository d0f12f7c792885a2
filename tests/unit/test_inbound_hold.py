"""Every phone busy: the caller waits in line, and the first phone that frees up rings."""

from __future__ import annotations

import itertools

from twisted.internet.task import Clock

from pbx_daemon.telephony.calls.inbound import InboundCall
from pbx_daemon.telephony.routing.policy import RingStep, RoutePlan
from pbx_daemon.testing import FakeCallControl, MemoryRecorder

HOLD = RoutePlan(steps=(), department_id=1, hold_seconds=30,
                 hold_step=RingStep("hold", 15, ("101", "102"), (1, 2)))


def waiting_call(plan=HOLD):
    clock = Clock()
    control, recorder = FakeCallControl(), MemoryRecorder()
    counter = itertools.count(1)
    call = InboundCall("call-1", "caller-chan", plan, control, recorder, clock, "+79161234567",
                       lambda: f"leg-{next(counter)}")
    call.start()
    return call, clock, control, recorder


def test_everyone_busy_the_caller_waits_and_the_freed_phone_rings_alone():
    call, clock, control, recorder = waiting_call()
    assert call.state == "waiting" and control.actions == []
    clock.advance(12)
    call.take("102")
    assert control.actions == [("ring", "leg-1", "102", "", "+79161234567")]
    assert ("ringing", "102", 1, 12) in recorder.events
    call.leg_answered("leg-1")
    assert control.actions[-2:] == [("stop_waiting", "caller-chan"),
                                    ("connect", "caller-chan", "leg-1")]
    assert recorder.of("answered") == [("answered", 2, 12)]
    assert not clock.getDelayedCalls()


def test_the_wait_running_out_makes_a_missed_call():
    call, clock, control, recorder = waiting_call()
    clock.advance(30)
    assert control.actions == [("hangup", "caller-chan", 19)]
    assert recorder.of("ended") == [("ended", "missed", 30)]
    call.take("101")  # too late
    assert control.actions == [("hangup", "caller-chan", 19)]
    assert not clock.getDelayedCalls()


def test_the_caller_hanging_up_while_waiting_leaves_no_timer():
    call, clock, control, recorder = waiting_call()
    clock.advance(3)
    call.caller_hung_up()
    assert recorder.of("ended") == [("ended", "missed", 3)]
    assert not clock.getDelayedCalls()


def test_the_freed_phone_not_answering_makes_a_missed_call():
    call, clock, control, recorder = waiting_call()
    call.take("101")
    clock.advance(15)
    assert control.actions[-1] == ("hangup", "caller-chan", 19)
    assert recorder.of("ended") == [("ended", "missed", 15)]
    assert not clock.getDelayedCalls()


def test_a_plan_without_hold_still_goes_to_the_fallback_group():
    call, clock, control, recorder = waiting_call(RoutePlan(steps=(), fallback_endpoints=("101",)))
    assert control.actions == [("fallback", "caller-chan", ("101",))]

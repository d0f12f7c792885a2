"""Look up, then plan, under a deadline (the daemon's runtime): Clock, no threads."""

from __future__ import annotations

from twisted.internet.defer import Deferred, TimeoutError, succeed
from twisted.internet.task import Clock

from pbx_daemon.telephony.routing.deadline import plan_within
from pbx_daemon.telephony.routing.policy import (Agent, Caller, DepartmentInfo, Directory,
                                                 StepTimeouts)

DIRECTORY = Directory(agents={1: Agent(1, "Anna", "101", 1)},
                      departments={1: DepartmentInfo(1, "Sales", (1,))})


def result(d):
    out = []
    d.addBoth(out.append)
    return out


def test_the_lookup_gets_the_busy_endpoints_and_the_clock_time_then_the_plan_follows():
    clock, seen = Clock(), []
    clock.advance(1_764_547_200)  # 2025-12-01 00:00 UTC

    def lookup(caller_raw, dialled, busy, now):
        seen.append((caller_raw, dialled, busy, now.isoformat()))
        return succeed((Caller("+79161234567", owner_id=1), DIRECTORY))

    out = result(plan_within(lookup, clock, 0.5, StepTimeouts(7, 15, 15, 20), "+79161234567",
                             "+74951110001", frozenset({"102"})))
    assert seen == [("+79161234567", "+74951110001", frozenset({"102"}),
                     "2025-12-01T00:00:00+00:00")]
    caller, plan = out[0]
    assert caller.owner_id == 1 and plan.steps[0].endpoints == ("101",)
    assert plan.steps[0].timeout == 7


def test_a_lookup_past_its_deadline_fails_and_is_cancelled():
    clock, pending = Clock(), Deferred()
    out = result(plan_within(lambda *a: pending, clock, 0.5, StepTimeouts(), "", "", frozenset()))
    clock.advance(0.49)
    assert out == []
    clock.advance(0.01)
    assert out[0].check(TimeoutError) and clock.getDelayedCalls() == []

"""One inbound call, as a state machine: ring the plan's steps, first answer wins.

It talks to Asterisk only through :class:`~.interfaces.ICallControl` and reports what
happened only through :class:`~.interfaces.ICallRecorder`; time comes from an injected
``IReactorTime``. So the whole escalation can be tested with a ``Clock`` and in-memory
fakes (:mod:`pbx_daemon.testing`), and the ARI adapter stays a thin translation.

States: ``ringing`` (a step's legs ring; a timer moves to the next step) ->
``answered`` (caller and answerer bridged) -> ``ended``. From ``ringing`` the call also
ends when the caller hangs up (missed) or every step ran out (missed).
"""

from __future__ import annotations

from typing import Callable

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from pbx_daemon.telephony.calls import causes
from pbx_daemon.telephony.calls.interfaces import ICallControl, ICallRecorder
from pbx_daemon.telephony.routing.policy import RoutePlan

log = Logger(namespace="pbx_daemon.inbound")

# How a leg ended (Q.850 cause of its ChannelDestroyed) -> the leg's outcome.
LEG_OUTCOME_BY_CAUSE = {causes.BUSY: "busy", causes.NO_ANSWER: "no_answer",
                        causes.REJECTED: "rejected"}


class InboundCall:
    def __init__(self, call_id: str, caller_channel: str, plan: RoutePlan,
                 control: ICallControl, recorder: ICallRecorder, clock: IReactorTime,
                 caller_number: str | None, new_leg_id: Callable[[], str]):
        self.call_id = call_id
        self.caller_channel = caller_channel
        self.plan = plan
        self.control = control
        self.recorder = recorder
        self.clock = clock
        self.caller_number = caller_number or ""
        self.new_leg_id = new_leg_id
        self.state = "new"
        self.step = -1
        self.legs: dict[str, str] = {}  # ringing leg id -> endpoint
        self.agent_by_endpoint: dict[str, int] = {}
        self.answered_leg: str | None = None
        self.answered_endpoint: str | None = None
        self.timer: IDelayedCall | None = None

    # ---- inputs ------------------------------------------------------------------------
    def start(self) -> None:
        now = self.clock.seconds()
        self.recorder.call_started(self.call_id, self.caller_channel, self.plan, now)
        if self.plan.blocked:
            log.info("call {call_id} from a blocked number: rejected", call_id=self.call_id)
            self.state = "ended"
            self.control.refuse(self.caller_channel)
            self.recorder.call_ended(self.call_id, "blocked", now)
            return
        for step in self.plan.steps:
            self.agent_by_endpoint.update(zip(step.endpoints, step.agent_ids))
        if not self.plan.steps:
            self._give_up("nobody available")
            return
        self.state = "ringing"
        self._enter_step(0)

    def leg_answered(self, leg_id: str) -> None:
        if self.state != "ringing" or leg_id not in self.legs:
            # A second phone answered in the same instant, or a stale leg: let it go.
            if leg_id != self.answered_leg:
                self.control.stop(leg_id)
            return
        now = self.clock.seconds()
        self.state = "answered"
        self.answered_leg = leg_id
        self._cancel_timer()
        endpoint = self.legs.pop(leg_id)
        self.answered_endpoint = endpoint
        for other in list(self.legs):
            self._stop_leg(other, "cancelled", now, reason="answered_elsewhere")
        agent_id = self.agent_by_endpoint.get(endpoint)
        log.info("call {call_id} answered at {endpoint}", call_id=self.call_id, endpoint=endpoint)
        self.recorder.call_answered(self.call_id, leg_id, agent_id, now)
        self.control.connect(self.call_id, self.caller_channel, leg_id)

    def leg_ended(self, leg_id: str, cause: int | None) -> None:
        now = self.clock.seconds()
        if leg_id == self.answered_leg:
            if self.state == "answered":
                self.state = "ended"
                self.recorder.leg_ended(self.call_id, leg_id, "answered", now)
                self.control.hangup(self.caller_channel, causes.NORMAL)
                self.recorder.call_ended(self.call_id, "answered", now)
            return
        if leg_id not in self.legs:
            return
        del self.legs[leg_id]
        self.recorder.leg_ended(self.call_id, leg_id,
                                LEG_OUTCOME_BY_CAUSE.get(cause or 0, "failed"), now)
        if self.state == "ringing" and not self.legs:
            # Everyone of this step rejected or was busy: do not wait the step out.
            self._next_step()

    def caller_hung_up(self) -> None:
        now = self.clock.seconds()
        if self.state == "ringing":
            self.state = "ended"
            self._cancel_timer()
            for leg in list(self.legs):
                self._stop_leg(leg, "cancelled", now)
            log.info("call {call_id}: caller hung up while ringing", call_id=self.call_id)
            self.recorder.call_ended(self.call_id, "missed", now)
        elif self.state == "answered":
            self.state = "ended"
            self.recorder.leg_ended(self.call_id, self.answered_leg, "answered", now)
            self.control.stop(self.answered_leg)
            self.recorder.call_ended(self.call_id, "answered", now)

    # ---- steps ---------------------------------------------------------------------------
    def _enter_step(self, index: int) -> None:
        self.step = index
        step = self.plan.steps[index]
        now = self.clock.seconds()
        wanted = set(step.endpoints)
        for leg, endpoint in list(self.legs.items()):
            if endpoint not in wanted:
                self._stop_leg(leg, "cancelled", now)
        ringing = set(self.legs.values())
        log.info("call {call_id} step {step} ({label}, {timeout} s): {endpoints}",
                 call_id=self.call_id, step=index + 1, label=step.label, timeout=step.timeout,
                 endpoints=",".join(step.endpoints))
        for endpoint in step.endpoints:
            if endpoint in ringing:
                continue
            leg_id = self.new_leg_id()
            self.legs[leg_id] = endpoint
            self.recorder.leg_ringing(self.call_id, leg_id, endpoint,
                                      self.agent_by_endpoint.get(endpoint), index + 1, now)
            self.control.ring(self.call_id, leg_id, endpoint, self.plan.caller_name or "",
                              self.caller_number)
        self.timer = self.clock.callLater(step.timeout, self._step_timed_out, index)

    def _step_timed_out(self, index: int) -> None:
        self.timer = None
        if self.state == "ringing" and self.step == index:
            self._next_step()

    def _next_step(self) -> None:
        self._cancel_timer()
        if self.step + 1 < len(self.plan.steps):
            self._enter_step(self.step + 1)
        else:
            self._give_up("every step rang out")

    def _give_up(self, why: str) -> None:
        now = self.clock.seconds()
        for leg in list(self.legs):
            self._stop_leg(leg, "no_answer", now)
        self.state = "ended"
        if not self.plan.steps:
            # Nobody we know of can take it (or the directory is empty): the fallback
            # group rings: the department's, else the dialplan's own (empty endpoints).
            log.info("call {call_id}: {why}; ringing the fallback group", call_id=self.call_id, why=why)
            self.control.fallback(self.caller_channel, self.plan.fallback_endpoints)
            self.recorder.call_ended(self.call_id, "fallback", now)
            return
        log.info("call {call_id}: {why}; missed", call_id=self.call_id, why=why)
        self.control.hangup(self.caller_channel, causes.NO_ANSWER)
        self.recorder.call_ended(self.call_id, "missed", now)

    def _stop_leg(self, leg_id: str, outcome: str, now: float, reason: str = "normal") -> None:
        self.legs.pop(leg_id, None)
        self.control.stop(leg_id, reason)
        self.recorder.leg_ended(self.call_id, leg_id, outcome, now)

    def _cancel_timer(self) -> None:
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        self.timer = None

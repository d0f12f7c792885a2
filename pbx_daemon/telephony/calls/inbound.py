"""One inbound call, as a state machine: ring the plan's steps, first answer wins.

It talks to Asterisk only through :class:`~.interfaces.ICallControl` and reports what
happened only through :class:`~.interfaces.ICallRecorder`; time comes from an injected
``IReactorTime``. So the whole escalation can be tested with a ``Clock`` and in-memory
fakes (:mod:`pbx_daemon.testing`), and the ARI adapter stays a thin translation.

States: ``ringing`` (a step's legs ring; a timer moves to the next step) ->
``answered`` (caller and answerer bridged) -> ``ended``. From ``ringing`` the call also
ends when the caller hangs up (missed) or every step ran out (missed).

Transfers keep the call: the answering phone sends SIP REFER and the Stasis application
hands it here.

* blind (``transfer_blind``): ``answered`` -> ``transferring``: the transferring leg
  leaves, the caller hears ringback in the call's bridge (still recorded) while the target
  rings as a new leg of the same call; its answer joins the bridge -> ``answered``. If the
  target does not answer within ``TRANSFER_RING_SECONDS`` (or refuses), the transferring
  phone is rung back once; if that fails too, the caller is hung up.
* attended (``transfer_attended``): the phone first called the target itself (a desk-phone
  call); that answered leg moves into this call's bridge and the transferring leg leaves.

Each leg keeps its own answered/ended times, so each employee's part is on record.

Mobiles (follow-me): a step's ``mobiles`` ring through the trunk ``delay`` seconds after
their owner's first step began, as legs labelled with the number. A mobile that answers
is not yet an answer (its voicemail would be): it hears "press 1" and only a DTMF ``1``
within ``CONFIRM_SECONDS`` makes it the answering leg; otherwise that leg is hung up, the
step goes on, and that mobile is not rung again for this call.

Hold: a plan with no steps but a ``hold_step`` (every phone busy) puts the call in
``waiting``: the caller is answered and hears music and their position
(:class:`~.inbound_calls.InboundCalls` keeps the line), for at most ``hold_seconds``. The
first of the hold step's phones that frees up rings alone (:meth:`take`) -> ``ringing``;
the music goes on until it answers. The wait running out, or that phone not answering,
makes a missed call.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from pbx_daemon.crm.models import TRANSFER_STEP
from pbx_daemon.telephony.calls import causes
from pbx_daemon.telephony.calls.interfaces import ICallControl, ICallRecorder
from pbx_daemon.telephony.routing.policy import RingStep, RoutePlan

log = Logger(namespace="pbx_daemon.inbound")

# How a leg ended (Q.850 cause of its ChannelDestroyed) -> the leg's outcome.
LEG_OUTCOME_BY_CAUSE = {causes.BUSY: "busy", causes.NO_ANSWER: "no_answer",
                        causes.REJECTED: "rejected"}
TRANSFER_RING_SECONDS = 30
CONFIRM_SECONDS = 8  # a mobile that answered has this long to press 1


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
        self.transferred_from: str | None = None  # blind: the endpoint to ring back
        self.recalled = False
        self.mobile_legs: dict[str, str] = {}  # mobile leg id -> number
        self.mobile_timers: dict[str, IDelayedCall] = {}  # number -> its delayed ring
        self.confirming: dict[str, IDelayedCall] = {}  # answered mobile leg -> its deadline
        self.mobiles_tried: set[str] = set()
        self.held = False  # waited in line: the caller is answered and hears music
        # Did a phone really ring (a step waited out, or a leg rejected / not answered)?
        # Legs that only fail (unreachable, busy) are not a ring: see _give_up.
        self.rang = False

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
            self.agent_by_endpoint.update((number, agent) for agent, number, _ in step.mobiles)
        if not self.plan.steps and self.plan.hold_step and self.plan.hold_seconds > 0:
            log.info("call {call_id}: every phone busy; the caller waits up to {seconds} s",
                     call_id=self.call_id, seconds=self.plan.hold_seconds)
            self.state = "waiting"
            self.held = True
            self.timer = self.clock.callLater(self.plan.hold_seconds, self._wait_ended)
            return
        if not self.plan.steps:
            self._give_up("nobody available")
            return
        self.state = "ringing"
        self._enter_step(0)

    def take(self, endpoint: str) -> None:
        """A phone of the hold step freed up and this caller is first: ring it alone."""
        if self.state != "waiting" or self.plan.hold_step is None:
            return
        self._cancel_timer()
        hold = self.plan.hold_step
        agent = dict(zip(hold.endpoints, hold.agent_ids)).get(endpoint)
        self.agent_by_endpoint[endpoint] = agent
        self.plan = replace(self.plan, steps=(
            RingStep("hold", hold.timeout, (endpoint,), (agent,) if agent else ()),))
        log.info("call {call_id}: {endpoint} is free; ringing it for the waiting caller",
                 call_id=self.call_id, endpoint=endpoint)
        self.state = "ringing"
        self._enter_step(0)

    def _wait_ended(self) -> None:
        self.timer = None
        if self.state != "waiting":
            return
        log.info("call {call_id}: nobody freed up in time; missed", call_id=self.call_id)
        self.state = "ended"
        self.control.hangup(self.caller_channel, causes.NO_ANSWER)
        self.recorder.call_ended(self.call_id, "missed", self.clock.seconds())

    def leg_answered(self, leg_id: str) -> None:
        if self.state == "transferring" and leg_id in self.legs:
            self._transfer_answered(leg_id)
            return
        if self.state != "ringing" or leg_id not in self.legs:
            # A second phone answered in the same instant, or a stale leg: let it go.
            if leg_id != self.answered_leg:
                self.control.stop(leg_id)
            return
        if leg_id in self.mobile_legs:
            if leg_id not in self.confirming:
                log.info("call {call_id}: mobile {number} answered; asking for 1",
                         call_id=self.call_id, number=self.mobile_legs[leg_id])
                self.confirming[leg_id] = self.clock.callLater(
                    CONFIRM_SECONDS, self._unconfirmed, leg_id)
                self.control.confirm(leg_id, True)
            return
        self._answer(leg_id)

    def leg_dtmf(self, leg_id: str, digit: str) -> None:
        """A digit from a leg: ``1`` from a mobile being asked takes the call."""
        if digit != "1" or leg_id not in self.confirming or self.state != "ringing":
            return
        self._cancel_confirm(leg_id)
        self.control.confirm(leg_id, False)
        self._answer(leg_id)

    def _answer(self, leg_id: str) -> None:
        now = self.clock.seconds()
        self.state = "answered"
        self.answered_leg = leg_id
        self._cancel_timer()
        self._cancel_mobile_timers()
        endpoint = self.legs.pop(leg_id)
        self.answered_endpoint = endpoint
        for other in list(self.legs):
            self._stop_leg(other, "cancelled", now, reason="answered_elsewhere")
        agent_id = self.agent_by_endpoint.get(endpoint)
        log.info("call {call_id} answered at {endpoint}", call_id=self.call_id, endpoint=endpoint)
        self.recorder.call_answered(self.call_id, leg_id, agent_id, now)
        if self.held:
            self.control.stop_waiting(self.caller_channel)
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
        self._cancel_confirm(leg_id)
        outcome = LEG_OUTCOME_BY_CAUSE.get(cause or 0, "failed")
        self.rang = self.rang or outcome in ("rejected", "no_answer")
        self.recorder.leg_ended(self.call_id, leg_id, outcome, now)
        if self.state == "ringing" and not self.legs and not self.mobile_timers:
            # Everyone of this step rejected or was busy: do not wait the step out.
            self._next_step()
        elif self.state == "transferring" and not self.legs:
            self._transfer_failed()

    def caller_hung_up(self) -> None:
        now = self.clock.seconds()
        if self.state == "waiting":
            self.state = "ended"
            self._cancel_timer()
            log.info("call {call_id}: caller hung up while waiting", call_id=self.call_id)
            self.recorder.call_ended(self.call_id, "missed", now)
        elif self.state == "ringing":
            self.state = "ended"
            self._cancel_timer()
            self._cancel_mobile_timers()
            for leg in list(self.legs):
                self._stop_leg(leg, "cancelled", now)
            log.info("call {call_id}: caller hung up while ringing", call_id=self.call_id)
            self.recorder.call_ended(self.call_id, "missed", now)
        elif self.state == "answered":
            self.state = "ended"
            self.recorder.leg_ended(self.call_id, self.answered_leg, "answered", now)
            self.control.stop(self.answered_leg)
            self.recorder.call_ended(self.call_id, "answered", now)
        elif self.state == "transferring":
            self.state = "ended"
            self._cancel_timer()
            for leg in list(self.legs):
                self._stop_leg(leg, "cancelled", now)
            log.info("call {call_id}: caller hung up during a transfer", call_id=self.call_id)
            self.recorder.call_ended(self.call_id, "answered", now)

    # ---- transfers -------------------------------------------------------------------------
    def transfer_blind(self, source_leg: str, endpoint: str, agent_id: int | None) -> bool:
        """The answering phone (``source_leg``) blind-transferred the caller to
        ``endpoint``. False, and nothing changes, unless ``source_leg`` is the answered leg
        of a connected call."""
        if self.state != "answered" or source_leg != self.answered_leg:
            return False
        log.info("call {call_id}: {source} transfers to {endpoint}", call_id=self.call_id,
                 source=self.answered_endpoint, endpoint=endpoint)
        self.transferred_from = self.answered_endpoint
        self._release_transferor(source_leg)
        self.state = "transferring"
        self.control.hold(self.call_id, True)
        self._ring_transfer(endpoint, agent_id)
        return True

    def transfer_attended(self, source_leg: str, new_leg: str, endpoint: str,
                          agent_id: int | None) -> bool:
        """The answering phone (``source_leg``) consulted ``endpoint``, whose answered leg
        is ``new_leg``, and transferred: ``new_leg`` takes the caller over. False, and
        nothing changes, unless ``source_leg`` is the answered leg of a connected call."""
        if self.state != "answered" or source_leg != self.answered_leg:
            return False
        now = self.clock.seconds()
        log.info("call {call_id}: {source} hands the caller to {endpoint}", call_id=self.call_id,
                 source=self.answered_endpoint, endpoint=endpoint)
        self._release_transferor(source_leg)
        self.agent_by_endpoint.setdefault(endpoint, agent_id)
        self.answered_leg, self.answered_endpoint = new_leg, endpoint
        self.recorder.leg_ringing(self.call_id, new_leg, endpoint, agent_id, TRANSFER_STEP, now)
        self.recorder.leg_answered(self.call_id, new_leg, agent_id, now)
        self.control.join(self.call_id, new_leg)
        return True

    def _release_transferor(self, source_leg: str) -> None:
        # Asterisk answered the REFER 202 and sends no NOTIFY: the phone learns here that
        # its transfer went through, and is hung up (most phones hang up on that NOTIFY).
        self.recorder.leg_ended(self.call_id, source_leg, "answered", self.clock.seconds())
        self.control.transfer_progress(source_leg, "channel_answered")
        self.control.stop(source_leg)
        self.answered_leg = self.answered_endpoint = None

    def _ring_transfer(self, endpoint: str, agent_id: int | None) -> None:
        leg_id = self.new_leg_id()
        self.legs[leg_id] = endpoint
        self.agent_by_endpoint.setdefault(endpoint, agent_id)
        self.recorder.leg_ringing(self.call_id, leg_id, endpoint, agent_id, TRANSFER_STEP,
                                  self.clock.seconds())
        self.control.ring(self.call_id, leg_id, endpoint, self.plan.caller_name or "",
                          self.caller_number)
        self.timer = self.clock.callLater(TRANSFER_RING_SECONDS, self._transfer_timed_out)

    def _transfer_answered(self, leg_id: str) -> None:
        self._cancel_timer()
        endpoint = self.legs.pop(leg_id)
        self.state = "answered"
        self.answered_leg, self.answered_endpoint = leg_id, endpoint
        log.info("call {call_id}: transfer answered at {endpoint}", call_id=self.call_id,
                 endpoint=endpoint)
        self.recorder.leg_answered(self.call_id, leg_id, self.agent_by_endpoint.get(endpoint),
                                   self.clock.seconds())
        self.control.hold(self.call_id, False)
        self.control.join(self.call_id, leg_id)

    def _transfer_timed_out(self) -> None:
        self.timer = None
        if self.state != "transferring":
            return
        now = self.clock.seconds()
        for leg in list(self.legs):
            self._stop_leg(leg, "no_answer", now)
        self._transfer_failed()

    def _transfer_failed(self) -> None:
        self._cancel_timer()
        back = self.transferred_from
        if back and not self.recalled:
            self.recalled = True
            log.info("call {call_id}: transfer not answered; ringing {endpoint} back",
                     call_id=self.call_id, endpoint=back)
            self._ring_transfer(back, self.agent_by_endpoint.get(back))
            return
        log.info("call {call_id}: transfer not answered; caller hung up", call_id=self.call_id)
        self.state = "ended"
        self.control.hangup(self.caller_channel, causes.NO_ANSWER)
        self.recorder.call_ended(self.call_id, "answered", self.clock.seconds())

    # ---- steps ---------------------------------------------------------------------------
    def _enter_step(self, index: int) -> None:
        self.step = index
        step = self.plan.steps[index]
        now = self.clock.seconds()
        wanted = set(step.endpoints) | {number for _, number, _ in step.mobiles}
        for leg, endpoint in list(self.legs.items()):
            if endpoint not in wanted:
                self._stop_leg(leg, "cancelled", now)
        for number in list(self.mobile_timers):
            if number not in wanted:
                self._cancel_mobile_timers(number)
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
        for _, number, delay in step.mobiles:
            if number in ringing or number in self.mobile_timers or number in self.mobiles_tried \
                    or number == self.caller_number:  # the employee calling from it
                continue
            if delay > 0:
                self.mobile_timers[number] = self.clock.callLater(delay, self._ring_mobile, number)
            else:
                self._ring_mobile(number)
        self.timer = self.clock.callLater(step.timeout, self._step_timed_out, index)

    # ---- mobiles -----------------------------------------------------------------------------
    def _ring_mobile(self, number: str) -> None:
        self.mobile_timers.pop(number, None)
        if self.state != "ringing":
            return
        leg_id = self.new_leg_id()
        self.legs[leg_id] = number
        self.mobile_legs[leg_id] = number
        self.mobiles_tried.add(number)
        log.info("call {call_id}: ringing the mobile {number}", call_id=self.call_id,
                 number=number)
        self.recorder.leg_ringing(self.call_id, leg_id, number, self.agent_by_endpoint.get(number),
                                  self.step + 1, self.clock.seconds())
        self.control.ring_mobile(self.call_id, leg_id, number, self.caller_number)

    def _unconfirmed(self, leg_id: str) -> None:
        self.confirming.pop(leg_id, None)
        if self.state != "ringing" or leg_id not in self.legs:
            return
        log.info("call {call_id}: mobile {number} answered but did not press 1",
                 call_id=self.call_id, number=self.mobile_legs.get(leg_id))
        self._stop_leg(leg_id, "no_answer", self.clock.seconds())
        if not self.legs and not self.mobile_timers:
            self._next_step()

    def _cancel_confirm(self, leg_id: str) -> None:
        timer = self.confirming.pop(leg_id, None)
        if timer is not None and timer.active():
            timer.cancel()

    def _cancel_mobile_timers(self, *numbers: str) -> None:
        for number in numbers or list(self.mobile_timers):
            timer = self.mobile_timers.pop(number, None)
            if timer is not None and timer.active():
                timer.cancel()

    def _step_timed_out(self, index: int) -> None:
        self.timer = None
        if self.state == "ringing" and self.step == index:
            self.rang = True
            self._next_step()

    def _next_step(self) -> None:
        self._cancel_timer()
        if self.step + 1 < len(self.plan.steps):
            self._enter_step(self.step + 1)
        elif self.confirming:
            # A mobile is being asked for 1 right now: the last step ends for the others,
            # the call with that answer (or its deadline).
            now = self.clock.seconds()
            self._cancel_mobile_timers()
            for leg in list(self.legs):
                if leg not in self.confirming:
                    self._stop_leg(leg, "no_answer", now)
        else:
            self._give_up("every step rang out")

    def _give_up(self, why: str) -> None:
        now = self.clock.seconds()
        self._cancel_mobile_timers()
        for leg in list(self.legs):
            self._stop_leg(leg, "no_answer", now)
        self.state = "ended"
        if not self.plan.steps or not self.rang:
            # Nobody we know of can take it (or the directory is empty), or every phone
            # we tried failed at once (unreachable, busy): not a ring the caller should
            # count as missed. The fallback group rings: the department's, else the
            # dialplan's own (empty endpoints).
            log.info("call {call_id}: {why}; ringing the fallback group", call_id=self.call_id, why=why)
            self.control.fallback(self.caller_channel, self.plan.fallback_endpoints)
            self.recorder.call_ended(self.call_id, "fallback", now)
            return
        log.info("call {call_id}: {why}; missed", call_id=self.call_id, why=why)
        self.control.hangup(self.caller_channel, causes.NO_ANSWER)
        self.recorder.call_ended(self.call_id, "missed", now)

    def _stop_leg(self, leg_id: str, outcome: str, now: float, reason: str = "normal") -> None:
        self.legs.pop(leg_id, None)
        self._cancel_confirm(leg_id)
        self.control.stop(leg_id, reason)
        self.recorder.leg_ended(self.call_id, leg_id, outcome, now)

    def _cancel_timer(self) -> None:
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        self.timer = None

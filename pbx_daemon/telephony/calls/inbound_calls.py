"""The live inbound calls: starts each one, and finds its call for a leg's event.

A caller arrives (``StasisStart inbound``), already hearing ringback (the dialplan sent
180 Ringing before ``Stasis()``): we look them up under a deadline, plan, and run an
:class:`~.inbound.InboundCall`. Its phone legs get ids we make up (``<call>-leg<n>-...``)
and are registered here, so a leg's ``StasisStart`` / ``ChannelDestroyed`` finds its call.

Anything that goes wrong before a plan exists (lookup past its deadline, database down)
sends the caller back to the dialplan's fallback ring group: the call always rings.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Callable

from twisted.internet.defer import TimeoutError
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from pbx_daemon.telephony import names
from pbx_daemon.telephony.ari.messages import Channel
from pbx_daemon.telephony.calls.after_hours import AfterHoursCall
from pbx_daemon.telephony.calls.inbound import InboundCall
from pbx_daemon.telephony.calls.interfaces import (CallDetails, IAfterHoursControl, ICallControl,
                                                   ICallRecorder)
from pbx_daemon.telephony.calls.line import Waiter, assign, position
from pbx_daemon.telephony.routing.deadline import Lookup, Observe, plan_within
from pbx_daemon.telephony.routing.directory import safe_caller_name
from pbx_daemon.telephony.routing.policy import StepTimeouts

# The lines logged here were the Stasis application's: same namespace.
log = Logger(namespace="pbx_daemon.stasis")


class InboundCalls:
    """``busy_endpoints()`` is every endpoint on a call right now (this and click-to-call);
    ``call_over(call_id, answered)`` hears of each call that ended."""

    def __init__(self, *, control: ICallControl, recorder: ICallRecorder, clock: IReactorTime,
                 lookup: Lookup, timeouts: StepTimeouts, deadline: float,
                 busy_endpoints: Callable[[], frozenset[str]],
                 call_over: Callable[[str, bool], None],
                 observe_routing: Observe | None = None,
                 after_hours: IAfterHoursControl | None = None):
        self.control = control
        self.after_hours = after_hours  # greeting and voicemail outside working hours
        self.observe_routing = observe_routing
        self.recorder = recorder
        self.clock = clock
        self.lookup = lookup
        self.timeouts = timeouts
        self.deadline = deadline
        self.busy_endpoints = busy_endpoints
        self.call_over = call_over
        self.calls: dict[str, InboundCall] = {}  # by call id (the trunk channel id)
        self.leg_calls: dict[str, str] = {}  # leg channel id -> call id
        self.pending: set[str] = set()  # calls being looked up
        self.line: list[str] = []  # waiting calls (every phone busy), first come first

    def answered_endpoints(self) -> set[str]:
        return {c.answered_endpoint for c in self.calls.values()
                if c.state == "answered" and c.answered_endpoint}

    def known_channels(self) -> set[str]:
        known = set(self.calls) | set(self.leg_calls) | set(self.pending)
        for call in self.calls.values():
            if call.answered_leg:
                known.add(call.answered_leg)
        return known

    def owns(self, channel_id: str) -> bool:
        return channel_id in self.pending or channel_id in self.calls \
            or channel_id in self.leg_calls

    # ---- events ------------------------------------------------------------------------
    def start(self, channel: Channel, dialled: str | None) -> None:
        """A caller entered ``Stasis(<app>,inbound,<dialled>)``."""
        call_id = channel.id
        caller_raw = channel.caller_number
        trunk_name = safe_caller_name(channel.caller_name)
        log.info("inbound call {call_id} from {caller!r} to {dialled}", call_id=call_id,
                 caller=caller_raw[:40], dialled=dialled)
        self.pending.add(call_id)
        d = plan_within(self.lookup, self.clock, self.deadline, self.timeouts, caller_raw,
                        dialled, self.busy_endpoints(), self.observe_routing)

        def routed(result):
            caller, plan = result
            if not plan.caller_name and trunk_name:
                # Not in the CRM: the phones show the trunk's name, sanitised.
                plan = replace(plan, caller_name=trunk_name)
            self.recorder.caller_identified(call_id, CallDetails(
                caller.number, caller_raw, dialled, blocked=caller.blocked,
                is_staff=caller.is_staff, owner_id=caller.owner_id, source_id=caller.source_id,
                tracking_number_id=caller.tracking_number_id, card=caller.card,
                caller_name=plan.caller_name,
                callback_from=plan.after_hours.opens_at if plan.after_hours else None))
            if call_id not in self.pending:
                at = self.clock.seconds()
                log.info("call {call_id}: caller hung up during the lookup", call_id=call_id)
                self.recorder.call_started(call_id, call_id, plan, at)
                self.recorder.call_ended(call_id, "missed", at)
                return
            self.pending.discard(call_id)
            if plan.after_hours is not None and self.after_hours is not None:
                call = AfterHoursCall(call_id, call_id, plan, self.after_hours, self.recorder,
                                      self.clock, names.recording_name(call_id))
                self.calls[call_id] = call
                call.start()
                return
            legs = iter(range(1, 1000))
            call = InboundCall(call_id, call_id, plan, self.control, self.recorder, self.clock,
                               caller.number, lambda: self._leg_id(call_id, next(legs)))
            self.calls[call_id] = call
            call.start()
            if call.state == "waiting":
                self._join_line(call)
            self._maybe_forget(call)

        def failed(failure):
            if call_id not in self.pending:
                return
            self.pending.discard(call_id)
            if failure.check(TimeoutError):  # the database slow or away: expected, no traceback
                log.warn("routing call {call_id}: no plan within the routing deadline; the "
                         "dialplan fallback group rings", call_id=call_id)
            else:
                log.failure("routing call {call_id} failed; the dialplan fallback group rings",
                            failure, call_id=call_id)
            self.control.to_dialplan_fallback(call_id)

        d.addCallbacks(routed, failed)

    def recording_finished(self, name: str) -> None:
        """Asterisk closed recording ``name``: an after-hours call's voicemail ends it."""
        for call in list(self.calls.values()):
            if isinstance(call, AfterHoursCall):
                call.recording_finished(name)
                self._maybe_forget(call)

    def leg_answered(self, call_id: str, leg_id: str) -> None:
        """Leg ``leg_id`` of ``call_id`` entered our application: its phone answered."""
        call = self.calls.get(call_id)
        if call is None:
            self.control.stop(leg_id)  # a leg of a call that is over (or not ours)
            return
        call.leg_answered(leg_id)
        self._maybe_forget(call)

    def dtmf(self, channel_id: str, digit: str) -> None:
        """A key pressed on a leg (a mobile confirming with 1)."""
        call = self.calls.get(self.leg_calls.get(channel_id, ""))
        if call is not None:
            call.leg_dtmf(channel_id, digit)
            self._maybe_forget(call)

    def channel_gone(self, channel_id: str, cause: int | None) -> None:
        """A caller or a leg hung up (ChannelDestroyed, or StasisEnd)."""
        if channel_id in self.pending:
            self.pending.discard(channel_id)  # hung up while we were looking them up
        elif channel_id in self.calls:
            call = self.calls[channel_id]
            call.caller_hung_up()
            self._maybe_forget(call)
        elif channel_id in self.leg_calls:
            call = self.calls.get(self.leg_calls.pop(channel_id))
            if call is not None:
                call.leg_ended(channel_id, cause)
                self._maybe_forget(call)

    # ---- transfers (see :mod:`pbx_daemon.telephony.transfers`) ---------------------------
    def transferring_leg(self, leg_id: str) -> tuple[str, str] | None:
        """(call id, endpoint) when ``leg_id`` is the answered leg of a connected call: the
        only leg whose phone may transfer the caller."""
        call = self.calls.get(self.leg_calls.get(leg_id, ""))
        if call is None or call.state != "answered" or call.answered_leg != leg_id:
            return None
        return call.call_id, call.answered_endpoint or ""

    def transfer_blind(self, call_id: str, source_leg: str, endpoint: str,
                       agent_id: int | None) -> bool:
        call = self.calls.get(call_id)
        return call is not None and call.transfer_blind(source_leg, endpoint, agent_id)

    def transfer_attended(self, call_id: str, source_leg: str, new_leg: str, endpoint: str,
                          agent_id: int | None) -> bool:
        call = self.calls.get(call_id)
        if call is None or not call.transfer_attended(source_leg, new_leg, endpoint, agent_id):
            return False
        self.leg_calls[new_leg] = call_id  # its hang-up now ends this call
        return True

    # ---- the line of waiting callers (see :mod:`.line`) ---------------------------------
    def offer_free_phones(self) -> None:
        """A call ended somewhere: phones may have freed up for the waiting callers."""
        self.line = [c for c in self.line
                     if c in self.calls and self.calls[c].state == "waiting"]
        if not self.line:
            return
        for call_id, endpoint in assign(self._waiters(), self.busy_endpoints()):
            self.calls[call_id].take(endpoint)
        self.line = [c for c in self.line if self.calls[c].state == "waiting"]

    def announced(self, channel_id: str) -> None:
        """The position announcement to a waiting caller ended: music until a phone answers."""
        call = self.calls.get(channel_id)
        if call is not None and call.held and call.state in ("waiting", "ringing"):
            self.control.music_on_hold(call.caller_channel)

    def _join_line(self, call: InboundCall) -> None:
        self.line.append(call.call_id)
        place = position(self._waiters(), call.call_id) or 1
        log.info("call {call_id} waits in line at {position}", call_id=call.call_id,
                 position=place)
        self.control.wait_in_line(call.call_id, call.caller_channel, place)
        self.offer_free_phones()  # a phone may have freed up during the lookup

    def _waiters(self) -> list[Waiter]:
        return [Waiter(c, self.calls[c].plan.department_id, self.calls[c].plan.hold_step.endpoints)
                for c in self.line if self.calls[c].plan.hold_step is not None]

    # ---- internals ---------------------------------------------------------------------
    def _maybe_forget(self, call: InboundCall) -> None:
        if call.state == "ended" and call.call_id in self.calls:
            if call.call_id in self.line:
                self.line.remove(call.call_id)
            del self.calls[call.call_id]
            self.call_over(call.call_id, call.answered_leg is not None)
            for leg, owner in list(self.leg_calls.items()):
                if owner == call.call_id:
                    del self.leg_calls[leg]
            self.control.release(call.call_id)

    def _leg_id(self, call_id: str, n: int) -> str:
        leg_id = names.leg_id(call_id, n, secrets.token_hex(2))
        self.leg_calls[leg_id] = call_id
        return leg_id

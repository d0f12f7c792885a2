"""A call's story, fanned out: to the store (SQL) and to screen-pop (Redis).

:class:`CallEvents` is the recorder the Stasis application and the call state machines
see. Every event goes to the store first; the screen-pop notifier then gets the business
event it stands for, with who is concerned:

==========================  =============================================================
call / click-to-call event   screen-pop
==========================  =============================================================
a phone starts ringing       ``ringing`` to that employee (caller's number, name, card)
someone answers              ``answered`` to them; ``ended`` (answered_elsewhere) to the
                             others who rang
the call ends                ``ended`` (or ``missed``) to everyone who rang
the recording is attached    ``recording_ready`` to whoever talked
==========================  =============================================================

The notifier is fire and forget: Redis down costs a screen-pop, never a call or a row.
``metrics`` (:class:`~pbx_daemon.telephony.metrics.DaemonMetrics`), when given, counts each
call that ended by direction and outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from twisted.logger import Logger
from zope.interface import implementer

from pbx_daemon.telephony.calls.interfaces import (CallDetails, ICallRecorder, IOutboundRecorder,
                                                   IPhoneRecorder)

log = Logger(namespace="pbx_daemon.call_events")
# Calls remembered until their recording is attached; a recording that never comes
# (Asterisk failed to write it) must not grow this without bound.
MAX_REMEMBERED = 5000


@dataclass
class _Seen:
    direction: str
    phone: str | None
    name: str | None
    card: dict | None
    rang: list[int] = field(default_factory=list)  # employee ids, in ring order
    talked: int | None = None


def _card(card) -> dict | None:
    if not card:
        return None
    kind, card_id = card
    return {"kind": kind, "id": card_id}


@implementer(ICallRecorder, IOutboundRecorder, IPhoneRecorder)
class CallEvents:
    def __init__(self, store, notifier, metrics=None):
        self.store = store
        self.notifier = notifier
        self.metrics = metrics
        self.calls: dict[str, _Seen] = {}
        self.details: dict[str, CallDetails] = {}  # what the lookup found, until call_started

    def _remember(self, call_id: str, seen: _Seen) -> None:
        while len(self.calls) >= MAX_REMEMBERED:
            self.calls.pop(next(iter(self.calls)))
        self.calls[call_id] = seen

    def _ended(self, direction: str, outcome: str | None) -> None:
        if self.metrics is not None:
            self.metrics.call_ended(direction, outcome)

    def _notify(self, what: str, *args, **kwargs) -> None:
        try:
            getattr(self.notifier, what)(*args, **kwargs)
        except Exception:  # noqa: BLE001 - a screen-pop must never break a call
            log.failure("screen-pop {what} failed", what=what)

    # ---- inbound -----------------------------------------------------------------------
    def caller_identified(self, call_id, details):
        self.details[call_id] = details
        self.store.caller_identified(call_id, details)

    def call_started(self, call_id, caller_channel, plan, at):
        d = self.details.pop(call_id, None)
        self._remember(call_id, _Seen("inbound", d.caller if d else None,
                                      plan.caller_name or (d.caller_name if d else None),
                                      _card(d.card) if d else None))
        self.store.call_started(call_id, caller_channel, plan, at)

    def leg_ringing(self, call_id, leg_id, endpoint, agent_id, step, at):
        self.store.leg_ringing(call_id, leg_id, endpoint, agent_id, step, at)
        seen = self.calls.get(call_id)
        if seen is None or agent_id is None:
            return
        if agent_id not in seen.rang:
            seen.rang.append(agent_id)
        self._notify("ringing", call_id, agent_id, direction=seen.direction, phone=seen.phone,
                     name=seen.name, card=seen.card)

    def leg_ended(self, call_id, leg_id, outcome, at):
        self.store.leg_ended(call_id, leg_id, outcome, at)

    def call_answered(self, call_id, leg_id, agent_id, at):
        self.store.call_answered(call_id, leg_id, agent_id, at)
        seen = self.calls.get(call_id)
        if seen is None:
            return
        seen.talked = agent_id
        if agent_id is not None:
            self._notify("answered", call_id, agent_id, direction=seen.direction,
                         phone=seen.phone, name=seen.name)
        others = [e for e in seen.rang if e != agent_id]
        if others:
            self._notify("ended", call_id, "answered_elsewhere", others, phone=seen.phone)

    def adopted_call_ended(self, call_id, at):
        self.store.adopted_call_ended(call_id, at)
        self._ended("adopted", "ended")

    def leg_answered(self, call_id, leg_id, agent_id, at):
        self.store.leg_answered(call_id, leg_id, agent_id, at)
        seen = self.calls.get(call_id)
        if seen is None or agent_id is None:
            return
        # The transfer target talks now: the call's end goes to their screen.
        seen.talked = agent_id
        self._notify("answered", call_id, agent_id, direction=seen.direction,
                     phone=seen.phone, name=seen.name)

    def call_ended(self, call_id, outcome, at):
        self.store.call_ended(call_id, outcome, at)
        self._ended("inbound", outcome)
        seen = self.calls.get(call_id)
        if seen is None:
            return
        if seen.talked is None:
            # Nobody talked: the call is over for good (no recording will follow).
            self.calls.pop(call_id, None)
        if outcome == "missed":
            self._notify("missed", call_id, list(seen.rang), phone=seen.phone, name=seen.name)
        elif seen.talked is not None:
            self._notify("ended", call_id, outcome, [seen.talked], phone=seen.phone)
        elif seen.rang:
            self._notify("ended", call_id, outcome, list(seen.rang), phone=seen.phone)

    # ---- click-to-call -----------------------------------------------------------------
    def outbound_started(self, call_id, request, at):
        card = next(((k, getattr(request, f"{k}_id")) for k in
                     ("contact", "company", "lead", "deal", "inquiry")
                     if getattr(request, f"{k}_id") is not None), None)
        self._remember(call_id, _Seen("outbound", request.number, request.shown_name,
                                      _card(card), rang=[request.employee_id]))
        self.store.outbound_started(call_id, request, at)
        seen = self.calls[call_id]
        self._notify("ringing", call_id, request.employee_id, direction="outbound",
                     phone=seen.phone, name=seen.name, card=seen.card)

    def employee_answered(self, call_id, request, at):
        self.store.employee_answered(call_id, request, at)

    def client_answered(self, call_id, request, at):
        self.store.client_answered(call_id, request, at)
        seen = self.calls.get(call_id)
        if seen is not None:
            seen.talked = request.employee_id
            self._notify("answered", call_id, request.employee_id, direction="outbound",
                         phone=seen.phone, name=seen.name)

    def outbound_ended(self, call_id, request, outcome, at):
        self.store.outbound_ended(call_id, request, outcome, at)
        self._ended("click_to_call", outcome)
        seen = self.calls.get(call_id)
        if seen is not None and seen.talked is None:
            self.calls.pop(call_id, None)
        self._notify("ended", call_id, outcome, [request.employee_id], phone=request.number)

    # ---- desk-phone calls --------------------------------------------------------------
    # A client's number dialled from a desk phone pops up like a click-to-call (the card
    # the employee is calling); an internal call only goes to the store (the callee's
    # phone shows the caller's name).
    def phone_call_started(self, call_id, request, at):
        self.store.phone_call_started(call_id, request, at)
        if request.kind != "outbound" or request.employee_id is None:
            return
        card = next(((k, getattr(request, f"{k}_id")) for k in
                     ("contact", "company", "lead", "deal", "inquiry")
                     if getattr(request, f"{k}_id") is not None), None)
        self._remember(call_id, _Seen("outbound", request.number, request.shown_name,
                                      _card(card), rang=[request.employee_id]))
        seen = self.calls[call_id]
        self._notify("ringing", call_id, request.employee_id, direction="outbound",
                     phone=seen.phone, name=seen.name, card=seen.card)

    def phone_call_answered(self, call_id, request, at):
        self.store.phone_call_answered(call_id, request, at)
        seen = self.calls.get(call_id)
        if seen is not None:
            seen.talked = request.employee_id
            self._notify("answered", call_id, request.employee_id, direction="outbound",
                         phone=seen.phone, name=seen.name)

    def phone_call_ended(self, call_id, request, outcome, at):
        self.store.phone_call_ended(call_id, request, outcome, at)
        self._ended("desk_phone", outcome)
        seen = self.calls.get(call_id)
        if seen is None:
            return
        if seen.talked is None:
            self.calls.pop(call_id, None)
        self._notify("ended", call_id, outcome, [request.employee_id], phone=request.number)

    # ---- recordings --------------------------------------------------------------------
    def recording_finished(self, call_id):
        d = self.store.recording_finished(call_id)

        def ready(size):
            seen = self.calls.pop(call_id, None)
            if size and seen is not None and seen.talked is not None:
                self._notify("recording_ready", call_id, [seen.talked])
            return size

        d.addCallback(ready)
        return d

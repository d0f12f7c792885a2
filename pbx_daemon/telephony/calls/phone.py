"""One call a desk phone placed, as a state machine: the phone's channel is already in
our application; we ring the other side (another employee's phone, or a client through
the trunk), connect the two when it answers and record the bridge.

Like :mod:`.outbound` it talks to Asterisk only through
:class:`~.interfaces.IPhoneControl`, reports only through
:class:`~.interfaces.IPhoneRecorder`, and takes time from an injected ``IReactorTime``.

States::

    ringing --the far side answers--> connected --either hangs up--> ended
       |
       +-- the far side is busy / does not answer / fails: the phone is hung up with
       |   that cause (busy tone on the phone)
       +-- the phone hangs up first: abandoned
       +-- our ring timer: no_answer

The phone hears ringback from us (``indicate_ringing``, sent when it arrives) until the
far side answers; only then is the phone's channel answered, so an unanswered call is
never billed by the trunk nor counted as talk time.
"""

from __future__ import annotations

from dataclasses import dataclass

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from pbx_daemon.telephony import names
from pbx_daemon.telephony.calls import causes
from pbx_daemon.telephony.calls.interfaces import IPhoneControl, IPhoneRecorder
from pbx_daemon.telephony.calls.outbound import CLIENT_OUTCOME_BY_CAUSE

log = Logger(namespace="pbx_daemon.phone")

KINDS = ("outbound", "internal")
# Causes passed on to the phone as they came (busy tone, "no answer"); others: 16.
_PASSED_ON = {causes.BUSY, causes.REJECTED, causes.NO_USER_RESPONSE, causes.NO_ANSWER}


@dataclass(frozen=True)
class PhoneCallRequest:
    """A checked desk-phone call (see :func:`~pbx_daemon.telephony.click_to_call.prepare_phone_call`):
    every value from the database or normalised, never the dialled text itself."""

    kind: str  # "outbound" (a client, through the trunk) | "internal" (an extension)
    endpoint: str  # the calling phone's endpoint (validated)
    employee_id: int | None  # who placed it (None: a phone no employee has)
    caller_name: str = ""  # the employee's name, sanitised, for the callee's display
    # internal: the employee rung
    target_endpoint: str | None = None
    target_employee_id: int | None = None
    # outbound: the client
    number: str | None = None  # E.164
    ext: str | None = None  # digits, sent as DTMF once the client answers
    shown_name: str = ""  # the card's name, or the number
    caller_id: str = ""  # the company's number (E.164) or "" for the trunk's default
    company_id: int | None = None
    contact_id: int | None = None
    lead_id: int | None = None
    deal_id: int | None = None
    inquiry_id: int | None = None
    call_list_entry_id: int | None = None
    ring_timeout: int = 40

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"phone call kind {self.kind!r}")


@dataclass(frozen=True)
class PhoneCallRefused:
    """The dialled number may not be called: ``blocked`` (blocklist: the phone hears a
    short message) or ``invalid`` (not a phone number nor an extension: hung up)."""

    reason: str
    detail: str = ""


class PhoneCall:
    def __init__(self, call_id: str, request: PhoneCallRequest, control: IPhoneControl,
                 recorder: IPhoneRecorder, clock: IReactorTime):
        self.call_id = call_id  # the phone's channel id (Asterisk's uniqueid = linkedid)
        self.peer_leg = names.peer_leg_id(call_id)
        self.request = request
        self.control = control
        self.recorder = recorder
        self.clock = clock
        self.state = "new"
        self.outcome: str | None = None
        self.timer: IDelayedCall | None = None

    @property
    def channels(self) -> tuple[str, str]:
        return self.call_id, self.peer_leg

    @property
    def endpoints(self) -> set[str]:
        r = self.request
        return {r.endpoint} | ({r.target_endpoint} if r.target_endpoint else set())

    def start(self) -> None:
        r = self.request
        self.state = "ringing"
        self.recorder.phone_call_started(self.call_id, r, self.clock.seconds())
        if r.kind == "internal":
            log.info("phone call {call_id}: {endpoint} rings {target}", call_id=self.call_id,
                     endpoint=r.endpoint, target=r.target_endpoint)
            self.control.ring_extension(self.call_id, self.peer_leg, r.target_endpoint,
                                        r.caller_name, r.endpoint, r.ring_timeout + 5)
        else:
            log.info("phone call {call_id}: {endpoint} dials {number}", call_id=self.call_id,
                     endpoint=r.endpoint, number=r.number)
            self.control.dial_out(self.call_id, self.peer_leg, r.number, r.caller_id,
                                  r.ring_timeout + 5)
        if self.state == "ringing":  # not refused on the spot (origination_failed)
            self.timer = self.clock.callLater(r.ring_timeout, self._timed_out)

    # ---- inputs ------------------------------------------------------------------------
    def peer_answered(self) -> None:
        if self.state != "ringing":
            if self.state == "ended":
                self.control.hangup(self.peer_leg, causes.NORMAL)
            return
        self._cancel_timer()
        self.state = "connected"
        log.info("phone call {call_id}: answered", call_id=self.call_id)
        self.recorder.phone_call_answered(self.call_id, self.request, self.clock.seconds())
        self.control.connect(self.call_id, self.peer_leg,
                             self.request.ext if self.request.kind == "outbound" else None)

    def phone_gone(self, cause: int | None) -> None:
        if self.state == "ringing":
            self.control.hangup(self.peer_leg, causes.NORMAL)
            self._end("abandoned")
        elif self.state == "connected":
            self.control.hangup(self.peer_leg, causes.NORMAL)
            self._end("answered")

    def peer_gone(self, cause: int | None) -> None:
        if self.state == "ringing":
            passed = cause if cause in _PASSED_ON else causes.NORMAL
            self.control.hangup(self.call_id, passed)
            self._end(CLIENT_OUTCOME_BY_CAUSE.get(cause or 0, "failed"))
        elif self.state == "connected":
            self.control.hangup(self.call_id, causes.NORMAL)
            self._end("answered")

    def hand_over(self, replaced: str) -> tuple[str, str, int | None] | None:
        """This was a consultation: the phone on ``replaced`` (either side of this
        internal call) transferred another call to the phone it talks to here (attended
        transfer). The consultation ends as an answered internal call: ``replaced`` is hung
        up and the bridge released, but the other side's channel lives on in the other
        call. Returns (its channel, endpoint, employee id), or None when this is not a
        connected internal call."""
        r = self.request
        if self.state != "connected" or r.kind != "internal" or not r.target_endpoint:
            return None
        if replaced == self.call_id:
            kept = (self.peer_leg, r.target_endpoint, r.target_employee_id)
        elif replaced == self.peer_leg:
            kept = (self.call_id, r.endpoint, r.employee_id)
        else:
            return None
        self.control.hangup(replaced, causes.NORMAL)
        self._end("answered")
        return kept

    def origination_failed(self) -> None:
        """Asterisk could not place the far side (ARI refused the originate, or the
        endpoint or number was not valid): no event will come for it."""
        if self.state == "ringing":
            self.peer_gone(None)

    # ---- internals ---------------------------------------------------------------------
    def _timed_out(self) -> None:
        self.timer = None
        if self.state != "ringing":
            return
        self.control.hangup(self.peer_leg, causes.NO_ANSWER)
        self.control.hangup(self.call_id, causes.NO_ANSWER)
        self._end("no_answer")

    def _end(self, outcome: str) -> None:
        self._cancel_timer()
        self.state = "ended"
        self.outcome = outcome
        log.info("phone call {call_id} ended: {outcome}", call_id=self.call_id, outcome=outcome)
        self.recorder.phone_call_ended(self.call_id, self.request, outcome, self.clock.seconds())
        self.control.release(self.call_id)

    def _cancel_timer(self) -> None:
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        self.timer = None

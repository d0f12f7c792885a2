"""One click-to-call, as a state machine: the employee's phone first, then the client.

Like :mod:`pbx_daemon.telephony.calls.inbound` it talks to Asterisk only through
:class:`~.interfaces.IOutboundControl`, reports only through
:class:`~.interfaces.IOutboundRecorder`, and takes time from an injected ``IReactorTime``.

States::

    employee_ringing --employee answers--> client_ringing --client answers--> connected
          |                                      |                                |
          +-- no answer / rejected --+           +-- busy / no answer / failed    +-- either hangs up
                                     v           v     (employee hung up: abandoned) v
                                                 ended

The employee's phone shows who is about to be called (the card's name and number).
While the client's phone rings the employee hears ringback from us (the trunk may send
no early media). Our own timers bound both rings: Asterisk's originate timeout is only
a backstop.
"""

from __future__ import annotations

from dataclasses import dataclass

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from pbx_daemon.telephony import names
from pbx_daemon.telephony.calls import causes
from pbx_daemon.telephony.calls.interfaces import IOutboundControl, IOutboundRecorder

log = Logger(namespace="pbx_daemon.outbound")

# How the client's leg ended (Q.850 cause of its ChannelDestroyed) -> the call's outcome.
CLIENT_OUTCOME_BY_CAUSE = {causes.BUSY: "busy", causes.REJECTED: "busy",
                           causes.NO_USER_RESPONSE: "no_answer", causes.NO_ANSWER: "no_answer"}


@dataclass(frozen=True)
class ClickToCallRequest:
    """A validated click-to-call (see :mod:`pbx_daemon.telephony.click_to_call`)."""

    employee_id: int
    endpoint: str  # validated endpoint name
    number: str  # E.164
    ext: str | None = None  # digits, sent as DTMF once the client answers
    shown_name: str = ""  # sanitised, for the employee's phone display
    caller_id: str = ""  # the company's number (E.164) or "" for the trunk's default
    company_id: int | None = None
    contact_id: int | None = None
    lead_id: int | None = None
    deal_id: int | None = None
    inquiry_id: int | None = None
    call_list_entry_id: int | None = None  # a cold call: counted per operator, no inquiry
    employee_timeout: int = 30
    client_timeout: int = 40


class OutboundCall:
    def __init__(self, call_id: str, request: ClickToCallRequest, control: IOutboundControl,
                 recorder: IOutboundRecorder, clock: IReactorTime):
        self.call_id = call_id
        self.client_leg = names.client_leg_id(call_id)
        self.request = request
        self.control = control
        self.recorder = recorder
        self.clock = clock
        self.state = "new"
        self.outcome: str | None = None
        self.timer: IDelayedCall | None = None

    @property
    def channels(self) -> tuple[str, str]:
        return self.call_id, self.client_leg

    def start(self) -> None:
        r = self.request
        self.state = "employee_ringing"
        self.recorder.outbound_started(self.call_id, r, self.clock.seconds())
        log.info("click-to-call {call_id}: ringing {endpoint} first, then {number}",
                 call_id=self.call_id, endpoint=r.endpoint, number=r.number)
        self.control.ring_employee(self.call_id, r.endpoint, r.shown_name, r.number,
                                   r.employee_timeout + 5)
        if self.state == "employee_ringing":  # not refused on the spot (origination_failed)
            self.timer = self.clock.callLater(r.employee_timeout, self._timed_out,
                                              "employee_ringing")

    # ---- inputs ------------------------------------------------------------------------
    def employee_answered(self) -> None:
        if self.state != "employee_ringing":
            return
        r = self.request
        self._cancel_timer()
        self.state = "client_ringing"
        self.recorder.employee_answered(self.call_id, r, self.clock.seconds())
        self.control.ringback(self.call_id)
        self.control.dial_client(self.call_id, self.client_leg, r.number, r.caller_id,
                                 r.client_timeout + 5)
        if self.state == "client_ringing":  # not refused on the spot (origination_failed)
            self.timer = self.clock.callLater(r.client_timeout, self._timed_out, "client_ringing")

    def client_answered(self) -> None:
        if self.state != "client_ringing":
            if self.state == "ended":
                self.control.hangup(self.client_leg, causes.NORMAL)
            return
        self._cancel_timer()
        self.state = "connected"
        log.info("click-to-call {call_id}: {number} answered", call_id=self.call_id,
                 number=self.request.number)
        self.recorder.client_answered(self.call_id, self.request, self.clock.seconds())
        self.control.connect(self.call_id, self.client_leg, self.request.ext)

    def employee_gone(self, cause: int | None) -> None:
        if self.state == "employee_ringing":
            # Rejected, busy or gave up: nothing was dialled.
            self._end("abandoned")
        elif self.state == "client_ringing":
            self.control.hangup(self.client_leg, causes.NORMAL)
            self._end("abandoned")
        elif self.state == "connected":
            self.control.hangup(self.client_leg, causes.NORMAL)
            self._end("answered")

    def client_gone(self, cause: int | None) -> None:
        if self.state == "client_ringing":
            self.control.hangup(self.call_id, causes.NORMAL)
            self._end(CLIENT_OUTCOME_BY_CAUSE.get(cause or 0, "failed"))
        elif self.state == "connected":
            self.control.hangup(self.call_id, causes.NORMAL)
            self._end("answered")

    def origination_failed(self, which: str) -> None:
        """Asterisk could not place the ``employee``'s or the ``client``'s leg (ARI refused
        the originate, or the endpoint or number was not valid): no event will come."""
        if self.state == "ended":
            return
        if which == "employee":
            self._end("failed")
        else:
            self.client_gone(None)

    # ---- internals ---------------------------------------------------------------------
    def _timed_out(self, state: str) -> None:
        self.timer = None
        if self.state != state:
            return
        if state == "employee_ringing":
            self.control.hangup(self.call_id, causes.NO_ANSWER)
            self._end("abandoned")
        else:
            self.control.hangup(self.client_leg, causes.NO_ANSWER)
            self.control.hangup(self.call_id, causes.NORMAL)
            self._end("no_answer")

    def _end(self, outcome: str) -> None:
        self._cancel_timer()
        self.state = "ended"
        self.outcome = outcome
        log.info("click-to-call {call_id} ended: {outcome}", call_id=self.call_id, outcome=outcome)
        self.recorder.outbound_ended(self.call_id, self.request, outcome, self.clock.seconds())
        self.control.release(self.call_id)

    def _cancel_timer(self) -> None:
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        self.timer = None

"""A call outside working hours, as a state machine: greeting, beep, voicemail, goodbye.

Entered instead of :class:`~.inbound.InboundCall` when the route plan says the dialled
number's department is closed (:mod:`pbx_daemon.crm.hours`). Nobody rings:

``new`` -> ``start()`` -> ``voicemail``: the PBX answers, plays the greeting, beeps and
records (one request to Asterisk, which plays and records in turn) ->

* the recording ends (``#``, silence, its time limit: ``RecordingFinished``): we hang the
  caller up -> ``ended``;
* the caller hangs up (greeting or recording) -> ``ended``;
* nothing happened for :data:`GUARD_SECONDS` (a lost event): we hang up -> ``ended``.

Every way out stores the call as ``after_hours`` once; the store makes it ``voicemail``
when a recording of at least a second attaches (the file comes after the call is over),
and the missed-call rules give it an inquiry and a call-back task due at the next opening.
Talks to Asterisk only through :class:`~.interfaces.IAfterHoursControl`; time from an
injected clock.
"""

from __future__ import annotations

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from pbx_daemon.telephony.calls import causes
from pbx_daemon.telephony.calls.interfaces import IAfterHoursControl, ICallRecorder
from pbx_daemon.telephony.routing.policy import RoutePlan

log = Logger(namespace="pbx_daemon.inbound")

VOICEMAIL_SECONDS = 120  # the longest message
VOICEMAIL_SILENCE = 10  # seconds of silence end the message
# Greeting (an upload may be long) + message + slack: then we hang up whatever happened.
GUARD_SECONDS = 180 + VOICEMAIL_SECONDS


class AfterHoursCall:
    """Quacks like :class:`~.inbound.InboundCall` where :class:`~.inbound_calls.InboundCalls`
    looks (``call_id``, ``state``, ``answered_leg``, ``answered_endpoint``,
    ``caller_hung_up``), so it lives in the same table of calls."""

    answered_endpoint = None

    def __init__(self, call_id: str, caller_channel: str, plan: RoutePlan,
                 control: IAfterHoursControl, recorder: ICallRecorder, clock: IReactorTime,
                 recording_name: str):
        self.call_id = call_id
        self.caller_channel = caller_channel
        self.plan = plan
        self.control = control
        self.recorder = recorder
        self.clock = clock
        self.recording_name = recording_name
        self.state = "new"
        # The PBX answered the caller itself: the channel that "answered" is the caller's,
        # so when the call is over the recording watch looks for the voicemail file.
        self.answered_leg: str | None = None
        self.timer: IDelayedCall | None = None

    def start(self) -> None:
        now = self.clock.seconds()
        self.recorder.call_started(self.call_id, self.caller_channel, self.plan, now)
        self.state = "voicemail"
        self.answered_leg = self.caller_channel
        greeting = self.plan.after_hours.greeting_file if self.plan.after_hours else None
        log.info("call {call_id} after hours: greeting and voicemail", call_id=self.call_id)
        self.control.greet_and_record(self.call_id, self.caller_channel, greeting,
                                      VOICEMAIL_SECONDS, VOICEMAIL_SILENCE)
        self.timer = self.clock.callLater(GUARD_SECONDS, self._guard)

    def recording_finished(self, name: str) -> None:
        """Asterisk closed a recording; ours ends the call (the caller is still on)."""
        if self.state == "voicemail" and name == self.recording_name:
            log.info("call {call_id}: voicemail recorded", call_id=self.call_id)
            self.control.hangup(self.caller_channel, causes.NORMAL)
            self._end()

    def caller_hung_up(self) -> None:
        if self.state == "voicemail":
            self._end()

    def _guard(self) -> None:
        self.timer = None
        if self.state == "voicemail":
            log.warn("call {call_id}: after-hours call still on after {seconds} s; hanging up",
                     call_id=self.call_id, seconds=GUARD_SECONDS)
            self.control.hangup(self.caller_channel, causes.NORMAL)
            self._end()

    def _end(self) -> None:
        self.state = "ended"
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        self.timer = None
        self.recorder.call_ended(self.call_id, "after_hours", self.clock.seconds())

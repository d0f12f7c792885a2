"""The live desk-phone calls: decides each one, and finds its call for a channel's event.

A desk phone dials: its channel enters ``Stasis(<app>,phone,<dialled>)`` from
``[pbxcrm-internal]`` (channel id = call id = the linkedid). We send it 180 Ringing, check
the dialled number off the reactor (``check(endpoint, dialled, now)`` -> a
:class:`~.phone.PhoneCallRequest` or :class:`~.phone.PhoneCallRefused`) under a deadline,
then ring the far side (``<call id>-peer``, ``appArgs=phone-peer,<call id>``), which shows
``StasisStart`` when answered and ``ChannelDestroyed`` (or ``StasisEnd``) when gone.

If the check fails or misses its deadline, the phone goes back to the dialplan, which
places the call itself: a desk phone's call is never dropped because a lookup was slow.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from pbx_daemon.telephony.ari.messages import Channel
from pbx_daemon.telephony.calls.interfaces import IPhoneControl, IPhoneRecorder
from pbx_daemon.telephony.calls.phone import PhoneCall, PhoneCallRefused, PhoneCallRequest

log = Logger(namespace="pbx_daemon.stasis")

# (endpoint, dialled, now) -> Deferred[PhoneCallRequest | PhoneCallRefused]
PhoneCheck = Callable[[str, str, datetime], Deferred]
UNALLOCATED = 1  # Q.850: no such number


def phone_endpoint(channel: Channel) -> str | None:
    """``PJSIP/101-0000002a`` -> ``101``: the phone a channel comes from."""
    tech, _, rest = channel.name.partition("/")
    endpoint = rest.rsplit("-", 1)[0] if "-" in rest else ""
    return endpoint if tech == "PJSIP" and endpoint else None


class PhoneCalls:
    """``call_over(call_id, answered)`` hears of each call that ended."""

    def __init__(self, *, control: IPhoneControl, recorder: IPhoneRecorder, clock: IReactorTime,
                 check: PhoneCheck | None, deadline: float,
                 call_over: Callable[[str, bool], None]):
        self.control = control
        self.recorder = recorder
        self.clock = clock
        self.check = check
        self.deadline = deadline
        self.call_over = call_over
        self.calls: dict[str, PhoneCall] = {}  # by call id (the phone's channel)
        self.channels: dict[str, str] = {}  # phone / peer channel -> call id
        self.pending: set[str] = set()  # phones whose number is being checked
        control.on_failed = self._origination_failed

    def busy_endpoints(self) -> set[str]:
        """Phones on (or placing) a desk-phone call, both ends."""
        return set().union(*(c.endpoints for c in self.calls.values()))

    def owns(self, channel_id: str) -> bool:
        return channel_id in self.channels or channel_id in self.pending

    def known_channels(self) -> set[str]:
        return set(self.channels) | set(self.pending)

    # ---- events ------------------------------------------------------------------------
    def start(self, channel: Channel, dialled: str | None) -> None:
        """A phone entered ``Stasis(<app>,phone,<dialled>)``."""
        call_id = channel.id
        endpoint = phone_endpoint(channel)
        log.info("phone call {call_id}: {endpoint} dials {dialled}", call_id=call_id,
                 endpoint=endpoint, dialled=dialled)
        if not endpoint or not dialled or self.check is None:
            self.control.to_dialplan(call_id, dialled or "")
            return
        self.control.indicate_ringing(call_id)
        self.pending.add(call_id)
        now = datetime.fromtimestamp(self.clock.seconds(), timezone.utc)
        d = self.check(endpoint, dialled, now)
        d.addTimeout(self.deadline, self.clock)

        def decided(result):
            if call_id not in self.pending:
                return  # the phone hung up while we were checking: nothing rang
            self.pending.discard(call_id)
            if isinstance(result, PhoneCallRefused):
                log.info("phone call {call_id} refused: {reason} {detail}", call_id=call_id,
                         reason=result.reason, detail=result.detail)
                if result.reason == "blocked":
                    self.control.refuse(call_id)
                else:
                    self.control.hangup(call_id, UNALLOCATED)
                return
            self._place(call_id, result)

        def failed(failure):
            if call_id not in self.pending:
                return
            self.pending.discard(call_id)
            log.failure("checking phone call {call_id} failed; the dialplan places it",
                        failure, call_id=call_id)
            self.control.to_dialplan(call_id, dialled)

        d.addCallbacks(decided, failed)

    def answered(self, channel_id: str) -> None:
        """Our far-side leg entered the application (StasisStart): it answered."""
        call = self.calls.get(self.channels.get(channel_id, ""))
        if call is None or channel_id != call.peer_leg:
            return
        call.peer_answered()
        self._forget(call)

    def gone(self, channel_id: str, cause: int | None) -> None:
        """The phone or the far side hung up (ChannelDestroyed, or StasisEnd)."""
        if channel_id in self.pending:
            self.pending.discard(channel_id)
            return
        call = self.calls.get(self.channels.get(channel_id, ""))
        if call is None:
            return
        call.phone_gone(cause) if channel_id == call.call_id else call.peer_gone(cause)
        self._forget(call)

    def hand_over(self, channel_id: str) -> tuple[str, str, int | None] | None:
        """The consultation holding ``channel_id`` ends, handing its other side over (see
        :meth:`PhoneCall.hand_over`); None if there is no such call."""
        call = self.calls.get(self.channels.get(channel_id, ""))
        if call is None:
            return None
        handed = call.hand_over(channel_id)
        self._forget(call)
        return handed

    # ---- internals ---------------------------------------------------------------------
    def _place(self, call_id: str, request: PhoneCallRequest) -> None:
        call = PhoneCall(call_id, request, self.control, self.recorder, self.clock)
        self.calls[call_id] = call
        for channel in call.channels:
            self.channels[channel] = call_id
        call.start()
        self._forget(call)

    def _origination_failed(self, call_id: str) -> None:
        call = self.calls.get(call_id)
        if call is None or call.state == "ended":
            return
        call.origination_failed()
        self._forget(call)

    def _forget(self, call: PhoneCall) -> None:
        if call.state != "ended" or call.call_id not in self.calls:
            return
        del self.calls[call.call_id]
        for channel in call.channels:
            self.channels.pop(channel, None)
        self.call_over(call.call_id, call.outcome == "answered")


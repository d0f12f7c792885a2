"""Transfers a phone asks for with SIP REFER, decided between the calls holding the channels.

Every phone leg of an inbound call is originated with ``PJSIP_TRANSFER_HANDLING()=ari-only``
(Asterisk 22.3+): a REFER on it becomes a ``ChannelTransfer`` event, Asterisk answers the
REFER 202 and does nothing else. Asterisk's own ("core") transfer would take the channels
out of our bridge into the dialplan, and the call would fall apart into pieces the daemon
no longer follows. Here the call stays one call, with one bridge and one recording:

* blind (``Refer-To: <sip:102@pbx>``): the target is checked exactly like a number a desk
  phone dials (same lookup, off the reactor, same deadline); an employee's extension rings
  as a new leg of the same call (:meth:`~.calls.inbound.InboundCall.transfer_blind`).
* attended (``Refer-To: <...?Replaces=<dialog>>``): Asterisk names the consultation's
  channel to be replaced (``refer_to.destination_channel``). The consultation is the
  transferring phone's own desk-phone call to the target, so its other side moves into
  the inbound call's bridge and the consultation ends
  (:meth:`~.calls.phone_calls.PhoneCalls.hand_over`,
  :meth:`~.calls.inbound.InboundCall.transfer_attended`).

Anything else (a transfer out to a client's number, a REFER from a click-to-call or a
desk-phone call, a target that is no extension) is declined: the phone hears a failed
transfer (NOTIFY 603) and the call goes on as it was.
"""

from __future__ import annotations

from datetime import datetime, timezone

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from pbx_daemon.telephony.ari.messages import ChannelTransfer
from pbx_daemon.telephony.calls import causes
from pbx_daemon.telephony.calls.inbound_calls import InboundCalls
from pbx_daemon.telephony.calls.interfaces import ICallControl
from pbx_daemon.telephony.calls.phone import PhoneCallRequest
from pbx_daemon.telephony.calls.phone_calls import PhoneCalls, PhoneCheck

log = Logger(namespace="pbx_daemon.stasis")

DECLINED = "channel_declined"
# Asterisk may send an attended REFER's ChannelTransfer twice (the second without the
# replaced channel, once that one is gone): a source heard within this window is not
# heard again. A phone that asks again later (after a decline) is.
REPEAT_WINDOW = 2.0  # seconds


class Transfers:
    def __init__(self, *, inbound: InboundCalls, phone: PhoneCalls, control: ICallControl,
                 check: PhoneCheck | None, clock: IReactorTime, deadline: float):
        self.inbound = inbound
        self.phone = phone
        self.control = control
        self.check = check
        self.clock = clock
        self.deadline = deadline
        self.seen: dict[str, float] = {}  # channels that sent a request recently -> when

    def requested(self, event: ChannelTransfer) -> None:
        """A ``ChannelTransfer`` event: decide it, or decline it."""
        if not event.is_request:
            return  # the echo of our own transfer_progress
        now = self.clock.seconds()
        self.seen = {k: at for k, at in self.seen.items() if now - at < REPEAT_WINDOW}
        if event.source in self.seen:
            return
        self.seen[event.source] = now
        found = self.inbound.transferring_leg(event.source)
        if found is None:
            log.info("transfer from {source} declined: not the answered leg of a call",
                     source=event.source)
            self.control.transfer_progress(event.source, DECLINED)
            return
        call_id, endpoint = found
        if event.attended:
            self._attended(call_id, event)
        else:
            self._blind(call_id, endpoint, event)

    def _attended(self, call_id: str, event: ChannelTransfer) -> None:
        handed = self.phone.hand_over(event.replaced) if event.replaced else None
        if handed is None:
            log.info("call {call_id}: attended transfer declined: {replaced} is no "
                     "consultation call", call_id=call_id, replaced=event.replaced)
            self.control.transfer_progress(event.source, DECLINED)
            return
        channel, endpoint, agent_id = handed
        if not self.inbound.transfer_attended(call_id, event.source, channel, endpoint, agent_id):
            # The consultation has been ended already: its other side must not ring on.
            self.control.hangup(channel, causes.NORMAL)
            self.control.transfer_progress(event.source, DECLINED)

    def _blind(self, call_id: str, endpoint: str, event: ChannelTransfer) -> None:
        if self.check is None or not event.destination:
            self.control.transfer_progress(event.source, DECLINED)
            return
        self.control.transfer_progress(event.source, "channel_progress")
        now = datetime.fromtimestamp(self.clock.seconds(), timezone.utc)
        d = self.check(endpoint, event.destination, now)
        d.addTimeout(self.deadline, self.clock)

        def decided(result):
            if not (isinstance(result, PhoneCallRequest) and result.kind == "internal"
                    and result.target_endpoint and result.target_endpoint != endpoint):
                log.info("call {call_id}: transfer to {target!r} declined: not another "
                         "employee's extension", call_id=call_id, target=event.destination[:20])
                self.control.transfer_progress(event.source, DECLINED)
                return
            if not self.inbound.transfer_blind(call_id, event.source, result.target_endpoint,
                                               result.target_employee_id):
                self.control.transfer_progress(event.source, DECLINED)

        def failed(failure):
            log.failure("call {call_id}: checking transfer target failed", failure,
                        call_id=call_id)
            self.control.transfer_progress(event.source, DECLINED)

        d.addCallbacks(decided, failed)

"""The live click-to-calls: places each one, and finds its call for a channel's event.

A click-to-call is two channels we originate: the employee's phone (channel id = call id,
``appArgs=c2c-employee,<call id>``) and, once that is answered, the client through the
trunk (``<call id>-client``, ``appArgs=c2c-client,<call id>``, ``originator`` = the
employee's channel). Each shows ``StasisStart`` when answered and ``ChannelDestroyed``
(or ``StasisEnd``) when gone. An ended call is kept 5 minutes for ``GET /v1/calls/<id>``.
"""

from __future__ import annotations

import secrets
from typing import Callable

from twisted.internet.interfaces import IReactorTime

from pbx_daemon.telephony import names
from pbx_daemon.telephony.calls.interfaces import IOutboundControl, IOutboundRecorder
from pbx_daemon.telephony.calls.outbound import ClickToCallRequest, OutboundCall
from pbx_daemon.telephony.api_client import ClickToCallError

KEEP_ENDED = 300  # seconds an ended call still answers GET /v1/calls/<id>


class OutboundCalls:
    """``call_over(call_id, answered)`` hears of each call that ended."""

    def __init__(self, *, control: IOutboundControl, recorder: IOutboundRecorder,
                 clock: IReactorTime, call_over: Callable[[str, bool], None]):
        self.control = control
        self.recorder = recorder
        self.clock = clock
        self.call_over = call_over
        self.calls: dict[str, OutboundCall] = {}  # by call id (the employee's channel)
        self.channels: dict[str, str] = {}  # employee / client channel -> call id
        control.on_failed = self._origination_failed

    def busy_endpoints(self) -> set[str]:
        """The employees placing or on a click-to-call."""
        return {c.request.endpoint for c in self.calls.values() if c.state != "ended"}

    def owns(self, channel_id: str) -> bool:
        return channel_id in self.channels

    def place(self, request: ClickToCallRequest, *, connected: bool,
              busy: frozenset[str]) -> str:
        """Start a validated click-to-call; returns its call id. Raises
        :class:`ClickToCallError` when Asterisk is not connected or the employee became
        busy since the request was checked."""
        if not connected:
            raise ClickToCallError(503, "the daemon is not connected to Asterisk; try again shortly")
        if request.endpoint in busy:
            raise ClickToCallError(409, "the employee is on a call")
        call_id = names.click_to_call_id(secrets.token_hex(8))
        call = OutboundCall(call_id, request, self.control, self.recorder, self.clock)
        self.calls[call_id] = call
        for channel in call.channels:
            self.channels[channel] = call_id
        call.start()
        return call_id

    def state(self, call_id: str) -> dict | None:
        call = self.calls.get(call_id)
        if call is None:
            return None
        return {"call_id": call_id, "state": call.state, "outcome": call.outcome}

    # ---- events ------------------------------------------------------------------------
    def answered(self, channel_id: str) -> None:
        """One of our channels entered the application (StasisStart): it answered."""
        call = self.calls.get(self.channels[channel_id])
        if call is None:
            return
        call.employee_answered() if channel_id == call.call_id else call.client_answered()
        self._forget(call)

    def gone(self, channel_id: str, cause: int | None) -> None:
        """One of our channels hung up (ChannelDestroyed, or StasisEnd)."""
        call = self.calls.get(self.channels[channel_id])
        if call is None:
            return
        call.employee_gone(cause) if channel_id == call.call_id else call.client_gone(cause)
        self._forget(call)

    def _origination_failed(self, call_id: str, which: str) -> None:
        call = self.calls.get(call_id)
        if call is None or call.state == "ended":
            return
        call.origination_failed(which)
        self._forget(call)

    def _forget(self, call: OutboundCall) -> None:
        if call.state != "ended" or call.call_id not in self.channels:
            return
        self.call_over(call.call_id, call.outcome == "answered")
        # Kept a while for GET /v1/calls/<id>; the channel map goes now.
        for channel in call.channels:
            self.channels.pop(channel, None)
        self.clock.callLater(KEEP_ENDED, self.calls.pop, call.call_id, None)

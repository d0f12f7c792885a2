"""In-memory implementations of the daemon's interfaces, for tests (and nothing else).

They implement the same interfaces as the real adapters (checked with ``verifyObject``
in the tests); the integration suite against the real lab Asterisk is the judge of
whether the real adapters behave like these.
"""

from __future__ import annotations

from twisted.internet.defer import succeed
from zope.interface import implementer

from pbx_daemon.telephony.calls.interfaces import (IAfterHoursControl, IAsteriskInventory,
                                                   ICallControl,
                                                   ICallRecorder, IOutboundControl,
                                                   IOutboundRecorder, IPhoneControl,
                                                   IPhoneRecorder)


@implementer(ICallControl)
class FakeCallControl:
    """Records every request as a tuple: ("ring", leg, endpoint, name, number), ..."""

    def __init__(self):
        self.actions: list[tuple] = []
        self.stop_reasons: dict[str, str] = {}

    def ring(self, call_id, leg_id, endpoint, caller_name, caller_number):
        self.actions.append(("ring", leg_id, endpoint, caller_name, caller_number))

    def ring_mobile(self, call_id, leg_id, number, caller_number):
        self.actions.append(("ring", leg_id, number, "mobile", caller_number))

    def confirm(self, leg_id, on):
        self.actions.append(("confirm", leg_id, on))

    def wait_in_line(self, call_id, caller_channel, position):
        self.actions.append(("wait_in_line", caller_channel, position))

    def music_on_hold(self, caller_channel):
        self.actions.append(("music_on_hold", caller_channel))

    def stop_waiting(self, caller_channel):
        self.actions.append(("stop_waiting", caller_channel))

    def stop(self, leg_id, reason="normal"):
        self.actions.append(("stop", leg_id))
        self.stop_reasons[leg_id] = reason

    def connect(self, call_id, caller_channel, leg_id):
        self.actions.append(("connect", caller_channel, leg_id))

    def hangup(self, channel_id, cause):
        self.actions.append(("hangup", channel_id, cause))

    def refuse(self, caller_channel):
        self.actions.append(("refuse", caller_channel))

    def fallback(self, caller_channel, endpoints):
        self.actions.append(("fallback", caller_channel, tuple(endpoints)))

    def to_dialplan_fallback(self, caller_channel):
        self.actions.append(("to_dialplan_fallback", caller_channel))

    def release(self, call_id):
        self.actions.append(("release", call_id))

    def transfer_progress(self, channel_id, state):
        self.actions.append(("transfer_progress", channel_id, state))

    def join(self, call_id, channel_id):
        self.actions.append(("join", call_id, channel_id))

    def hold(self, call_id, on):
        self.actions.append(("hold", call_id, on))

    def ringing_endpoints(self) -> set[str]:
        """Endpoints rung and not stopped yet."""
        live: dict[str, str] = {}
        for action in self.actions:
            if action[0] == "ring":
                live[action[1]] = action[2]
            elif action[0] == "stop":
                live.pop(action[1], None)
        return set(live.values())

    def leg_for(self, endpoint: str) -> str:
        return [a[1] for a in self.actions if a[0] == "ring" and a[2] == endpoint][-1]


@implementer(IAfterHoursControl)
class FakeAfterHoursControl:
    """Records ("greet_and_record", call_id, channel, greeting, max, silence), ("hangup", ...)."""

    def __init__(self):
        self.actions: list[tuple] = []

    def greet_and_record(self, call_id, caller_channel, greeting_file, max_seconds, max_silence):
        self.actions.append(("greet_and_record", call_id, caller_channel, greeting_file,
                             max_seconds, max_silence))

    def hangup(self, channel_id, cause):
        self.actions.append(("hangup", channel_id, cause))


@implementer(ICallRecorder, IOutboundRecorder, IPhoneRecorder)
class MemoryRecorder:
    """Records every event as a tuple: ("started", call_id, at), ...; what the lookup found
    goes to ``details`` (by call id), not to ``events``."""

    def __init__(self):
        self.events: list[tuple] = []
        self.details: dict = {}

    def caller_identified(self, call_id, details):
        self.details[call_id] = details

    def call_started(self, call_id, caller_channel, plan, at):
        self.events.append(("started", call_id, at))

    def leg_ringing(self, call_id, leg_id, endpoint, agent_id, step, at):
        self.events.append(("ringing", endpoint, step, at))

    def leg_ended(self, call_id, leg_id, outcome, at):
        self.events.append(("leg_ended", leg_id, outcome, at))

    def call_answered(self, call_id, leg_id, agent_id, at):
        self.events.append(("answered", agent_id, at))

    def leg_answered(self, call_id, leg_id, agent_id, at):
        self.events.append(("leg_answered", leg_id, agent_id, at))

    def adopted_call_ended(self, call_id, at):
        self.events.append(("adopted_ended", call_id, at))

    def call_ended(self, call_id, outcome, at):
        self.events.append(("ended", outcome, at))

    def of(self, kind: str) -> list[tuple]:
        return [e for e in self.events if e[0] == kind]

    def outbound_started(self, call_id, request, at):
        self.events.append(("outbound_started", call_id, request.endpoint, at))

    def employee_answered(self, call_id, request, at):
        self.events.append(("employee_answered", call_id, at))

    def client_answered(self, call_id, request, at):
        self.events.append(("client_answered", call_id, at))

    def outbound_ended(self, call_id, request, outcome, at):
        self.events.append(("outbound_ended", call_id, outcome, at))

    def phone_call_started(self, call_id, request, at):
        self.events.append(("phone_started", call_id, request.kind, at))

    def phone_call_answered(self, call_id, request, at):
        self.events.append(("phone_answered", call_id, at))

    def phone_call_ended(self, call_id, request, outcome, at):
        self.events.append(("phone_ended", call_id, outcome, at))

    def recording_finished(self, call_id):
        self.events.append(("recording_finished", call_id))
        return succeed(None)


@implementer(IOutboundControl)
class FakeOutboundControl:
    """Records every request as a tuple: ("ring_employee", call, endpoint, name, number)..."""

    def __init__(self):
        self.actions: list[tuple] = []
        self.on_failed = lambda call_id, which: None

    def ring_employee(self, call_id, endpoint, shown_name, shown_number, timeout):
        self.actions.append(("ring_employee", call_id, endpoint, shown_name, shown_number))

    def ringback(self, call_id):
        self.actions.append(("ringback", call_id))

    def dial_client(self, call_id, client_leg, number, caller_id, timeout):
        self.actions.append(("dial_client", client_leg, number, caller_id))

    def connect(self, call_id, client_leg, ext):
        self.actions.append(("connect", call_id, client_leg, ext))

    def hangup(self, channel_id, cause):
        self.actions.append(("hangup", channel_id, cause))

    def release(self, call_id):
        self.actions.append(("release", call_id))

    def kinds(self) -> list[str]:
        return [a[0] for a in self.actions]


@implementer(IPhoneControl)
class FakePhoneControl:
    """Records every request as a tuple: ("dial_out", peer, number, caller_id), ..."""

    def __init__(self):
        self.actions: list[tuple] = []
        self.on_failed = lambda call_id: None

    def indicate_ringing(self, phone_channel):
        self.actions.append(("indicate_ringing", phone_channel))

    def ring_extension(self, call_id, peer_leg, endpoint, caller_name, caller_number, timeout):
        self.actions.append(("ring_extension", peer_leg, endpoint, caller_name, caller_number))

    def dial_out(self, call_id, peer_leg, number, caller_id, timeout):
        self.actions.append(("dial_out", peer_leg, number, caller_id))

    def connect(self, call_id, peer_leg, ext):
        self.actions.append(("connect", call_id, peer_leg, ext))

    def refuse(self, phone_channel):
        self.actions.append(("refuse", phone_channel))

    def to_dialplan(self, phone_channel, dialled):
        self.actions.append(("to_dialplan", phone_channel, dialled))

    def hangup(self, channel_id, cause):
        self.actions.append(("hangup", channel_id, cause))

    def release(self, call_id):
        self.actions.append(("release", call_id))

    def kinds(self) -> list[str]:
        return [a[0] for a in self.actions]


@implementer(IAsteriskInventory)
class FakeInventory:
    """What Asterisk holds: ``bridges`` and ``channels`` (ARI messages), and ``live``
    recording names; records every request as a tuple: ("watch", bridge, channels), ..."""

    def __init__(self, bridges=(), channels=(), live=()):
        self.bridges_now = list(bridges)
        self.channels_now = list(channels)
        self.live = set(live)
        self.actions: list[tuple] = []

    def bridges(self):
        return succeed(list(self.bridges_now))

    def channels(self):
        return succeed(list(self.channels_now))

    def watch(self, bridge_id, channel_ids):
        self.actions.append(("watch", bridge_id, tuple(channel_ids)))

    def destroy_bridge(self, bridge_id):
        self.actions.append(("destroy_bridge", bridge_id))

    def recording_live(self, name):
        self.actions.append(("recording_live", name))
        return succeed(name in self.live)

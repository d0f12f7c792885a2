"""ARI events in, inbound calls out: the Stasis application and its ARI call control.

How a routed call looks in Asterisk:

* the trunk channel enters ``Stasis(pbx-crm,inbound,<dialled>)``; we send it ``ring``
  (180 Ringing: the caller hears ringback while we look them up);
* each phone of a step is a channel we originate with ``POST /channels`` into the same
  application (``appArgs=leg,<call id>``, our own ``channelId``, ``originator`` = the trunk
  channel so CEL keeps one linkedid). It shows ``ChannelStateChange`` Ringing, then either
  ``StasisStart`` (it answered) or ``ChannelDestroyed`` with a Q.850 cause (21 rejected,
  17 busy, 19 no answer);
* on the first answer we answer the trunk channel, put both in a mixing bridge and record
  the bridge; every other leg is hung up;
* ``ChannelDestroyed`` of the trunk channel is the caller hanging up.

A click-to-call (:mod:`pbx_daemon.telephony.calls.outbound`) is two channels we originate: the
employee's phone (``appArgs=c2c-employee,<call id>``, channel id = call id) and, once that
is answered, the client through the trunk (``PJSIP/<E.164>@trunk``,
``appArgs=c2c-client,<call id>``, ``originator`` = the employee's channel). Each shows
``StasisStart`` when answered and ``ChannelDestroyed`` when gone.

A bridge recording ends when the bridge is destroyed; Asterisk then sends
``RecordingFinished`` with the recording's ``name`` (our call id) and the file is complete
in its spool: that is when the store attaches it to the call.

Anything that goes wrong before a plan exists (lookup past its deadline, database down)
sends the caller back to the dialplan's fallback ring group: the call always rings.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import replace
from datetime import datetime, timezone
from typing import Callable

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import Logger
from zope.interface import implementer

from pbx_daemon.telephony.ari.rest import AriError, AriRest
from pbx_daemon.telephony.asterisk_render import ENDPOINT_NAME, dial_list
from pbx_daemon.telephony.routing.directory import safe_caller_name
from pbx_daemon.telephony.calls.inbound import ICallControl, InboundCall
from pbx_daemon.telephony.calls.outbound import ClickToCallRequest, IOutboundControl, OutboundCall
from pbx_daemon.crm.phones import is_e164
from pbx_daemon.telephony.click_to_call import ClickToCallError
from pbx_daemon.telephony.routing.policy import StepTimeouts, plan_route
from pbx_daemon.telephony.outputs.store import CallDetails

log = Logger(namespace="pbx_daemon.stasis")

FALLBACK_CONTEXT = "pbxcrm-fallback"
FALLBACK_DIAL_CONTEXT = "pbxcrm-fallback-dial"
BLOCKED_CONTEXT = "pbxcrm-blocked"
_SAFE_ID = re.compile(r"[^A-Za-z0-9._-]")
RECORDING_CHECK_DELAY = 2.0  # seconds after an answered call ends


def caller_id_string(name: str | None, number: str | None) -> str:
    """``"Name" <+7916...>`` for the phones: a sanitised name and a strict E.164 number.

    A number that is not E.164 is shown as its digits only (at most 20), or ``unknown``:
    an empty number would let Asterisk copy the trunk's raw caller id from the originator.
    """
    if not (number and is_e164(number)):
        digits = "".join(c for c in (number or "") if c.isascii() and c.isdigit())[:20]
        number = digits or "unknown"
    # Never leave the name empty either: Asterisk would copy the originator's raw one.
    name = safe_caller_name(name) or number
    return f'"{name}" <{number}>'


def _ignore_gone(failure, what):
    if failure.check(AriError) and failure.value.status == 404:
        return None  # the channel or bridge is already gone: nothing to do
    log.failure("ARI {what} failed: {error}", failure, what=what, error=failure.getErrorMessage())
    return None


def bridge_and_record(rest: AriRest, call_id: str, channels: tuple[str, str]) -> Deferred:
    """Put ``channels`` into the call's mixing bridge and record it. The recording is named
    by the call id only: nothing a caller controls reaches a file name."""
    bridge = f"br-{_SAFE_ID.sub('_', call_id)}"
    d = rest.request("POST", "/bridges", {"type": "mixing", "bridgeId": bridge})
    d.addCallback(lambda _: rest.request("POST", f"/bridges/{bridge}/addChannel",
                                         {"channel": ",".join(channels)}))
    d.addCallback(lambda _: rest.request(
        "POST", f"/bridges/{bridge}/record",
        {"name": _SAFE_ID.sub("_", call_id), "format": "wav", "ifExists": "overwrite"}))
    return d


@implementer(ICallControl)
class AriCallControl:
    def __init__(self, rest: AriRest, app: str, blocked_action: str = "busy"):
        self.rest = rest
        self.app = app
        self.blocked_action = blocked_action

    def refuse(self, caller_channel):
        if self.blocked_action == "message":
            # The dialplan answers, plays a short "no service" message and hangs up.
            self.rest.request("POST", f"/channels/{caller_channel}/continue",
                              {"context": BLOCKED_CONTEXT, "extension": "message", "priority": 1}) \
                .addErrback(_ignore_gone, f"refuse {caller_channel}")
        else:
            self.rest.request("DELETE", f"/channels/{caller_channel}", {"reason": "busy"}) \
                .addErrback(_ignore_gone, f"refuse {caller_channel}")

    def ring(self, call_id, leg_id, endpoint, caller_name, caller_number):
        if not ENDPOINT_NAME.match(endpoint):
            log.error("refusing to ring invalid endpoint {endpoint!r}", endpoint=endpoint)
            return
        params = {"endpoint": f"PJSIP/{endpoint}", "app": self.app,
                  "appArgs": f"leg,{call_id}", "channelId": leg_id, "originator": call_id,
                  "timeout": 600}
        params["callerId"] = caller_id_string(caller_name, caller_number)
        self.rest.request("POST", "/channels", params).addErrback(_ignore_gone, f"ring {leg_id}")

    def stop(self, leg_id, reason="normal"):
        self.rest.request("DELETE", f"/channels/{leg_id}", {"reason": reason}) \
            .addErrback(_ignore_gone, f"stop {leg_id}")

    def connect(self, call_id, caller_channel, leg_id):
        d = self.rest.request("POST", f"/channels/{caller_channel}/answer")
        d.addCallback(lambda _: bridge_and_record(self.rest, call_id, (caller_channel, leg_id)))
        d.addErrback(_ignore_gone, f"connect {call_id}")

    def hangup(self, channel_id, cause):
        self.rest.request("DELETE", f"/channels/{channel_id}", {"reason_code": cause}) \
            .addErrback(_ignore_gone, f"hangup {channel_id}")

    def fallback(self, caller_channel, endpoints):
        if not endpoints:
            self.to_dialplan_fallback(caller_channel)
            return
        dial = dial_list(list(endpoints))
        d = self.rest.request("POST", f"/channels/{caller_channel}/variable",
                              {"variable": "PBXCRM_DIAL", "value": dial})
        d.addCallback(lambda _: self.rest.request(
            "POST", f"/channels/{caller_channel}/continue",
            {"context": FALLBACK_DIAL_CONTEXT, "extension": "s", "priority": 1}))
        d.addErrback(_ignore_gone, f"fallback {caller_channel}")

    def to_dialplan_fallback(self, caller_channel):
        """The department-agnostic last resort: the dialplan's own fallback group."""
        self.rest.request("POST", f"/channels/{caller_channel}/continue",
                          {"context": FALLBACK_CONTEXT, "extension": "s", "priority": 1}) \
            .addErrback(_ignore_gone, f"fallback {caller_channel}")

    def release(self, call_id):
        bridge = f"br-{_SAFE_ID.sub('_', call_id)}"
        self.rest.request("DELETE", f"/bridges/{bridge}").addErrback(_ignore_gone, f"release {bridge}")


@implementer(IOutboundControl)
class AriOutboundControl:
    """Click-to-call over ARI. Originations report failure through ``on_failed``."""

    def __init__(self, rest: AriRest, app: str, trunk: str = "trunk"):
        self.rest = rest
        self.app = app
        self.trunk = trunk
        self.on_failed: Callable[[str, str], None] = lambda call_id, which: None

    def _originate_failed(self, failure, call_id, which):
        log.error("click-to-call {call_id}: could not ring the {which}: {error}",
                  call_id=call_id, which=which, error=failure.getErrorMessage())
        self.on_failed(call_id, which)

    def ring_employee(self, call_id, endpoint, shown_name, shown_number, timeout):
        if not ENDPOINT_NAME.match(endpoint):
            log.error("refusing to ring invalid endpoint {endpoint!r}", endpoint=endpoint)
            self.on_failed(call_id, "employee")
            return
        params = {"endpoint": f"PJSIP/{endpoint}", "app": self.app,
                  "appArgs": f"c2c-employee,{call_id}", "channelId": call_id,
                  "timeout": timeout, "callerId": caller_id_string(shown_name, shown_number)}
        self.rest.request("POST", "/channels", params).addErrback(
            self._originate_failed, call_id, "employee")

    def ringback(self, call_id):
        self.rest.request("POST", f"/channels/{call_id}/play",
                          {"media": "tone:ring", "playbackId": f"{call_id}-rb"}) \
            .addErrback(_ignore_gone, f"ringback {call_id}")

    def dial_client(self, call_id, client_leg, number, caller_id, timeout):
        if not is_e164(number):
            log.error("refusing to dial {number!r}: not E.164", number=number)
            self.on_failed(call_id, "client")
            return
        params = {"endpoint": f"PJSIP/{number}@{self.trunk}", "app": self.app,
                  "appArgs": f"c2c-client,{call_id}", "channelId": client_leg,
                  "originator": call_id, "timeout": timeout}
        if caller_id and is_e164(caller_id):
            params["callerId"] = caller_id
        self.rest.request("POST", "/channels", params).addErrback(
            self._originate_failed, call_id, "client")

    def connect(self, call_id, client_leg, ext):
        d = self.rest.request("DELETE", f"/playbacks/{call_id}-rb")
        d.addErrback(lambda _f: None)  # the ringback may have ended already
        d.addCallback(lambda _: bridge_and_record(self.rest, call_id, (call_id, client_leg)))
        if ext and ext.isdigit():
            # An extension ("доб. 12"): the client's IVR hears it once the call is up.
            d.addCallback(lambda _: self.rest.request(
                "POST", f"/channels/{client_leg}/dtmf", {"dtmf": ext, "before": 1500}))
        d.addErrback(_ignore_gone, f"connect {call_id}")

    def hangup(self, channel_id, cause):
        self.rest.request("DELETE", f"/channels/{channel_id}", {"reason_code": cause}) \
            .addErrback(_ignore_gone, f"hangup {channel_id}")

    def release(self, call_id):
        bridge = f"br-{_SAFE_ID.sub('_', call_id)}"
        self.rest.request("DELETE", f"/bridges/{bridge}").addErrback(_ignore_gone, f"release {bridge}")


class StasisApp:
    """Routes each inbound call: look up (with a deadline), plan, run an InboundCall;
    places click-to-calls; hands finished recordings to the store."""

    def __init__(self, *, rest: AriRest, control: AriCallControl, recorder, clock,
                 lookup: Callable[[str | None, str | None, frozenset[str], datetime], Deferred],
                 timeouts: StepTimeouts, deadline: float, region: str = "RU",
                 outbound_control: AriOutboundControl | None = None):
        self.rest = rest
        self.control = control
        self.outbound_control = outbound_control or AriOutboundControl(rest, control.app)
        self.outbound_control.on_failed = self._outbound_failed
        self.recorder = recorder
        self.connected = False
        self.outbound: dict[str, OutboundCall] = {}  # by call id (the employee's channel)
        self.outbound_channels: dict[str, str] = {}  # employee / client channel -> call id
        self.recordings_pending: set[str] = set()  # answered calls over, recording not attached
        self.clock = clock
        self.lookup = lookup
        self.timeouts = timeouts
        self.deadline = deadline
        self.region = region
        self.calls: dict[str, InboundCall] = {}  # by call id (the trunk channel id)
        self.leg_calls: dict[str, str] = {}  # leg channel id -> call id
        self.pending: set[str] = set()  # calls being looked up
        # Bridges found after a (re)connect that no InboundCall of ours owns: a daemon
        # before us connected them. channel id -> bridge id.
        self.adopted: dict[str, str] = {}

    def busy_endpoints(self) -> frozenset[str]:
        """Endpoints on a call right now (connected, or placing a click-to-call): routing
        skips them and a second click-to-call is refused."""
        inbound = {c.answered_endpoint for c in self.calls.values()
                   if c.state == "answered" and c.answered_endpoint}
        outbound = {c.request.endpoint for c in self.outbound.values() if c.state != "ended"}
        return frozenset(inbound | outbound)

    # ---- click-to-call ---------------------------------------------------------------------
    def click_to_call(self, request: ClickToCallRequest) -> str:
        """Start a validated click-to-call; returns its call id. Raises
        :class:`ClickToCallError` when Asterisk is not connected or the employee became
        busy since the request was checked."""
        if not self.connected:
            raise ClickToCallError(503, "the daemon is not connected to Asterisk; try again shortly")
        if request.endpoint in self.busy_endpoints():
            raise ClickToCallError(409, "the employee is on a call")
        call_id = f"c2c-{secrets.token_hex(8)}"
        call = OutboundCall(call_id, request, self.outbound_control, self.recorder, self.clock)
        self.outbound[call_id] = call
        for channel in call.channels:
            self.outbound_channels[channel] = call_id
        call.start()
        return call_id

    def call_state(self, call_id: str) -> dict | None:
        call = self.outbound.get(call_id)
        if call is None:
            return None
        return {"call_id": call_id, "state": call.state, "outcome": call.outcome}

    def _outbound_failed(self, call_id: str, which: str) -> None:
        call = self.outbound.get(call_id)
        if call is None or call.state == "ended":
            return
        if which == "employee":
            call.state = "employee_ringing"
            call._end("failed")
        else:
            call.client_gone(None)
        self._forget_outbound(call)

    def _forget_outbound(self, call: OutboundCall) -> None:
        if call.state != "ended" or call.call_id not in self.outbound_channels:
            return
        if call.outcome == "answered":
            self._expect_recording(call.call_id)
        # Kept a while for GET /v1/calls/<id>; the channel map goes now.
        for channel in call.channels:
            self.outbound_channels.pop(channel, None)
        self.clock.callLater(300, self.outbound.pop, call.call_id, None)

    def _on_outbound_event(self, kind: str, channel_id: str, event: dict) -> None:
        call = self.outbound.get(self.outbound_channels[channel_id])
        if call is None:
            return
        employee_side = channel_id == call.call_id
        if kind == "StasisStart":
            call.employee_answered() if employee_side else call.client_answered()
        else:
            cause = event.get("cause")
            call.employee_gone(cause) if employee_side else call.client_gone(cause)
        self._forget_outbound(call)

    def set_connected(self, connected: bool) -> None:
        self.connected = connected

    def on_event(self, event: dict) -> None:
        kind = event.get("type")
        channel = event.get("channel") or {}
        channel_id = channel.get("id")
        log.debug("ARI {type} {channel_id} {args}", type=kind, channel_id=channel_id,
                  args=event.get("args") or event.get("cause") or "")
        if kind == "RecordingFinished":
            name = (event.get("recording") or {}).get("name", "")
            if name:
                self.recording_finished(name)
            return
        # A caller that hangs up while bridged leaves the application (StasisEnd) and is
        # destroyed in the dialplan afterwards: Asterisk 22 sends us no ChannelDestroyed
        # for it. Channels we never continue into the dialplan end the same way, so
        # StasisEnd counts as "gone"; the ChannelDestroyed that may follow finds nothing.
        if kind == "StasisEnd":
            kind = "ChannelDestroyed"
        if kind in ("StasisStart", "ChannelDestroyed") and channel_id in self.outbound_channels:
            self._on_outbound_event(kind, channel_id, event)
            return
        if kind == "StasisStart":
            args = event.get("args") or []
            if args[:1] == ["inbound"]:
                self._inbound(channel, args[1] if len(args) > 1 else None)
            elif args[:1] in (["c2c-employee"], ["c2c-client"]):
                # A click-to-call leg this daemon does not know (placed before a restart).
                self.control.stop(channel_id)
            elif args[:1] == ["leg"] and len(args) > 1:
                call = self.calls.get(args[1])
                if call is None:
                    self.control.stop(channel_id)
                    return
                call.leg_answered(channel_id)
                self._maybe_forget(call)
        elif kind in ("ChannelDestroyed", "ChannelLeftBridge") and channel_id in self.adopted:
            self._end_adopted(channel_id)
        elif kind == "ChannelDestroyed":
            cause = event.get("cause")
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

    # ---- after a (re)connect ----------------------------------------------------------------
    def on_connect(self) -> Deferred:
        self.connected = True
        return self.adopt()

    def on_disconnect(self) -> None:
        self.connected = False

    def adopt(self) -> Deferred:
        """Take over what an earlier daemon (or this one, before a reconnect) left in
        Asterisk: connected calls are watched so that when one side hangs up the other is
        hung up too; phone legs nobody owns any more stop ringing; callers still waiting
        in our application are routed again."""
        d = self.rest.request("GET", "/bridges")
        d.addCallback(self._adopt_bridges)
        d.addCallback(lambda _: self.rest.request("GET", "/channels"))
        d.addCallback(self._adopt_channels)
        d.addErrback(_ignore_gone, "re-adopting calls")
        return d

    def _known_channels(self) -> set[str]:
        known = set(self.calls) | set(self.leg_calls) | set(self.pending) | set(self.adopted) \
            | set(self.outbound_channels)
        for call in self.calls.values():
            if call.answered_leg:
                known.add(call.answered_leg)
        return known

    def _adopt_bridges(self, bridges) -> None:
        known = self._known_channels()
        for bridge in bridges or []:
            if not bridge.get("id", "").startswith("br-"):
                continue
            members = [c for c in bridge.get("channels", []) if c not in known]
            if not members:
                continue
            for channel in members:
                self.adopted[channel] = bridge["id"]
            log.info("re-adopted connected call in {bridge} ({channels})", bridge=bridge["id"],
                     channels=",".join(members))
            if len(members) < 2:
                # The other side already left while nobody was watching.
                self._end_adopted(members[0])
                continue
            source = ",".join([f"bridge:{bridge['id']}"] + [f"channel:{c}" for c in members])
            self.rest.request("POST", f"/applications/{self.control.app}/subscription",
                              {"eventSource": source}).addErrback(_ignore_gone, "subscribe")

    def _adopt_channels(self, channels) -> None:
        known = self._known_channels()
        for channel in channels or []:
            channel_id = channel.get("id", "")
            if channel_id in known:
                continue
            dialplan = channel.get("dialplan") or {}
            app_data = dialplan.get("app_data", "")
            in_our_app = dialplan.get("app_name") == "Stasis" and \
                app_data.split(",")[0] == self.control.app
            if channel_id.startswith("c2c-"):
                # A click-to-call leg an earlier daemon placed and nobody bridged.
                log.info("stopping orphaned click-to-call leg {channel}", channel=channel_id)
                self.control.stop(channel_id)
            elif "-leg" in channel_id and channel.get("state") != "Up":
                log.info("stopping orphaned phone leg {channel}", channel=channel_id)
                self.control.stop(channel_id)
            elif in_our_app and app_data.split(",")[1:2] == ["inbound"] and channel.get("state") != "Up":
                log.info("re-routing waiting caller {channel}", channel=channel_id)
                parts = app_data.split(",")
                self._inbound(channel, parts[2] if len(parts) > 2 else None)

    def _end_adopted(self, channel_id: str) -> None:
        bridge = self.adopted.pop(channel_id, None)
        if bridge is None:
            return
        for other, other_bridge in list(self.adopted.items()):
            if other_bridge == bridge:
                del self.adopted[other]
                self.control.hangup(other, 16)
        self.rest.request("DELETE", f"/bridges/{bridge}").addErrback(_ignore_gone, "adopted bridge")

    def recording_finished(self, name: str) -> Deferred:
        """Asterisk closed recording ``name`` (the call id): attach it to the call."""
        self.recordings_pending.discard(name)
        return self.recorder.recording_finished(name)

    def _expect_recording(self, call_id: str) -> None:
        """The answered call ``call_id`` is over. Asterisk usually sends RecordingFinished
        within milliseconds, but not always when the bridge is destroyed as the
        recording stops (seen on the lab, about 1 call in 15): ask ARI after a moment
        whether the recording is still live, and attach it once it is not."""
        name = _SAFE_ID.sub("_", call_id)
        self.recordings_pending.add(name)
        self.clock.callLater(RECORDING_CHECK_DELAY, self._check_recording, name, 5)

    def _check_recording(self, name: str, tries: int) -> None:
        if name not in self.recordings_pending:
            return  # RecordingFinished came

        def live(_):
            if tries > 1:
                self.clock.callLater(RECORDING_CHECK_DELAY, self._check_recording, name, tries - 1)
            else:
                log.warn("recording {name} still live long after its call ended", name=name)
                self.recordings_pending.discard(name)

        def gone(failure):
            if failure.check(AriError) and failure.value.status == 404 \
                    and name in self.recordings_pending:
                log.info("recording {name}: no RecordingFinished from Asterisk; attaching it",
                         name=name)
                self.recording_finished(name)
            elif not failure.check(AriError):
                self.recordings_pending.discard(name)
                log.failure("checking recording {name}", failure, name=name)

        self.rest.request("GET", f"/recordings/live/{name}").addCallbacks(live, gone)

    def _maybe_forget(self, call: InboundCall) -> None:
        if call.state == "ended" and call.call_id in self.calls:
            del self.calls[call.call_id]
            if call.answered_leg:
                self._expect_recording(call.call_id)
            for leg, owner in list(self.leg_calls.items()):
                if owner == call.call_id:
                    del self.leg_calls[leg]
            self.control.release(call.call_id)

    def _inbound(self, channel: dict, dialled: str | None) -> None:
        call_id = channel["id"]
        caller_raw = (channel.get("caller") or {}).get("number", "")
        trunk_name = safe_caller_name((channel.get("caller") or {}).get("name", ""))
        log.info("inbound call {call_id} from {caller!r} to {dialled}", call_id=call_id,
                 caller=caller_raw[:40], dialled=dialled)
        # 180 Ringing right away: the caller hears ringback while we look them up.
        self.rest.request("POST", f"/channels/{call_id}/ring").addErrback(_ignore_gone, "ring caller")
        now = datetime.fromtimestamp(self.clock.seconds(), timezone.utc)
        self.pending.add(call_id)
        d = maybeDeferred(self.lookup, caller_raw, dialled, self.busy_endpoints(), now)
        d.addTimeout(self.deadline, self.clock)

        def routed(result):
            caller, directory = result
            plan = plan_route(caller, directory, self.timeouts)
            if not plan.caller_name and trunk_name:
                # Not in the CRM: the phones show the trunk's name, sanitised.
                plan = replace(plan, caller_name=trunk_name)
            self.recorder.details[call_id] = CallDetails(
                caller.number, caller_raw, dialled, blocked=caller.blocked,
                is_staff=caller.is_staff, owner_id=caller.owner_id, source_id=caller.source_id,
                tracking_number_id=caller.tracking_number_id, card=caller.card,
                caller_name=plan.caller_name)
            if call_id not in self.pending:
                at = self.clock.seconds()
                log.info("call {call_id}: caller hung up during the lookup", call_id=call_id)
                self.recorder.call_started(call_id, call_id, plan, at)
                self.recorder.call_ended(call_id, "missed", at)
                return
            self.pending.discard(call_id)
            legs = iter(range(1, 1000))
            call = InboundCall(call_id, call_id, plan, self.control, self.recorder, self.clock,
                               caller.number, lambda: self._leg_id(call_id, next(legs)))
            self.calls[call_id] = call
            call.start()
            self._maybe_forget(call)

        def failed(failure):
            if call_id not in self.pending:
                return
            self.pending.discard(call_id)
            log.failure("routing call {call_id} failed; the dialplan fallback group rings",
                        failure, call_id=call_id)
            self.control.to_dialplan_fallback(call_id)

        d.addCallbacks(routed, failed)

    def _leg_id(self, call_id: str, n: int) -> str:
        leg_id = f"{_SAFE_ID.sub('_', call_id)}-leg{n}-{secrets.token_hex(2)}"
        self.leg_calls[leg_id] = call_id
        return leg_id

"""ARI commands out: the call controls and the inventory, over :class:`~.rest.AriRest`.

Wire protocol (Asterisk 22 ARI REST), what each call becomes:

* ring a phone: ``POST /channels`` into our application (``app``, ``appArgs=leg,<call id>``,
  our own ``channelId``, ``originator`` = the trunk channel so CEL keeps one linkedid);
  the leg shows ``StasisStart`` once it answers, ``ChannelDestroyed`` with a Q.850 cause
  if it never does;
* connect: ``POST /channels/<caller>/answer``, ``POST /bridges`` (mixing, ``br-<call id>``),
  ``POST /bridges/<id>/addChannel``, ``POST /bridges/<id>/record``; the recording ends when
  the bridge is destroyed (``DELETE /bridges/<id>``);
* hand a caller back to the dialplan: ``POST /channels/<id>/continue`` (context, ``s``, 1),
  with ``POST /channels/<id>/variable`` first when the dialplan needs a value;
* ring a mobile (follow-me): ``POST /channels`` to the trunk's dial string with
  ``appArgs=leg,<call id>,mobile``; once answered it hears ``POST /channels/<leg>/play``
  ``sound:vm-press,digits:1`` ("press 1") and its ``ChannelDtmfReceived`` events decide;
* a caller waiting in line: ``POST /channels/<id>/answer``, the position as
  ``POST /channels/<id>/play`` of ``sound:queue-youarenext`` or
  ``sound:queue-thereare,number:<n>,sound:queue-callswaiting`` (playback id
  ``position-<call id>``), and once its ``PlaybackFinished`` arrives
  ``POST /channels/<id>/moh``: a playback started on a channel stops its music on hold for
  good, so the music comes after the announcement; ``DELETE .../moh`` stops it;
* stop / hang up: ``DELETE /channels/<id>`` with ``reason`` (a name) or ``reason_code``
  (Q.850);
* transfers: phone legs are originated with ``PJSIP_TRANSFER_HANDLING()=ari-only`` in the
  body's ``variables``, so a REFER arrives as ``ChannelTransfer``; the phone hears how it
  went from ``POST /channels/<id>/transfer_progress?states=...`` (a NOTIFY); a transfer
  target joins with ``POST /bridges/<id>/addChannel``, which moves a channel out of the
  bridge it is in; the waiting caller hears ``POST /bridges/<id>/play`` ``tone:ring``.

* after hours: ``POST /channels/<id>/answer``, ``POST /channels/<id>/play`` (``media``
  ``sound:<absolute path without extension>`` for an uploaded greeting, Asterisk picks the
  file by extension; ``sound:vm-intro`` otherwise), ``POST /channels/<id>/record`` (``beep``,
  ``terminateOn=#``, ``maxDurationSeconds``, ``maxSilenceSeconds``). A channel's ARI
  operations run one after another on its own thread, so the recording (and its beep)
  starts when the greeting ends; ``RecordingFinished`` says it ended.

404 means the channel or bridge is already gone, common while a call unwinds: ignored.
Any other error is logged; what it means for the call arrives later as an event.
"""

from __future__ import annotations

from typing import Callable

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from zope.interface import implementer

from pbx_daemon.crm.greetings import GREETING_FILE
from pbx_daemon.crm.phones import is_e164
from pbx_daemon.telephony import names
from pbx_daemon.telephony.ari.messages import bridge_from_json, channel_from_json
from pbx_daemon.telephony.trunk import TrunkDialing
from pbx_daemon.telephony.ari.rest import AriError, AriRest
from pbx_daemon.telephony.asterisk_render import dial_list
from pbx_daemon.telephony.calls.interfaces import (IAfterHoursControl, IAsteriskInventory,
                                                   ICallControl,
                                                   IOutboundControl, IPhoneControl)
from pbx_daemon.telephony.routing.directory import safe_caller_name

# The lines these adapters log were the Stasis application's: same namespace.
log = Logger(namespace="pbx_daemon.stasis")


# Originate variables of a phone leg: REFERs from the phone become ARI events.
TRANSFER_TO_ARI = {"PJSIP_TRANSFER_HANDLING()": "ari-only"}


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


def ignore_gone(failure, what):
    """Errback: a 404 (the channel or bridge is already gone) is nothing to do; anything
    else is logged. Either way the failure stops here."""
    if failure.check(AriError) and failure.value.status == 404:
        return None
    log.failure("ARI {what} failed: {error}", failure, what=what, error=failure.getErrorMessage())
    return None


def bridge_and_record(rest: AriRest, call_id: str, channels: tuple[str, str]) -> Deferred:
    """Put ``channels`` into the call's mixing bridge and record it. The recording is named
    by the call id only: nothing a caller controls reaches a file name."""
    bridge = names.bridge_id(call_id)
    d = rest.request("POST", "/bridges", {"type": "mixing", "bridgeId": bridge})
    d.addCallback(lambda _: rest.request("POST", f"/bridges/{bridge}/addChannel",
                                         {"channel": ",".join(channels)}))
    d.addCallback(lambda _: rest.request(
        "POST", f"/bridges/{bridge}/record",
        {"name": names.recording_name(call_id), "format": "wav", "ifExists": "overwrite"}))
    return d


def _release(rest: AriRest, call_id: str) -> None:
    bridge = names.bridge_id(call_id)
    rest.request("DELETE", f"/bridges/{bridge}").addErrback(ignore_gone, f"release {bridge}")


def _hangup(rest: AriRest, channel_id: str, cause: int) -> None:
    rest.request("DELETE", f"/channels/{channel_id}", {"reason_code": cause}) \
        .addErrback(ignore_gone, f"hangup {channel_id}")


@implementer(ICallControl)
class AriCallControl:
    def __init__(self, rest: AriRest, app: str, blocked_action: str = "busy",
                 trunk: TrunkDialing = TrunkDialing()):
        self.rest = rest
        self.app = app
        self.blocked_action = blocked_action
        self.trunk = trunk

    def refuse(self, caller_channel):
        if self.blocked_action == "message":
            # The dialplan answers, plays a short "no service" message and hangs up.
            self.rest.request("POST", f"/channels/{caller_channel}/continue",
                              {"context": names.BLOCKED_CONTEXT, "extension": "message",
                               "priority": 1}) \
                .addErrback(ignore_gone, f"refuse {caller_channel}")
        else:
            self.rest.request("DELETE", f"/channels/{caller_channel}", {"reason": "busy"}) \
                .addErrback(ignore_gone, f"refuse {caller_channel}")

    def ring(self, call_id, leg_id, endpoint, caller_name, caller_number):
        if not names.ENDPOINT_NAME.match(endpoint):
            log.error("refusing to ring invalid endpoint {endpoint!r}", endpoint=endpoint)
            return
        params = {"endpoint": f"PJSIP/{endpoint}", "app": self.app,
                  "appArgs": f"{names.ARG_LEG},{call_id}", "channelId": leg_id,
                  "originator": call_id, "timeout": 600}
        params["callerId"] = caller_id_string(caller_name, caller_number)
        # A REFER from this phone comes to us (ChannelTransfer), not to Asterisk's core.
        self.rest.request("POST", "/channels", params, body={"variables": TRANSFER_TO_ARI}) \
            .addErrback(ignore_gone, f"ring {leg_id}")

    def ring_mobile(self, call_id, leg_id, number, caller_number):
        if not is_e164(number):
            log.error("refusing to dial mobile {number!r}: not E.164", number=number)
            return
        params = {"endpoint": self.trunk.dial_string(number), "app": self.app,
                  "appArgs": f"{names.ARG_LEG},{call_id},{names.ARG_MOBILE}",
                  "channelId": leg_id, "originator": call_id, "timeout": 600}
        if caller_number and is_e164(caller_number):
            params["callerId"] = self.trunk.caller_id(caller_number)
        self.rest.request("POST", "/channels", params) \
            .addErrback(ignore_gone, f"ring mobile {leg_id}")

    def confirm(self, leg_id, on):
        playback = names.confirm_prompt_id(leg_id)
        if on:
            self.rest.request("POST", f"/channels/{leg_id}/play",
                              {"media": "sound:vm-press,digits:1", "playbackId": playback}) \
                .addErrback(ignore_gone, f"confirm prompt {leg_id}")
        else:
            self.rest.request("DELETE", f"/playbacks/{playback}") \
                .addErrback(lambda _f: None)  # the prompt may have ended already

    def wait_in_line(self, call_id, caller_channel, position):
        if position == 1:
            media = "sound:queue-youarenext"
        else:
            media = f"sound:queue-thereare,number:{position - 1},sound:queue-callswaiting"
        d = self.rest.request("POST", f"/channels/{caller_channel}/answer")
        d.addCallback(lambda _: self.rest.request(
            "POST", f"/channels/{caller_channel}/play",
            {"media": media, "playbackId": names.position_playback_id(call_id)}))
        d.addErrback(ignore_gone, f"wait in line {call_id}")

    def music_on_hold(self, caller_channel):
        self.rest.request("POST", f"/channels/{caller_channel}/moh") \
            .addErrback(ignore_gone, f"hold music {caller_channel}")

    def stop_waiting(self, caller_channel):
        self.rest.request("DELETE", f"/channels/{caller_channel}/moh") \
            .addErrback(ignore_gone, f"stop hold {caller_channel}")

    def stop(self, leg_id, reason="normal"):
        self.rest.request("DELETE", f"/channels/{leg_id}", {"reason": reason}) \
            .addErrback(ignore_gone, f"stop {leg_id}")

    def connect(self, call_id, caller_channel, leg_id):
        d = self.rest.request("POST", f"/channels/{caller_channel}/answer")
        d.addCallback(lambda _: bridge_and_record(self.rest, call_id, (caller_channel, leg_id)))
        d.addErrback(ignore_gone, f"connect {call_id}")

    def hangup(self, channel_id, cause):
        _hangup(self.rest, channel_id, cause)

    def fallback(self, caller_channel, endpoints):
        if not endpoints:
            self.to_dialplan_fallback(caller_channel)
            return
        dial = dial_list(list(endpoints))
        d = self.rest.request("POST", f"/channels/{caller_channel}/variable",
                              {"variable": names.VAR_DIAL, "value": dial})
        d.addCallback(lambda _: self.rest.request(
            "POST", f"/channels/{caller_channel}/continue",
            {"context": names.FALLBACK_DIAL_CONTEXT, "extension": "s", "priority": 1}))
        d.addErrback(ignore_gone, f"fallback {caller_channel}")

    def to_dialplan_fallback(self, caller_channel):
        """The department-agnostic last resort: the dialplan's own fallback group."""
        self.rest.request("POST", f"/channels/{caller_channel}/continue",
                          {"context": names.FALLBACK_CONTEXT, "extension": "s", "priority": 1}) \
            .addErrback(ignore_gone, f"fallback {caller_channel}")

    def release(self, call_id):
        _release(self.rest, call_id)

    def transfer_progress(self, channel_id, state):
        self.rest.request("POST", f"/channels/{channel_id}/transfer_progress",
                          {"states": state}) \
            .addErrback(ignore_gone, f"transfer progress {channel_id}")

    def join(self, call_id, channel_id):
        bridge = names.bridge_id(call_id)
        self.rest.request("POST", f"/bridges/{bridge}/addChannel", {"channel": channel_id}) \
            .addErrback(ignore_gone, f"join {channel_id} to {bridge}")

    def hold(self, call_id, on):
        playback = names.transfer_ringback_id(call_id)
        if on:
            self.rest.request("POST", f"/bridges/{names.bridge_id(call_id)}/play",
                              {"media": "tone:ring", "playbackId": playback}) \
                .addErrback(ignore_gone, f"ringback {call_id}")
        else:
            self.rest.request("DELETE", f"/playbacks/{playback}") \
                .addErrback(ignore_gone, f"ringback {call_id}")


# Asterisk's stock "please leave your message after the tone..." (core sounds).
STOCK_GREETING = "sound:vm-intro"


@implementer(IAfterHoursControl)
class AriAfterHoursControl:
    """``greetings_dir``: where uploaded greetings are (``<data_dir>/greetings``)."""

    def __init__(self, rest: AriRest, greetings_dir: str = ""):
        self.rest = rest
        self.greetings_dir = greetings_dir.rstrip("/")

    def media(self, greeting_file: str | None) -> str:
        """The greeting to play: an uploaded file by absolute path without its extension
        (we named it; checked again here), else the stock prompt."""
        if greeting_file and self.greetings_dir and GREETING_FILE.match(greeting_file):
            return f"sound:{self.greetings_dir}/{greeting_file.rsplit('.', 1)[0]}"
        return STOCK_GREETING

    def greet_and_record(self, call_id, caller_channel, greeting_file, max_seconds, max_silence):
        channel = f"/channels/{caller_channel}"
        d = self.rest.request("POST", f"{channel}/answer")
        d.addCallback(lambda _: self.rest.request(
            "POST", f"{channel}/play", {"media": self.media(greeting_file),
                                        "playbackId": names.greeting_playback_id(call_id)}))
        d.addCallback(lambda _: self.rest.request(
            "POST", f"{channel}/record",
            {"name": names.recording_name(call_id), "format": "wav", "ifExists": "overwrite",
             "beep": "true", "terminateOn": "#", "maxDurationSeconds": max_seconds,
             "maxSilenceSeconds": max_silence}))
        d.addErrback(ignore_gone, f"voicemail {call_id}")

    def hangup(self, channel_id, cause):
        _hangup(self.rest, channel_id, cause)


@implementer(IOutboundControl)
class AriOutboundControl:
    """Click-to-call over ARI. Originations report failure through ``on_failed``."""

    def __init__(self, rest: AriRest, app: str, trunk: TrunkDialing = TrunkDialing()):
        self.rest = rest
        self.app = app
        self.trunk = trunk
        self.on_failed: Callable[[str, str], None] = lambda call_id, which: None

    def _originate_failed(self, failure, call_id, which):
        log.error("click-to-call {call_id}: could not ring the {which}: {error}",
                  call_id=call_id, which=which, error=failure.getErrorMessage())
        self.on_failed(call_id, which)

    def ring_employee(self, call_id, endpoint, shown_name, shown_number, timeout):
        if not names.ENDPOINT_NAME.match(endpoint):
            log.error("refusing to ring invalid endpoint {endpoint!r}", endpoint=endpoint)
            self.on_failed(call_id, "employee")
            return
        params = {"endpoint": f"PJSIP/{endpoint}", "app": self.app,
                  "appArgs": f"{names.ARG_C2C_EMPLOYEE},{call_id}", "channelId": call_id,
                  "timeout": timeout, "callerId": caller_id_string(shown_name, shown_number)}
        self.rest.request("POST", "/channels", params).addErrback(
            self._originate_failed, call_id, "employee")

    def ringback(self, call_id):
        self.rest.request("POST", f"/channels/{call_id}/play",
                          {"media": "tone:ring", "playbackId": names.ringback_id(call_id)}) \
            .addErrback(ignore_gone, f"ringback {call_id}")

    def dial_client(self, call_id, client_leg, number, caller_id, timeout):
        if not is_e164(number):
            log.error("refusing to dial {number!r}: not E.164", number=number)
            self.on_failed(call_id, "client")
            return
        params = {"endpoint": self.trunk.dial_string(number), "app": self.app,
                  "appArgs": f"{names.ARG_C2C_CLIENT},{call_id}", "channelId": client_leg,
                  "originator": call_id, "timeout": timeout}
        if caller_id and is_e164(caller_id):
            params["callerId"] = self.trunk.caller_id(caller_id)
        self.rest.request("POST", "/channels", params).addErrback(
            self._originate_failed, call_id, "client")

    def connect(self, call_id, client_leg, ext):
        d = self.rest.request("DELETE", f"/playbacks/{names.ringback_id(call_id)}")
        d.addErrback(lambda _f: None)  # the ringback may have ended already
        d.addCallback(lambda _: bridge_and_record(self.rest, call_id, (call_id, client_leg)))
        if ext and ext.isdigit():
            # An extension ("доб. 12"): the client's IVR hears it once the call is up.
            d.addCallback(lambda _: self.rest.request(
                "POST", f"/channels/{client_leg}/dtmf", {"dtmf": ext, "before": 1500}))
        d.addErrback(ignore_gone, f"connect {call_id}")

    def hangup(self, channel_id, cause):
        _hangup(self.rest, channel_id, cause)

    def release(self, call_id):
        _release(self.rest, call_id)


@implementer(IPhoneControl)
class AriPhoneControl:
    """A desk phone's call over ARI. The phone's channel is already in our application
    (``Stasis(<app>,phone,<dialled>)``); the far side is originated into it with
    ``appArgs=phone-peer,<call id>`` and ``originator`` = the phone's channel, so CEL keeps
    one linkedid. A failed origination reports through ``on_failed``."""

    def __init__(self, rest: AriRest, app: str, trunk: TrunkDialing = TrunkDialing()):
        self.rest = rest
        self.app = app
        self.trunk = trunk
        self.on_failed: Callable[[str], None] = lambda call_id: None

    def _originate(self, call_id, params):
        def failed(failure):
            log.error("phone call {call_id}: could not ring the far side: {error}",
                      call_id=call_id, error=failure.getErrorMessage())
            self.on_failed(call_id)

        self.rest.request("POST", "/channels", params).addErrback(failed)

    def indicate_ringing(self, phone_channel):
        self.rest.request("POST", f"/channels/{phone_channel}/ring") \
            .addErrback(ignore_gone, "ring phone")

    def ring_extension(self, call_id, peer_leg, endpoint, caller_name, caller_number, timeout):
        if not (endpoint and names.ENDPOINT_NAME.match(endpoint)):
            log.error("refusing to ring invalid endpoint {endpoint!r}", endpoint=endpoint)
            self.on_failed(call_id)
            return
        self._originate(call_id, {
            "endpoint": f"PJSIP/{endpoint}", "app": self.app,
            "appArgs": f"{names.ARG_PHONE_PEER},{call_id}", "channelId": peer_leg,
            "originator": call_id, "timeout": timeout,
            "callerId": caller_id_string(caller_name, caller_number)})

    def dial_out(self, call_id, peer_leg, number, caller_id, timeout):
        if not (number and is_e164(number)):
            log.error("refusing to dial {number!r}: not E.164", number=number)
            self.on_failed(call_id)
            return
        params = {"endpoint": self.trunk.dial_string(number), "app": self.app,
                  "appArgs": f"{names.ARG_PHONE_PEER},{call_id}", "channelId": peer_leg,
                  "originator": call_id, "timeout": timeout}
        if caller_id and is_e164(caller_id):
            params["callerId"] = self.trunk.caller_id(caller_id)
        self._originate(call_id, params)

    def connect(self, call_id, peer_leg, ext):
        d = self.rest.request("POST", f"/channels/{call_id}/answer")
        d.addCallback(lambda _: bridge_and_record(self.rest, call_id, (call_id, peer_leg)))
        if ext and ext.isdigit():
            d.addCallback(lambda _: self.rest.request(
                "POST", f"/channels/{peer_leg}/dtmf", {"dtmf": ext, "before": 1500}))
        d.addErrback(ignore_gone, f"connect {call_id}")

    def refuse(self, phone_channel):
        # The dialplan answers, plays a short "no service" message and hangs up.
        self.rest.request("POST", f"/channels/{phone_channel}/continue",
                          {"context": names.BLOCKED_CONTEXT, "extension": "message",
                           "priority": 1}) \
            .addErrback(ignore_gone, f"refuse {phone_channel}")

    def to_dialplan(self, phone_channel, dialled):
        # The dialled text is digits and "+" only ([pbxcrm-internal] filtered it); checked
        # again, since it becomes an extension name.
        target = dialled if dialled and all(c.isdigit() or c == "+" for c in dialled) \
            and len(dialled) <= 20 else "invalid"
        context = names.PHONE_FALLBACK_CONTEXT if target != "invalid" else names.INTERNAL_CONTEXT
        self.rest.request("POST", f"/channels/{phone_channel}/continue",
                          {"context": context, "extension": target, "priority": 1}) \
            .addErrback(ignore_gone, f"phone fallback {phone_channel}")

    def hangup(self, channel_id, cause):
        _hangup(self.rest, channel_id, cause)

    def release(self, call_id):
        _release(self.rest, call_id)


@implementer(IAsteriskInventory)
class AriInventory:
    """``GET /bridges`` and ``GET /channels`` list everything Asterisk holds, ours or not.
    ``POST /applications/<app>/subscription`` makes a bridge's and its channels' events
    reach our WebSocket although this session did not create them.
    ``GET /recordings/live/<name>`` answers 404 once the recording is closed."""

    def __init__(self, rest: AriRest, app: str):
        self.rest = rest
        self.app = app

    def bridges(self):
        return self.rest.request("GET", "/bridges").addCallback(
            lambda found: [bridge_from_json(b) for b in found or []])

    def channels(self):
        return self.rest.request("GET", "/channels").addCallback(
            lambda found: [channel_from_json(c) for c in found or []])

    def watch(self, bridge_id, channel_ids):
        source = ",".join([f"bridge:{bridge_id}"] + [f"channel:{c}" for c in channel_ids])
        self.rest.request("POST", f"/applications/{self.app}/subscription",
                          {"eventSource": source}).addErrback(ignore_gone, "subscribe")

    def destroy_bridge(self, bridge_id):
        self.rest.request("DELETE", f"/bridges/{bridge_id}") \
            .addErrback(ignore_gone, "adopted bridge")

    def recording_live(self, name):
        def gone(failure):
            failure.trap(AriError)
            if failure.value.status == 404:
                return False
            return failure

        return self.rest.request("GET", f"/recordings/live/{name}").addCallbacks(
            lambda _: True, gone)

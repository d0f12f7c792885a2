"""ARI events in: the Stasis application hands each event to the call it concerns.

How the calls look in Asterisk:

* a caller's trunk channel enters ``Stasis(pbx-crm,inbound,<dialled>)``; each phone we ring
  for it is a channel we originate (``appArgs=leg,<call id>``). A leg shows
  ``ChannelStateChange`` Ringing, then either ``StasisStart`` (it answered) or
  ``ChannelDestroyed`` with a Q.850 cause (21 rejected, 17 busy, 19 no answer). The
  caller's ``ChannelDestroyed`` is the caller hanging up.
  -> :class:`~.calls.inbound_calls.InboundCalls`
* a click-to-call is two channels we originate (``c2c-employee`` / ``c2c-client``).
  -> :class:`~.calls.outbound_calls.OutboundCalls`
* a desk phone's channel enters ``Stasis(pbx-crm,phone,<dialled>)``; the far side is a
  channel we originate (``phone-peer,<call id>``).
  -> :class:`~.calls.phone_calls.PhoneCalls`
* a connected call found after a reconnect is in a ``br-...`` bridge nobody here owns.
  -> :class:`~.adoption.Adoption`
* a bridge recording ends when the bridge is destroyed: ``RecordingFinished`` with its
  name. -> :class:`~.recording_watch.RecordingWatch`
* the answering phone of an inbound call sends SIP REFER: ``ChannelTransfer``.
  -> :class:`~.transfers.Transfers`
* the phones' registrations and calls: listed every second (and ``EndpointStateChange``
  if it comes). -> :class:`~.presence.Presence`
* a desk phone dials a feature code (*78 DND on, *79 off): ``Stasis(pbx-crm,dnd,on|off)``.
  -> ``set_dnd``
"""

from __future__ import annotations

from typing import Callable

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from pbx_daemon.telephony import names
from pbx_daemon.telephony.adoption import Adoption
from pbx_daemon.telephony.trunk import TrunkDialing
from pbx_daemon.telephony.ari import messages as ari
from pbx_daemon.telephony.ari.control import (AriAfterHoursControl, AriInventory,
                                              AriOutboundControl, AriPhoneControl)
from pbx_daemon.telephony.ari.rest import AriRest
from pbx_daemon.telephony.calls.inbound_calls import InboundCalls
from pbx_daemon.telephony.calls.interfaces import (IAfterHoursControl, IAsteriskInventory,
                                                   ICallControl,
                                                   ICallRecorder, IOutboundControl,
                                                   IPhoneControl)
from pbx_daemon.telephony.calls.outbound import ClickToCallRequest
from pbx_daemon.telephony.calls.outbound_calls import OutboundCalls
from pbx_daemon.telephony.calls.phone_calls import PhoneCalls, PhoneCheck
from pbx_daemon.telephony.feature_codes import toggle_dnd
from pbx_daemon.telephony.presence import Presence
from pbx_daemon.telephony.recording_watch import RecordingWatch
from pbx_daemon.telephony.routing.deadline import Lookup, Observe
from pbx_daemon.telephony.routing.policy import StepTimeouts
from pbx_daemon.telephony.sweep import Sweep
from pbx_daemon.telephony.transfers import Transfers

log = Logger(namespace="pbx_daemon.stasis")
PHONE_CHECK_DEADLINE = 2.0  # seconds, at least, to decide a desk phone's call


class StasisApp:
    """Routes each inbound call, places click-to-calls, re-adopts calls after a
    (re)connect and hands finished recordings to the store: by dispatching ARI events to
    the objects that do each."""

    def __init__(self, *, app: str, rest: AriRest, control: ICallControl,
                 recorder: ICallRecorder, clock: IReactorTime, lookup: Lookup,
                 timeouts: StepTimeouts, deadline: float,
                 outbound_control: IOutboundControl | None = None,
                 inventory: IAsteriskInventory | None = None,
                 phone_control: IPhoneControl | None = None,
                 phone_check: PhoneCheck | None = None,
                 observe_routing: Observe | None = None,
                 trunk: TrunkDialing = TrunkDialing(),
                 after_hours_control: IAfterHoursControl | None = None,
                 list_endpoints: Callable[[], Deferred] | None = None,
                 set_dnd: Callable[[str, bool], Deferred] | None = None):
        """``app`` is the Stasis application's name; ``rest`` builds the ARI adapters
        not given (click-to-call and desk-phone control, inventory). ``phone_check``
        decides a desk phone's call (off the reactor); without it every desk phone's call
        goes back to the dialplan, which places it. ``observe_routing(seconds, result)``
        hears each inbound route decision (metrics); ``trunk`` is how numbers are dialled out.
        ``list_endpoints()`` (:func:`~.presence.ari_presence`) refreshes the phones'
        presence on each connection; ``set_dnd(endpoint, on)`` stores a phone's *78/*79."""
        self.app = app
        self.rest = rest
        self.control = control
        self.recorder = recorder
        self.clock = clock
        self.connected = False
        self.presence = Presence()
        self.list_endpoints = list_endpoints
        self.set_dnd = set_dnd
        inventory = inventory or AriInventory(rest, self.app)
        self.recordings = RecordingWatch(clock, inventory.recording_live,
                                         recorder.recording_finished)
        self.inbound = InboundCalls(control=control, recorder=recorder, clock=clock,
                                    lookup=lookup, timeouts=timeouts, deadline=deadline,
                                    busy_endpoints=self.routing_skips,
                                    call_over=self._call_over,
                                    observe_routing=observe_routing,
                                    after_hours=after_hours_control or AriAfterHoursControl(rest))
        outbound_control = outbound_control or AriOutboundControl(rest, self.app, trunk)
        self.outbound = OutboundCalls(control=outbound_control, recorder=recorder, clock=clock,
                                      call_over=self._call_over)
        # A desk phone hears ringback while its number is checked; giving up hands the
        # call to the dialplan, which knows no blocklist: so a longer deadline than a
        # caller's lookup gets (at least 2 s).
        self.phone = PhoneCalls(control=phone_control or AriPhoneControl(rest, self.app, trunk),
                                recorder=recorder, clock=clock, check=phone_check,
                                deadline=max(deadline, PHONE_CHECK_DEADLINE),
                                call_over=self._call_over)
        self.transfers = Transfers(inbound=self.inbound, phone=self.phone, control=control,
                                   check=phone_check, clock=clock,
                                   deadline=max(deadline, PHONE_CHECK_DEADLINE))
        self.adoption = Adoption(app=self.app, list_bridges=inventory.bridges,
                                 list_channels=inventory.channels, watch=inventory.watch,
                                 destroy_bridge=inventory.destroy_bridge,
                                 hangup=control.hangup, stop=control.stop,
                                 reroute=self.inbound.start, known_channels=self._known_channels,
                                 redial=self.phone.start, ended=self._adopted_call_over)
        self.sweep = Sweep(app=self.app, list_channels=inventory.channels,
                           known_channels=self.held_channels,
                           gone=lambda channel_id: self._channel_gone(channel_id, None),
                           adopt=self.adoption.adopt)

    # ---- what the API and routing ask --------------------------------------------------
    def busy_endpoints(self) -> frozenset[str]:
        """Endpoints on a call right now (connected, or placing a click-to-call): routing
        skips them and a second click-to-call is refused."""
        return frozenset(self.inbound.answered_endpoints() | self.outbound.busy_endpoints()
                         | self.phone.busy_endpoints())

    def routing_skips(self) -> frozenset[str]:
        """Endpoints inbound routing does not ring: busy ones, and those presence says are
        unreachable or on a call we did not place. A phone leg we originated for a caller
        is no call of the phone's until answered (one we just stopped may linger in
        Asterisk a moment): only answered ones, ours or adopted, make a phone busy."""
        talking = {c.answered_leg for c in self.inbound.calls.values() if c.answered_leg} \
            | set(self.adoption.adopted)
        ringing = {ch for p in self.presence.endpoints.values() for ch in p.channel_ids
                   if names.is_phone_leg(ch) and ch not in talking}
        return self.busy_endpoints() | self.presence.unavailable(ringing)

    def click_to_call(self, request: ClickToCallRequest) -> str:
        """Start a validated click-to-call; returns its call id (see OutboundCalls.place)."""
        return self.outbound.place(request, connected=self.connected, busy=self.busy_endpoints())

    def call_state(self, call_id: str) -> dict | None:
        return self.outbound.state(call_id)

    @property
    def calls(self):
        """The inbound calls being routed or talking, by call id."""
        return self.inbound.calls

    @property
    def leg_calls(self):
        return self.inbound.leg_calls

    @property
    def adopted(self):
        return self.adoption.adopted

    # ---- the ARI connection ----------------------------------------------------------------
    def on_connect(self) -> Deferred:
        self.connected = True
        self.refresh_presence()
        return self.adopt()

    def on_disconnect(self) -> None:
        self.connected = False
        self.presence.clear()

    def refresh_presence(self) -> Deferred | None:
        """One listing of the phones' presence (on connect, then on a timer), while
        connected."""
        if self.list_endpoints is None or not self.connected:
            return None
        d = self.list_endpoints()
        d.addCallback(self.presence.replace)
        d.addErrback(lambda f: log.failure("listing the phones' presence (every phone is "
                                           "rung meanwhile)", f))
        return d

    def adopt(self) -> Deferred:
        """Take over what an earlier daemon (or this one, before a reconnect) left in
        Asterisk (see :mod:`pbx_daemon.telephony.adoption`)."""
        return self.adoption.adopt()

    def sweep_once(self) -> Deferred | None:
        """One round of :class:`~.sweep.Sweep` (on a timer), while connected."""
        return self.sweep.run() if self.connected else None

    def held_channels(self) -> set[str]:
        """Every channel a call of ours (or an adopted one) holds right now."""
        return self._known_channels() | set(self.adoption.adopted)

    def recording_finished(self, name: str) -> Deferred:
        """Asterisk closed recording ``name`` (the call id): attach it to the call."""
        return self.recordings.finished(name)

    # ---- events --------------------------------------------------------------------------
    def on_event(self, event: dict) -> None:
        """One ARI event, as decoded JSON."""
        if event.get("type") == "EndpointStateChange":
            self.presence.update(event.get("endpoint"))
            return
        channel_id = (event.get("channel") or {}).get("id")
        log.debug("ARI {type} {channel_id} {args}", type=event.get("type"),
                  channel_id=channel_id, args=event.get("args") or event.get("cause") or "")
        self.dispatch(ari.parse_event(event))

    def dispatch(self, event: ari.Event) -> None:
        if isinstance(event, ari.RecordingFinished):
            if event.name:
                self.inbound.recording_finished(event.name)  # a voicemail ends its call
                self.recording_finished(event.name)
            return
        if isinstance(event, ari.ChannelTransfer):
            self.transfers.requested(event)
            return
        if isinstance(event, ari.PlaybackFinished):
            if event.id.startswith(names.POSITION_PREFIX) and event.channel_id:
                self.inbound.announced(event.channel_id)
            return
        if isinstance(event, ari.StasisEnd):
            # A caller that hangs up while bridged leaves the application (StasisEnd) and
            # is destroyed in the dialplan afterwards: Asterisk 22 sends us no
            # ChannelDestroyed for it. Channels we never continue into the dialplan end the
            # same way, so StasisEnd counts as "gone"; the ChannelDestroyed that may follow
            # finds nothing.
            event = ari.ChannelDestroyed(event.channel)
        if isinstance(event, ari.StasisStart):
            self._stasis_start(event)
        elif isinstance(event, ari.ChannelDestroyed):
            self.presence.channel_gone(event.channel.id)
            self._channel_gone(event.channel.id, event.cause)
        elif isinstance(event, ari.ChannelDtmf):
            self.inbound.dtmf(event.channel.id, event.digit)
        elif isinstance(event, ari.ChannelLeftBridge) and self.adoption.owns(event.channel.id):
            self.adoption.channel_gone(event.channel.id)

    def _stasis_start(self, event: ari.StasisStart) -> None:
        channel, args = event.channel, event.args
        if self.outbound.owns(channel.id):
            self.outbound.answered(channel.id)
        elif self.phone.owns(channel.id):
            self.phone.answered(channel.id)
        elif args[:1] == (names.ARG_PHONE,):
            self.phone.start(channel, args[1] if len(args) > 1 else None)
        elif args[:1] == (names.ARG_INBOUND,):
            self.inbound.start(channel, args[1] if len(args) > 1 else None)
        elif args[:1] == (names.ARG_DND,):
            self._dnd(channel, args)
        elif args[:1] in ((names.ARG_C2C_EMPLOYEE,), (names.ARG_C2C_CLIENT,),
                          (names.ARG_PHONE_PEER,)):
            # A click-to-call or desk-phone leg this daemon does not know (placed before a
            # restart).
            self.control.stop(channel.id)
        elif args[:1] == (names.ARG_LEG,) and len(args) > 1:
            self.inbound.leg_answered(args[1], channel.id)

    def _channel_gone(self, channel_id: str, cause: int | None) -> None:
        if self.outbound.owns(channel_id):
            self.outbound.gone(channel_id, cause)
        elif self.phone.owns(channel_id):
            self.phone.gone(channel_id, cause)
        elif self.adoption.owns(channel_id):
            self.adoption.channel_gone(channel_id)
        else:
            self.inbound.channel_gone(channel_id, cause)

    def _dnd(self, channel: ari.Channel, args: tuple[str, ...]) -> None:
        """A desk phone dialled *78 (on) / *79 (off): see :mod:`.feature_codes`."""
        def continue_to(channel_id: str, extension: str) -> None:
            self.rest.request("POST", f"/channels/{channel_id}/continue",
                              {"context": names.FEATURE_DONE_CONTEXT, "extension": extension,
                               "priority": 1}) \
                .addErrback(lambda f: log.failure("confirming DND on {channel_id}", f,
                                                  channel_id=channel_id))

        toggle_dnd(self.set_dnd, continue_to, channel, args[2] if len(args) > 2 else None,
                   args[1:2] == ("on",))

    # ---- between the owners ------------------------------------------------------------
    def _call_over(self, call_id: str, answered: bool) -> None:
        if answered:
            self.recordings.expect(names.recording_name(call_id))
        # Its phone is free again: the longest-waiting caller of its department rings it.
        self.inbound.offer_free_phones()

    def _adopted_call_over(self, call_id: str) -> None:
        # Connected when adopted: answered, and its recording closes with the bridge.
        self.recorder.adopted_call_ended(call_id, self.clock.seconds())
        self.recordings.expect(names.recording_name(call_id))

    def _known_channels(self) -> set[str]:
        return self.inbound.known_channels() | set(self.outbound.channels) \
            | self.phone.known_channels()

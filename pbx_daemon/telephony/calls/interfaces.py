"""What the call state machines and the Stasis application may ask of the world, and
what they tell it. Nothing else crosses: the ARI adapters (:mod:`..ari.control`), the
store and screen-pop (:mod:`..outputs`) and the fakes (:mod:`pbx_daemon.testing`) all
implement these, and a test checks each with ``verifyObject``.

Controls return at once (fire and forget): an ARI request that fails is logged by the
adapter, and what it means for the call arrives later as an event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from zope.interface import Attribute, Interface


@dataclass(frozen=True)
class CallDetails:
    """What the lookup found about an inbound caller, for the store and screen-pop."""

    caller: str | None  # E.164 or None
    caller_raw: str
    dialled: str | None
    handled_by: str = "daemon"
    # What the lookup found, for the missed-call rules.
    blocked: bool = False
    is_staff: bool = False
    owner_id: int | None = None
    source_id: int | None = None
    tracking_number_id: int | None = None
    card: tuple[str, int] | None = None  # ("contact", 12): the caller's card, if known
    caller_name: str | None = None
    # After hours: the call-back task counts its deadline from the next opening.
    callback_from: datetime | None = None


class ICallControl(Interface):
    """What an inbound call asks of Asterisk. Every method returns at once."""

    def ring(call_id, leg_id, endpoint, caller_name, caller_number):
        """Originate ``leg_id`` to ``endpoint`` showing the caller's name and number."""

    def ring_mobile(call_id, leg_id, number, caller_number):
        """Originate ``leg_id`` to the mobile ``number`` (E.164) through the trunk,
        presenting the caller's number; it enters our application when answered."""

    def confirm(leg_id, on):
        """Play "press 1" to the answered mobile leg (``on``), or stop the prompt."""

    def wait_in_line(call_id, caller_channel, position):
        """Answer the waiting caller and announce their ``position`` in the line (1: next);
        the announcement's end comes back as an event (then :meth:`music_on_hold`)."""

    def music_on_hold(caller_channel):
        """Play music on hold to the waiting caller."""

    def stop_waiting(caller_channel):
        """Stop the waiting caller's music on hold (they are being connected)."""

    def stop(leg_id, reason="normal"):
        """Stop a ringing (or connected) leg. ``answered_elsewhere`` tells the phone
        (SIP Reason: cause 26) so it does not show a missed call."""

    def connect(call_id, caller_channel, leg_id):
        """Answer the caller, bridge them with the leg, record the bridge."""

    def hangup(channel_id, cause):
        """Hang up a channel with a Q.850 cause."""

    def refuse(caller_channel):
        """Turn a blocklisted caller away: busy, or a short message (config)."""

    def fallback(caller_channel, endpoints):
        """Hand the caller back to the dialplan to ring ``endpoints`` (last resort);
        no endpoints means the dialplan's own fallback group."""

    def to_dialplan_fallback(caller_channel):
        """Hand the caller to the dialplan's own fallback group (no plan could be made)."""

    def release(call_id):
        """The call is over: free what it held in Asterisk (its bridge)."""

    def transfer_progress(channel_id, state):
        """Tell the phone that sent a REFER on ``channel_id`` how its transfer goes (a SIP
        NOTIFY): ``channel_progress`` | ``channel_answered`` | ``channel_unavailable`` |
        ``channel_declined``."""

    def join(call_id, channel_id):
        """Put ``channel_id`` (answered, in our application) into the call's bridge, taking
        it out of any other bridge; the bridge's recording goes on."""

    def hold(call_id, on):
        """Ringback to the call's bridge while a transfer target rings (``on``), or stop it."""


class IAfterHoursControl(Interface):
    """What a call outside working hours asks of Asterisk. Every method returns at once."""

    def greet_and_record(call_id, caller_channel, greeting_file, max_seconds, max_silence):
        """Answer the caller, play the greeting (``greeting_file`` under the greetings
        directory, None: the stock prompt), then a beep and record a voicemail named by the
        call id, until ``#``, ``max_silence`` seconds of silence, ``max_seconds`` or the
        caller hangs up. Asterisk runs a channel's operations in order: the recording
        starts when the greeting ends."""

    def hangup(channel_id, cause):
        """Hang up a channel with a Q.850 cause."""


class ICallRecorder(Interface):
    """Where an inbound call's story goes (the SQL store, the screen-pop bus, tests)."""

    def caller_identified(call_id, details):
        """What the lookup found (a :class:`CallDetails`); comes before ``call_started``."""

    def call_started(call_id, caller_channel, plan, at):
        pass

    def leg_ringing(call_id, leg_id, endpoint, agent_id, step, at):
        pass

    def leg_ended(call_id, leg_id, outcome, at):
        pass

    def call_answered(call_id, leg_id, agent_id, at):
        pass

    def leg_answered(call_id, leg_id, agent_id, at):
        """A transfer target took the answered call over (the call's first answerer stays
        ``call_answered``'s agent); the leg's part starts now."""

    def call_ended(call_id, outcome, at):
        pass

    def adopted_call_ended(call_id, at):
        """A connected call this daemon re-adopted (an earlier one connected it) ended:
        it was answered; close it and its open legs at ``at``, whatever its direction."""

    def recording_finished(call_id):
        """Asterisk closed the call's recording (inbound or click-to-call): attach it.
        Returns a Deferred firing with its size in bytes, or None."""


class IOutboundControl(Interface):
    """What a click-to-call asks of Asterisk. Every method returns at once."""

    on_failed = Attribute(
        "Called as on_failed(call_id, 'employee' | 'client') when an origination fails "
        "(ARI refused it, or the endpoint or number was not valid).")

    def ring_employee(call_id, endpoint, shown_name, shown_number, timeout):
        """Originate the employee's leg (channel id ``call_id``) into our application."""

    def ringback(call_id):
        """Play ringback to the employee while the client's phone rings."""

    def dial_client(call_id, client_leg, number, caller_id, timeout):
        """Originate ``client_leg`` to ``number`` through the trunk, ``originator`` =
        the employee's channel, so both share one linkedid."""

    def connect(call_id, client_leg, ext):
        """Stop the ringback, bridge employee and client, record the bridge; send
        ``ext`` as DTMF to the client when given."""

    def hangup(channel_id, cause):
        """Hang up a channel with a Q.850 cause."""

    def release(call_id):
        """Free the call's bridge."""


class IOutboundRecorder(Interface):
    def outbound_started(call_id, request, at):
        """The employee's phone is ringing."""

    def employee_answered(call_id, request, at):
        """The employee picked up; the client is being dialled."""

    def client_answered(call_id, request, at):
        """The client picked up: the two are connected."""

    def outbound_ended(call_id, request, outcome, at):
        """``answered`` | ``no_answer`` | ``busy`` | ``failed`` | ``abandoned``."""


class IPhoneControl(Interface):
    """What a desk phone's call asks of Asterisk. Every method returns at once."""

    on_failed = Attribute(
        "Called as on_failed(call_id) when the far side's origination fails (ARI refused "
        "it, or the endpoint or number was not valid).")

    def indicate_ringing(phone_channel):
        """Send the phone 180 Ringing: it hears ringback while we decide and ring."""

    def ring_extension(call_id, peer_leg, endpoint, caller_name, caller_number, timeout):
        """Originate ``peer_leg`` to another employee's phone showing who calls,
        ``originator`` = the phone's channel (one linkedid)."""

    def dial_out(call_id, peer_leg, number, caller_id, timeout):
        """Originate ``peer_leg`` to ``number`` (E.164) through the trunk presenting
        ``caller_id``, ``originator`` = the phone's channel."""

    def connect(call_id, peer_leg, ext):
        """Answer the phone, bridge it with ``peer_leg``, record the bridge; send ``ext``
        as DTMF to the far side when given."""

    def refuse(phone_channel):
        """A blocklisted number: the phone hears a short message, then is hung up."""

    def to_dialplan(phone_channel, dialled):
        """Hand the phone back to the dialplan, which places the call itself (no decision
        could be made in time)."""

    def hangup(channel_id, cause):
        """Hang up a channel with a Q.850 cause."""

    def release(call_id):
        """Free the call's bridge."""


class IPhoneRecorder(Interface):
    """Where a desk phone's call goes: stored as the employee's outbound call (a client)
    or as an internal call (an extension; kept out of the client figures)."""

    def phone_call_started(call_id, request, at):
        """The far side is ringing (a :class:`~.phone.PhoneCallRequest`)."""

    def phone_call_answered(call_id, request, at):
        """The far side answered: the two are connected."""

    def phone_call_ended(call_id, request, outcome, at):
        """``answered`` | ``no_answer`` | ``busy`` | ``failed`` | ``abandoned``."""


class IAsteriskInventory(Interface):
    """What is already in Asterisk, and tidying it up: for re-adoption after a
    (re)connect and for the recording watch, never for a call being routed."""

    def bridges():
        """Deferred list of :class:`~pbx_daemon.telephony.ari.messages.Bridge`."""

    def channels():
        """Deferred list of :class:`~pbx_daemon.telephony.ari.messages.Channel`."""

    def watch(bridge_id, channel_ids):
        """Subscribe our application to a bridge and its channels we did not create in
        this session, so their events reach us."""

    def destroy_bridge(bridge_id):
        """Destroy a bridge (gone already is fine)."""

    def recording_live(name):
        """Deferred True while recording ``name`` is still being written, False once
        Asterisk no longer knows it as live."""

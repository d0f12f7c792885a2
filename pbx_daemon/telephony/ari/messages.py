"""ARI JSON -> typed events (frozen dataclasses). Pure: no reactor, no I/O.

Only the fields pbx-crm reads are kept. Asterisk 22's shapes (see
``tests/fixtures/ari/``):

* every event has ``type``; channel events carry the whole ``channel`` object
  (``id``, ``name``, ``state``, ``caller: {name, number}``,
  ``dialplan: {context, exten, priority, app_name, app_data}``...);
* ``StasisStart.args`` are the ``Stasis()`` / originate ``appArgs`` after the app name;
* ``ChannelDestroyed.cause`` is the Q.850 cause (``cause_txt`` its text);
* ``ChannelDtmfReceived.digit`` is one key ("1"), sent once the key is released;
* ``PlaybackFinished.playback``: ``id`` (the ``playbackId`` we gave), ``target_uri``
  (``channel:<id>``), ``state`` (``done`` / ``failed``...);
* ``RecordingFinished.recording.name`` is the name we gave the recording;
* ``ChannelTransfer`` (a phone sent SIP REFER on a channel whose
  ``PJSIP_TRANSFER_HANDLING()`` is ``ari-only``) has no top-level ``channel``:
  ``referred_by.source_channel`` is the channel the REFER came in on,
  ``refer_to.requested_destination.destination`` the Refer-To user part; an attended one
  (``Refer-To: ...?Replaces=``) also has ``requested_destination.protocol_id`` (the
  Replaces Call-ID) and, when Asterisk found that dialog, ``refer_to.destination_channel``:
  our channel of the consultation call to be replaced. Asterisk answers the REFER 202 and
  sends no NOTIFY itself: we report with ``POST /channels/<source>/transfer_progress``,
  which Asterisk echoes as another ``ChannelTransfer`` carrying ``state``; and the same
  request may come twice. See ``tests/fixtures/ari/channel_transfer_*.json``.

An event type we do not handle becomes :class:`Unknown` (the dispatcher ignores it);
a missing or mistyped field becomes its empty value, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Channel:
    id: str
    name: str = ""
    state: str = ""  # Down | Ring | Ringing | Up | Busy ...
    caller_number: str = ""
    caller_name: str = ""
    app_name: str = ""  # the dialplan application it is in ("Stasis")
    app_data: str = ""  # its arguments ("pbx-crm,inbound,+74951110001")

    def stasis_args(self, app: str) -> tuple[str, ...] | None:
        """The arguments after the app name when the channel sits in ``Stasis(app, ...)``,
        else None. After a reconnect this is how a waiting caller is found again."""
        if self.app_name != "Stasis":
            return None
        parts = self.app_data.split(",")
        return tuple(parts[1:]) if parts[0] == app else None


@dataclass(frozen=True)
class Bridge:
    id: str
    channels: tuple[str, ...] = ()


def channel_from_json(data: Any) -> Channel:
    data = _dict(data)
    caller = _dict(data.get("caller"))
    dialplan = _dict(data.get("dialplan"))
    return Channel(id=_text(data.get("id")), name=_text(data.get("name")),
                   state=_text(data.get("state")), caller_number=_text(caller.get("number")),
                   caller_name=_text(caller.get("name")),
                   app_name=_text(dialplan.get("app_name")),
                   app_data=_text(dialplan.get("app_data")))


def bridge_from_json(data: Any) -> Bridge:
    data = _dict(data)
    members = data.get("channels")
    return Bridge(id=_text(data.get("id")),
                  channels=tuple(c for c in members if isinstance(c, str))
                  if isinstance(members, list) else ())


@dataclass(frozen=True)
class StasisStart:
    """A channel entered our application: a caller (``inbound``) or a leg we originated,
    which enters only once it is answered."""

    channel: Channel
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class StasisEnd:
    """A channel left our application (hung up, or continued into the dialplan)."""

    channel: Channel


@dataclass(frozen=True)
class ChannelDestroyed:
    channel: Channel
    cause: int | None = None  # Q.850
    cause_txt: str = ""


@dataclass(frozen=True)
class ChannelLeftBridge:
    channel: Channel
    bridge_id: str = ""


@dataclass(frozen=True)
class ChannelStateChange:
    channel: Channel


@dataclass(frozen=True)
class ChannelDtmf:
    """A key pressed on a channel in our application (``ChannelDtmfReceived``)."""

    channel: Channel
    digit: str = ""


@dataclass(frozen=True)
class PlaybackFinished:
    id: str
    target_uri: str = ""  # "channel:<id>"

    @property
    def channel_id(self) -> str:
        return self.target_uri.removeprefix("channel:") \
            if self.target_uri.startswith("channel:") else ""


@dataclass(frozen=True)
class RecordingFinished:
    name: str
    target_uri: str = ""  # "bridge:br-..."


@dataclass(frozen=True)
class ChannelTransfer:
    """A phone asked to transfer its call (SIP REFER), blind (``destination`` set) or
    attended (``replaced`` set: our channel of the phone's consultation call)."""

    source: str  # the channel the REFER came in on
    source_peer: str = ""  # the channel bridged with it (Asterisk's view)
    destination: str = ""  # the Refer-To user part ("102"), as the phone sent it
    attended: bool = False  # Refer-To carried Replaces (a consultation's dialog)
    replaced: str = ""  # attended: our channel of that dialog, if Asterisk found it
    replaced_peer: str = ""
    state: str = ""  # set on the echo of our own transfer_progress: not a request

    @property
    def is_request(self) -> bool:
        return not self.state and bool(self.source)


@dataclass(frozen=True)
class Unknown:
    """An event type pbx-crm does not handle (ChannelVarset, ChannelDialplan...)."""

    type: str
    channel: Channel | None = None


Event = Union[StasisStart, StasisEnd, ChannelDestroyed, ChannelLeftBridge, ChannelStateChange,
              ChannelDtmf, PlaybackFinished, RecordingFinished, ChannelTransfer, Unknown]


def _id(value: Any) -> str:
    return _text(_dict(value).get("id"))


def _transfer(data: dict) -> ChannelTransfer:
    refer_to = _dict(data.get("refer_to"))
    referred_by = _dict(data.get("referred_by"))
    wanted = _dict(refer_to.get("requested_destination"))
    return ChannelTransfer(
        source=_id(referred_by.get("source_channel")),
        source_peer=_id(referred_by.get("connected_channel")),
        destination=_text(wanted.get("destination")),
        attended=bool(_text(wanted.get("protocol_id"))),
        replaced=_id(refer_to.get("destination_channel")),
        replaced_peer=_id(refer_to.get("connected_channel")),
        state=_text(data.get("state")))


def parse_event(data: Any) -> Event:
    """One ARI event (the decoded JSON of one WebSocket frame) -> a typed event."""
    data = _dict(data)
    kind = _text(data.get("type"))
    channel = channel_from_json(data["channel"]) if isinstance(data.get("channel"), dict) else None
    if kind == "RecordingFinished":
        recording = _dict(data.get("recording"))
        return RecordingFinished(_text(recording.get("name")), _text(recording.get("target_uri")))
    if kind == "ChannelTransfer":
        return _transfer(data)
    if kind == "PlaybackFinished":
        playback = _dict(data.get("playback"))
        return PlaybackFinished(_text(playback.get("id")), _text(playback.get("target_uri")))
    if channel is None:
        return Unknown(kind)
    if kind == "StasisStart":
        args = data.get("args")
        return StasisStart(channel, tuple(a for a in args if isinstance(a, str))
                           if isinstance(args, list) else ())
    if kind == "StasisEnd":
        return StasisEnd(channel)
    if kind == "ChannelDestroyed":
        cause = data.get("cause")
        return ChannelDestroyed(channel, cause if isinstance(cause, int) else None,
                                _text(data.get("cause_txt")))
    if kind == "ChannelLeftBridge":
        return ChannelLeftBridge(channel, _text(_dict(data.get("bridge")).get("id")))
    if kind == "ChannelStateChange":
        return ChannelStateChange(channel)
    if kind == "ChannelDtmfReceived":
        return ChannelDtmf(channel, _text(data.get("digit")))
    return Unknown(kind, channel)

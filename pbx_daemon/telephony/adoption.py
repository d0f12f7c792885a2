"""Re-adoption: after a (re)connect, take over what an earlier daemon (or this one, before
the WebSocket dropped) left in Asterisk.

Asterisk keeps channels and bridges when our ARI WebSocket closes; only the Stasis
application's registration goes. So after a reconnect ``GET /bridges`` and
``GET /channels`` show:

* connected calls (a ``br-...`` bridge with both sides): watched, so that when one side
  hangs up the other is hung up too and the bridge destroyed; a bridge with one side
  left is ended at once: that side is hung up and the bridge destroyed;
* phone legs, click-to-call legs or desk-phone far sides nobody owns any more: stopped,
  so phones stop ringing;
* callers still waiting in ``Stasis(<app>,inbound,<dialled>)``: routed again; desk phones
  still waiting in ``Stasis(<app>,phone,<dialled>)``: their call is decided again.

Channels this daemon already knows (``known_channels()``) are left alone.
"""

from __future__ import annotations

from typing import Callable, Iterable

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from pbx_daemon.telephony import names
from pbx_daemon.telephony.ari.control import ignore_gone
from pbx_daemon.telephony.ari.messages import Bridge, Channel
from pbx_daemon.telephony.calls import causes

log = Logger(namespace="pbx_daemon.stasis")


class Adoption:
    """``list_bridges()`` / ``list_channels()`` -> Deferred list of :class:`Bridge` /
    :class:`Channel`; ``watch(bridge_id, channel_ids)``, ``destroy_bridge(bridge_id)``,
    ``hangup(channel_id, cause)``, ``stop(channel_id)`` act at once;
    ``reroute(channel, dialled)`` routes a waiting caller again, ``redial(channel,
    dialled)`` a waiting desk phone's call;
    ``known_channels()`` is every channel the daemon's calls own right now;
    ``ended(call_id)`` hears that an adopted call is over (its bridge ``br-<call id>``)."""

    def __init__(self, *, app: str, list_bridges: Callable[[], Deferred],
                 list_channels: Callable[[], Deferred],
                 watch: Callable[[str, list[str]], None],
                 destroy_bridge: Callable[[str], None],
                 hangup: Callable[[str, int], None], stop: Callable[[str], None],
                 reroute: Callable[[Channel, str | None], None],
                 known_channels: Callable[[], Iterable[str]],
                 redial: Callable[[Channel, str | None], None] | None = None,
                 ended: Callable[[str], None] | None = None):
        self.app = app
        self.list_bridges = list_bridges
        self.list_channels = list_channels
        self.watch = watch
        self.destroy_bridge = destroy_bridge
        self.hangup = hangup
        self.stop = stop
        self.reroute = reroute
        self.known_channels = known_channels
        self.redial = redial
        self.ended = ended or (lambda call_id: None)
        # Bridges found after a (re)connect that no call of ours owns: a daemon before us
        # connected them. channel id -> bridge id.
        self.adopted: dict[str, str] = {}
        self.eligible: Callable[[str], bool] = lambda channel_id: True
        self.sweeping = False

    def adopt(self, eligible: Callable[[str], bool] | None = None) -> Deferred:
        """Take over what Asterisk holds that no call of ours owns. ``eligible`` limits it
        to some channels (the periodic sweep: those unknown for a whole interval, so a call
        whose first event is still on its way is not taken for an orphan)."""
        self.sweeping = eligible is not None
        self.eligible = eligible or (lambda channel_id: True)
        d = self.list_bridges()
        d.addCallback(self._adopt_bridges)
        d.addCallback(lambda _: self.list_channels())
        d.addCallback(self._adopt_channels)
        d.addErrback(ignore_gone, "re-adopting calls")
        return d

    def owns(self, channel_id: str) -> bool:
        return channel_id in self.adopted

    def channel_gone(self, channel_id: str) -> None:
        """An adopted channel hung up or left its bridge: end the rest of its call."""
        bridge = self.adopted.pop(channel_id, None)
        if bridge is None:
            return
        for other, other_bridge in list(self.adopted.items()):
            if other_bridge == bridge:
                del self.adopted[other]
                self.hangup(other, causes.NORMAL)
        self.destroy_bridge(bridge)
        self.ended(names.call_of_bridge(bridge))

    def _known(self) -> set[str]:
        return set(self.known_channels()) | set(self.adopted)

    def _left_alone(self, known: set[str]) -> Callable[[str], bool]:
        return lambda channel_id: channel_id in known or not self.eligible(channel_id)

    def _adopt_bridges(self, bridges: list[Bridge]) -> None:
        known = self._known()
        left_alone = self._left_alone(known)
        for bridge in bridges:
            if not names.is_call_bridge(bridge.id):
                continue
            if self.sweeping and any(c in known for c in bridge.channels):
                continue  # a call of ours: a channel joining it is its business
            members = [c for c in bridge.channels if not left_alone(c)]
            if not members:
                continue
            for channel in members:
                self.adopted[channel] = bridge.id
            log.info("re-adopted connected call in {bridge} ({channels})", bridge=bridge.id,
                     channels=",".join(members))
            if len(members) < 2:
                # The other side already left while nobody was watching: hang up the one
                # still there (destroying the bridge alone would leave it in silence).
                self.hangup(members[0], causes.NORMAL)
                self.channel_gone(members[0])
                continue
            self.watch(bridge.id, members)

    def _adopt_channels(self, channels: list[Channel]) -> None:
        # GET /channels comes after GET /bridges: a side that hung up in between (before
        # the watch took effect) sends us nothing any more, so its call is ended here.
        present = {channel.id for channel in channels}
        for channel_id in [c for c in self.adopted if c not in present]:
            if channel_id in self.adopted:  # not already ended with the other side
                log.info("adopted channel {channel} is gone; ending its call", channel=channel_id)
                self.channel_gone(channel_id)
        left_alone = self._left_alone(self._known())
        for channel in channels:
            if left_alone(channel.id):
                continue
            args = channel.stasis_args(self.app)
            if names.is_click_to_call(channel.id):
                # A click-to-call leg an earlier daemon placed and nobody bridged.
                log.info("stopping orphaned click-to-call leg {channel}", channel=channel.id)
                self.stop(channel.id)
            elif names.is_peer_leg(channel.id) and channel.state != "Up":
                log.info("stopping orphaned desk-phone far side {channel}", channel=channel.id)
                self.stop(channel.id)
            elif args is not None and args[:1] == (names.ARG_PHONE,) and channel.state != "Up" \
                    and self.redial is not None:
                log.info("deciding waiting desk phone {channel} again", channel=channel.id)
                self.redial(channel, args[1] if len(args) > 1 else None)
            elif names.is_phone_leg(channel.id) and channel.state != "Up":
                log.info("stopping orphaned phone leg {channel}", channel=channel.id)
                self.stop(channel.id)
            elif args is not None and args[:1] == (names.ARG_INBOUND,) and channel.state != "Up":
                log.info("re-routing waiting caller {channel}", channel=channel.id)
                self.reroute(channel, args[1] if len(args) > 1 else None)

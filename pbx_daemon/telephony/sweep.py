"""The sweep: every few seconds, what Asterisk holds against what the daemon's calls hold.

Events can be lost (a WebSocket that dropped, a burst past Asterisk's limits) and commands
can fail for good (a hang-up whose retries ran out). Either way the daemon and Asterisk
disagree, and a disagreement costs a caller or a phone: a leg that rings on for a call
long over (a "ghost leg"), or a call held in memory whose channels are gone, which keeps
its phone marked busy. So, from one ``GET /channels`` each round:

* a channel a call of ours holds, absent from two listings in a row, is treated as gone
  (the ``ChannelDestroyed`` we never got): its call moves on as it would have, and a busy
  phone is free again. Two in a row: a leg being originated at the moment of the first
  listing is not there yet, and is by the second;
* a channel of our application (in ``Stasis(<app>)``, or one of the legs we originate,
  by its id) that no call of ours holds, present in two listings in a row, is taken over the
  way a reconnect does it (:class:`~.adoption.Adoption`): orphaned legs are hung up,
  waiting callers routed again, connected calls watched. Two in a row: a caller whose
  ``StasisStart`` is still on its way is not an orphan.

Pure bookkeeping over injected callables; the caller runs :meth:`Sweep.run` on a timer.
"""

from __future__ import annotations

from typing import Callable, Iterable

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from pbx_daemon.telephony import names
from pbx_daemon.telephony.ari.messages import Channel

log = Logger(namespace="pbx_daemon.stasis")

INTERVAL = 5.0  # seconds between rounds: a ghost leg rings at most ~2 rounds


class Sweep:
    """``list_channels()`` -> Deferred list of :class:`Channel`; ``known_channels()`` is
    every channel the daemon's calls hold; ``gone(channel_id)`` ends it as if Asterisk
    had said so; ``adopt(eligible)`` takes over the channels ``eligible`` accepts."""

    def __init__(self, *, app: str, list_channels: Callable[[], Deferred],
                 known_channels: Callable[[], Iterable[str]], gone: Callable[[str], None],
                 adopt: Callable[[Callable[[str], bool]], Deferred]):
        self.app = app
        self.list_channels = list_channels
        self.known_channels = known_channels
        self.gone = gone
        self.adopt = adopt
        self.missing: set[str] = set()  # ours, absent from the last listing
        self.strangers: set[str] = set()  # not ours, present in the last listing
        self.running = False
        self.ended = 0  # counters, for logs and metrics
        self.adopted = 0

    def run(self) -> Deferred | None:
        if self.running:
            return None  # the last round's listing is still on its way
        self.running = True
        held_before = set(self.known_channels())
        d = self.list_channels()
        d.addCallback(self._compare, held_before)

        def done(result):
            self.running = False
            return result

        d.addBoth(done)
        d.addErrback(lambda f: log.warn("sweep: listing channels failed: {error}",
                                        error=f.getErrorMessage()))
        return d

    def _compare(self, channels: list[Channel], held_before: set[str]) -> Deferred | None:
        present = {c.id for c in channels}
        # Held since before the listing was asked for, and not in it.
        missing = held_before - present
        for channel_id in sorted(missing & self.missing):
            if channel_id in set(self.known_channels()):
                log.warn("sweep: {channel} is gone from Asterisk but its call still held it; "
                         "ending it", channel=channel_id)
                self.ended += 1
                self.gone(channel_id)
        self.missing = missing
        # The rest of the PBX's channels (its own dialplan's calls) are none of our business.
        strangers = {c.id for c in channels if self._ours(c)} - set(self.known_channels())
        eligible = strangers & self.strangers
        self.strangers = strangers
        if not eligible:
            return None
        log.info("sweep: {n} channel(s) no call of ours holds: taking them over", n=len(eligible))
        self.adopted += len(eligible)
        return self.adopt(eligible.__contains__)

    def _ours(self, channel: Channel) -> bool:
        return channel.stasis_args(self.app) is not None or names.is_phone_leg(channel.id) \
            or names.is_peer_leg(channel.id) or names.is_click_to_call(channel.id)

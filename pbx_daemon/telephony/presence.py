"""Presence: which desk phones routing must not ring right now (issue 17).

Wire (ARI, Asterisk 22): ``GET /endpoints/PJSIP`` lists every PJSIP endpoint as
``{"technology": "PJSIP", "resource": "101", "state": "online", "channel_ids": [...]}``.
``state`` is ``offline`` when no contact of the endpoint's AOR is reachable: a registering
phone nobody registered (or whose registration expired), or a contact that qualify found
dead; ``online`` when a contact is reachable or its status is not known (a static contact
without qualify, as in the lab); ``unknown`` before Asterisk decided. ``channel_ids`` are
the channels of the endpoint now: every call the phone is on, ringing or talking, the ones
this daemon placed and the ones the dialplan did (an internal call).

Polled, not subscribed to: ``POST /applications/<app>/subscription?eventSource=endpoint:...``
forwards every event of every channel on those endpoints as well (each leg's state,
variables, dial progress), and under a burst of 100 callers the lab PBX stopped answering
ARI. One ``GET /endpoints/PJSIP`` a second (``POLL_INTERVAL``) is a few hundred bytes per
phone; a call placed less than a second before routing is not seen yet (it is rung, as
before). ``EndpointStateChange`` events, when they come, update the snapshot too.

:class:`Presence` keeps the snapshot (replaced on every listing: each ARI connection
and every ``POLL_INTERVAL``); :func:`unavailable` decides. Routing skips what it returns, without a delay:
a phone that cannot be reached is never rung and waited out.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping

from twisted.logger import Logger

log = Logger(namespace="pbx_daemon.presence")

TECH = "PJSIP"
POLL_INTERVAL = 1.0  # seconds between two listings
# Channels we saw end, kept to strike them from a listing that was asked for before they
# ended and answered after (a phone would look busy for up to a poll after its call).
GONE_REMEMBERED = 512


@dataclass(frozen=True)
class EndpointPresence:
    name: str
    state: str = "unknown"  # online | offline | unknown
    channel_ids: frozenset[str] = frozenset()

    @classmethod
    def from_ari(cls, data: Any) -> EndpointPresence | None:
        """An ARI ``Endpoint`` object -> its presence; None unless a PJSIP endpoint."""
        if not isinstance(data, dict) or data.get("technology") != TECH:
            return None
        name = data.get("resource")
        if not isinstance(name, str) or not name:
            return None
        state = data.get("state") if isinstance(data.get("state"), str) else "unknown"
        ids = data.get("channel_ids")
        channels = frozenset(c for c in ids if isinstance(c, str)) if isinstance(ids, list) else frozenset()
        return cls(name, state, channels)


def unavailable(snapshot: Mapping[str, EndpointPresence],
                own_ringing_legs: Iterable[str] = ()) -> frozenset[str]:
    """The endpoints routing skips: ``offline`` ones (not registered, or unreachable), and
    those with a channel other than a leg we are ringing ourselves (a phone already on a
    call, whoever placed it; our own ringing legs are left out so that a second caller
    still rings a phone that only rings). An endpoint not in the snapshot, ``online`` or
    ``unknown`` without a call is rung: when in doubt, ring."""
    own = set(own_ringing_legs)
    return frozenset(name for name, p in snapshot.items()
                     if p.state == "offline" or (p.channel_ids - own))


class Presence:
    """The daemon's snapshot of its phones, by endpoint name."""

    def __init__(self) -> None:
        self.endpoints: dict[str, EndpointPresence] = {}
        self._gone: deque[str] = deque(maxlen=GONE_REMEMBERED)

    def channel_gone(self, channel_id: str) -> None:
        """A channel of our application ended: its phone is free now, not a poll later
        (a client's second call right after the first must ring their manager again)."""
        self._gone.append(channel_id)
        for name, p in self.endpoints.items():
            if channel_id in p.channel_ids:
                self.endpoints[name] = replace(p, channel_ids=p.channel_ids - {channel_id})

    def _strike_gone(self, p: EndpointPresence) -> EndpointPresence:
        gone = p.channel_ids & set(self._gone)
        return replace(p, channel_ids=p.channel_ids - gone) if gone else p

    def replace(self, listed: Any) -> None:
        """The answer of ``GET /endpoints/PJSIP``."""
        found = (EndpointPresence.from_ari(e) for e in (listed if isinstance(listed, list) else []))
        before = self._offline()
        self.endpoints = {p.name: self._strike_gone(p) for p in found if p is not None}
        offline = self._offline()
        if offline != before:  # said once, not every second
            log.info("presence: {count} phones, offline: {offline}", count=len(self.endpoints),
                     offline=",".join(offline) or "none")

    def _offline(self) -> list[str] | None:
        return sorted(n for n, p in self.endpoints.items() if p.state == "offline") \
            if self.endpoints else None

    def update(self, endpoint: Any) -> None:
        """The ``endpoint`` of an ``EndpointStateChange`` event."""
        p = EndpointPresence.from_ari(endpoint)
        if p is None:
            return
        before = self.endpoints.get(p.name)
        self.endpoints[p.name] = p = self._strike_gone(p)
        if before is None or before.state != p.state:
            log.info("presence: {endpoint} is {state}", endpoint=p.name, state=p.state)

    def clear(self) -> None:
        """The ARI connection is gone: what we knew is stale, ring everyone."""
        self.endpoints = {}

    def unavailable(self, own_ringing_legs: Iterable[str] = ()) -> frozenset[str]:
        return unavailable(self.endpoints, own_ringing_legs)


def ari_presence(rest):
    """``list_endpoints()`` -> Deferred[list of ARI endpoints], over
    :class:`~pbx_daemon.telephony.ari.rest.AriRest`: one ``GET /endpoints/PJSIP``."""
    return lambda: rest.request("GET", f"/endpoints/{TECH}")

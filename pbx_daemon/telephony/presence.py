"""Presence: which desk phones routing must not ring right now (issue 17).

Wire (ARI, Asterisk 22): ``GET /endpoints/PJSIP`` lists every PJSIP endpoint as
``{"technology": "PJSIP", "resource": "101", "state": "online", "channel_ids": [...]}``.
``state`` is ``offline`` when no contact of the endpoint's AOR is reachable: a registering
phone nobody registered (or whose registration expired), or a contact that qualify found
dead; ``online`` when a contact is reachable or its status is not known (a static contact
without qualify, as in the lab); ``unknown`` before Asterisk decided. ``channel_ids`` are
the channels of the endpoint now: every call the phone is on, ringing or talking, the ones
this daemon placed and the ones the dialplan did (an internal call). After
``POST /applications/<app>/subscription?eventSource=endpoint:PJSIP/101,endpoint:PJSIP/102``
Asterisk sends ``EndpointStateChange`` with the same ``endpoint`` object whenever its
snapshot changes (state, or a channel added or gone). The phones are subscribed one by one
(not ``endpoint:PJSIP``): the trunk's snapshot changes with every caller. A phone added
later is subscribed on the next refresh (each ARI connection, each phones sync).

:class:`Presence` keeps the snapshot (replaced on every ARI connection, updated by
events); :func:`unavailable` decides. Routing skips what it returns, without a delay:
a phone that cannot be reached is never rung and waited out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from twisted.logger import Logger

log = Logger(namespace="pbx_daemon.presence")

TECH = "PJSIP"
EVENT_SOURCE = f"endpoint:{TECH}"


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

    def replace(self, listed: Any) -> None:
        """The answer of ``GET /endpoints/PJSIP`` (a fresh ARI connection)."""
        found = (EndpointPresence.from_ari(e) for e in (listed if isinstance(listed, list) else []))
        self.endpoints = {p.name: p for p in found if p is not None}
        offline = sorted(n for n, p in self.endpoints.items() if p.state == "offline")
        log.info("presence: {count} phones, offline: {offline}", count=len(self.endpoints),
                 offline=",".join(offline) or "none")

    def update(self, endpoint: Any) -> None:
        """The ``endpoint`` of an ``EndpointStateChange`` event."""
        p = EndpointPresence.from_ari(endpoint)
        if p is None:
            return
        before = self.endpoints.get(p.name)
        self.endpoints[p.name] = p
        if before is None or before.state != p.state:
            log.info("presence: {endpoint} is {state}", endpoint=p.name, state=p.state)

    def clear(self) -> None:
        """The ARI connection is gone: what we knew is stale, ring everyone."""
        self.endpoints = {}

    def unavailable(self, own_ringing_legs: Iterable[str] = ()) -> frozenset[str]:
        return unavailable(self.endpoints, own_ringing_legs)


def ari_presence(rest, app: str, skip: frozenset[str] = frozenset()):
    """``list_endpoints()`` -> Deferred[list of ARI endpoints], over
    :class:`~pbx_daemon.telephony.ari.rest.AriRest`: lists the PJSIP endpoints, subscribes
    ``app`` to each one's events except ``skip`` (the trunk: its snapshot lists every
    caller's channel and changes with each), then lists them again, so no change falls
    between the first listing and the subscription."""
    def list_endpoints():
        def subscribe(listed):
            names = sorted({p.name for p in map(EndpointPresence.from_ari, listed or [])
                            if p is not None and p.name not in skip})
            if not names:
                return None
            return rest.request("POST", f"/applications/{app}/subscription",
                                {"eventSource": ",".join(f"{EVENT_SOURCE}/{n}" for n in names)})

        d = rest.request("GET", f"/endpoints/{TECH}")
        d.addCallback(subscribe)
        d.addCallback(lambda _: rest.request("GET", f"/endpoints/{TECH}"))
        return d
    return list_endpoints

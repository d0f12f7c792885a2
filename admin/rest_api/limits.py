"""Rate limits of the REST API: token buckets keyed by a string (a token's id, a client
address), timed by an injected clock (anything with ``seconds()``: the reactor when
served, a ``twisted.internet.task.Clock`` in tests). No Flask here: :mod:`admin.rest_api.http`
asks, and answers 429 with ``Retry-After`` when a decision says no.

A bucket holds up to ``burst`` requests and refills at ``per_minute / 60`` a second; a
request takes one. :meth:`RateLimiter.take` spends (a request made), :meth:`RateLimiter.check`
only looks (may this key go on at all?). A decision's ``retry_after`` is the seconds until
the key's next request would be allowed: 0 while a whole request is left after this one.

==================================  =======  ==============================================
the key's bucket                    answer   then
==================================  =======  ==============================================
the limiter is off (per_minute 0)   allowed  nothing remembered, retry_after 0
never seen (or forgotten)           allowed  as a full bucket: ``burst - 1`` left
n >= 1 requests left                allowed  ``n - 1`` left (take), ``n`` (check)
less than one request left          refused  nothing spent; retry_after: until it has one
                                             (``60 / per_minute`` s per request)
the clock went back                 as is    no refill until it is past the key's last
                                             request again (never a free burst)
more than ``max_keys`` keys         --       the least recently spending key is forgotten
                                             (it starts again full: memory stays bounded)
==================================  =======  ==============================================

In-process (one admin process serves the company); thread-safe (the admin is served by
Twisted's WSGI thread pool).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

MAX_KEYS = 10000


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: float  # seconds until the next request of the key would be allowed
    remaining: int  # whole requests left after this one
    limit: int  # the bucket's size (burst)


class RateLimiter:
    """Token buckets of ``burst`` (default: ``per_minute``) refilled at ``per_minute`` a
    minute, one per key, at most ``max_keys`` remembered (least recently spending
    forgotten first). ``per_minute`` 0 turns it off: every request is allowed."""

    def __init__(self, clock, *, per_minute: int, burst: int | None = None, max_keys: int = MAX_KEYS):
        if per_minute < 0 or (burst is not None and burst < 1) or max_keys < 1:
            raise ValueError("per_minute >= 0, burst >= 1 and max_keys >= 1")
        self.clock = clock
        self.per_minute = per_minute
        self.burst = burst if burst is not None else per_minute
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (level, at)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str) -> Decision:
        """Spend one request of ``key``'s bucket if it has one."""
        return self._decide(key, spend=True)

    def check(self, key: str) -> Decision:
        """Whether ``key`` has a request left, spending nothing."""
        return self._decide(key, spend=False)

    def _decide(self, key: str, spend: bool) -> Decision:
        if not self.enabled:
            return Decision(True, 0.0, 0, 0)
        now = self.clock.seconds()
        # A bucket's level in 60ths of a request: a second refills ``per_minute`` of them,
        # exactly for whole (and binary-fraction) seconds, so no request is lost to rounding.
        full, cost = self.burst * 60, 60
        with self._lock:
            level, at = self._buckets.get(key, (full, now))
            level = min(full, level + max(now - at, 0.0) * self.per_minute)
            at = max(at, now)  # a clock gone back refills nothing until it is past ``at``
            if level < cost:
                if key in self._buckets:
                    self._buckets[key] = (level, at)
                return Decision(False, (cost - level) / self.per_minute, 0, self.burst)
            if spend:
                level -= cost
                self._buckets[key] = (level, at)
                self._buckets.move_to_end(key)
                while len(self._buckets) > self.max_keys:
                    self._buckets.popitem(last=False)
            retry_after = 0.0 if level >= cost else (cost - level) / self.per_minute
            return Decision(True, retry_after, int(level // cost), self.burst)

"""Logging in to the admin: throttled per login name and per client address, the same
work for a name that does not exist as for one that does, and only same-site redirects
afterwards.

Decisions only: :func:`admin.app.create_app` wires these into the login page with the
process's clock (anything with ``seconds()``: the reactor when served, a
``twisted.internet.task.Clock`` in tests).
"""

from __future__ import annotations

import functools
import ipaddress
import secrets
import threading
import time
from collections import OrderedDict, deque
from urllib.parse import urlsplit

from werkzeug.security import check_password_hash, generate_password_hash


def client_key(address: str | None) -> str:
    """The key a client address is throttled by: an IPv4 address as it is; an IPv6 address
    by its /64, which one host or home line gets whole (counting its 2**64 addresses one by
    one would let it try without end); anything unparsable as itself (``-``: none)."""
    if not address:
        return "-"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if ip.version == 4:
        return str(ip)
    if ip.ipv4_mapped is not None:  # IPv4 seen through an IPv6 socket
        return str(ip.ipv4_mapped)
    return str(ipaddress.ip_network(f"{ip}/64", strict=False))


class WallClock:
    """``seconds()`` from the system clock, for an app built without a reactor."""

    def seconds(self) -> float:
        return time.time()


class LoginThrottle:
    """Failed logins counted per key (a login name, a client address) over a sliding
    window of ``lockout_seconds``; a key with ``max_failures`` in it waits until the oldest
    leaves the window. In-process (one admin process serves the company); thread-safe
    (Flask runs in a thread pool). At most ``max_keys`` keys are remembered, the least
    recently failed forgotten first, so a flood of made-up names cannot grow it."""

    def __init__(self, clock, *, max_failures: int, lockout_seconds: float, max_keys: int = 10000):
        self.clock = clock
        self.max_failures = max_failures
        self.lockout_seconds = lockout_seconds
        self.max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _live(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.lockout_seconds:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def wait_seconds(self, key: str) -> float:
        """0 when ``key`` may try now, else how long until it may."""
        now = self.clock.seconds()
        with self._lock:
            times = self._live(key, now)
            if times is None or len(times) < self.max_failures:
                return 0.0
            return max(times[-self.max_failures] + self.lockout_seconds - now, 0.0)

    def failed(self, key: str) -> None:
        now = self.clock.seconds()
        with self._lock:
            times = self._live(key, now) or deque(maxlen=self.max_failures)
            times.append(now)
            self._failures[key] = times
            self._failures.move_to_end(key)
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)


class PasswordCheck:
    """One password hash check per attempt, whoever the login names: a name that does not
    exist (or an inactive employee, or one without a password) is checked against a dummy
    hash of the same kind, so the response time does not tell names apart."""

    def check(self, password_hash: str | None, password: str) -> bool:
        dummy = _dummy_hash()  # made at the first attempt, whatever name it gives
        if not password_hash:
            check_password_hash(dummy, password)
            return False
        return check_password_hash(password_hash, password)


@functools.cache
def _dummy_hash() -> str:
    """One per process, not one per app: making it costs what a check does (~0.2 s with
    werkzeug's scrypt)."""
    return generate_password_hash(secrets.token_urlsafe(24))


def safe_next(target: str | None) -> str | None:
    """``target`` when it is a path on this site (``/admin/...``), else None: never a
    scheme, a host, ``//host`` or ``/\\host`` (browsers read a backslash as a slash), nor
    control characters."""
    if not target or not target.startswith("/") or len(target) > 2000:
        return None
    if target.startswith("//") or "\\" in target:
        return None
    if any(ord(c) < 0x20 or ord(c) == 0x7f for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target

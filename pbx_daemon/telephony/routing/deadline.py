"""Look up, then plan, under a deadline: routing in the daemon (Twisted).

The Stasis application and FastAGI both route this way. The lookup runs off the reactor
(``lookup`` returns a Deferred); past ``deadline`` seconds it is cancelled and the
Deferred fails with ``TimeoutError``, and the caller of this rings a fallback group
instead: a slow database must never leave a call ringing nobody. The process AGI script
does the same under SIGALRM (``agi_scripts/route.py``).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IReactorTime

from pbx_daemon.telephony.routing.policy import Caller, RoutePlan, StepTimeouts, plan_route

# lookup(caller_raw, dialled, busy_endpoints, now) -> Deferred[(Caller, Directory)]
Lookup = Callable[[str | None, str | None, frozenset[str], datetime], Deferred]


def plan_within(lookup: Lookup, clock: IReactorTime, deadline: float, timeouts: StepTimeouts,
                caller_raw: str | None, dialled: str | None,
                busy: frozenset[str]) -> Deferred:
    """Deferred ``(Caller, RoutePlan)``; the time of day is read once, from ``clock``."""
    now = datetime.fromtimestamp(clock.seconds(), timezone.utc)
    d = maybeDeferred(lookup, caller_raw, dialled, busy, now)
    d.addTimeout(deadline, clock)

    def plan(found) -> tuple[Caller, RoutePlan]:
        caller, directory = found
        return caller, plan_route(caller, directory, timeouts)

    d.addCallback(plan)
    return d

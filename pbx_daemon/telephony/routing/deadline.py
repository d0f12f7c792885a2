"""Look up, then plan, under a deadline: routing in the daemon (Twisted).

The Stasis application and FastAGI both route this way. The lookup runs off the reactor
(``lookup`` returns a Deferred); past ``deadline`` seconds it is cancelled and the
Deferred fails with ``TimeoutError``, and the caller of this rings a fallback group
instead: a slow database must never leave a call ringing nobody. The process AGI script
does the same under SIGALRM (``agi_scripts/route.py``).

``observe(seconds, result)``, when given, hears how long each decision took on ``clock``
(``result``: ``planned``, ``timeout`` or ``error``): the daemon's routing histogram.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

from twisted.internet.defer import Deferred, TimeoutError, maybeDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from pbx_daemon.telephony.routing.policy import Caller, RoutePlan, StepTimeouts, plan_route

# lookup(caller_raw, dialled, busy_endpoints, now) -> Deferred[(Caller, Directory)]
Lookup = Callable[[str | None, str | None, frozenset[str], datetime], Deferred]
# observe(seconds, result)
Observe = Callable[[float, str], None]


def plan_within(lookup: Lookup, clock: IReactorTime, deadline: float, timeouts: StepTimeouts,
                caller_raw: str | None, dialled: str | None,
                busy: frozenset[str], observe: Observe | None = None) -> Deferred:
    """Deferred ``(Caller, RoutePlan)``; the time of day is read once, from ``clock``."""
    started = clock.seconds()
    now = datetime.fromtimestamp(started, timezone.utc)
    d = maybeDeferred(lookup, caller_raw, dialled, busy, now)
    d.addTimeout(deadline, clock)

    def plan(found) -> tuple[Caller, RoutePlan]:
        caller, directory = found
        return caller, plan_route(caller, directory, timeouts)

    d.addCallback(plan)
    if observe is not None:
        def measured(result):
            if not isinstance(result, Failure):
                outcome = "planned"
            else:
                outcome = "timeout" if result.check(TimeoutError) else "error"
            observe(clock.seconds() - started, outcome)
            return result

        d.addBoth(measured)
    return d

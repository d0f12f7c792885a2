"""Fetch first: everything routing decides on, read in one session.

Blocking (SQL): the daemon runs it in its lookup thread pool, the process AGI script
inline under its SIGALRM deadline. Then :func:`~.policy.plan_route` decides. No Twisted
here: the AGI script runs where Twisted is not installed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from pbx_daemon.telephony.routing.directory import load_directory, lookup_caller
from pbx_daemon.telephony.routing.policy import Caller, Directory


def look_up(session: Session, caller_raw: str | None, dialled: str | None, now: datetime,
            region: str, busy: frozenset[str] = frozenset(),
            tz: str = "UTC") -> tuple[Caller, Directory]:
    """The caller as the CRM knows them, and the company's directory at ``now`` (who is on
    duty, by their schedules in ``tz``) with ``busy`` endpoints (on a call right now, or
    not reachable) marked so routing skips them."""
    return (lookup_caller(session, caller_raw, dialled, now, region),
            load_directory(session, busy, now, tz))

"""Fetch first: everything routing decides on, read in one session.

Blocking (SQL): the daemon runs it in its lookup thread pool, the process AGI script
inline under its SIGALRM deadline. Then :func:`~.policy.plan_route` decides. No Twisted
here: the AGI script runs where Twisted is not installed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from dataclasses import replace

from pbx_daemon.telephony.routing.directory import load_directory, lookup_caller
from pbx_daemon.telephony.routing.policy import Caller, Directory
from pbx_daemon.telephony.routing.schedule import after_hours


def look_up(session: Session, caller_raw: str | None, dialled: str | None, now: datetime,
            region: str, busy: frozenset[str] = frozenset(),
            tz: str = "UTC", *, hours: bool = False) -> tuple[Caller, Directory]:
    """The caller as the CRM knows them, and the company's directory at ``now`` (who is on
    duty, by their schedules in ``tz``) with ``busy`` endpoints (on a call right now, or
    not reachable) marked so routing skips them.

    With ``hours`` (the daemon) the dialled number's working hours are checked too, and a
    closed department's caller carries :class:`~.schedule.AfterHours`. Without it (the
    process AGI fallback, when the daemon is down) hours are not checked: the call rings
    the plan's phones and the fallback group as it always did, since nobody could record
    a voicemail there."""
    caller = lookup_caller(session, caller_raw, dialled, now, region)
    if hours and not caller.blocked:
        closed = after_hours(session, caller.tracking_number_id, caller.department_id, now, tz)
        if closed is not None:
            caller = replace(caller, after_hours=closed)
    return caller, load_directory(session, busy, now, tz)

"""Which old webhook events may be deleted (pure: plain values in, plain values out).

The outbox (``webhook_events`` and their ``webhook_deliveries``) would grow forever; once an
hour (:data:`PRUNE_EVERY`) the daemon deletes the events older than ``webhooks.keep_days``
that nobody will send again, their deliveries with them (:func:`~.store.prune`). What is
still to be sent is never deleted, however old: a delivery ``pending`` for a deactivated
webhook waits until it is active again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable

PRUNE_EVERY = 3600.0  # seconds between two prunes
PRUNE_BATCH = 1000  # events deleted in one transaction
FINAL = frozenset({"delivered", "failed"})  # a delivery nobody sends again (unless "Retry now")


@dataclass(frozen=True)
class OldEvent:
    """An event as the decision needs it: when it was written, whether the sender has
    fanned it out, and the status of each of its deliveries."""

    event_id: int
    created_at: datetime
    fanned_out: bool
    statuses: tuple[str, ...] = ()


def cutoff(now: datetime, keep_days: int) -> datetime | None:
    """Events written before this may go; None: ``keep_days`` is 0, all are kept."""
    return None if keep_days <= 0 else now - timedelta(days=keep_days)


def may_go(event: OldEvent, before: datetime | None) -> bool:
    """Whether ``event`` may be deleted, ``before`` being :func:`cutoff`:

    ==========================================================  ======
    the event                                                   goes?
    ==========================================================  ======
    keep_days is 0 (``before`` is None)                         no
    written at ``before`` or later                              no
    not fanned out yet (the sender has not seen it)             no
    a delivery pending (not tried yet, or retrying)             no
    older, fanned out, every delivery delivered or failed       yes
    older, fanned out, no delivery (no webhook wanted it)       yes
    ==========================================================  ======
    """
    return (before is not None and event.created_at < before and event.fanned_out
            and all(status in FINAL for status in event.statuses))


def to_delete(events: Iterable[OldEvent], before: datetime | None) -> list[int]:
    """The ids of the ``events`` that :func:`may_go`, in id order."""
    return sorted(e.event_id for e in events if may_go(e, before))


def prune_due(last: float | None, now: float, every: float = PRUNE_EVERY) -> bool:
    """Whether to prune now (clock seconds): never yet, or ``every`` seconds since ``last``
    (a clock set back counts as time passed: the next prune is not put off for days)."""
    return last is None or now - last >= every or now < last

"""The line of callers waiting because every phone of their department was busy. Pure.

* A caller joins at the end; their **position** is counted among the callers waiting for
  the same department (1: next).
* When phones are free, each goes to the **longest-waiting** caller who may take it (a
  phone of their department's hold step); a caller gets at most one phone, a phone at
  most one caller. Someone who joined later never overtakes someone earlier for the same
  phone.
* How long a caller may wait is their call's own timer
  (:class:`~.inbound.InboundCall`); who leaves the line (timed out, hung up, connected)
  is simply no longer passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence


@dataclass(frozen=True)
class Waiter:
    call_id: str
    department_id: int | None
    endpoints: tuple[str, ...]  # the phones that may take this caller


def position(line: Sequence[Waiter], call_id: str) -> int | None:
    """1-based place of ``call_id`` among the callers of its department; None if absent."""
    me = next((w for w in line if w.call_id == call_id), None)
    if me is None:
        return None
    ahead = 0
    for w in line:
        if w.call_id == call_id:
            return ahead + 1
        if w.department_id == me.department_id:
            ahead += 1
    return None


def assign(line: Sequence[Waiter], busy: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """``(call id, endpoint)`` for every waiting caller who gets a phone now, first come
    first served; a caller's phones are tried in their hold step's order."""
    taken = set(busy)
    given = []
    for w in line:
        endpoint = next((e for e in w.endpoints if e not in taken), None)
        if endpoint is not None:
            taken.add(endpoint)
            given.append((w.call_id, endpoint))
    return tuple(given)

"""Helpers for the bulk runs (a 100,000-row file read, checked and written at once)."""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for a bulk run. Such a run allocates millions
    of objects that live until it ends (rows, cards, the plan), and the collector kept
    walking them all: a third of a 100,000-row client import's time
    (``bench/client_import.py``). Reference counting still frees what the run drops; the
    collector is back on after, unless something else had turned it off."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()

"""Stopping is bounded: a thread pool whose worker is stuck (a database call waiting for a
lock) does not hold the daemon's SIGTERM past its grace; an idle pool stops at once."""

from __future__ import annotations

import threading

from twisted.internet.task import Clock
from twisted.python.threadpool import ThreadPool

from pbx_daemon.service import ThreadPoolService


def test_a_stuck_worker_does_not_hold_the_stop_past_the_grace():
    clock, release, entered = Clock(), threading.Event(), threading.Event()
    pool = ThreadPool(minthreads=1, maxthreads=1, name="store")
    service = ThreadPoolService(pool, clock, grace=1.5)
    service.startService()

    def stuck():
        entered.set()
        release.wait(10)

    pool.callInThread(stuck)
    assert entered.wait(5)
    assert all(t.daemon for t in pool.threads)  # never keeps the process alive
    stopped = []
    service.stopService().addCallback(stopped.append)
    clock.advance(1.0)
    assert stopped == []
    for _ in range(20):
        clock.advance(0.05)
    assert stopped == [None]
    release.set()
    for thread in pool.threads:
        thread.join(5)


def test_an_idle_pool_stops_without_waiting_out_the_grace():
    clock = Clock()
    pool = ThreadPool(minthreads=1, maxthreads=1, name="lookup")
    service = ThreadPoolService(pool, clock, grace=1.5)
    service.startService()
    stopped = []
    d = service.stopService()
    d.addCallback(stopped.append)
    service.stopper.join(5)  # joins the idle worker at once
    clock.advance(0.05)
    assert stopped == [None]


def test_the_warm_up_looks_up_a_number_nobody_has_once_at_start_and_only_logs_a_failure():
    from twisted.internet.defer import fail, succeed
    from twisted.internet.task import Clock

    from pbx_daemon.service import WARM_UP_NUMBER, _warm_up

    asked = []

    def lookup(caller, dialled, busy, now):
        asked.append((caller, busy, now.timestamp()))
        return succeed(None) if len(asked) == 1 else fail(RuntimeError("database away"))

    clock = Clock()
    clock.advance(1_700_000_000)
    service = _warm_up(lookup, clock)
    assert asked == []
    service.startService()
    assert asked == [(WARM_UP_NUMBER, frozenset(), 1_700_000_000)]
    service.stopService()
    _warm_up(lookup, clock).startService()  # a failed warm-up is no unhandled error
    assert len(asked) == 2

"""The daemon's periodic reconcile as a Twisted service, on a thread of its own.

Not the store's thread: a first run over a long CEL log takes seconds to minutes, and the
calls being routed meanwhile must not queue behind it (with SQLite the two writers take
turns under the busy timeout, :func:`pbx_daemon.db.engine_options`). Stopping sets the
run's stop flag before anything waits for it: the run returns after the batch it is
writing (:class:`~pbx_daemon.telephony.reconcile.Reconciler`), so SIGTERM is never held
up by a reconcile, and what it wrote is whole.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from pbx_daemon.telephony.reconcile import Reconciler, Summary

log = Logger(namespace="pbx_daemon.reconcile")


class ReconcileService(Service):
    """Run ``reconciler`` every ``interval`` seconds (0: once, at start) through
    ``to_thread(fn) -> Deferred``; ``live_call_ids()`` (read on the reactor thread just
    before each run) names the calls the daemon holds. ``on_stop`` runs once the last run
    is over (the daemon stops its thread pool there)."""

    def __init__(self, clock: IReactorTime, reconciler: Reconciler, *, interval: int,
                 live_call_ids: Callable[[], frozenset[str]],
                 to_thread: Callable[[Callable[[], Summary]], Deferred],
                 on_start: Callable[[], None] = lambda: None,
                 on_stop: Callable[[], None] = lambda: None):
        self.clock = clock
        self.reconciler = reconciler
        self.interval = interval
        self.live_call_ids = live_call_ids
        self.to_thread = to_thread
        self.on_start = on_start
        self.on_stop = on_stop
        self.stopping = threading.Event()
        self._loop: LoopingCall | None = None
        self._running: Deferred | None = None
        self.runs = 0  # for metrics: runs that finished,
        self.last_success: float | None = None  # and when the last one did (clock seconds)

    def startService(self):
        super().startService()
        self.stopping.clear()
        self.on_start()
        if self.interval > 0:
            self._loop = LoopingCall(self.run_once)
            self._loop.clock = self.clock
            self._loop.start(self.interval, now=True)
        else:
            self.run_once()

    def run_once(self) -> Deferred | None:
        """Start a run unless one is going (then its Deferred) or the service stops."""
        if self._running is not None:
            return self._running
        if self.stopping.is_set():
            return None
        if not Path(self.reconciler.cel_log).is_file():
            log.warn("no CEL log at {path}: cannot reconcile", path=str(self.reconciler.cel_log))
            return None
        now = self.clock.seconds()
        live = self.live_call_ids()
        d = self.to_thread(lambda: self.reconciler.run(now=now, live_call_ids=live,
                                                       should_stop=self.stopping.is_set))
        self._running = d
        d.addBoth(self._finished)
        d.addCallback(self._succeeded)
        d.addCallback(_report)
        d.addErrback(lambda f: log.failure("reconciling from CEL", f))
        return d

    def _finished(self, result):
        self._running = None
        return result

    def _succeeded(self, summary: Summary) -> Summary:
        self.runs += 1
        if not summary.stopped:  # cut short by a stop: not up to date
            self.last_success = self.clock.seconds()
        return summary

    def stopService(self):
        super().stopService()
        self.stopping.set()
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        if self._running is None:
            self.on_stop()
            return succeed(None)
        over = Deferred()

        def done(result):
            over.callback(None)
            return result

        self._running.addBoth(done)
        over.addCallback(lambda _: self.on_stop())
        return over


def _report(summary: Summary) -> Summary:
    if summary.stored:
        log.info("reconciled {stored} calls from CEL ({answered} answered, {missed} missed, "
                 "{completed} of them completed rows left in progress)", stored=summary.stored,
                 answered=summary.answered, missed=summary.missed, completed=summary.completed)
    if summary.old:
        log.info("reconcile: {old} calls in CEL ended before this database's first reconcile "
                 "horizon: not imported", old=summary.old)
    if summary.stopped:
        log.info("reconcile stopped early (the daemon is stopping); the next start goes on "
                 "from where it stopped")
    return summary

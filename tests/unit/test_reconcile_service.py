"""The daemon's reconcile service: runs on the clock, one run at a time, with the calls
the daemon holds; stopping sets the run's stop flag before it waits for the run."""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from pbx_daemon.telephony.reconcile import EMPTY
from pbx_daemon.telephony.reconcile_service import ReconcileService


class FakeReconciler:
    def __init__(self, cel_log):
        self.cel_log = cel_log
        self.runs = []

    def run(self, *, now, live_call_ids, should_stop):
        self.runs.append((now, live_call_ids, should_stop))
        return EMPTY


class Threads:
    """``to_thread``: keeps each job until the test runs it, as a thread would later."""

    def __init__(self):
        self.jobs: list[tuple] = []

    def __call__(self, fn):
        d = Deferred()
        self.jobs.append((fn, d))
        return d

    def finish(self):
        fn, d = self.jobs.pop(0)
        d.callback(fn())


def service(tmp_path, clock, threads, interval=60, live=frozenset({"pbx-1.1"})):
    cel = tmp_path / "pbx-crm.jsonl"
    cel.write_text("")
    events = []
    svc = ReconcileService(clock, FakeReconciler(cel), interval=interval,
                           live_call_ids=lambda: live, to_thread=threads,
                           on_start=lambda: events.append("pool started"),
                           on_stop=lambda: events.append("pool stopped"))
    return svc, events


def test_runs_at_start_then_every_interval_with_the_live_calls(tmp_path):
    clock, threads = Clock(), Threads()
    svc, events = service(tmp_path, clock, threads)
    clock.advance(1000)
    svc.startService()
    assert events == ["pool started"] and len(threads.jobs) == 1
    threads.finish()
    clock.advance(60)
    threads.finish()
    assert [(now, live) for now, live, _ in svc.reconciler.runs] == \
        [(1000, frozenset({"pbx-1.1"})), (1060, frozenset({"pbx-1.1"}))]


def test_a_run_still_going_is_not_started_twice(tmp_path):
    clock, threads = Clock(), Threads()
    svc, _ = service(tmp_path, clock, threads)
    svc.startService()
    first = svc.run_once()
    assert svc.run_once() is first and len(threads.jobs) == 1


def test_stopping_sets_the_flag_at_once_and_waits_for_the_run(tmp_path):
    clock, threads = Clock(), Threads()
    svc, events = service(tmp_path, clock, threads)
    svc.startService()
    stopped = svc.stopService()
    fired = []
    stopped.addCallback(fired.append)
    assert svc.stopping.is_set() and fired == [] and events == ["pool started"]
    threads.finish()  # the run sees the flag and returns after its batch
    assert fired == [None] and events == ["pool started", "pool stopped"]
    assert svc.reconciler.runs[0][2]() is True  # what the run's should_stop said
    assert clock.getDelayedCalls() == []


def test_stopping_while_idle_stops_at_once_and_runs_nothing_more(tmp_path):
    clock, threads = Clock(), Threads()
    svc, events = service(tmp_path, clock, threads)
    svc.startService()
    threads.finish()
    fired = []
    svc.stopService().addCallback(fired.append)
    assert fired == [None] and events[-1] == "pool stopped"
    assert svc.run_once() is None and threads.jobs == []
    assert clock.getDelayedCalls() == []


def test_no_cel_log_is_said_and_nothing_runs(tmp_path):
    clock, threads = Clock(), Threads()
    svc, _ = service(tmp_path, clock, threads, interval=0)
    svc.reconciler.cel_log = tmp_path / "none.jsonl"
    svc.startService()
    assert threads.jobs == []

"""The store's write queue (outputs/store.py WriteQueue), with a Clock: writes land in
order, whatever queued meanwhile committed together; while the database is away they wait
and are retried until it is back, nothing dropped; a write that is wrong (not the
database's fault) is dropped alone, the writes batched with it written all the same."""

from __future__ import annotations

from sqlalchemy import exc as sa_exc
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock

from pbx_daemon.telephony.outputs.store import BACKLOG_MAX, WriteQueue, transient

LOCKED = sa_exc.OperationalError("UPDATE calls", {}, Exception("database is locked"))
BROKEN = sa_exc.IntegrityError("INSERT calls", {}, Exception("UNIQUE constraint failed"))


class Database:
    """Runs jobs at once, failing the first ``down`` attempts with ``error``."""

    def __init__(self, down=0, error=LOCKED):
        self.down = down
        self.error = error
        self.done = []

    def run(self, job):
        if self.down:
            self.down -= 1
            return fail(self.error)
        results = job()
        self.done.extend(results)
        return succeed(results)


class SlowDatabase:
    """Holds each batch until the test lets it through; a job raising fails its batch,
    which (as a transaction) then writes nothing."""

    def __init__(self):
        self.batches = []  # (jobs' results or the error, Deferred)
        self.done = []

    def run(self, job):
        d = Deferred()
        self.batches.append((job, d))
        return d

    def finish_next(self):
        job, d = self.batches.pop(0)
        try:
            results = job()
        except Exception as e:
            d.errback(e)
            return
        self.done.extend(results)
        d.callback(results)


def combine(jobs):
    return lambda: [job() for job in jobs]


def broken():
    raise BROKEN


def test_writes_wait_for_the_database_and_land_in_order():
    clock, db = Clock(), Database(down=3)
    queue = WriteQueue(db.run, clock)
    results = [queue.put("call", "c1", lambda n=n: n) for n in range(4)]
    assert db.done == [] and len(queue.jobs) == 4
    clock.advance(0.2)
    clock.advance(0.4)
    assert db.done == []
    clock.advance(0.8)  # the database is back
    assert db.done == [0, 1, 2, 3] and not queue.jobs
    fired = []
    for d in results:
        d.addCallback(fired.append)
    assert fired == [0, 1, 2, 3] and queue.retries == 3
    assert not clock.getDelayedCalls()


def test_a_wrong_write_is_dropped_alone():
    clock, db = Clock(), Database(down=1, error=BROKEN)
    queue = WriteQueue(db.run, clock)
    first = queue.put("call", "c1", lambda: "never")
    queue.put("leg", "c1", lambda: "leg")
    out = []
    first.addCallback(out.append)
    assert out == [None] and db.done == ["leg"] and queue.retries == 0


def test_the_backoff_is_capped_and_the_queue_bounded():
    clock, db = Clock(), Database(down=1000)
    queue = WriteQueue(db.run, clock)
    queue.put("call", "c1", lambda: 1)
    delays = []
    for _ in range(8):
        (call,) = clock.getDelayedCalls()
        delays.append(round(call.getTime() - clock.seconds(), 1))
        clock.advance(call.getTime() - clock.seconds())
    assert delays == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0]
    queue.jobs.extend([("x", "c", lambda: 0, None)] * (BACKLOG_MAX - 1))
    refused = []
    queue.put("call", "c2", lambda: 2).addCallback(refused.append)
    assert refused == [None] and queue.dropped == 1


def test_what_counts_as_the_database_being_away():
    assert transient(LOCKED)
    assert transient(sa_exc.InterfaceError("x", {}, Exception("connection closed")))
    assert not transient(BROKEN) and not transient(ValueError("bug"))


def test_what_queues_while_a_batch_is_written_goes_as_the_next_batch():
    clock, db = Clock(), SlowDatabase()
    queue = WriteQueue(db.run, clock, combine=combine, batch_max=3)
    out = []
    for n in range(6):
        queue.put("leg", "c1", lambda n=n: n).addCallback(out.append)
    # The first write went alone (nothing else was waiting); the rest queued behind it.
    assert len(db.batches) == 1
    db.finish_next()
    assert out == [0] and len(db.batches) == 1
    db.finish_next()  # 1, 2, 3 together: batch_max
    assert out == [0, 1, 2, 3]
    db.finish_next()  # 4, 5
    assert out == list(range(6)) and db.done == list(range(6))
    assert queue.batches == 3 and not queue.jobs and not queue.busy


def test_a_batch_that_fails_for_good_is_written_one_by_one_and_only_the_bad_write_dropped():
    clock, db = Clock(), SlowDatabase()
    queue = WriteQueue(db.run, clock, combine=combine, batch_max=10)
    out = []
    queue.put("call", "c0", lambda: "first").addCallback(out.append)
    for what, job in (("leg", lambda: "a"), ("bad", broken), ("leg end", lambda: "b")):
        queue.put(what, "c1", job).addCallback(out.append)
    db.finish_next()  # "first" alone
    db.finish_next()  # a, bad, b together: rolled back, nothing written
    assert db.done == ["first"] and out == ["first"]
    db.finish_next()  # a alone
    db.finish_next()  # bad alone: dropped
    db.finish_next()  # b alone
    assert db.done == ["first", "a", "b"] and out == ["first", "a", None, "b"]
    assert queue.solo == 0 and not queue.jobs and not clock.getDelayedCalls()


def test_a_batch_the_database_refused_is_retried_whole():
    clock, db = Clock(), SlowDatabase()
    queue = WriteQueue(db.run, clock, combine=combine, batch_max=10)
    for n in range(4):
        queue.put("leg", "c1", lambda n=n: n)
    db.finish_next()  # 0 alone
    _job, d = db.batches.pop(0)  # 1, 2, 3: the database is locked
    d.errback(LOCKED)
    assert db.batches == [] and len(queue.jobs) == 3
    clock.advance(0.2)
    db.finish_next()
    assert db.done == [0, 1, 2, 3] and queue.batches == 2 and queue.retries == 1
    assert not queue.jobs and not clock.getDelayedCalls()

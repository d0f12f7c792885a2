"""The store's write queue (outputs/store.py WriteQueue), with a Clock: writes land one at
a time in order; while the database is away they wait and are retried until it is back,
nothing dropped; a write that is wrong (not the database's fault) is dropped alone."""

from __future__ import annotations

from sqlalchemy import exc as sa_exc
from twisted.internet.defer import fail, succeed
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
        self.done.append(job())
        return succeed(self.done[-1])


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

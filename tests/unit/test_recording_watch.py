"""The recording watch: RecordingFinished attaches a recording; without it, a poll of
ARI's live recordings (every 2 s, 5 tries) does. Clock, no sockets; no timer left over."""

from __future__ import annotations

from twisted.internet.defer import fail, succeed
from twisted.internet.task import Clock

from pbx_daemon.telephony.ari.rest import AriError
from pbx_daemon.telephony.recording_watch import CHECK_DELAY, CHECKS, RecordingWatch
from pbx_daemon.testing import FakeInventory


def make_watch(live=()):
    clock, inventory, attached = Clock(), FakeInventory(live=live), []

    def attach(name):
        attached.append(name)
        return succeed(None)

    return RecordingWatch(clock, inventory.recording_live, attach), clock, inventory, attached


def test_recording_finished_attaches_at_once_and_stops_the_poll():
    watch, clock, inventory, attached = make_watch(live={"c1"})
    watch.expect("c1")
    watch.finished("c1")
    assert attached == ["c1"]
    clock.advance(CHECK_DELAY * CHECKS)
    assert attached == ["c1"] and inventory.actions == []
    assert clock.getDelayedCalls() == []


def test_no_recording_finished_the_poll_attaches_once_it_is_no_longer_live():
    watch, clock, inventory, attached = make_watch(live={"c1"})
    watch.expect("c1")
    clock.advance(CHECK_DELAY)
    assert attached == [] and inventory.actions == [("recording_live", "c1")]
    inventory.live.clear()  # Asterisk closed the file but sent nothing
    clock.advance(CHECK_DELAY)
    assert attached == ["c1"] and watch.pending == set()
    assert clock.getDelayedCalls() == []


def test_a_recording_live_for_five_checks_is_given_up():
    watch, clock, inventory, attached = make_watch(live={"c1"})
    watch.expect("c1")
    for _ in range(CHECKS + 3):
        clock.advance(CHECK_DELAY)
    assert len(inventory.actions) == CHECKS and attached == []
    assert watch.pending == set() and clock.getDelayedCalls() == []


def test_a_late_recording_finished_after_the_attach_is_harmless_for_the_watch():
    watch, clock, inventory, attached = make_watch()
    watch.expect("c1")
    clock.advance(CHECK_DELAY)
    watch.finished("c1")  # the store ignores a second attach of the same file
    assert attached == ["c1", "c1"] and clock.getDelayedCalls() == []


def test_a_failing_check_is_logged_and_forgotten():
    clock, attached = Clock(), []
    watch = RecordingWatch(clock, lambda name: fail(AriError(500, "boom")),
                           lambda name: attached.append(name) or succeed(None))
    watch.expect("c1")
    clock.advance(CHECK_DELAY)
    assert attached == [] and watch.pending == set() and clock.getDelayedCalls() == []

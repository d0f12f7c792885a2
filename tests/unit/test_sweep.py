"""The sweep (telephony/sweep.py): what Asterisk lists against what the daemon's calls hold,
two rounds before acting either way. Pure bookkeeping first, then through the Stasis
application: a lost ChannelDestroyed no longer keeps a phone busy, a ghost leg stops."""

from __future__ import annotations

from twisted.internet.defer import succeed
from twisted.internet.task import Clock

from pbx_daemon.telephony.ari.control import AriCallControl
from pbx_daemon.telephony.ari.messages import Bridge, Channel
from pbx_daemon.telephony.routing.policy import Caller, StepTimeouts
from pbx_daemon.telephony.stasis import StasisApp
from pbx_daemon.telephony.sweep import Sweep
from pbx_daemon.testing import FakeInventory, MemoryRecorder
from tests.unit.test_stasis import DIRECTORY, FakeRest, stasis_start


def stasis(channel_id, *args, state="Up"):
    return Channel(channel_id, state=state, app_name="Stasis", app_data=",".join(("pbx-crm",) + args))


def make_sweep(held, listed):
    gone, adopted = [], []

    def adopt(eligible):
        adopted.append(sorted(c.id for c in listed if eligible(c.id)))
        return succeed(None)

    sweep = Sweep(app="pbx-crm", list_channels=lambda: succeed(list(listed)),
                  known_channels=lambda: set(held), gone=gone.append, adopt=adopt)
    return sweep, gone, adopted


def test_a_held_channel_missing_twice_is_gone_once_missing_once_is_not():
    held, listed = {"c1", "leg-1"}, [stasis("c1", "inbound", "+7495")]
    sweep, gone, _ = make_sweep(held, listed)
    sweep.run()
    assert gone == []  # maybe it is being originated right now
    sweep.run()
    assert gone == ["leg-1"]
    held.discard("leg-1")  # its call let it go
    sweep.run()
    assert gone == ["leg-1"]


def test_a_channel_back_in_the_listing_is_not_gone():
    held, listed = {"leg-1"}, []
    sweep, gone, _ = make_sweep(held, listed)
    sweep.run()
    listed.append(Channel("leg-1"))
    sweep.run()
    listed.clear()
    sweep.run()
    assert gone == []


def test_our_channels_nobody_holds_are_taken_over_after_two_rounds_others_never():
    listed = [Channel("c9-leg1-abcd", state="Ringing"),  # a ghost leg
              stasis("c8", "inbound", "+74951110001", state="Ring"),  # a caller we missed
              Channel("1700000000.5", state="Up")]  # the customer's own dialplan call
    sweep, _, adopted = make_sweep(set(), listed)
    sweep.run()
    assert adopted == []  # its StasisStart may still be on its way
    sweep.run()
    assert adopted == [["c8", "c9-leg1-abcd"]]


def test_an_answered_call_whose_hang_up_was_lost_frees_the_phone_and_ghost_legs_stop():
    rest, clock, recorder = FakeRest(), Clock(), MemoryRecorder()
    inventory = FakeInventory()
    app = StasisApp(app="pbx-crm", rest=rest, control=AriCallControl(rest, "pbx-crm"),
                    recorder=recorder, clock=clock,
                    lookup=lambda *a: succeed((Caller("+79161234567", owner_id=1), DIRECTORY)),
                    timeouts=StepTimeouts(10, 15, 15, 20), deadline=0.5, inventory=inventory)
    app.on_connect()
    app.on_event(stasis_start("c1", "inbound", "+74951110001"))
    leg = next(p["channelId"] for m, path, p in rest.requests if path == "/channels")
    app.on_event(stasis_start(leg, "leg", "c1"))
    assert app.busy_endpoints() == {"101"}
    # The WebSocket dropped while the caller hung up: no ChannelDestroyed ever comes.
    # Asterisk still lists Anna's leg (hung up below), and a ghost leg of a call long over.
    inventory.channels_now = [stasis(leg, "leg", "c1"),
                              Channel("old-leg1-beef", state="Ringing")]
    inventory.bridges_now = [Bridge("br-c1", (leg,))]
    app.sweep_once()
    assert app.busy_endpoints() == {"101"}
    app.sweep_once()
    assert app.busy_endpoints() == frozenset() and app.calls == {}
    assert recorder.of("ended") == [("ended", "answered", 0)]
    assert ("DELETE", f"/channels/{leg}") in rest.paths()
    assert ("DELETE", "/channels/old-leg1-beef") in rest.paths()  # no longer ringing

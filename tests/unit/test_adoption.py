"""Re-adoption after a (re)connect, against a fake Asterisk (FakeInventory, FakeCallControl):
live connected calls are adopted and watched, orphaned legs stopped, waiting callers routed
again, and a call whose other side vanished is ended."""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from pbx_daemon.telephony.adoption import Adoption
from pbx_daemon.telephony.ari.messages import Bridge, Channel
from pbx_daemon.telephony.calls.interfaces import IAsteriskInventory
from pbx_daemon.testing import FakeCallControl, FakeInventory


def make_adoption(bridges=(), channels=(), known=()):
    inventory, control, rerouted = FakeInventory(bridges, channels), FakeCallControl(), []
    adoption = Adoption(app="pbx-crm", list_bridges=inventory.bridges,
                        list_channels=inventory.channels, watch=inventory.watch,
                        destroy_bridge=inventory.destroy_bridge, hangup=control.hangup,
                        stop=control.stop,
                        reroute=lambda channel, dialled: rerouted.append((channel.id, dialled)),
                        known_channels=lambda: set(known))
    return adoption, inventory, control, rerouted


def waiting(channel_id, state="Ring", app_data="pbx-crm,inbound,+74951110001"):
    return Channel(channel_id, state=state, app_name="Stasis", app_data=app_data)


def test_a_connected_call_is_adopted_and_watched():
    adoption, inventory, control, _ = make_adoption(
        bridges=[Bridge("br-c1", ("c1", "c1-leg1-ab")), Bridge("someone-elses", ("x", "y"))],
        channels=[waiting("c1", state="Up"), Channel("c1-leg1-ab", state="Up")])
    adoption.adopt()
    assert adoption.adopted == {"c1": "br-c1", "c1-leg1-ab": "br-c1"}
    assert inventory.actions == [("watch", "br-c1", ("c1", "c1-leg1-ab"))]
    assert control.actions == []  # adopted channels are neither stopped nor re-routed


def test_when_one_side_of_an_adopted_call_hangs_up_the_other_is_hung_up():
    adoption, inventory, control, _ = make_adoption(
        bridges=[Bridge("br-c1", ("c1", "c1-leg1-ab"))],
        channels=[waiting("c1", state="Up"), Channel("c1-leg1-ab", state="Up")])
    adoption.adopt()
    adoption.channel_gone("c1-leg1-ab")
    assert control.actions == [("hangup", "c1", 16)]
    assert inventory.actions[-1] == ("destroy_bridge", "br-c1")
    assert adoption.adopted == {} and not adoption.owns("c1")


def test_a_call_whose_other_side_vanished_is_ended():
    adoption, inventory, control, _ = make_adoption(bridges=[Bridge("br-c2", ("c2",))])
    adoption.adopt()
    assert control.actions == [("hangup", "c2", 16)]
    assert ("destroy_bridge", "br-c2") in inventory.actions
    assert not [a for a in inventory.actions if a[0] == "watch"]
    assert adoption.adopted == {}


def test_orphaned_legs_stop_ringing_and_waiting_callers_are_routed_again():
    adoption, inventory, control, rerouted = make_adoption(channels=[
        Channel("c9-leg2-cd", state="Ringing"),  # a phone still ringing for a lost call
        Channel("c2c-0a1b", state="Ringing"),  # a click-to-call leg nobody bridged
        waiting("c5"),  # a caller still in Stasis(pbx-crm,inbound,...)
        waiting("c6", app_data="other-app,inbound,+7495"),  # not our application
        waiting("c7", state="Up"),  # answered: not a waiting caller
    ])
    adoption.adopt()
    assert control.actions == [("stop", "c9-leg2-cd"), ("stop", "c2c-0a1b")]
    assert rerouted == [("c5", "+74951110001")]


def test_channels_the_daemon_knows_are_left_alone():
    adoption, inventory, control, rerouted = make_adoption(
        bridges=[Bridge("br-c1", ("c1", "c1-leg1-ab"))],
        channels=[waiting("c1"), Channel("c1-leg1-ab", state="Ringing")],
        known={"c1", "c1-leg1-ab"})
    adoption.adopt()
    assert adoption.adopted == {} and inventory.actions == []
    assert control.actions == [] and rerouted == []


def test_channels_are_listed_only_after_the_bridges_are_adopted():
    """A bridge's members count as known when the channel list comes in: an adopted leg
    that is still ringing in Asterisk's eyes is not stopped as an orphan."""
    bridges, order = Deferred(), []
    inventory = FakeInventory(channels=[waiting("c1", state="Up"), Channel("c1-leg1-ab", state="Ringing")])
    control = FakeCallControl()
    adoption = Adoption(app="pbx-crm", list_bridges=lambda: order.append("bridges") or bridges,
                        list_channels=lambda: order.append("channels") or inventory.channels(),
                        watch=inventory.watch, destroy_bridge=inventory.destroy_bridge,
                        hangup=control.hangup, stop=control.stop, reroute=lambda c, d: None,
                        known_channels=set)
    adoption.adopt()
    assert order == ["bridges"]
    bridges.callback([Bridge("br-c1", ("c1", "c1-leg1-ab"))])
    assert order == ["bridges", "channels"] and control.actions == []


def test_reconnect_through_the_stasis_application_with_a_fake_asterisk():
    """on_connect re-adopts: the waiting caller is routed again (lookup under the deadline,
    then the dialplan fallback here), the ringing orphan stopped; then the adopted call's
    hang-up ends its other side."""
    from pbx_daemon.telephony.routing.policy import StepTimeouts
    from pbx_daemon.telephony.stasis import StasisApp
    from pbx_daemon.testing import FakeOutboundControl, MemoryRecorder

    clock, control = Clock(), FakeCallControl()
    inventory = FakeInventory(
        bridges=[Bridge("br-c1", ("c1", "c1-leg1-ab"))],
        channels=[waiting("c1", state="Up"), Channel("c1-leg1-ab", state="Up"),
                  Channel("c9-leg2-cd", state="Ringing"), waiting("c5")])
    recorder = MemoryRecorder()
    app = StasisApp(app="pbx-crm", rest=None, control=control, recorder=recorder,
                    clock=clock, lookup=lambda *args: Deferred(),
                    timeouts=StepTimeouts(), deadline=0.5,
                    outbound_control=FakeOutboundControl(), inventory=inventory)
    assert IAsteriskInventory.providedBy(inventory)
    app.on_connect()
    assert app.connected and app.adopted == {"c1": "br-c1", "c1-leg1-ab": "br-c1"}
    assert control.actions == [("stop", "c9-leg2-cd")]  # c5 is being looked up again
    clock.advance(0.5)  # the lookup for c5 is past its deadline
    assert control.actions[-1] == ("to_dialplan_fallback", "c5")
    app.on_event({"type": "ChannelDestroyed", "cause": 16, "channel": {"id": "c1-leg1-ab"}})
    assert control.actions[-1] == ("hangup", "c1", 16)
    assert inventory.actions[-1] == ("destroy_bridge", "br-c1")
    # The call an earlier daemon connected is closed as answered; its recording expected.
    assert recorder.of("adopted_ended") == [("adopted_ended", "c1", 0.5)]
    app.on_event({"type": "RecordingFinished", "recording": {"name": "c1"}})
    assert recorder.of("recording_finished") == [("recording_finished", "c1")]
    clock.advance(2.0)  # the watch's own check finds it attached already
    assert clock.getDelayedCalls() == [] and len(recorder.of("recording_finished")) == 1


def test_a_side_that_hangs_up_between_the_bridge_list_and_the_channel_list_ends_the_call():
    """The manager hung up after GET /bridges listed both sides but before the watch took
    effect: GET /channels no longer has the leg, so the caller is hung up, not left alone."""
    adoption, inventory, control, _ = make_adoption(
        bridges=[Bridge("br-c1", ("c1", "c1-leg1-ab"))],
        channels=[waiting("c1", state="Up")])
    adoption.adopt()
    assert control.actions == [("hangup", "c1", 16)]
    assert inventory.actions[-1] == ("destroy_bridge", "br-c1")
    assert adoption.adopted == {}

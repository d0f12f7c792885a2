"""ARI JSON (Asterisk 22's shapes, tests/fixtures/ari/) -> typed events: pure parsing."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from pbx_daemon.telephony.ari import messages as ari

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ari"


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text())


def test_stasis_start_of_a_caller_carries_the_channel_and_the_dialled_number():
    event = ari.parse_event(fixture("stasis_start_inbound.json"))
    assert event == ari.StasisStart(
        ari.Channel("1732990800.41", "PJSIP/trunk-00000012", "Ring", "+79161234567",
                    "ROMASHKA LLC", "Stasis", "pbx-crm,inbound,+74951110001"),
        ("inbound", "+74951110001"))


def test_stasis_start_of_an_answered_leg_names_its_call():
    event = ari.parse_event(fixture("stasis_start_leg.json"))
    assert isinstance(event, ari.StasisStart)
    assert event.args == ("leg", "1732990800.41")
    assert event.channel.id == "1732990800.41-leg1-9f2a" and event.channel.state == "Up"


def test_channel_destroyed_carries_the_q850_cause():
    event = ari.parse_event(fixture("channel_destroyed.json"))
    assert isinstance(event, ari.ChannelDestroyed)
    assert (event.channel.id, event.cause, event.cause_txt) == \
        ("1732990800.41-leg2-77c1", 21, "Call Rejected")


def test_stasis_end_and_channel_left_bridge():
    end = ari.parse_event(fixture("stasis_end.json"))
    assert isinstance(end, ari.StasisEnd) and end.channel.id == "1732990800.41"
    left = ari.parse_event(fixture("channel_left_bridge.json"))
    assert isinstance(left, ari.ChannelLeftBridge)
    assert (left.channel.id, left.bridge_id) == ("1732990800.41", "br-1732990800.41")


def test_recording_finished_carries_the_name_we_gave_it():
    event = ari.parse_event(fixture("recording_finished.json"))
    assert event == ari.RecordingFinished("1732990800.41", "bridge:br-1732990800.41")


def test_event_types_we_do_not_handle_are_unknown():
    event = ari.parse_event(fixture("channel_varset.json"))
    assert isinstance(event, ari.Unknown) and event.type == "ChannelVarset"
    assert event.channel is not None and event.channel.id == "1732990800.41"
    assert isinstance(ari.parse_event(fixture("channel_state_change.json")), ari.ChannelStateChange)


@pytest.mark.parametrize("raw", [
    {}, [], None, "StasisStart", {"type": "StasisStart"}, {"type": "StasisStart", "channel": []},
    {"type": "StasisStart", "channel": {"id": 7, "caller": "x"}, "args": "inbound"},
    {"type": "ChannelDestroyed", "channel": {}, "cause": "16"},
    {"type": "RecordingFinished"}, {"type": "RecordingFinished", "recording": {"name": 3}},
])
def test_malformed_json_never_raises(raw):
    event = ari.parse_event(raw)
    if isinstance(event, ari.StasisStart):
        assert event.channel.id == "" and event.args == ()
    if isinstance(event, ari.ChannelDestroyed):
        assert event.cause is None
    if isinstance(event, ari.RecordingFinished):
        assert event.name == ""


def test_events_are_frozen():
    event = ari.parse_event(fixture("stasis_start_inbound.json"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.args = ()  # type: ignore[misc]


def test_bridges_and_channels_as_get_returns_them():
    bridges = [ari.bridge_from_json(b) for b in fixture("get_bridges.json")]
    assert bridges == [ari.Bridge("br-1732990800.41", ("1732990800.41", "1732990800.41-leg1-9f2a"))]
    channels = [ari.channel_from_json(c) for c in fixture("get_channels.json")]
    assert [c.id for c in channels] == ["1732990800.41", "1732990800.41-leg1-9f2a"]


def test_stasis_args_find_a_channel_waiting_in_our_application():
    caller = ari.channel_from_json(fixture("stasis_start_inbound.json")["channel"])
    assert caller.stasis_args("pbx-crm") == ("inbound", "+74951110001")
    assert caller.stasis_args("other-app") is None
    assert ari.Channel("x", app_name="Dial", app_data="PJSIP/101").stasis_args("pbx-crm") is None
    assert ari.Channel("x", app_name="Stasis", app_data="pbx-crm").stasis_args("pbx-crm") == ()

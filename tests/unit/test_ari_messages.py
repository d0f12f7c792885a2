"""ARI JSON captured from the lab's Asterisk 22 (tests/fixtures/ari/) -> typed events:
pure parsing."""

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
        ari.Channel("pbx-1796084891.0", "PJSIP/pbxcrm-trunk-00000000", "Ring", "+79161234567",
                    "Romashka", "Stasis", "pbx-crm,inbound,+74951110001"),
        ("inbound", "+74951110001"))


def test_stasis_start_of_an_answered_leg_names_its_call():
    event = ari.parse_event(fixture("stasis_start_leg.json"))
    assert isinstance(event, ari.StasisStart)
    assert event.args == ("leg", "pbx-1796084891.0")
    assert event.channel.id == "pbx-1796084891.0-leg1-a8c2" and event.channel.state == "Up"


def test_stasis_start_of_a_desk_phone_carries_the_digits_it_dialled():
    event = ari.parse_event(fixture("stasis_start_phone.json"))
    assert isinstance(event, ari.StasisStart)
    assert event.args == ("phone", "89162223344")  # keyed "8 (916) 222-33-44"


def test_channel_destroyed_carries_the_q850_cause():
    """A losing phone leg we stopped with answered_elsewhere: cause 26."""
    event = ari.parse_event(fixture("channel_destroyed.json"))
    assert isinstance(event, ari.ChannelDestroyed)
    assert (event.channel.id, event.cause, event.cause_txt) == \
        ("pbx-1796084897.4-leg1-95aa", 26, "Answered elsewhere")


def test_stasis_end_and_channel_left_bridge():
    end = ari.parse_event(fixture("stasis_end.json"))
    assert isinstance(end, ari.StasisEnd) and end.channel.id == "pbx-1796084891.0"
    left = ari.parse_event(fixture("channel_left_bridge.json"))
    assert isinstance(left, ari.ChannelLeftBridge)
    assert (left.channel.id, left.bridge_id) == ("pbx-1796084891.0", "br-pbx-1796084891.0")


def test_recording_finished_carries_the_name_we_gave_it():
    event = ari.parse_event(fixture("recording_finished.json"))
    assert event == ari.RecordingFinished("pbx-1796084891.0", "bridge:br-pbx-1796084891.0")


def test_event_types_we_do_not_handle_are_unknown():
    event = ari.parse_event(fixture("channel_varset.json"))
    assert isinstance(event, ari.Unknown) and event.type == "ChannelVarset"
    assert event.channel is not None and event.channel.id == "pbx-1796084891.0"
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
    assert bridges == [ari.Bridge("br-pbx-1796084948.25",
                                  ("pbx-1796084948.25", "pbx-1796084948.25-leg1-83f4"))]
    channels = [ari.channel_from_json(c) for c in fixture("get_channels.json")]
    assert [(c.id, c.state) for c in channels] == [("pbx-1796084948.25-leg1-83f4", "Up"),
                                                  ("pbx-1796084948.25", "Up")]
    assert channels[1].stasis_args("pbx-crm") == ("inbound", "+74951110001")


def test_stasis_args_find_a_channel_waiting_in_our_application():
    caller = ari.channel_from_json(fixture("stasis_start_inbound.json")["channel"])
    assert caller.stasis_args("pbx-crm") == ("inbound", "+74951110001")
    assert caller.stasis_args("other-app") is None
    assert ari.Channel("x", app_name="Dial", app_data="PJSIP/101").stasis_args("pbx-crm") is None
    assert ari.Channel("x", app_name="Stasis", app_data="pbx-crm").stasis_args("pbx-crm") == ()


def test_a_blind_transfer_names_the_refer_channel_and_the_extension():
    """Phone 101 (our leg of an inbound call) sent REFER to sip:102@pbx."""
    event = ari.parse_event(fixture("channel_transfer_blind.json"))
    assert event == ari.ChannelTransfer(source="pbx-1796093344.0-leg1-2755", destination="102")
    assert event.is_request and not event.attended


def test_an_attended_transfer_names_the_consultation_channel_to_replace():
    event = ari.parse_event(fixture("channel_transfer_attended.json"))
    assert isinstance(event, ari.ChannelTransfer) and event.is_request
    assert (event.source, event.attended, event.replaced) == \
        ("pbx-1796093357.7-leg1-cb01", True, "pbx-1796093361.11")


def test_the_echo_of_our_transfer_progress_is_no_request():
    event = ari.parse_event(fixture("channel_transfer_progress.json"))
    assert isinstance(event, ari.ChannelTransfer)
    assert event.state == "channel_answered" and not event.is_request

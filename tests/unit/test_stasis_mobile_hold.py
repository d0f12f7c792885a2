"""Mobiles and the line of waiting callers through ARI events and requests (fake REST)."""

from __future__ import annotations

from twisted.internet.defer import succeed
from twisted.internet.task import Clock

from pbx_daemon.telephony.ari.control import AriCallControl
from pbx_daemon.telephony.routing.policy import (Agent, Caller, DepartmentInfo, Directory,
                                                 StepTimeouts)
from pbx_daemon.telephony.stasis import StasisApp
from pbx_daemon.telephony.trunk import TrunkDialing
from pbx_daemon.testing import MemoryRecorder
from tests.unit.test_stasis import FakeRest, destroyed, stasis_start

MOBILE = "+79160000001"


def make_app(directories):
    """``directories`` is what the lookup finds for each call in turn."""
    rest, clock, recorder = FakeRest(), Clock(), MemoryRecorder()
    found = iter(directories)

    def lookup(caller_raw, dialled, busy, now):
        caller, directory = next(found)
        # As load_directory does: a phone on a call is busy.
        agents = {i: Agent(**{**a.__dict__, "busy": a.endpoint in busy})
                  for i, a in directory.agents.items()}
        return succeed((caller, Directory(agents=agents, departments=directory.departments)))

    control = AriCallControl(rest, "pbx-crm", trunk=TrunkDialing("pbxcrm-trunk", "national"))
    app = StasisApp(app="pbx-crm", rest=rest, control=control, recorder=recorder, clock=clock,
                    lookup=lookup, timeouts=StepTimeouts(10, 15, 15, 20), deadline=0.5)
    return app, rest, clock, recorder


def dtmf(channel_id, digit):
    return {"type": "ChannelDtmfReceived", "digit": digit, "duration_ms": 120,
            "channel": {"id": channel_id}}


def playback_finished(playback_id, channel_id):
    return {"type": "PlaybackFinished", "playback": {
        "id": playback_id, "target_uri": f"channel:{channel_id}", "state": "done",
        "media_uri": "sound:queue-youarenext"}}


def originated(rest):
    return [p for m, path, p in rest.requests if (m, path) == ("POST", "/channels")]


def test_the_owners_mobile_rings_through_the_trunk_and_1_connects():
    anna = Agent(1, "Anna", "101", 1, mobile=MOBILE, mobile_delay=3)
    directory = Directory(agents={1: anna}, departments={1: DepartmentInfo(1, "Sales", (1,))})
    app, rest, clock, recorder = make_app([(Caller("+79161234567", owner_id=1), directory)])
    app.on_event(stasis_start("c1", "inbound", "+74951110001"))
    assert [p["endpoint"] for p in originated(rest)] == ["PJSIP/101"]
    clock.advance(3)
    mobile = originated(rest)[-1]
    assert mobile["endpoint"] == "PJSIP/89160000001@pbxcrm-trunk"
    assert mobile["appArgs"] == "leg,c1,mobile" and mobile["originator"] == "c1"
    assert mobile["callerId"] == "+79161234567"  # the trunk's caller id format
    leg = mobile["channelId"]
    app.on_event(stasis_start(leg, "leg", "c1", "mobile"))  # the mobile answered
    assert rest.requests[-1][1:] == (f"/channels/{leg}/play",
                                     {"media": "sound:vm-press,digits:1",
                                      "playbackId": f"confirm-{leg}"})
    assert ("POST", "/channels/c1/answer") not in rest.paths()
    app.on_event(dtmf(leg, "1"))
    assert ("DELETE", f"/playbacks/confirm-{leg}") in rest.paths()
    assert ("POST", "/channels/c1/answer") in rest.paths()
    assert recorder.of("answered") == [("answered", 1, 3)]
    assert ("ringing", MOBILE, 1, 3) in recorder.events


def test_a_busy_department_holds_callers_in_order_and_the_freed_phone_takes_the_first():
    sales = {1: DepartmentInfo(1, "Sales", (1, 2), hold_seconds=40)}
    agents = {1: Agent(1, "Anna", "101", 1), 2: Agent(2, "Boris", "102", 1, dnd=True)}
    unknown = Caller("+79161234567", department_id=1)
    app, rest, clock, recorder = make_app([(unknown, Directory(agents, sales))] * 3)
    app.on_event(stasis_start("c1", "inbound", "+74951110001"))
    first_leg = originated(rest)[0]["channelId"]
    app.on_event(stasis_start(first_leg, "leg", "c1"))  # Anna talks to the first caller

    app.on_event(stasis_start("c2", "inbound", "+74951110001", number="+79160000002"))
    app.on_event(stasis_start("c3", "inbound", "+74951110001", number="+79160000003"))
    assert ("POST", "/channels/c2/answer") in rest.paths()
    assert ("POST", "/channels/c2/moh") not in rest.paths(), "a playback would stop the music"
    app.on_event(playback_finished("position-c2", "c2"))
    assert ("POST", "/channels/c2/moh") in rest.paths()
    plays = {path: p["media"] for m, path, p in rest.requests if path.endswith("/play")}
    assert plays["/channels/c2/play"] == "sound:queue-youarenext"
    assert plays["/channels/c3/play"] == "sound:queue-thereare,number:1,sound:queue-callswaiting"
    assert len(originated(rest)) == 1, "nothing rings while everyone is busy"

    clock.advance(10)
    app.on_event(destroyed(first_leg))  # Anna hangs up: 101 is free
    ring = originated(rest)[-1]
    assert ring["endpoint"] == "PJSIP/101" and ring["appArgs"] == "leg,c2"
    assert app.inbound.line == ["c3"]
    app.on_event(stasis_start(ring["channelId"], "leg", "c2"))
    assert ("DELETE", "/channels/c2/moh") in rest.paths()
    moh = rest.paths().count(("POST", "/channels/c2/moh"))
    app.on_event(playback_finished("position-c2", "c2"))  # late: no music over the talk
    assert rest.paths().count(("POST", "/channels/c2/moh")) == moh
    assert ("POST", "/bridges/br-c2/record") in rest.paths()

    clock.advance(30)  # c3 waited 40 s: missed
    assert ("DELETE", "/channels/c3") in rest.paths()
    app.on_event(destroyed("c3"))
    assert app.inbound.line == [] and "c3" not in app.calls
    assert [e for e in recorder.of("ended")] == [("ended", "answered", 10), ("ended", "missed", 40)]

"""Transfers through the Stasis application (fake REST, Clock, no sockets): ChannelTransfer
events in (the shapes of tests/fixtures/ari/channel_transfer_*.json), ARI requests out."""

from __future__ import annotations

from twisted.internet.defer import succeed
from twisted.internet.task import Clock

from pbx_daemon.telephony.ari.control import TRANSFER_TO_ARI, AriCallControl
from pbx_daemon.telephony.calls.phone import PhoneCallRefused, PhoneCallRequest
from pbx_daemon.telephony.routing.policy import Caller, StepTimeouts
from pbx_daemon.telephony.stasis import StasisApp
from pbx_daemon.testing import MemoryRecorder
from tests.unit.test_stasis import DIRECTORY, destroyed, stasis_start

TO_102 = PhoneCallRequest(kind="internal", endpoint="101", employee_id=1, caller_name="Anna",
                          target_endpoint="102", target_employee_id=2)
OUT = PhoneCallRequest(kind="outbound", endpoint="101", employee_id=1, number="+79161112233")


class Rest:
    def __init__(self):
        self.requests = []

    def request(self, method, path, params=None, body=None):
        self.requests.append((method, path, dict(params or {}), body))
        return succeed(None)

    def since(self, n):
        return [(m, p, q) for m, p, q, _ in self.requests[n:]]


def make_app(decide):
    rest, clock, recorder = Rest(), Clock(), MemoryRecorder()
    checked = []

    def check(endpoint, dialled, now):
        checked.append((endpoint, dialled))
        return succeed(decide(dialled))

    app = StasisApp(app="pbx-crm", rest=rest, control=AriCallControl(rest, "pbx-crm"),
                    recorder=recorder, clock=clock,
                    lookup=lambda *a: succeed((Caller("+79161234567", owner_id=1), DIRECTORY)),
                    timeouts=StepTimeouts(10, 15, 15, 20), deadline=0.5, phone_check=check)
    return app, rest, clock, recorder, checked


def connected_call(app, rest):
    """c1 calls, Anna's 101 answers: returns the answered leg's channel id."""
    app.on_event(stasis_start("c1", "inbound", "+74951110001"))
    originate = next(r for r in rest.requests if r[:2] == ("POST", "/channels"))
    assert originate[3] == {"variables": TRANSFER_TO_ARI}  # REFERs from this phone come to us
    leg = originate[2]["channelId"]
    app.on_event(stasis_start(leg, "leg", "c1"))
    return leg


def transfer(source, destination="102", replaced=None, state=None):
    event = {"type": "ChannelTransfer",
             "refer_to": {"requested_destination": {"destination": destination}},
             "referred_by": {"source_channel": {"id": source}}}
    if replaced is not None:
        event["refer_to"]["requested_destination"]["protocol_id"] = "dialog-call-id"
        if replaced:
            event["refer_to"]["destination_channel"] = {"id": replaced}
    if state:
        event["state"] = state
    return event


def test_blind_transfer_to_an_extension_rings_it_in_the_same_call():
    app, rest, clock, recorder, checked = make_app(lambda dialled: TO_102)
    leg = connected_call(app, rest)
    n = len(rest.requests)
    app.on_event(transfer(leg))
    assert checked == [("101", "102")]  # checked like 101 dialling it
    sent = rest.since(n)
    assert sent[:4] == [
        ("POST", f"/channels/{leg}/transfer_progress", {"states": "channel_progress"}),
        ("POST", f"/channels/{leg}/transfer_progress", {"states": "channel_answered"}),
        ("DELETE", f"/channels/{leg}", {"reason": "normal"}),
        ("POST", "/bridges/br-c1/play", {"media": "tone:ring", "playbackId": "c1-xfer"})]
    method, path, params = sent[4]
    assert (method, path, params["endpoint"], params["appArgs"]) == \
        ("POST", "/channels", "PJSIP/102", "leg,c1")
    new_leg = params["channelId"]
    # Asterisk echoes our progress reports and may repeat the request: nothing more happens.
    n = len(rest.requests)
    app.on_event(transfer(leg, state="channel_answered"))
    app.on_event(transfer(leg))
    assert rest.since(n) == []
    app.on_event(destroyed(leg))  # 101's channel goes
    app.on_event(stasis_start(new_leg, "leg", "c1"))  # 102 answers
    assert rest.since(n)[-2:] == [("DELETE", "/playbacks/c1-xfer", {}),
                                  ("POST", "/bridges/br-c1/addChannel", {"channel": new_leg})]
    app.on_event(destroyed("c1"))
    assert ("DELETE", f"/channels/{new_leg}", {"reason": "normal"}) in rest.since(n)
    assert app.calls == {} and app.leg_calls == {}
    assert recorder.of("ended") == [("ended", "answered", 0)]


def test_blind_transfer_anywhere_but_another_extension_is_declined():
    for decision in (OUT, PhoneCallRefused("invalid"), TO_102.__class__(
            kind="internal", endpoint="101", employee_id=1, target_endpoint="101")):
        app, rest, clock, recorder, _ = make_app(lambda dialled, d=decision: d)
        leg = connected_call(app, rest)
        n = len(rest.requests)
        app.on_event(transfer(leg, destination="89161112233"))
        assert rest.since(n)[-1] == ("POST", f"/channels/{leg}/transfer_progress",
                                     {"states": "channel_declined"})
        assert app.calls["c1"].state == "answered"  # the call goes on as it was


def test_a_refer_from_a_channel_that_is_no_answered_leg_is_declined():
    app, rest, clock, recorder, _ = make_app(lambda dialled: TO_102)
    app.on_event(transfer("someone-else"))
    assert rest.since(0) == [("POST", "/channels/someone-else/transfer_progress",
                              {"states": "channel_declined"})]


def test_attended_transfer_hands_the_consulted_phone_over_and_ends_the_consultation():
    app, rest, clock, recorder, _ = make_app(lambda dialled: TO_102)
    leg = connected_call(app, rest)
    # 101 consults 102: a desk-phone call.
    app.on_event({"type": "StasisStart", "args": ["phone", "102"],
                  "channel": {"id": "p7", "name": "PJSIP/101-0000002a"}})
    app.on_event(stasis_start("p7-peer", "phone-peer", "p7"))
    assert app.phone.calls["p7"].state == "connected"
    n = len(rest.requests)
    app.on_event(transfer(leg, replaced="p7"))
    sent = rest.since(n)
    assert ("DELETE", "/channels/p7", {"reason_code": 16}) in sent  # the consultation ends
    assert ("DELETE", "/bridges/br-p7", {}) in sent
    assert sent[-1] == ("POST", "/bridges/br-c1/addChannel", {"channel": "p7-peer"})
    assert ("DELETE", f"/channels/{leg}", {"reason": "normal"}) in sent
    assert app.phone.calls == {} and recorder.of("phone_ended")[-1][2] == "answered"
    # Asterisk's second copy of the request (without the replaced channel) changes nothing.
    n = len(rest.requests)
    app.on_event(transfer(leg, replaced=""))
    assert rest.since(n) == []
    # 102 hangs up at the end: the caller is hung up, the call ends answered.
    app.on_event(destroyed("p7-peer"))
    assert ("DELETE", "/channels/c1", {"reason_code": 16}) in rest.since(n)
    assert recorder.of("ended") == [("ended", "answered", 0)]


def test_attended_transfer_without_a_known_consultation_is_declined():
    app, rest, clock, recorder, _ = make_app(lambda dialled: TO_102)
    leg = connected_call(app, rest)
    n = len(rest.requests)
    app.on_event(transfer(leg, replaced=""))
    assert rest.since(n) == [("POST", f"/channels/{leg}/transfer_progress",
                              {"states": "channel_declined"})]

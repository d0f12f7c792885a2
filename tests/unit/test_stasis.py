"""The Stasis application: ARI events in, ARI requests out (fake REST, Clock, no sockets)."""

from __future__ import annotations

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock

from pbx_daemon.telephony.ari.control import AriCallControl, caller_id_string
from pbx_daemon.telephony.routing.policy import Agent, Caller, DepartmentInfo, Directory, StepTimeouts
from pbx_daemon.telephony.stasis import StasisApp
from pbx_daemon.testing import MemoryRecorder


class FakeRest:
    def __init__(self):
        self.requests = []

    def request(self, method, path, params=None, body=None):
        self.requests.append((method, path, dict(params or {})))
        return succeed(None)

    def paths(self, method=None):
        return [(m, p) for m, p, _ in self.requests if method is None or m == method]


DIRECTORY = Directory(
    agents={1: Agent(1, "Anna", "101", 1), 2: Agent(2, "Boris", "102", 1)},
    departments={1: DepartmentInfo(1, "Sales", (1, 2))},
)


def make_app(lookup_result=None, deferred=None, rest=None):
    rest, clock = rest or FakeRest(), Clock()
    recorder = MemoryRecorder()

    def lookup(caller_raw, dialled, busy, now):
        return deferred if deferred is not None else succeed(lookup_result)

    app = StasisApp(app="pbx-crm", rest=rest, control=AriCallControl(rest, "pbx-crm"),
                    recorder=recorder, clock=clock, lookup=lookup,
                    timeouts=StepTimeouts(10, 15, 15, 20), deadline=0.5)
    return app, rest, clock, recorder


def stasis_start(channel_id, *args, number="+79161234567"):
    return {"type": "StasisStart", "args": list(args),
            "channel": {"id": channel_id, "name": "PJSIP/pbxcrm-trunk-1", "caller": {"number": number}}}


def destroyed(channel_id, cause=16):
    return {"type": "ChannelDestroyed", "cause": cause, "channel": {"id": channel_id}}


def test_inbound_call_originates_the_owner_leg():
    app, rest, clock, recorder = make_app((Caller("+79161234567", owner_id=1, crm_name="Ромашка"), DIRECTORY))
    app.on_event(stasis_start("c1", "inbound", "+74951110001"))
    # The dialplan sent 180 Ringing before Stasis(): the first request rings the owner.
    method, path, params = rest.requests[0]
    assert (method, path) == ("POST", "/channels")
    assert params["endpoint"] == "PJSIP/101" and params["app"] == "pbx-crm"
    assert params["appArgs"] == "leg,c1" and params["originator"] == "c1"
    assert params["callerId"] == '"Ромашка" <+79161234567>'
    leg = params["channelId"]

    app.on_event(stasis_start(leg, "leg", "c1"))  # the owner answered
    paths = rest.paths()
    assert ("POST", "/channels/c1/answer") in paths
    assert ("POST", "/bridges/br-c1/record") in paths
    app.on_event(destroyed("c1"))  # the caller hangs up
    assert ("DELETE", f"/channels/{leg}") in rest.paths()
    assert ("DELETE", "/bridges/br-c1") in rest.paths()
    assert app.calls == {} and app.leg_calls == {}


def test_lookup_past_its_deadline_sends_the_call_to_the_dialplan_fallback():
    app, rest, clock, recorder = make_app(deferred=Deferred())
    app.on_event(stasis_start("c1", "inbound", "+74951110001"))
    clock.advance(0.5)
    assert rest.requests[-1][:2] == ("POST", "/channels/c1/continue")
    assert rest.requests[-1][2]["context"] == "pbxcrm-fallback"
    assert not [r for r in rest.requests if r[1] == "/channels"]


def test_caller_gone_during_lookup_rings_nobody_and_is_recorded_missed():
    pending = Deferred()
    app, rest, clock, recorder = make_app(deferred=pending)
    app.on_event(stasis_start("c1", "inbound", "+74951110001"))
    app.on_event(destroyed("c1"))
    pending.callback((Caller("+79161234567", owner_id=1), DIRECTORY))
    assert not [r for r in rest.requests if r[1] == "/channels"]
    assert recorder.of("ended") == [("ended", "missed", 0)]


def test_busy_endpoint_is_reported_to_the_next_lookup():
    seen = []
    app, rest, clock, recorder = make_app((Caller("+79161234567", owner_id=1), DIRECTORY))
    original = app.inbound.lookup
    app.inbound.lookup = lambda c, d, busy, now: (seen.append(busy), original(c, d, busy, now))[1]
    app.on_event(stasis_start("c1", "inbound", "+74951110001"))
    leg = [r for r in rest.requests if r[1] == "/channels"][0][2]["channelId"]
    app.on_event(stasis_start(leg, "leg", "c1"))
    app.on_event(stasis_start("c2", "inbound", "+74951110001", number="+79160000000"))
    assert seen == [frozenset(), frozenset({"101"})]


def test_hostile_caller_ids_never_reach_the_originate_unfiltered():
    for hostile in ['"&PJSIP/999', "a\nb", "${EXTEN}", "<x>", "'; DROP", "x" * 500, "Тест&,|;"]:
        text = caller_id_string(hostile, "+79161234567")
        name = text[1:text.index('" <')]
        assert not set(name) & set('"<>\\;\n\r$&|,{}`\'') and len(name) <= 40
        assert text.endswith("<+79161234567>")
    assert caller_id_string("Name", "+7916&1") == '"Name" <79161>'
    assert caller_id_string(None, None) == '"unknown" <unknown>'
    assert caller_id_string(None, "٣٣٣") == '"unknown" <unknown>'
    assert caller_id_string("", "+79161234567") == '"+79161234567" <+79161234567>'


def test_blocked_caller_gets_busy_or_the_message_context():
    rest = FakeRest()
    AriCallControl(rest, "pbx-crm").refuse("c1")
    AriCallControl(rest, "pbx-crm", "message").refuse("c2")
    assert rest.requests == [("DELETE", "/channels/c1", {"reason": "busy"}),
                             ("POST", "/channels/c2/continue",
                              {"context": "pbxcrm-blocked", "extension": "message", "priority": 1})]


class ScriptedRest(FakeRest):
    def __init__(self, replies):
        super().__init__()
        self.replies = replies

    def request(self, method, path, params=None, body=None):
        super().request(method, path, params, body)
        return succeed(self.replies.get((method, path)))


def test_after_a_restart_connected_calls_are_watched_and_orphans_cleaned_up():
    rest = ScriptedRest({
        ("GET", "/bridges"): [{"id": "br-c1", "channels": ["c1", "c1-leg1-ab"]},
                              {"id": "other", "channels": ["x"]}],
        ("GET", "/channels"): [
            {"id": "c1", "state": "Up", "dialplan": {"app_name": "Stasis", "app_data": "pbx-crm,inbound,+7495"}},
            {"id": "c1-leg1-ab", "state": "Up", "dialplan": {"app_name": "Stasis", "app_data": "pbx-crm,leg,c1"}},
            {"id": "c9-leg2-cd", "state": "Ringing", "dialplan": {}},
            {"id": "c5", "state": "Ring", "caller": {"number": "+79161234567"},
             "dialplan": {"app_name": "Stasis", "app_data": "pbx-crm,inbound,+74951110001"}},
        ],
    })
    app, _, clock, recorder = make_app((Caller("+79161234567", owner_id=1), DIRECTORY), rest=rest)
    app.adopt()
    assert app.adopted == {"c1": "br-c1", "c1-leg1-ab": "br-c1"}
    assert ("POST", "/applications/pbx-crm/subscription") in rest.paths()
    assert ("DELETE", "/channels/c9-leg2-cd") in rest.paths()  # orphan leg stops ringing
    assert "c5" in app.calls  # the waiting caller is routed again
    app.on_event(destroyed("c1-leg1-ab"))  # the manager hangs up
    assert ("DELETE", "/channels/c1") in rest.paths()
    assert ("DELETE", "/bridges/br-c1") in rest.paths()
    assert app.adopted == {}


def test_caller_leaving_the_bridge_without_channel_destroyed_hangs_up_the_phone():
    """Asterisk 22 sends a bridged caller's StasisEnd but no ChannelDestroyed (lab finding)."""
    app, rest, clock, recorder = make_app((Caller("+79161234567", owner_id=1), DIRECTORY))
    app.on_event(stasis_start("c1", "inbound", "+74951110001"))
    leg = rest.requests[0][2]["channelId"]
    app.on_event(stasis_start(leg, "leg", "c1"))
    app.on_event({"type": "StasisEnd", "channel": {"id": "c1"}})
    assert ("DELETE", f"/channels/{leg}") in rest.paths()
    assert recorder.of("ended")[-1][1] == "answered"
    assert app.calls == {}
    app.on_event(destroyed("c1"))  # should it come after all: nothing more happens
    assert len(recorder.of("ended")) == 1

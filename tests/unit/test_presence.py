"""Presence (which phones routing skips) and the *78 / *79 feature codes: tables of
snapshots, then the Stasis application fed ARI JSON (fake REST, Clock, no sockets)."""

from __future__ import annotations

import pytest
from twisted.internet.defer import fail, succeed

from pbx_daemon.telephony.presence import EndpointPresence, Presence, ari_presence, unavailable
from tests.unit.test_stasis import DIRECTORY, FakeRest, make_app, stasis_start
from pbx_daemon.telephony.routing.policy import Caller


def endpoint(name, state="online", channels=()):
    """An ARI Endpoint object as Asterisk 22 sends it."""
    return {"technology": "PJSIP", "resource": name, "state": state,
            "channel_ids": list(channels)}


ONLINE = EndpointPresence("101", "online")
CASES = [
    ("an online phone with no call is rung", {"101": ONLINE}, (), set()),
    ("a phone nobody registered (offline) is skipped",
     {"101": EndpointPresence("101", "offline")}, (), {"101"}),
    ("unknown state, no call: rung (when in doubt, ring)",
     {"101": EndpointPresence("101", "unknown")}, (), set()),
    ("a phone on a call the dialplan placed (internal) is skipped",
     {"102": EndpointPresence("102", "online", frozenset({"1700.5"}))}, (), {"102"}),
    ("a phone only ringing for our own other caller is rung again",
     {"101": EndpointPresence("101", "online", frozenset({"c1-leg1-ab"}))}, ("c1-leg1-ab",), set()),
    ("our ringing leg plus another call: skipped",
     {"101": EndpointPresence("101", "online", frozenset({"c1-leg1-ab", "1700.9"}))},
     ("c1-leg1-ab",), {"101"}),
    ("offline even with no channels, whatever our legs",
     {"103": EndpointPresence("103", "offline")}, ("x",), {"103"}),
]


@pytest.mark.parametrize("snapshot,own,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_unavailable(snapshot, own, expected):
    assert unavailable(snapshot, own) == frozenset(expected)


def test_from_ari_takes_pjsip_endpoints_only_and_tolerates_junk():
    assert EndpointPresence.from_ari(endpoint("101", "offline", ["a"])) == \
        EndpointPresence("101", "offline", frozenset({"a"}))
    assert EndpointPresence.from_ari({"technology": "IAX2", "resource": "x"}) is None
    assert EndpointPresence.from_ari({"technology": "PJSIP", "resource": ""}) is None
    assert EndpointPresence.from_ari("junk") is None
    assert EndpointPresence.from_ari({"technology": "PJSIP", "resource": "104", "state": 5,
                                      "channel_ids": "x"}) == EndpointPresence("104")


def test_snapshot_is_replaced_on_connect_updated_by_events_and_cleared_on_disconnect():
    p = Presence()
    p.replace([endpoint("101"), endpoint("104", "offline"), {"technology": "PJSIP"}])
    assert set(p.endpoints) == {"101", "104"} and p.unavailable() == {"104"}
    p.update(endpoint("104", "online"))  # the phone registered
    p.update(endpoint("101", "online", ["1700.1"]))  # and 101 took a call
    assert p.unavailable() == {"101"}
    p.clear()
    assert p.unavailable() == frozenset()


class ListingRest(FakeRest):
    def __init__(self, listed):
        super().__init__()
        self.listed = listed

    def request(self, method, path, params=None, body=None):
        super().request(method, path, params, body)
        return succeed(self.listed if path == "/endpoints/PJSIP" else None)


def test_ari_presence_lists_the_pjsip_endpoints():
    rest = ListingRest([endpoint("102")])
    ari_presence(rest)().addCallback(lambda listed: rest.requests.append(("got", listed, {})))
    assert rest.requests == [("GET", "/endpoints/PJSIP", {}), ("got", [endpoint("102")], {})]


def test_each_listing_replaces_the_snapshot_and_nothing_is_listed_while_disconnected():
    app, rest, seen = presence_app([endpoint("101", "offline")])
    assert app.refresh_presence() is None and rest.requests == []
    app.on_connect()
    assert app.presence.unavailable() == {"101"}
    rest.listed = [endpoint("101")]  # it registered
    app.refresh_presence()
    assert app.presence.unavailable() == frozenset()
    app.on_disconnect()
    assert app.presence.endpoints == {} and app.refresh_presence() is None


# ---- in the Stasis application --------------------------------------------------------------
def presence_app(listed):
    rest = ListingRest(listed)
    seen = []
    app, rest, clock, recorder = make_app((Caller("+79161234567", department_id=1), DIRECTORY),
                                          rest=rest)

    def lookup(caller_raw, dialled, busy, now):
        seen.append(busy)
        return succeed((Caller("+79161234567", department_id=1), DIRECTORY))

    app.inbound.lookup = lookup
    app.list_endpoints = ari_presence(rest)
    return app, rest, seen


def test_routing_is_told_which_phones_are_offline_or_on_a_foreign_call():
    app, rest, seen = presence_app([endpoint("101", "offline"), endpoint("102")])
    app.on_connect()
    app.on_event(stasis_start("c1", "inbound", "+74951110001"))
    assert seen[-1] == {"101"}
    # 101 registers; 102 is now on an internal call the dialplan placed.
    app.on_event({"type": "EndpointStateChange", "endpoint": endpoint("101")})
    app.on_event({"type": "EndpointStateChange", "endpoint": endpoint("102", channels=["1700.5"])})
    app.on_event(stasis_start("c2", "inbound", "+74951110001"))
    assert seen[-1] == {"102"}


def test_our_own_ringing_leg_does_not_make_a_phone_busy_for_the_next_caller():
    app, rest, seen = presence_app([endpoint("101"), endpoint("102")])
    app.on_connect()
    app.on_event(stasis_start("c1", "inbound", "+74951110001"))
    legs = [p["channelId"] for m, path, p in rest.requests if path == "/channels" and m == "POST"]
    assert len(legs) == 2  # 101 and 102 ring for c1
    app.on_event({"type": "EndpointStateChange", "endpoint": endpoint("101", channels=[legs[0]])})
    app.on_event(stasis_start("c2", "inbound", "+74951110001"))
    assert seen[-1] == frozenset()
    # c1 is answered at 101: now 101 is busy (the daemon's own bookkeeping says so too).
    app.on_event(stasis_start(legs[0], "leg", "c1"))
    app.on_event(stasis_start("c3", "inbound", "+74951110001"))
    assert seen[-1] == {"101"}


def test_a_stopped_leg_lingering_in_asterisk_is_not_a_call():
    """Caller c1 gave up; its legs were stopped but Asterisk still lists one on 102 for a
    moment: the next caller rings 102 anyway."""
    app, rest, seen = presence_app([endpoint("101"), endpoint("102")])
    app.on_connect()
    app.on_event(stasis_start("c1", "inbound", "+74951110001"))
    legs = [p["channelId"] for m, path, p in rest.requests if path == "/channels" and m == "POST"]
    app.on_event({"type": "StasisEnd", "channel": {"id": "c1"}})
    app.on_event({"type": "EndpointStateChange", "endpoint": endpoint("102", channels=[legs[1]])})
    app.on_event(stasis_start("c2", "inbound", "+74951110001"))
    assert seen[-1] == frozenset()


def test_presence_listing_failing_rings_everyone():
    app, rest, seen = presence_app([])
    app.list_endpoints = lambda: fail(RuntimeError("ARI 500"))
    app.on_connect()
    app.on_event(stasis_start("c1", "inbound", "+74951110001"))
    assert seen[-1] == frozenset()


# ---- *78 / *79 ------------------------------------------------------------------------------
@pytest.mark.parametrize("args,stored,expected", [
    (("dnd", "on", "101"), True, ("101", True, "on")),
    (("dnd", "off", "101"), True, ("101", False, "off")),
    (("dnd", "on", "999"), False, ("999", True, "failed")),
], ids=["*78 sets DND and confirms", "*79 clears it", "a phone no employee has: failed"])
def test_feature_code_stores_dnd_and_continues_to_the_confirmation(args, stored, expected):
    app, rest, clock, recorder = make_app()
    calls = []
    app.set_dnd = lambda endpoint, on: calls.append((endpoint, on)) or succeed(stored)
    app.on_event(stasis_start("1700.7", *args))
    assert calls == [expected[:2]]
    assert rest.requests[-1] == ("POST", "/channels/1700.7/continue",
                                 {"context": "pbxcrm-feature-done", "extension": expected[2],
                                  "priority": 1})


@pytest.mark.parametrize("args", [("dnd", "on"), ("dnd", "on", "bad name;x")])
def test_feature_code_without_a_valid_endpoint_stores_nothing(args):
    app, rest, clock, recorder = make_app()
    calls = []
    app.set_dnd = lambda endpoint, on: calls.append((endpoint, on)) or succeed(True)
    app.on_event(stasis_start("1700.7", *args))
    assert calls == []
    assert rest.requests[-1][2]["extension"] == "failed"


def test_storing_dnd_failing_says_so_on_the_phone():
    app, rest, clock, recorder = make_app()
    app.set_dnd = lambda endpoint, on: fail(RuntimeError("database away"))
    app.on_event(stasis_start("1700.7", "dnd", "on", "101"))
    assert rest.requests[-1][2]["extension"] == "failed"


def test_sql_set_dnd_sets_the_active_employee_of_the_phone(tmp_path):
    from pbx_daemon import db
    from pbx_daemon.crm import models as m
    from pbx_daemon.telephony.feature_codes import sql_set_dnd

    url = f"sqlite:///{tmp_path}/dnd.sqlite3"
    db.upgrade(url)
    with db.make_session_factory(db.make_engine(url))() as s:
        s.add_all([m.Employee(full_name="Anna", login="anna", sip_endpoint="101"),
                   m.Employee(full_name="Gone", login="gone", sip_endpoint="102", active=False)])
        s.commit()
        assert sql_set_dnd(s, "101", True) is True
        assert sql_set_dnd(s, "102", True) is False
        assert sql_set_dnd(s, "999", True) is False
        assert [e.dnd for e in s.query(m.Employee).order_by(m.Employee.id)] == [True, False]


def test_a_channel_that_ended_frees_its_phone_at_once_and_a_late_listing_does_not_bring_it_back():
    from pbx_daemon.telephony.presence import Presence

    presence = Presence()
    listing = [{"technology": "PJSIP", "resource": "101", "state": "online", "channel_ids": ["c1"]}]
    presence.replace(listing)
    assert presence.unavailable() == {"101"}
    presence.channel_gone("c1")
    assert presence.unavailable() == frozenset()
    presence.replace(listing)  # asked for before c1 ended, answered after
    assert presence.unavailable() == frozenset()
    presence.replace([{**listing[0], "channel_ids": ["c2"]}])  # a new call
    assert presence.unavailable() == {"101"}

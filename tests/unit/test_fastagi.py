"""The FastAGI protocol over an in-memory transport: env in, SET VARIABLE commands out."""

from __future__ import annotations

from twisted.internet.defer import Deferred, succeed
from twisted.internet.testing import StringTransport

from pbx_daemon.telephony.fastagi import FastAGIFactory

ENV = (b"agi_network: yes\nagi_network_script: route\nagi_request: agi://127.0.0.1:4573/route\n"
       b"agi_channel: PJSIP/pbxcrm-trunk-00000001\nagi_callerid: +79161234567\n"
       b"agi_extension: s\nagi_arg_1: +74951110001\n\n")


def connect(route):
    seen = []

    def recording_route(caller, dialled):
        seen.append((caller, dialled))
        return route(caller, dialled)

    proto = FastAGIFactory(recording_route).buildProtocol(None)
    transport = StringTransport()
    proto.makeConnection(transport)
    return proto, transport, seen


def test_route_variables_are_set_one_command_at_a_time_then_the_connection_closes():
    proto, transport, seen = connect(lambda c, d: succeed([("PBXCRM_STEPS", "1"),
                                                          ("PBXCRM_ROUTE", "ok")]))
    proto.dataReceived(ENV)
    assert seen == [("+79161234567", "+74951110001")]
    assert transport.value() == b'SET VARIABLE PBXCRM_STEPS "1"\n'
    transport.clear()
    proto.dataReceived(b"200 result=1\n")
    assert transport.value() == b'SET VARIABLE PBXCRM_ROUTE "ok"\n'
    assert not transport.disconnecting
    proto.dataReceived(b"200 result=1\n")
    assert transport.disconnecting


def test_env_can_arrive_in_pieces():
    proto, transport, seen = connect(lambda c, d: succeed([]))
    for i in range(0, len(ENV), 7):
        proto.dataReceived(ENV[i:i + 7])
    assert seen == [("+79161234567", "+74951110001")] and transport.disconnecting


def test_a_refused_command_stops_before_route_ok():
    proto, transport, _ = connect(lambda c, d: succeed([("PBXCRM_STEPS", "1"), ("PBXCRM_ROUTE", "ok")]))
    proto.dataReceived(ENV)
    transport.clear()
    proto.dataReceived(b"510 Invalid or unknown command\n")
    assert b"PBXCRM_ROUTE" not in transport.value() and transport.disconnecting


def test_a_failed_lookup_sets_nothing_so_the_dialplan_falls_back():
    pending = Deferred()
    proto, transport, _ = connect(lambda c, d: pending)
    proto.dataReceived(ENV)
    pending.errback(RuntimeError("database down"))
    assert transport.value() == b"" and transport.disconnecting


def test_a_lookup_past_the_deadline_is_one_warning_not_a_traceback(monkeypatch):
    from twisted.internet.defer import TimeoutError
    from twisted.logger import globalLogPublisher

    seen = []
    globalLogPublisher.addObserver(seen.append)
    try:
        pending = Deferred()
        proto, transport, _ = connect(lambda c, d: pending)
        proto.dataReceived(ENV)
        pending.errback(TimeoutError(0.5, "Deferred"))
    finally:
        globalLogPublisher.removeObserver(seen.append)
    ours = [e for e in seen if e.get("log_namespace") == "pbx_daemon.fastagi"]
    assert [e["log_level"].name for e in ours] == ["warn"]
    assert "log_failure" not in ours[0] and "deadline" in ours[0]["log_format"]
    assert transport.value() == b"" and transport.disconnecting


def test_unknown_script_is_closed_without_a_lookup():
    proto, transport, seen = connect(lambda c, d: succeed([]))
    proto.dataReceived(ENV.replace(b"script: route", b"script: other"))
    assert seen == [] and transport.disconnecting


def test_overlong_lines_close_the_connection():
    proto, transport, _ = connect(lambda c, d: succeed([]))
    proto.dataReceived(b"agi_callerid: " + b"9" * 10000 + b"\n")
    assert transport.disconnecting

"""Click-to-call and recordings through the Stasis application (fake REST, Clock)."""

from __future__ import annotations

import pytest
from twisted.internet.defer import fail

from pbx_daemon.telephony.ari.rest import AriError
from pbx_daemon.telephony.api_client import ClickToCallError
from pbx_daemon.telephony.calls.outbound import ClickToCallRequest
from tests.unit.test_stasis import destroyed, make_app

REQ = ClickToCallRequest(7, "101", "+79161234567", ext="12", shown_name="Иван Петров",
                         caller_id="+74951234567")


def started(channel_id, *args):
    return {"type": "StasisStart", "args": list(args), "channel": {"id": channel_id}}


def connected_app():
    app, rest, clock, recorder = make_app()
    app.on_connect()
    return app, rest, clock, recorder


def test_click_to_call_rings_the_employee_then_dials_the_client_through_the_trunk():
    app, rest, clock, recorder = connected_app()
    call_id = app.click_to_call(REQ)
    method, path, params = rest.requests[-1]
    assert (method, path) == ("POST", "/channels")
    assert params["endpoint"] == "PJSIP/101" and params["channelId"] == call_id
    assert params["appArgs"] == f"c2c-employee,{call_id}"
    assert params["callerId"] == '"Иван Петров" <+79161234567>'
    assert "101" in app.busy_endpoints()  # inbound routing skips the employee now

    app.on_event(started(call_id, "c2c-employee", call_id))
    method, path, params = rest.requests[-1]
    assert params["endpoint"] == "PJSIP/+79161234567@pbxcrm-trunk"
    assert params["originator"] == call_id and params["callerId"] == "+74951234567"
    assert ("POST", f"/channels/{call_id}/play") in rest.paths()

    app.on_event(started(f"{call_id}-client", "c2c-client", call_id))
    paths = rest.paths()
    assert ("POST", f"/bridges/br-{call_id}/record") in paths
    assert ("POST", f"/channels/{call_id}-client/dtmf") in paths
    assert app.call_state(call_id)["state"] == "connected"

    app.on_event(destroyed(call_id))
    assert ("DELETE", f"/channels/{call_id}-client") in rest.paths()
    assert ("DELETE", f"/bridges/br-{call_id}") in rest.paths()
    assert app.call_state(call_id)["outcome"] == "answered"
    assert "101" not in app.busy_endpoints()
    clock.advance(301)
    assert app.call_state(call_id) is None


def test_click_to_call_is_refused_while_asterisk_is_not_connected_or_the_employee_is_busy():
    app, rest, _, _ = make_app()
    with pytest.raises(ClickToCallError) as e:
        app.click_to_call(REQ)
    assert e.value.status == 503 and rest.requests == []
    app.on_connect()
    app.click_to_call(REQ)
    with pytest.raises(ClickToCallError) as e:
        app.click_to_call(REQ)
    assert e.value.status == 409
    app.on_disconnect()
    assert not app.connected


def test_failed_origination_ends_the_call_as_failed():
    app, rest, _, recorder = connected_app()
    rest.request = lambda *a, **k: fail(AriError(500, "Allocation failed"))
    call_id = app.click_to_call(REQ)
    assert app.call_state(call_id)["outcome"] == "failed"
    assert recorder.of("outbound_ended")[0][2] == "failed"


def test_busy_client_is_stored_as_busy():
    app, rest, _, recorder = connected_app()
    call_id = app.click_to_call(REQ)
    app.on_event(started(call_id, "c2c-employee", call_id))
    app.on_event(destroyed(f"{call_id}-client", cause=17))
    assert recorder.of("outbound_ended")[0][2] == "busy"
    assert ("DELETE", f"/channels/{call_id}") in rest.paths()


def test_unknown_click_to_call_legs_are_stopped():
    app, rest, _, _ = connected_app()
    app.on_event(started("c2c-stale", "c2c-employee", "c2c-stale"))
    assert ("DELETE", "/channels/c2c-stale") in rest.paths()


def test_recording_finished_hands_the_recording_to_the_store():
    app, _, _, recorder = connected_app()
    app.on_event({"type": "RecordingFinished",
                  "recording": {"name": "1732.5", "format": "wav", "state": "done"}})
    assert recorder.of("recording_finished") == [("recording_finished", "1732.5")]


def test_recording_is_attached_even_when_asterisk_sends_no_recording_finished():
    app, rest, clock, recorder = connected_app()
    plain = rest.request

    def request(method, path, params=None, body=None):
        if path.startswith("/recordings/live/"):
            rest.requests.append((method, path, {}))
            return fail(AriError(404, "Recording not found"))
        return plain(method, path, params, body)

    rest.request = request
    call_id = app.click_to_call(REQ)
    app.on_event(started(call_id, "c2c-employee", call_id))
    app.on_event(started(f"{call_id}-client", "c2c-client", call_id))
    app.on_event(destroyed(f"{call_id}-client"))
    assert recorder.of("recording_finished") == []
    clock.advance(2)
    assert ("GET", f"/recordings/live/{call_id}") in rest.paths()
    assert recorder.of("recording_finished") == [("recording_finished", call_id)]


def test_no_second_attach_when_recording_finished_came():
    app, rest, clock, recorder = connected_app()
    call_id = app.click_to_call(REQ)
    app.on_event(started(call_id, "c2c-employee", call_id))
    app.on_event(started(f"{call_id}-client", "c2c-client", call_id))
    app.on_event(destroyed(call_id))
    app.on_event({"type": "RecordingFinished", "recording": {"name": call_id}})
    clock.advance(30)
    assert recorder.of("recording_finished") == [("recording_finished", call_id)]
    assert ("GET", f"/recordings/live/{call_id}") not in rest.paths()

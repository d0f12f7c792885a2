"""Recordings and a card's calls in the admin: login, the access rules (a manager never
hears another manager's client), Range requests; click-to-call errors."""

from __future__ import annotations

import re
import wave
from datetime import datetime, timezone

import pytest

from admin.app import create_app
from pbx_daemon.crm import models as m
from pbx_daemon.config import load_config
from tests.unit.helpers import fast_hash

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def app(tmp_path):
    url = f"sqlite:///{tmp_path}/admin.sqlite3"
    store = tmp_path / "recordings"
    store.mkdir()
    config = load_config(None, {"PBX_CRM_DATABASE_URL": url, "PBX_CRM_ADMIN_SECRET_KEY": "s" * 40,
                                "PBX_CRM_RECORDINGS_DIR": str(store),
                                "PBX_CRM_API_LISTEN": "tcp:1:interface=127.0.0.1",
                                "PBX_CRM_API_TOKEN": "t" * 24})
    app = create_app(config)
    with app.app_context():
        db = app.extensions["sqlalchemy"]
        m.Base.metadata.create_all(db.engine)
        s = db.session
        anna, boris = (m.Employee(full_name=n.title(), login=n, role="manager",
                                  password_hash=fast_hash(f"{n}-Password-1"))
                       for n in ("anna", "boris"))
        owner = m.Employee(full_name="Owner", login="owner", role="owner",
                           password_hash=fast_hash("owner-Password-1"))
        s.add_all([anna, boris, owner])
        s.flush()
        company = m.Company(name="Ромашка", responsible_id=anna.id)
        s.add(company)
        s.flush()
        call = m.Call(linkedid="1732.7", direction="inbound", caller="+79161234567",
                      started_at=T0, outcome="answered", company_id=company.id,
                      answered_by_id=anna.id)
        s.add(call)
        s.flush()
        with wave.open(str(store / "1732.7.wav"), "wb") as w:
            w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
            w.writeframes(b"\x01\x00" * 8000)
        s.add(m.Recording(call_id=call.id, path="1732.7.wav", size_bytes=(store / "1732.7.wav").stat().st_size))
        # A row pointing outside the store must never be served.
        evil = m.Call(linkedid="evil", direction="inbound", started_at=T0, outcome="answered",
                      company_id=company.id)
        s.add(evil)
        s.flush()
        s.add(m.Recording(call_id=evil.id, path="../admin.sqlite3"))
        s.commit()
        app.ids = {"call": call.id, "company": company.id, "evil": evil.id}
    return app


def _login(client, login):
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    client.post("/login", data={"login": login, "password": f"{login}-Password-1", "csrf_token": token})
    return token


def test_recording_needs_a_login(app):
    r = app.test_client().get(f"/calls/{app.ids['call']}/recording")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_responsible_manager_and_owner_hear_it_with_range_requests(app):
    for who in ("anna", "owner"):
        client = app.test_client()
        _login(client, who)
        r = client.get(f"/calls/{app.ids['call']}/recording")
        assert r.status_code == 200 and r.mimetype == "audio/wav" and r.data[:4] == b"RIFF"
        part = client.get(f"/calls/{app.ids['call']}/recording", headers={"Range": "bytes=0-99"})
        assert part.status_code == 206 and len(part.data) == 100


def test_another_manager_gets_403_for_the_recording_and_the_card(app):
    client = app.test_client()
    _login(client, "boris")
    assert client.get(f"/calls/{app.ids['call']}/recording").status_code == 403
    assert client.get(f"/cards/company/{app.ids['company']}/calls", follow_redirects=True).status_code == 403
    assert client.get("/calls/999999/recording").status_code == 404


def test_a_path_outside_the_store_is_never_served(app):
    client = app.test_client()
    _login(client, "owner")
    assert client.get(f"/calls/{app.ids['evil']}/recording").status_code == 404


def test_card_page_lists_calls_with_a_player(app):
    client = app.test_client()
    _login(client, "anna")
    old_link = client.get(f"/cards/company/{app.ids['company']}/calls")
    assert old_link.status_code == 301
    assert old_link.headers["Location"].endswith(f"/admin/card/company/{app.ids['company']}")
    page = client.get(old_link.headers["Location"]).get_data(as_text=True)
    assert "<audio" in page and f"/calls/{app.ids['call']}/recording" in page
    assert "8 (916) 123-45-67" in page


def test_click_to_call_needs_login_and_csrf_and_passes_the_daemons_answer(app, monkeypatch):
    import admin.calls
    from pbx_daemon.telephony.api_client import ClickToCallError

    asked = []

    def fake(base, token, *, employee, number, card):
        asked.append((employee, number, card))
        if number == "bad":
            raise ClickToCallError(400, "phone number 'bad' contains letters or symbols")
        return {"call_id": "c2c-1", "state": "employee_ringing", "number": "+79161234567"}

    monkeypatch.setattr(admin.calls, "click_to_call", fake)
    client = app.test_client()
    assert client.post("/click-to-call", data={"number": "+79161234567"}).status_code in (400, 401)
    _login(client, "anna")
    home = client.get("/admin/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', home).group(1)
    assert client.post("/click-to-call", data={"number": "+79161234567"}).status_code == 400  # no CSRF
    assert asked == []
    r = client.post("/click-to-call", data={"number": "8 916 123-45-67", "card_kind": "company",
                                             "card_id": str(app.ids["company"]), "csrf_token": token})
    assert r.status_code == 202 and r.get_json()["call_id"] == "c2c-1"
    anna_id = asked[0][0]
    assert asked[0][1:] == ("8 916 123-45-67", {"kind": "company", "id": app.ids["company"]})
    r = client.post("/click-to-call", data={"number": "bad", "csrf_token": token})
    assert r.status_code == 400 and "letters" in r.get_json()["detail"]
    assert r.get_json()["error"] == "Этот номер нельзя набрать: проверьте его."
    r = client.post("/click-to-call", data={"number": "1", "card_kind": "ship", "card_id": "1",
                                             "csrf_token": token})
    assert r.status_code == 400
    assert all(a[0] == anna_id for a in asked)  # always the logged-in employee's phone

"""Webhooks in the admin (issue 18): admins only; the secret made by the server; URLs
checked; "Send test event" queues a ping for that webhook alone; the deliveries log and
"Retry now" of a failed delivery."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from pbx_daemon.crm import models as m
from pbx_daemon.db import make_engine, make_session_factory
from tests.unit.helpers import admin_login, staffed_admin

PEOPLE = [("root", "admin", None), ("olga", "owner", None), ("hank", "head", "Sales"),
          ("mary", "manager", "Sales")]


@pytest.fixture
def admin_app(tmp_path):
    """The app, outside any app context (each request gets its own, as in production), and
    a session on its database."""
    with staffed_admin(f"sqlite:///{tmp_path}/a.sqlite3", PEOPLE) as (app, s, _, staff):
        s.commit()
    engine = make_engine(f"sqlite:///{tmp_path}/a.sqlite3")
    with make_session_factory(engine)() as session:
        yield app, session
    engine.dispose()


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)


@pytest.mark.parametrize("who", ["olga", "hank", "mary"])
@pytest.mark.parametrize("url", ["/admin/webhooks/", "/admin/webhooks/new/",
                                 "/admin/webhook_deliveries/"])
def test_only_admins_get_in(admin_app, who, url):
    app, _ = admin_app
    assert admin_login(app, who).get(url).status_code == 403


def test_non_admins_cannot_post_a_ping_or_a_retry(admin_app):
    app, s = admin_app
    hook = m.Webhook(name="erp", url="http://erp.example/hook")
    s.add(hook)
    s.commit()
    client = admin_login(app, "hank")
    token = _csrf(client.get("/admin/my-tasks/").get_data(as_text=True))
    assert client.post(f"/admin/webhooks/{hook.id}/ping", data={"csrf_token": token}).status_code == 403
    assert client.post("/admin/webhook_deliveries/1/retry", data={"csrf_token": token}).status_code == 403
    assert s.scalar(select(m.WebhookEvent)) is None


def test_an_admin_creates_a_webhook_with_a_server_made_secret_and_pings_it(admin_app):
    app, s = admin_app
    client = admin_login(app, "root")
    token = _csrf(client.get("/admin/webhooks/new/").get_data(as_text=True))
    bad = client.post("/admin/webhooks/new/", data={
        "csrf_token": token, "name": "erp", "url": "https://u:p@erp.example/hook", "active": "y"})
    assert s.scalar(select(m.Webhook)) is None and "в адресе не должно быть имени пользователя и пароля" in bad.get_data(as_text=True)
    s.expire_all()
    page = client.post("/admin/webhooks/new/", data={
        "csrf_token": token, "name": "erp", "url": "https://erp.example/hook", "active": "y",
        "events": ["call.ended", "task.done"], "secret": "mine"}, follow_redirects=True)
    s.expire_all()
    hook = s.scalar(select(m.Webhook))
    assert hook.events == "call.ended task.done" and len(hook.secret) == 64 and hook.secret != "mine"
    assert hook.secret in page.get_data(as_text=True)  # shown once, to the admin
    listing = client.get("/admin/webhooks/").get_data(as_text=True)
    assert hook.secret not in listing
    client.post(f"/admin/webhooks/{hook.id}/ping", data={"csrf_token": _csrf(listing)})
    s.expire_all()
    event = s.scalar(select(m.WebhookEvent))
    assert (event.kind, event.webhook_id) == ("ping", hook.id)


def test_the_deliveries_log_filters_and_retries_a_failed_one(admin_app):
    app, s = admin_app
    now = datetime(2026, 12, 1, tzinfo=timezone.utc)
    hook = m.Webhook(name="erp", url="http://erp.example/hook")
    event = m.WebhookEvent(kind="call.ended", payload={}, fanned_out=True)
    s.add_all([hook, event])
    s.flush()
    failed = m.WebhookDelivery(webhook_id=hook.id, event_id=event.id, status="failed", attempts=9,
                               next_attempt_at=now, last_status_code=502, last_error="HTTP 502")
    s.add(failed)
    s.commit()
    client = admin_login(app, "root")
    page = client.get("/admin/webhook_deliveries/").get_data(as_text=True)
    assert "HTTP 502" in page and "call.ended" in page and "Повторить сейчас" in page
    client.post(f"/admin/webhook_deliveries/{failed.id}/retry", data={"csrf_token": _csrf(page)})
    s.expire_all()
    assert s.get(m.WebhookDelivery, failed.id).status == "pending"


def test_the_recording_link_in_webhooks_is_the_rest_apis_audio_route(admin_app):
    """``recording.api_url`` (store.RECORDING_AUDIO) must stay a route of the REST API."""
    from pbx_daemon.crm.webhooks.store import RECORDING_AUDIO

    app, _ = admin_app
    endpoint, values = app.url_map.bind("crm.example.ru").match(RECORDING_AUDIO.format(id=17))
    assert (endpoint, values) == ("rest_api.get_recording_audio", {"recording_id": 17})


def test_the_deliveries_log_lists_what_a_prune_left(admin_app, tmp_path):
    """Old final deliveries are gone from the log with their events; a pending one stays."""
    from datetime import timedelta

    from pbx_daemon.crm.webhooks.store import WebhookStore

    app, s = admin_app
    now = datetime(2026, 12, 1, tzinfo=timezone.utc)
    old = now - timedelta(days=40)
    hook = m.Webhook(name="erp", url="http://erp.example/hook")
    gone = m.WebhookEvent(kind="task.done", payload={}, fanned_out=True, created_at=old)
    kept = m.WebhookEvent(kind="call.ended", payload={}, fanned_out=True, created_at=old)
    s.add_all([hook, gone, kept])
    s.flush()
    s.add_all([m.WebhookDelivery(webhook_id=hook.id, event_id=gone.id, status="failed", attempts=30,
                                 next_attempt_at=old, last_status_code=410, last_error="HTTP 410",
                                 created_at=old),
               m.WebhookDelivery(webhook_id=hook.id, event_id=kept.id, status="pending", attempts=3,
                                 next_attempt_at=old, last_status_code=502, last_error="HTTP 502",
                                 created_at=old)])
    s.commit()
    engine = make_engine(f"sqlite:///{tmp_path}/a.sqlite3")
    assert WebhookStore(make_session_factory(engine), "").prune(now, 30).events == 1
    engine.dispose()
    page = admin_login(app, "root").get("/admin/webhook_deliveries/").get_data(as_text=True)
    assert "HTTP 502" in page and "call.ended" in page
    assert "HTTP 410" not in page and "task.done" not in page

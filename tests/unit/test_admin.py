"""The admin app in-process (Flask test client, SQLite in memory): every page needs a
login, roles gate the views, forms need a CSRF token."""

from __future__ import annotations

import re

import pytest

from admin.app import create_app
from pbx_daemon.crm import models as m
from pbx_daemon.config import load_config
from tests.unit.helpers import fast_hash


@pytest.fixture
def app(tmp_path):
    url = f"sqlite:///{tmp_path}/admin.sqlite3"
    config = load_config(None, {"PBX_CRM_DATABASE_URL": url,
                                "PBX_CRM_ADMIN_SECRET_KEY": "s" * 40})
    app = create_app(config)
    with app.app_context():
        db = app.extensions["sqlalchemy"]
        m.Base.metadata.create_all(db.engine)
        db.session.add_all([
            m.Employee(full_name="Admin", login="admin", role="admin",
                       password_hash=fast_hash("Admin-Password-1")),
            m.Employee(full_name="Manager", login="manager", role="manager",
                       password_hash=fast_hash("Manager-Password-1")),
            m.Employee(full_name="Gone", login="gone", role="admin", active=False,
                       password_hash=fast_hash("Gone-Password-1")),
        ])
        db.session.commit()
    return app


def _login(client, login, password):
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    return client.post("/login", data={"login": login, "password": password, "csrf_token": token})


@pytest.mark.parametrize("path", ["/admin/", "/admin/employee/", "/admin/call/",
                                  "/admin/department/new/"])
def test_every_page_needs_a_login(app, path):
    response = app.test_client().get(path)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_admin_logs_in_and_sees_employees_without_password_hashes(app):
    client = app.test_client()
    assert _login(client, "admin", "Admin-Password-1").status_code == 302
    page = client.get("/admin/employee/").get_data(as_text=True)
    assert "Manager" in page and "scrypt" not in page and "password_hash" not in page


def test_wrong_password_and_inactive_employee_are_refused(app):
    client = app.test_client()
    # Russian by default (seeds' users), English when the browser asks for it.
    assert "Неверный логин или пароль" in _login(client, "admin", "nope").get_data(as_text=True)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert "Wrong login or password" in _login(client, "gone", "Gone-Password-1").get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_manager_cannot_open_the_telephony_settings(app):
    client = app.test_client()
    _login(client, "manager", "Manager-Password-1")
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/employee/").status_code == 403


def test_login_without_csrf_token_is_refused(app):
    """No session: back to the login page with a message, not logged in."""
    client = app.test_client()
    response = client.post("/login", data={"login": "admin", "password": "Admin-Password-1"})
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert client.get("/admin/").status_code == 302  # still not logged in


def test_login_never_redirects_off_site(app):
    client = app.test_client()
    page = client.get("/login?next=//evil.example/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post("/login?next=//evil.example/",
                           data={"login": "admin", "password": "Admin-Password-1", "csrf_token": token})
    assert response.headers["Location"].endswith("/admin/")


def test_every_url_in_the_app_needs_a_login(app):
    """Walk the URL map: without a session every page redirects to the login page or is
    refused; only the login page, static files, the token-guarded API and the REST API's
    OpenAPI document answer (the REST API itself: 401 without a token)."""
    public = {"/login", "/api/inquiries", "/api/v1/openapi.json"}
    client = app.test_client()
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint.endswith("static") or str(rule) in public:
            continue
        url = str(rule)
        for arg in rule.arguments:
            url = url.replace(f"<int:{arg}>", "1").replace(f"<{arg}>", "company")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            r = client.open(url, method=method)
            if r.status_code == 302:
                assert "/login" in r.headers["Location"] or url == "/", (method, url)
            else:
                assert r.status_code in (400, 401, 403), (method, url, r.status_code)
            checked += 1
    assert checked > 40

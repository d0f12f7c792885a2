"""The admin behind a reverse proxy (issue 16): X-Forwarded-* headers count only with
``admin.trusted_proxies`` set, and then exactly that many hops of them."""

from __future__ import annotations

import pytest
from flask import request, url_for
from twisted.internet.task import Clock

from pbx_daemon.config import load_config, validate
from tests.unit.test_admin_doors import build, csrf

PUBLIC = "crm.example.ru"
NGINX = "127.0.0.1"  # the peer Twisted sees when nginx runs on the same box


def behind(tmp_path, trusted: int | None, clock=None):
    """An app with a probe page saying what it believes about the request."""
    env = {} if trusted is None else {"PBX_CRM_ADMIN_TRUSTED_PROXIES": str(trusted)}
    app = build(tmp_path, clock, **env)

    @app.route("/_probe")
    def probe():
        return {"addr": request.remote_addr, "scheme": request.scheme, "host": request.host,
                "login": url_for("login", _external=True)}

    return app


def forwarded(client, xff: str, proto: str = "https", host: str = PUBLIC, port: str | None = "443"):
    """What nginx (or a client forging it) sends."""
    client.environ_base.update({"REMOTE_ADDR": NGINX, "HTTP_X_FORWARDED_FOR": xff,
                                "HTTP_X_FORWARDED_PROTO": proto, "HTTP_X_FORWARDED_HOST": host})
    if port is not None:
        client.environ_base["HTTP_X_FORWARDED_PORT"] = port
    return client


def try_login(client, login, password, referer=False):
    """Log in as a browser does: the form's CSRF token, and (``referer``) the page's URL."""
    headers = {"Referer": f"https://{PUBLIC}/login"} if referer else {}
    return client.post("/login", data={"login": login, "password": password, "csrf_token": csrf(client)},
                       headers=headers)


def test_trusted_proxies_defaults_to_0_and_is_checked():
    assert load_config(None, {}).admin.trusted_proxies == 0
    for value, ok in (("0", True), ("1", True), ("5", True), ("6", False), ("-1", False)):
        config = load_config(None, {"PBX_CRM_ADMIN_TRUSTED_PROXIES": value})
        assert any(p.key == "admin.trusted_proxies" for p in validate(config)) is not ok


def test_by_default_forged_forwarded_headers_change_nothing(tmp_path):
    app = behind(tmp_path, None)
    seen = forwarded(app.test_client(), "198.51.100.9").get("/_probe").get_json()
    assert seen == {"addr": NGINX, "scheme": "http", "host": "localhost",
                    "login": "http://localhost/login"}


def test_by_default_a_forged_x_forwarded_for_does_not_escape_the_address_throttle(tmp_path):
    clock = Clock()
    app = behind(tmp_path, 0, clock)
    client = app.test_client()
    for i in range(10):  # ENV: 10 failures per address; a new forged address each time
        forwarded(client, f"198.51.100.{i}")
        try_login(client, f"nobody{i}", "wrong")
    forwarded(client, "203.0.113.77")
    assert try_login(client, "admin", "admin-Password-1").status_code == 429


def test_by_default_a_forged_x_forwarded_proto_does_not_make_a_referrer_same_site(tmp_path):
    client = forwarded(behind(tmp_path, None).test_client(), "198.51.100.9")
    client.environ_base["HTTP_HOST"] = PUBLIC  # nginx passes the public host on as Host
    response = client.post("/lang/en", data={"csrf_token": csrf(client)},
                           headers={"Referer": f"https://{PUBLIC}/admin/queue/"})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"


def test_one_trusted_proxy_gives_the_client_address_https_and_the_public_host(tmp_path):
    app = behind(tmp_path, 1)
    seen = forwarded(app.test_client(), "198.51.100.9").get("/_probe").get_json()
    assert seen == {"addr": "198.51.100.9", "scheme": "https", "host": PUBLIC,
                    "login": f"https://{PUBLIC}/login"}
    # A redirect built from the public URL: back to the page the language was changed on.
    client = forwarded(app.test_client(), "198.51.100.9")
    response = client.post("/lang/en", data={"csrf_token": csrf(client)},
                           headers={"Referer": f"https://{PUBLIC}/admin/queue/"})
    assert response.headers["Location"] == f"https://{PUBLIC}/admin/queue/"


def test_a_proxy_on_another_port_keeps_it_in_the_public_host(tmp_path):
    app = behind(tmp_path, 1)
    seen = forwarded(app.test_client(), "198.51.100.9", port="8443").get("/_probe").get_json()
    assert seen["host"] == f"{PUBLIC}:8443" and seen["login"] == f"https://{PUBLIC}:8443/login"


def test_behind_one_proxy_logins_are_throttled_per_forwarded_client_address(tmp_path):
    clock = Clock()
    app = behind(tmp_path, 1, clock)
    attacker = app.test_client()
    for i in range(10):
        # What the client forges nginx keeps and appends the real peer: only that counts.
        forwarded(attacker, f"192.0.2.{i}, 198.51.100.9")
        try_login(attacker, f"nobody{i}", "wrong", referer=True)
    assert try_login(attacker, "admin", "admin-Password-1", referer=True).status_code == 429
    # Someone else through the same nginx (same peer address) is not locked out.
    colleague = forwarded(app.test_client(), "203.0.113.5")
    response = try_login(colleague, "admin", "admin-Password-1", referer=True)
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    assert colleague.get("/admin/").status_code == 200
    clock.advance(601)
    assert try_login(attacker, "admin", "admin-Password-1", referer=True).status_code == 302


def test_over_https_a_login_post_needs_a_same_host_referrer(tmp_path):
    """Flask-WTF's HTTPS check: the proxy has to pass the public host on."""
    app = behind(tmp_path, 1)
    client = forwarded(app.test_client(), "198.51.100.9")
    refused = try_login(client, "admin", "admin-Password-1")  # no Referer
    assert refused.status_code == 302 and refused.headers["Location"].startswith("/login")
    assert client.get("/admin/").status_code == 302
    assert try_login(client, "admin", "admin-Password-1", referer=True).status_code == 302


@pytest.mark.parametrize("trusted, xff, proto, addr, scheme", [
    (1, "192.0.2.1, 198.51.100.9, 203.0.113.5", "http, http, https", "203.0.113.5", "https"),
    (2, "192.0.2.1, 198.51.100.9, 203.0.113.5", "http, https, http", "198.51.100.9", "https"),
    (3, "192.0.2.1, 198.51.100.9, 203.0.113.5", "https, http, http", "192.0.2.1", "https"),
    (2, "203.0.113.5", "https", NGINX, "http"),  # fewer hops than trusted: none believed
])
def test_exactly_n_hops_are_trusted(tmp_path, trusted, xff, proto, addr, scheme):
    """Each hop appends: the Nth value from the end is what the outermost trusted proxy saw."""
    client = behind(tmp_path, trusted).test_client()
    client.environ_base.update({"REMOTE_ADDR": NGINX, "HTTP_X_FORWARDED_FOR": xff,
                                "HTTP_X_FORWARDED_PROTO": proto})
    seen = client.get("/_probe").get_json()
    assert (seen["addr"], seen["scheme"]) == (addr, scheme)


def test_x_forwarded_prefix_is_never_believed(tmp_path):
    app = behind(tmp_path, 1)
    client = forwarded(app.test_client(), "198.51.100.9")
    client.environ_base["HTTP_X_FORWARDED_PREFIX"] = "/evil"
    assert client.get("/_probe").get_json()["login"] == f"https://{PUBLIC}/login"


def test_an_https_public_url_makes_the_session_cookie_secure(tmp_path):
    app = build(tmp_path, None, PBX_CRM_ADMIN_PUBLIC_URL=f"https://{PUBLIC}", PBX_CRM_ADMIN_TRUSTED_PROXIES="1")
    client = forwarded(app.test_client(), "198.51.100.9")
    client.get("/login")
    cookie = client.get_cookie("session", domain=PUBLIC) or client.get_cookie("session")
    assert cookie is not None and cookie.secure and cookie.http_only
    assert csrf(client)  # the login form renders through the proxy

"""Employees' SIP phones in the admin (Flask test client, SQLite): the SIP password is
made by an admin's POST, shown once on a page nobody caches, stored only as its HA1;
heads and managers get nothing; renaming an endpoint cancels its credentials; every
change asks the daemon to rewrite the phones file, and a daemon that is away is said so."""

from __future__ import annotations

import hashlib
import re

import pytest
from sqlalchemy import select

import admin.phones
from admin.phones import server_address
from pbx_daemon.crm import models as m
from pbx_daemon.telephony.api_client import ClickToCallError
from pbx_daemon.telephony.phones_file import render_phones_file
from tests.unit.helpers import admin_login, staffed_admin
from tests.unit.test_russian import english_words, visible_text

PEOPLE = [("root", "admin", None), ("oleg", "owner", None), ("vera", "head", "Sales"),
          ("anna", "manager", "Sales"), ("boris", "manager", "Sales")]
RU = {"Accept-Language": "ru-RU,ru;q=0.9"}


class FakeDaemon:
    """``sync_phones`` as the admin calls it: records calls; ``down`` answers 503."""

    def __init__(self):
        self.calls = 0
        self.down = False
        self.result = {"installed": True, "changed": True, "phones": 1, "reloaded": True}

    def __call__(self, base_url, token, timeout=10.0):
        self.calls += 1
        if self.down:
            raise ClickToCallError(503, f"the daemon's API at {base_url} is not reachable")
        return dict(self.result)


@pytest.fixture
def phones(tmp_path, monkeypatch):
    daemon = FakeDaemon()
    monkeypatch.setattr(admin.phones, "sync_phones", daemon)
    env = {"PBX_CRM_ASTERISK_SIP_SERVER": "pbx.example.ru", "PBX_CRM_ASTERISK_SIP_BIND": "0.0.0.0:5062"}
    # Requests run outside the set-up's app context: one shared context would keep one
    # request's CSRF token in ``g`` for the next.
    with staffed_admin(f"sqlite:///{tmp_path}/admin.sqlite3", PEOPLE, env) as (app, s, _, staff):
        staff["anna"].sip_endpoint = "101"
        staff["boris"].sip_endpoint = "102"
        s.commit()
        ids = {login: e.id for login, e in staff.items()}
    return app, Db(app), ids, daemon


class Db:
    """Reads the admin's database between requests, each in an app context of its own."""

    def __init__(self, app):
        self.app = app

    def employee(self, employee_id: int) -> m.Employee | None:
        with self.app.app_context():
            s = self.app.extensions["sqlalchemy"].session
            row = s.get(m.Employee, employee_id)
            if row is not None:
                s.expunge(row)
            return row

    def phones_file(self) -> str:
        with self.app.app_context():
            return render_phones_file(self.app.extensions["sqlalchemy"].session)

    def scalar(self, query):
        with self.app.app_context():
            return self.app.extensions["sqlalchemy"].session.scalar(query)


def csrf(client, url: str) -> str:
    page = client.get(url).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def reset(client, employee_id: int):
    url = f"/admin/employee/sip-password/{employee_id}"
    return client.post(url, data={"csrf_token": csrf(client, url)}, headers=RU)


def test_the_admin_sees_a_new_password_once_and_only_its_ha1_is_stored(phones):
    app, s, ids, daemon = phones
    client = admin_login(app, "root")
    listing = client.get("/admin/employee/").get_data(as_text=True)
    assert f'href="/admin/employee/sip-password/{ids["anna"]}"' in listing
    confirm = client.get(f"/admin/employee/sip-password/{ids['anna']}", headers=RU)
    assert confirm.status_code == 200 and 'id="sip-password"' not in confirm.get_data(as_text=True)
    assert 'method="post"' in confirm.get_data(as_text=True)

    r = reset(client, ids["anna"])
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    password = re.search(r'<code id="sip-password">([^<]+)</code>', page).group(1)
    assert len(password) == 20
    ha1 = hashlib.md5(f"101:pbx-crm:{password}".encode()).hexdigest()
    anna = s.employee(ids["anna"])
    assert anna.sip_md5_cred == ha1 and anna.sip_password_set_at is not None
    for column in m.Employee.__table__.columns:  # the password itself is nowhere
        assert getattr(anna, column.key) != password
    assert f"md5_cred = {ha1}" in s.phones_file()
    assert daemon.calls == 1

    again = client.get(f"/admin/employee/sip-password/{ids['anna']}").get_data(as_text=True)
    assert password not in again and 'id="sip-password"' not in again
    second = re.search(r'<code id="sip-password">([^<]+)</code>',
                       reset(client, ids["anna"]).get_data(as_text=True)).group(1)
    assert second != password and s.employee(ids["anna"]).sip_md5_cred != ha1


def test_the_credentials_page_has_what_a_phone_needs_in_russian(phones):
    app, s, ids, daemon = phones
    page = reset(admin_login(app, "root"), ids["anna"]).get_data(as_text=True)

    def cell(name):
        return re.sub(r"<[^>]+>", "", re.search(rf'id="sip-{name}">(.*?)</td>', page, re.S).group(1)).strip()

    assert cell("server") == "pbx.example.ru" and cell("port") == "5062"
    assert cell("transport") == "UDP" and cell("username") == "101" and cell("auth-user") == "101"
    assert cell("realm") == "pbx-crm" and "300" in cell("register")
    assert "перестают работать" in page  # the previous device stops working
    assert english_words(visible_text(page)) == set()


def test_heads_owners_and_managers_can_neither_reset_nor_see(phones):
    app, s, ids, daemon = phones
    before = s.employee(ids["anna"]).sip_md5_cred
    for who in ("vera", "oleg", "anna"):
        client = admin_login(app, who)
        url = f"/admin/employee/sip-password/{ids['anna']}"
        assert client.get(url).status_code == 403, who
        token = csrf(client, "/admin/")  # a valid token of the session: still refused
        assert client.post(url, data={"csrf_token": token}).status_code == 403, who
        if who in ("vera", "oleg"):  # they see the employees, not the action
            assert "sip-password" not in client.get("/admin/employee/").get_data(as_text=True)
    assert s.employee(ids["anna"]).sip_md5_cred == before and daemon.calls == 0


def test_a_get_never_makes_a_password_and_a_post_needs_csrf(phones):
    app, s, ids, daemon = phones
    client = admin_login(app, "root")
    client.get(f"/admin/employee/sip-password/{ids['anna']}")
    r = client.post(f"/admin/employee/sip-password/{ids['anna']}", data={})
    assert r.status_code in (302, 400) and 'id="sip-password"' not in r.get_data(as_text=True)
    assert s.employee(ids["anna"]).sip_md5_cred is None and daemon.calls == 0


def test_an_employee_without_an_endpoint_gets_no_password(phones):
    app, s, ids, daemon = phones
    client = admin_login(app, "root")
    r = reset(client, ids["vera"])
    assert 'id="sip-password"' not in r.get_data(as_text=True)
    assert 'id="sip-no-endpoint"' in r.get_data(as_text=True)
    assert s.employee(ids["vera"]).sip_md5_cred is None and daemon.calls == 0


def edit(client, e: m.Employee, **changes):
    url = f"/admin/employee/edit/?id={e.id}"
    data = {"csrf_token": csrf(client, url), "full_name": e.full_name, "login": e.login,
            "role": e.role, "department": str(e.department_id or "__None"),
            "sip_endpoint": e.sip_endpoint or "", "extension": e.extension or "",
            "mobile": e.mobile or ""}
    data.update({k: "y" for k in ("active", "dnd") if getattr(e, k)})
    for key, value in changes.items():
        if value is False:
            data.pop(key, None)
        else:
            data[key] = value
    return client.post(url, data=data, headers=RU, follow_redirects=True)


def test_renaming_an_endpoint_cancels_its_credentials_and_syncs(phones):
    app, s, ids, daemon = phones
    client = admin_login(app, "root")
    reset(client, ids["anna"])
    assert s.employee(ids["anna"]).sip_md5_cred and daemon.calls == 1
    page = edit(client, s.employee(ids["anna"]), sip_endpoint="111").get_data(as_text=True)
    anna = s.employee(ids["anna"])
    assert anna.sip_endpoint == "111" and anna.sip_md5_cred is None and anna.sip_password_set_at is None
    assert daemon.calls == 2
    assert f'href="/admin/employee/sip-password/{ids["anna"]}" id="set-sip-password"' in page
    assert "[111]" not in s.phones_file() and "[101]" not in s.phones_file()


def test_an_unrelated_edit_keeps_the_credentials_and_does_not_sync(phones):
    app, s, ids, daemon = phones
    client = admin_login(app, "root")
    reset(client, ids["anna"])
    ha1 = s.employee(ids["anna"]).sip_md5_cred
    edit(client, s.employee(ids["anna"]), full_name="Anna Petrova")
    anna = s.employee(ids["anna"])
    assert anna.full_name == "Anna Petrova" and anna.sip_md5_cred == ha1 and daemon.calls == 1


def test_deactivating_or_deleting_an_employee_syncs(phones):
    app, s, ids, daemon = phones
    client = admin_login(app, "root")
    edit(client, s.employee(ids["anna"]), active=False)
    assert s.employee(ids["anna"]).active is False and daemon.calls == 1
    url = "/admin/employee/"
    r = client.post("/admin/employee/delete/", data={"id": str(ids["boris"]), "url": url,
                                                    "csrf_token": csrf(client, url)})
    assert r.status_code == 302 and s.employee(ids["boris"]) is None
    assert daemon.calls == 2


def test_with_the_daemon_away_the_password_is_saved_and_the_admin_told(phones):
    app, s, ids, daemon = phones
    daemon.down = True
    page = reset(admin_login(app, "root"), ids["anna"]).get_data(as_text=True)
    assert 'id="sip-password"' in page and s.employee(ids["anna"]).sip_md5_cred
    assert "телефоны обновятся, когда она запустится" in page


def test_a_phones_file_not_installed_is_said_too(phones):
    app, s, ids, daemon = phones
    daemon.result = {"installed": False, "changed": False, "phones": 0, "reloaded": False}
    page = reset(admin_login(app, "root"), ids["anna"]).get_data(as_text=True)
    assert "pbx-crm asterisk install" in page


@pytest.mark.parametrize("sip_server, sip_bind, expected", [
    ("", "0.0.0.0:5060", ("pbx.local", 5060)),
    ("", "10.0.0.5:5080", ("pbx.local", 5080)),
    ("sip.example.ru", "0.0.0.0:5060", ("sip.example.ru", 5060)),
    ("sip.example.ru:5070", "0.0.0.0:5060", ("sip.example.ru", 5070)),
    ("203.0.113.7", "[::]:5090", ("203.0.113.7", 5090)),
])
def test_the_server_phones_register_to(sip_server, sip_bind, expected):
    assert server_address(sip_server, sip_bind, fqdn=lambda: "pbx.local") == expected


def test_the_stored_digest_is_never_in_the_employee_pages(phones):
    app, s, ids, daemon = phones
    client = admin_login(app, "root")
    reset(client, ids["anna"])
    ha1 = s.employee(ids["anna"]).sip_md5_cred
    for url in ("/admin/employee/", f"/admin/employee/details/?id={ids['anna']}",
                f"/admin/employee/edit/?id={ids['anna']}"):
        assert ha1 not in client.get(url).get_data(as_text=True), url
    assert s.scalar(select(m.Employee.sip_md5_cred).where(m.Employee.id == ids["anna"])) == ha1

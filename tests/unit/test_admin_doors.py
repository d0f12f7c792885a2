"""The admin's side doors (issue 14): logins throttled and timing-blind, sessions that end,
same-site redirects, body size limits, GET without side effects, escaped scripts, CSV
cells that are not formulas, system inquiry classes that stay, company time."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from sqlalchemy import select
from twisted.internet.task import Clock

from admin.app import create_app
from admin.logins import LoginThrottle, safe_next
from pbx_daemon.config import load_config
from pbx_daemon.crm import models as m
from pbx_daemon.db import seed_reference_data
from tests.unit.helpers import fast_hash

ENV = {"PBX_CRM_ADMIN_SECRET_KEY": "s" * 40, "PBX_CRM_ADMIN_LOGIN_MAX_FAILURES": "3",
       "PBX_CRM_ADMIN_LOGIN_MAX_FAILURES_PER_ADDRESS": "10", "PBX_CRM_ADMIN_LOGIN_LOCKOUT_SECONDS": "600"}


T0 = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)


def build(tmp_path, clock=None, **env):
    config = load_config(None, {"PBX_CRM_DATABASE_URL": f"sqlite:///{tmp_path}/admin.sqlite3", **ENV, **env})
    app = create_app(config, clock=clock)
    with app.app_context():
        db = app.extensions["sqlalchemy"]
        m.Base.metadata.create_all(db.engine)
        seed_reference_data(db.session)
        for login, role in (("admin", "admin"), ("anna", "manager"), ("olga", "cold_operator"),
                            ("owner", "owner"), ("vera", "head"), ("operator", "operator")):
            db.session.add(m.Employee(full_name=login.title(), login=login, role=role,
                                      password_hash=fast_hash(f"{login}-Password-1")))
        db.session.add(m.Employee(full_name="Gone", login="gone", role="admin", active=False,
                                  password_hash=fast_hash("gone-Password-1")))
        db.session.commit()
    return app


@pytest.fixture
def clock():
    """The admin's clock: the throttles' time and every page's "now" (a fixed day)."""
    clock = Clock()
    clock.advance(T0.timestamp())
    return clock


@pytest.fixture
def app(tmp_path, clock):
    return build(tmp_path, clock)


def csrf(client, path="/login"):
    return token_in(client.get(path).get_data(as_text=True))


def token_in(page):
    return re.search(r'csrf_token"(?: type="hidden")? value="([^"]+)"', page).group(1)


def try_login(client, login, password, next_=None):
    url = "/login" + (f"?next={next_}" if next_ is not None else "")
    return client.post(url, data={"login": login, "password": password, "csrf_token": csrf(client)})


def logged_in(app, who):
    client = app.test_client()
    assert try_login(client, who, f"{who}-Password-1").status_code == 302
    return client


# ---- 4: same-site redirects only ---------------------------------------------------------
@pytest.mark.parametrize("target, expected", [
    ("/admin/task/", "/admin/task/"),
    ("/screen-pop", "/screen-pop"),
    ("//evil.example/", None),
    ("/\\evil.example/", None),
    ("/\\/evil.example/", None),
    ("http://evil.example/", None),
    ("https:evil.example", None),
    ("javascript:alert(1)", None),
    ("evil.example", None),
    ("/%0d%0aLocation:%20http://evil", "/%0d%0aLocation:%20http://evil"),  # encoded: a path
    ("/\r\nLocation: http://evil", None),
    ("/\tevil", None),
    ("", None),
    (None, None),
])
def test_safe_next_allows_only_paths_on_this_site(target, expected):
    assert safe_next(target) == expected


@pytest.mark.parametrize("next_", ["//evil.example/", "/%5Cevil.example/", "http://evil.example/",
                                   "https:evil.example"])
def test_login_redirects_only_to_same_site_paths(app, next_):
    response = try_login(app.test_client(), "admin", "admin-Password-1", next_)
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"


def test_login_follows_a_same_site_next(app):
    response = try_login(app.test_client(), "admin", "admin-Password-1", "/admin/task/")
    assert response.headers["Location"] == "/admin/task/"


# ---- 5: throttling, timing, sessions -----------------------------------------------------
def test_throttle_counts_failures_in_a_sliding_window():
    clock = Clock()
    throttle = LoginThrottle(clock, max_failures=3, lockout_seconds=600)
    for _ in range(2):
        throttle.failed("anna")
    assert throttle.wait_seconds("anna") == 0
    clock.advance(100)
    throttle.failed("anna")
    assert throttle.wait_seconds("anna") == 500  # until the first failure leaves the window
    clock.advance(500)
    assert throttle.wait_seconds("anna") == 0
    throttle.failed("boris")
    throttle.succeeded("boris")
    assert throttle.wait_seconds("boris") == 0


@pytest.mark.parametrize("address, key", [
    ("192.0.2.7", "192.0.2.7"),
    ("2001:db8:1:2::1", "2001:db8:1:2::/64"),  # one host or line gets a whole /64
    ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
    ("2001:DB8:1:3::1", "2001:db8:1:3::/64"),
    ("::ffff:192.0.2.7", "192.0.2.7"),  # IPv4 seen through an IPv6 socket
    (None, "-"), ("", "-"), ("not an address", "not an address"),
])
def test_client_addresses_are_throttled_by_host_ipv6_by_its_64(address, key):
    from admin.logins import client_key

    assert client_key(address) == key


def test_throttle_forgets_the_oldest_keys_beyond_its_size():
    throttle = LoginThrottle(Clock(), max_failures=1, lockout_seconds=600, max_keys=2)
    for key in ("a", "b", "c"):
        throttle.failed(key)
    assert throttle.wait_seconds("a") == 0 and throttle.wait_seconds("c") == 600


def test_a_login_name_is_locked_after_failures_even_with_the_right_password(app, clock):
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    for _ in range(3):
        assert try_login(client, "anna", "wrong").status_code == 200
    locked = try_login(client, "anna", "anna-Password-1")
    assert locked.status_code == 429
    assert "Too many failed logins: try again in 10 min." in locked.get_data(as_text=True)
    assert try_login(client, "admin", "admin-Password-1").status_code == 302  # another name
    clock.advance(601)
    assert try_login(app.test_client(), "anna", "anna-Password-1").status_code == 302


def test_a_client_address_is_locked_after_failures_over_many_names(app, clock):
    client = app.test_client()
    for i in range(10):
        try_login(client, f"nobody{i}", "wrong")
    assert try_login(client, "admin", "admin-Password-1").status_code == 429
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    assert try_login(other, "admin", "admin-Password-1").status_code == 302
    clock.advance(601)
    assert try_login(client, "admin", "admin-Password-1").status_code == 302


def test_unknown_and_inactive_names_cost_one_password_hash_check_like_real_ones(app, monkeypatch):
    """The same work whoever the name is: one hash check of the same kind (a dummy hash
    for names that cannot log in), so the response time does not tell names apart."""
    import admin.logins
    from werkzeug.security import generate_password_hash

    with app.app_context():  # a hash as `pbx-crm user passwd` makes it (the suite's are cheap)
        db = app.extensions["sqlalchemy"]
        db.session.scalar(select(m.Employee).where(m.Employee.login == "admin")).password_hash = \
            generate_password_hash("admin-Password-1")
        db.session.commit()
    checked = []
    real = admin.logins.check_password_hash
    monkeypatch.setattr(admin.logins, "check_password_hash",
                        lambda h, p: checked.append(h.split("$")[0]) or real(h, p))
    for name in ("admin", "nobody", "gone"):
        try_login(app.test_client(), name, "wrong password")
    assert len(checked) == 3 and len(set(checked)) == 1  # one check each, the same method


def test_logout_ends_the_session_a_saved_cookie_included(app):
    client = logged_in(app, "anna")
    saved = client.get_cookie("session").value
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/admin/").get_data(as_text=True)).group(1)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    replay = app.test_client()
    replay.set_cookie("session", saved)
    response = replay.get("/admin/my-tasks/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_new_password_ends_every_session(app):
    client = logged_in(app, "anna")
    assert client.get("/admin/my-tasks/").status_code == 200
    with app.app_context():
        db = app.extensions["sqlalchemy"]
        anna = db.session.scalar(select(m.Employee).where(m.Employee.login == "anna"))
        anna.session_nonce = m.new_session_nonce()  # what `pbx-crm user passwd` does
        db.session.commit()
    assert client.get("/admin/my-tasks/").status_code == 302


# ---- 13: body size limits ---------------------------------------------------------------
def test_flask_refuses_a_body_over_the_limit(tmp_path):
    app = build(tmp_path, PBX_CRM_ADMIN_MAX_REQUEST_BYTES=str(1024 * 1024))
    response = app.test_client().post("/login", data={"login": "x" * (1024 * 1024 + 10)})
    assert response.status_code == 413


def _serve(max_body):
    from twisted.internet.testing import StringTransport
    from twisted.web.resource import Resource
    from twisted.web.server import Site

    from admin.serve import limited_request

    seen = []

    class Echo(Resource):
        isLeaf = True

        def render_POST(self, request):
            seen.append(request.content.read())
            return b"ok"

    site = Site(Echo())
    site.requestFactory = limited_request(max_body)
    channel = site.buildProtocol(None)
    transport = StringTransport()
    channel.makeConnection(transport)
    return channel, transport, seen


def test_twisted_refuses_a_declared_oversized_body_before_reading_it():
    channel, transport, seen = _serve(1000)
    channel.dataReceived(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n" + b"a" * 100)
    assert transport.value().startswith(b"HTTP/1.1 413 ")
    assert transport.disconnecting and seen == []


def test_twisted_refuses_a_chunked_body_once_it_passes_the_limit():
    channel, transport, seen = _serve(1000)
    channel.dataReceived(b"POST /login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    for _ in range(3):
        channel.dataReceived(b"200\r\n" + b"a" * 0x200 + b"\r\n")
    channel.dataReceived(b"0\r\n\r\n")
    assert transport.value().startswith(b"HTTP/1.1 413 ") and seen == []


def test_twisted_passes_a_body_within_the_limit():
    channel, transport, seen = _serve(1000)
    channel.dataReceived(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
    assert seen == [b"hello"] and b" 200 " in transport.value().split(b"\r\n")[0] + b" "


# ---- 3 and 13: the workspace -------------------------------------------------------------
EVIL = "</script><script>alert(1)</script>"


def _call_list(app, text=EVIL):
    with app.app_context():
        s = app.extensions["sqlalchemy"].session
        olga = s.scalar(select(m.Employee).where(m.Employee.login == "olga"))
        script = m.CallScript(name="s", body={"start": "q1", "nodes": {"q1": {"text": text, "answers": []}}})
        call_list = m.CallList(name="list", script=script, operators=[olga])
        s.add(call_list)
        s.flush()
        s.add(m.CallListEntry(call_list_id=call_list.id, phone="+79161112233", company_name="Окна"))
        s.commit()
        return call_list.id


def _entry_status(app):
    with app.app_context():
        entry = app.extensions["sqlalchemy"].session.scalar(select(m.CallListEntry))
        return entry.status, entry.assigned_operator_id


def _workspace_token(page):
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_opening_the_workspace_claims_nothing_the_next_entry_is_a_post(app):
    _call_list(app)
    client = logged_in(app, "olga")
    page = client.get("/admin/workspace/").get_data(as_text=True)
    assert 'id="take-next"' in page and 'id="entry"' not in page
    assert _entry_status(app) == ("pending", None)
    assert client.post("/admin/workspace/next").status_code == 400  # no CSRF token: refused
    assert _entry_status(app) == ("pending", None)
    client.post("/admin/workspace/next", data={"csrf_token": _workspace_token(page)})
    assert _entry_status(app)[0] == "in_progress"
    assert 'id="entry"' in client.get("/admin/workspace/").get_data(as_text=True)


def test_a_script_node_cannot_close_the_script_block(app):
    _call_list(app)
    client = logged_in(app, "olga")
    page = client.get("/admin/workspace/").get_data(as_text=True)
    client.post("/admin/workspace/next", data={"csrf_token": _workspace_token(page)})
    page = client.get("/admin/workspace/").get_data(as_text=True)
    assert EVIL not in page and "<script>alert(1)" not in page
    assert "\\u003c/script\\u003e\\u003cscript\\u003ealert(1)" in page  # escaped JSON, same text in JS


# ---- 12: malformed query arguments --------------------------------------------------------
BAD = ["", "garbage", "-1", "9" * 30, "ü€ Ωμέγα", "x" * 5000]
KEYS = ("id", "page", "sort", "desc", "search", "export", "within", "from", "to", "department",
        "status", "phone", "q", "url", "flt0_0", "flt1_12", "page_size", "next", "kind", "modal")
NOT_CRAWLED = {"logout",  # ends the crawling session
               "calls.start_click_to_call"}  # calls the daemon's API over a socket


def _url(rule, bad):
    url = str(rule)
    for arg in rule.arguments:
        url = url.replace(f"<int:{arg}>", "1").replace(f"<path:{arg}>", "x").replace(f"<{arg}>", bad[:200] or "x")
    return url


@pytest.mark.parametrize("role", ["admin", "owner", "vera", "anna", "olga", "operator"])
def test_no_admin_url_answers_500_to_malformed_query_arguments(app, role):
    """Every rule of the URL map, GET and POST (CSRF off, so the POST reaches the view),
    each query argument a page might read set to garbage, huge and negative numbers,
    nothing, unicode and very long text: a 4xx with a message, never a 500. The admin, who
    reaches every view, gets every value in every argument (six rounds, rotated); the other
    roles two rounds each (half the values per argument), to keep the suite quick."""
    client = logged_in(app, role)
    app.config["WTF_CSRF_ENABLED"] = False
    failures, crawled = [], 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint in NOT_CRAWLED or rule.endpoint.endswith("static"):
            continue
        for method in sorted(rule.methods & {"GET", "POST"}):
            for i in range(len(BAD)) if role == "admin" else (0, 3):
                query = {key: BAD[(i + k) % len(BAD)] for k, key in enumerate(KEYS)}
                url = _url(rule, BAD[i])
                response = client.open(url, method=method, query_string=query,
                                       data=query if method == "POST" else None)
                crawled += 1
                if response.status_code >= 500:
                    failures.append((method, url[:60], i, response.status_code))
    assert crawled > 500 and failures == []


# ---- 8: CSV cells ------------------------------------------------------------------------
@pytest.mark.parametrize("value, written", [
    ("=HYPERLINK(\"http://evil\")", "'=HYPERLINK(\"http://evil\")"), ("+1+2", "'+1+2"), ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"), ("Яндекс", "Яндекс"), (5, 5), (-5, -5),
    (None, None), ("+79161234567", "+79161234567"), ("+7916123456712345", "'+7916123456712345"),
    ("+7 916", "'+7 916")])
def test_csv_cells_that_a_spreadsheet_would_run_get_a_quote(value, written):
    from pbx_daemon.crm.exports import safe_cell

    assert safe_cell(value) == written


def test_the_analytics_csv_export_neutralises_formulas(app, clock):
    import csv
    import io

    with app.app_context():
        s = app.extensions["sqlalchemy"].session
        source = m.Source(name='=HYPERLINK("http://evil.example","x")')
        s.add(source)
        s.flush()
        now = datetime.fromtimestamp(clock.seconds(), timezone.utc)  # today on the admin's clock
        s.add(m.Inquiry(channel="web_form", email="a@example.com", source_id=source.id,
                        first_seen_at=now, last_seen_at=now))
        s.commit()
    response = logged_in(app, "owner").get("/admin/analytics/?export=sources")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff")), delimiter=";"))
    assert rows[1][0] == '\'=HYPERLINK("http://evil.example","x")'


# ---- 9: system inquiry classes ------------------------------------------------------------
def _spam(app):
    with app.app_context():
        spam = app.extensions["sqlalchemy"].session.scalar(
            select(m.InquiryClass).where(m.InquiryClass.code == "spam"))
        return spam.id, spam.code, spam.name, spam.name_ru


def test_a_system_class_cannot_be_renamed_or_deleted_its_position_can_change(app):
    client = logged_in(app, "admin")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    spam_id, *before = _spam(app)
    page = client.get(f"/admin/inquiryclass/edit/?id={spam_id}").get_data(as_text=True)
    assert re.search(r'id="name"[^>]*readonly|readonly[^>]*id="name"', page)
    token = token_in(page)
    renamed = client.post(f"/admin/inquiryclass/edit/?id={spam_id}", follow_redirects=True, data={
        "csrf_token": token, "code": "junk", "name": "Junk", "name_ru": "Мусор", "position": "1"})
    assert "is a system class" in renamed.get_data(as_text=True)
    assert list(_spam(app)[1:]) == before
    deleted = client.post("/admin/inquiryclass/delete/", follow_redirects=True,
                          data={"csrf_token": token, "id": str(spam_id)})
    assert "cannot be deleted" in deleted.get_data(as_text=True) and _spam(app)[0] == spam_id
    client.post(f"/admin/inquiryclass/edit/?id={spam_id}", data={
        "csrf_token": token, "code": "spam", "name": "Spam", "name_ru": "Спам", "position": "9"})
    with app.app_context():
        assert app.extensions["sqlalchemy"].session.get(m.InquiryClass, spam_id).position == 9


def test_a_custom_class_is_never_system_and_may_be_renamed_and_deleted(app):
    client = logged_in(app, "admin")
    token = csrf(client, "/admin/inquiryclass/new/")
    client.post("/admin/inquiryclass/new/", data={"csrf_token": token, "code": "vip", "name": "VIP",
                                                  "name_ru": "VIP", "position": "20", "is_system": "y"})
    with app.app_context():
        vip = app.extensions["sqlalchemy"].session.scalar(
            select(m.InquiryClass).where(m.InquiryClass.code == "vip"))
        assert vip is not None and vip.is_system is False
        vip_id = vip.id
    client.post(f"/admin/inquiryclass/edit/?id={vip_id}", data={
        "csrf_token": token, "code": "vip", "name": "Very important", "name_ru": "VIP", "position": "20"})
    client.post("/admin/inquiryclass/delete/", data={"csrf_token": token, "id": str(vip_id)})
    with app.app_context():
        assert app.extensions["sqlalchemy"].session.get(m.InquiryClass, vip_id) is None


# ---- 10: company time -------------------------------------------------------------------
def _anna_id(app):
    with app.app_context():
        return app.extensions["sqlalchemy"].session.scalar(
            select(m.Employee.id).where(m.Employee.login == "anna"))


def test_a_screen_pop_task_typed_at_15_moscow_is_stored_12_utc_and_shown_15(app):
    from datetime import datetime, timezone

    anna = _anna_id(app)
    with app.app_context():
        s = app.extensions["sqlalchemy"].session
        s.add(m.Call(linkedid="c-1", direction="inbound", caller="+79161112233", employee_id=anna,
                     answered_by_id=anna, outcome="answered", started_at=datetime.now(timezone.utc)))
        s.commit()
    client = logged_in(app, "anna")
    token = token_in(client.get("/admin/").get_data(as_text=True))
    response = client.post("/screen-pop/calls/c-1/task", headers={"X-CSRFToken": token}, json={
        "title": "Call back", "type": "call", "deadline": "2030-03-05T15:00", "comment": "price"})
    assert response.status_code == 201
    assert response.get_json()["deadline"] == "2030-03-05T15:00:00+03:00"
    with app.app_context():
        task = app.extensions["sqlalchemy"].session.get(m.Task, response.get_json()["task_id"])
        assert task.deadline == datetime(2030, 3, 5, 12, 0, tzinfo=timezone.utc)
    assert "05.03.2030 15:00" in client.get("/admin/my-tasks/").get_data(as_text=True)
    assert "2030-03-05 15:00:00" in client.get("/admin/task/").get_data(as_text=True)


def test_the_admin_task_form_takes_and_shows_company_time_and_sets_reminder_and_creator(app):
    from datetime import datetime, timezone

    anna = _anna_id(app)
    client = logged_in(app, "admin")
    token = csrf(client, "/admin/task/new/")
    client.post("/admin/task/new/", data={
        "csrf_token": token, "title": "Meet", "type": "call", "responsible": str(anna),
        "deadline": "2030-03-05 15:00:00", "comment": "bring the contract", "status": "open"})
    with app.app_context():
        s = app.extensions["sqlalchemy"].session
        task = s.scalar(select(m.Task).where(m.Task.title == "Meet"))
        admin_id = s.scalar(select(m.Employee.id).where(m.Employee.login == "admin"))
        assert task.deadline == datetime(2030, 3, 5, 12, 0, tzinfo=timezone.utc)
        assert task.remind_at == datetime(2030, 3, 5, 11, 45, tzinfo=timezone.utc)
        assert task.created_by_id == admin_id
        task_id = task.id
    form = client.get(f"/admin/task/edit/?id={task_id}").get_data(as_text=True)
    assert 'value="2030-03-05 15:00:00"' in form


def test_the_missed_call_task_comment_shows_company_time():
    from datetime import datetime, timezone

    from pbx_daemon.crm.inquiries.rules import MissedCall, decide_missed

    at = datetime(2030, 3, 5, 12, 0, tzinfo=timezone.utc)
    decision = decide_missed(MissedCall("+79161112233", at, head_id=3), None, 15, tz="Europe/Moscow")
    assert decision.task_comment == "Пропущенный звонок от +79161112233 в 2030-03-05 15:00."


def test_the_import_report_csv_neutralises_what_the_file_said():
    from pbx_daemon.crm.importer import ImportReport, RowResult

    report = ImportReport(list_id=None, rows=[RowResult(2, "ok", "+79161234567", "=cmd|' /C calc'!A0")])
    text = report.csv()
    assert "+79161234567" in text and "'=cmd" in text and ",=cmd" not in text

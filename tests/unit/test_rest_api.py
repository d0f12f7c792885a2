"""The read-only REST API (/api/v1): tokens and scopes, filters, keyset pages, 404s, the
audio file's path safety, the API tokens admin page; and its pure parts (query strings,
cursors, the token decision) by tables."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from admin.rest_api import auth, query
from admin.rest_api.query import BadParameter
from pbx_daemon.crm import models as m
from tests.unit.helpers import admin_login
from tests.unit.rest_api_fixture import CALLS_ONLY, FULL, HIGH_LIMITS, REVOKED, T0, seeded_api


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """Shared by the tests that only read (and write last_used_at); ~100 requests at one
    moment of its clock, so high rate limits."""
    tmp_path = tmp_path_factory.mktemp("api")
    return seeded_api(f"sqlite:///{tmp_path}/api.sqlite3", tmp_path, HIGH_LIMITS)


@pytest.fixture
def fresh_api(tmp_path):
    """Its own database, for the tests that add rows or tokens."""
    return seeded_api(f"sqlite:///{tmp_path}/api.sqlite3", tmp_path)


def _all_ids(api, url, limit):
    """Every id of a list followed page by page, and the number of pages."""
    ids, pages, cursor = [], 0, None
    while True:
        sep = "&" if "?" in url else "?"
        r = api.get(f"{url}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else ""))
        assert r.status_code == 200, r.json
        ids += [item["id"] for item in r.json["items"]]
        pages += 1
        cursor = r.json["next_cursor"]
        if cursor is None:
            return ids, pages


# ---- tokens ------------------------------------------------------------------------------
@pytest.mark.parametrize("header, code", [
    (None, "missing_token"),
    ("Basic dXNlcjpwYXNz", "invalid_token"),
    ("Bearer", "invalid_token"),
    ("Bearer " + "x" * 43, "invalid_token"),          # unknown token
    ("Bearer " + FULL[:-1] + "G", "invalid_token"),   # same prefix, another token
    ("Bearer " + REVOKED, "invalid_token"),           # revoked
])
def test_a_request_without_a_valid_token_is_refused_with_401_and_www_authenticate(api, header, code):
    r = api.get("/api/v1/calls", token=None, headers={"Authorization": header} if header else {})
    assert r.status_code == 401
    assert r.json["error"] == code and r.json["message"]
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_token_reads_only_its_scopes(api):
    call_id, recording_id = api.ids["calls"][0], api.ids["recordings"][0]
    assert api.get("/api/v1/calls", token=CALLS_ONLY).status_code == 200
    assert api.get(f"/api/v1/calls/{call_id}", token=CALLS_ONLY).status_code == 200
    for url in ("/api/v1/inquiries", f"/api/v1/inquiries/{api.ids['inquiries'][0]}", "/api/v1/recordings",
                f"/api/v1/recordings/{recording_id}", f"/api/v1/recordings/{recording_id}/audio"):
        r = api.get(url, token=CALLS_ONLY)
        assert (r.status_code, r.json["error"]) == (403, "insufficient_scope"), url


def test_the_bearer_scheme_is_case_insensitive(api):
    r = api.get("/api/v1/calls", token=None, headers={"Authorization": f"bearer {FULL}"})
    assert r.status_code == 200


def test_an_admin_session_does_not_open_the_api(api):
    """Only the Bearer token authenticates: a logged-in admin's cookie is not enough."""
    client = admin_login(api.app, "root")
    assert client.get("/admin/api-tokens/").status_code == 200  # the session works
    assert client.get("/api/v1/calls").status_code == 401


def test_last_used_at_is_written_at_most_once_a_minute(fresh_api):
    def last_used():
        with fresh_api.app.app_context():
            s = fresh_api.app.extensions["sqlalchemy"].session
            return s.scalar(select(m.ApiToken.last_used_at).where(m.ApiToken.prefix == FULL[:8]))

    assert last_used() is None
    fresh_api.get("/api/v1/calls")
    first = last_used()
    assert first == datetime.fromtimestamp(fresh_api.clock.seconds(), timezone.utc)
    fresh_api.clock.advance(59)
    fresh_api.get("/api/v1/calls")
    assert last_used() == first
    fresh_api.clock.advance(1)
    fresh_api.get("/api/v1/calls")
    assert last_used() == first + timedelta(seconds=60)
    assert fresh_api.clock.getDelayedCalls() == []


# ---- calls ---------------------------------------------------------------------------------
def test_a_call_carries_its_card_employees_and_recording(api):
    call_id = api.ids["calls"][0]
    r = api.get(f"/api/v1/calls/{call_id}")
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    c = r.json
    assert (c["direction"], c["outcome"], c["caller"], c["talk_seconds"]) == ("inbound", "answered",
                                                                               "+79161234567", 30)
    assert c["started_at"] == "2026-11-23T10:00:00+00:00"
    assert c["company"] == {"id": api.ids["company"], "name": "Ромашка"}
    assert c["contact"] == {"id": api.ids["contact"], "name": "Пётр Клиентов"}
    assert c["deal"] == {"id": api.ids["deal"], "name": "Поставка"} and c["lead"] is None
    assert c["answered_by"] == {"id": api.ids["people"]["anna"], "name": "Anna"} and c["employee"] is None
    assert c["recording_id"] == api.ids["recordings"][0]
    lead_call = api.get(f"/api/v1/calls/{api.ids['calls'][1]}").json
    assert lead_call["lead"] == {"id": api.ids["lead"], "name": "Новый лид"} and lead_call["company"] is None


@pytest.mark.parametrize("params, expected", [
    ("", [0, 1, 2, 3, 4, 5, 6]),
    ("direction=outbound", [2, 3, 4]),
    ("outcome=answered", [0, 5]),
    ("phone=8 916 123-45-67", [0, 2, 3, 4]),       # caller or callee, any written form
    ("phone=%2B79260000002", [1]),
    ("since=2026-11-23T13:05:00%2B03:00", [1, 2, 3, 4, 5, 6]),  # 10:05 UTC, inclusive
    ("until=2026-11-23T10:10:00Z", [0, 1]),                    # exclusive
    ("since=2026-11-23T10:01:00Z&until=2026-11-23T12:00:00.000001Z", [1, 2, 3, 4, 5]),
    ("direction=inbound&outcome=missed", [1]),
])
def test_call_filters(api, params, expected):
    r = api.get(f"/api/v1/calls?{params}")
    assert r.status_code == 200, r.json
    assert [c["id"] for c in r.json["items"]] == [api.ids["calls"][i] for i in expected]


def test_employee_filter_matches_who_placed_or_answered(api):
    people = api.ids["people"]
    assert [c["id"] for c in api.get(f"/api/v1/calls?employee_id={people['anna']}").json["items"]] == \
        [api.ids["calls"][0]]
    assert len(api.get(f"/api/v1/calls?employee_id={people['boris']}").json["items"]) == 3


@pytest.mark.parametrize("limit", [1, 2, 3, 500])
def test_pages_neither_lose_nor_repeat_a_call_even_with_equal_start_times(api, limit):
    ids, pages = _all_ids(api, "/api/v1/calls", limit)
    assert ids == api.ids["calls"]
    assert pages == -(-7 // limit) if limit < 7 else pages == 1


def test_pages_with_a_filter_and_a_call_added_between_pages(fresh_api):
    first = fresh_api.get("/api/v1/calls?direction=outbound&limit=2").json
    with fresh_api.app.app_context():  # a fourth call at the same moment arrives meanwhile
        s = fresh_api.app.extensions["sqlalchemy"].session
        s.add(m.Call(linkedid="late", direction="outbound", started_at=T0 + timedelta(minutes=10),
                     outcome="answered"))
        s.commit()
    rest = fresh_api.get(f"/api/v1/calls?direction=outbound&limit=2&cursor={first['next_cursor']}").json
    got = [c["id"] for c in first["items"] + rest["items"]]
    assert got[:3] == fresh_api.ids["calls"][2:5] and len(got) == 4 == len(set(got))


# ---- inquiries and recordings ------------------------------------------------------------
@pytest.mark.parametrize("params, expected", [
    ("", [0, 1, 2, 3]),
    ("status=open", [0, 3]),
    ("class=spam", [1]),
    ("class=lead", []),
    ("since=2026-11-23T10:01:00Z&until=2026-11-24T00:00:00Z", [1, 2]),
])
def test_inquiry_filters(api, params, expected):
    r = api.get(f"/api/v1/inquiries?{params}")
    assert r.status_code == 200, r.json
    assert [i["id"] for i in r.json["items"]] == [api.ids["inquiries"][i] for i in expected]


def test_an_inquiry_carries_its_class_card_and_responsible(api):
    one = api.get(f"/api/v1/inquiries/{api.ids['inquiries'][1]}").json
    assert one["class"] == {"code": "spam", "name": "Spam"} and one["email"] == "a@example.com"
    zero = api.get(f"/api/v1/inquiries/{api.ids['inquiries'][0]}").json
    assert zero["responsible"] == {"id": api.ids["people"]["boris"], "name": "Boris"}
    assert zero["lead"] == {"id": api.ids["lead"], "name": "Новый лид"} and zero["class"] is None
    ids, _ = _all_ids(api, "/api/v1/inquiries", 1)
    assert ids == api.ids["inquiries"]


def test_recordings_list_and_metadata(api):
    r = api.get("/api/v1/recordings")
    assert [x["id"] for x in r.json["items"]] == api.ids["recordings"]
    one = api.get(f"/api/v1/recordings?call_id={api.ids['calls'][0]}").json["items"]
    assert len(one) == 1 and one[0]["format"] == "wav" and one[0]["duration_seconds"] == 1.0
    assert one[0]["audio_url"] == f"/api/v1/recordings/{one[0]['id']}/audio"
    assert api.get(f"/api/v1/recordings/{one[0]['id']}").json == one[0]
    ids, _ = _all_ids(api, "/api/v1/recordings", 1)
    assert ids == api.ids["recordings"]


def test_audio_is_streamed_with_its_type_and_ranges(api):
    good, mp3 = api.ids["recordings"][:2]
    r = api.get(f"/api/v1/recordings/{good}/audio")
    assert r.status_code == 200 and r.mimetype == "audio/wav"
    assert r.data == (api.store / "c1.wav").read_bytes()
    assert "no-store" in r.headers["Cache-Control"]
    part = api.get(f"/api/v1/recordings/{good}/audio", headers={"Range": "bytes=0-3"})
    assert part.status_code == 206 and part.data == b"RIFF"
    outside = api.get(f"/api/v1/recordings/{good}/audio", headers={"Range": "bytes=999999-"})
    assert outside.status_code == 416 and outside.json["error"] == "range_not_satisfiable"
    assert api.get(f"/api/v1/recordings/{mp3}/audio").mimetype == "audio/mpeg"


def test_audio_never_leaves_the_store_and_a_missing_file_is_404(api):
    gone, evil = api.ids["recordings"][2:4]
    for rid in (gone, evil):
        r = api.get(f"/api/v1/recordings/{rid}/audio")
        assert r.status_code == 404 and r.json["error"] == "not_found"
        assert b"SQLite" not in r.data


# ---- errors --------------------------------------------------------------------------------
@pytest.mark.parametrize("url", [
    "/api/v1/calls/999", "/api/v1/inquiries/999", "/api/v1/recordings/999", "/api/v1/recordings/999/audio",
    "/api/v1/calls/99999999999999999999999", "/api/v1/calls/0", "/api/v1/nothing", "/api/v1/calls/abc",
])
def test_unknown_ids_and_paths_are_json_404s(api, url):
    r = api.get(url)
    assert r.status_code == 404 and r.json["error"] == "not_found"


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_other_methods_are_405_with_allow(api, method):
    r = getattr(api.app.test_client(), method)("/api/v1/calls", headers={"Authorization": f"Bearer {FULL}"})
    assert r.status_code == 405 and r.json["error"] == "method_not_allowed"
    assert "GET" in r.headers["Allow"]


@pytest.mark.parametrize("url, parameter", [
    ("/api/v1/calls?since=2026-11-23T10:00:00", "since"),            # no time zone
    ("/api/v1/calls?since=2026-11-23", "since"),
    ("/api/v1/calls?until=2026-02-30T10:00:00Z", "until"),           # no such day
    ("/api/v1/calls?until=0001-01-01T00:00:00%2B05:00", "until"),    # before year 1 in UTC
    ("/api/v1/calls?since=2026-11-24T00:00:00Z&until=2026-11-23T00:00:00Z", "until"),
    ("/api/v1/calls?limit=0", "limit"), ("/api/v1/calls?limit=501", "limit"), ("/api/v1/calls?limit=1.5", "limit"),
    ("/api/v1/calls?limit=%2B5", "limit"), ("/api/v1/calls?limit=", "limit"),
    ("/api/v1/calls?cursor=nonsense", "cursor"), ("/api/v1/calls?cursor=%00", "cursor"),
    ("/api/v1/calls?direction=sideways", "direction"), ("/api/v1/calls?outcome=ANSWERED", "outcome"),
    ("/api/v1/calls?phone=abc", "phone"), ("/api/v1/calls?phone=12", "phone"), ("/api/v1/calls?phone=%00", "phone"),
    ("/api/v1/calls?employee_id=0", "employee_id"), ("/api/v1/calls?employee_id=-1", "employee_id"),
    ("/api/v1/calls?employee_id=2147483648", "employee_id"),
    ("/api/v1/calls?direction=inbound&direction=outbound", "direction"),
    ("/api/v1/calls?sort=id", "sort"),
    ("/api/v1/inquiries?status=new", "status"), ("/api/v1/inquiries?class=nope", "class"),
    ("/api/v1/inquiries?phone=%2B79161234567", "phone"),
    ("/api/v1/recordings?call_id=x", "call_id"),
    ("/api/v1/calls/1?x=1", "x"),
])
def test_every_bad_parameter_is_a_400_naming_it(api, url, parameter):
    r = api.get(url)
    assert r.status_code == 400, r.data
    assert (r.json["error"], r.json["parameter"]) == ("bad_parameter", parameter) and r.json["message"]


def test_a_cursor_from_another_time_is_still_a_cursor(api):
    cursor = query.encode_cursor(T0 + timedelta(minutes=10), api.ids["calls"][3])
    r = api.get(f"/api/v1/calls?cursor={cursor}")
    assert [c["id"] for c in r.json["items"]] == api.ids["calls"][4:]


# ---- the admin page ------------------------------------------------------------------------
def _csrf(client, url="/admin/api-tokens/"):
    page = client.get(url).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_only_admins_open_the_tokens_page(fresh_api):
    for who in ("owner", "anna"):
        client = admin_login(fresh_api.app, who)
        assert client.get("/admin/api-tokens/").status_code in (302, 403)
        assert client.post("/admin/api-tokens/create", data={"name": "x", "scopes": "calls"}).status_code in (
            302, 400, 403)
    with fresh_api.app.app_context():
        assert fresh_api.app.extensions["sqlalchemy"].session.query(m.ApiToken).count() == 3


def test_an_admin_creates_a_token_shown_once_that_works_and_revokes_it(fresh_api):
    client = admin_login(fresh_api.app, "root")
    r = client.post("/admin/api-tokens/create", data={"name": "amoCRM", "scopes": ["inquiries", "recordings"],
                                                      "csrf_token": _csrf(client)})
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    token = re.search(r'<code id="api-token">([^<]+)</code>', r.get_data(as_text=True)).group(1)
    with fresh_api.app.app_context():
        row = fresh_api.app.extensions["sqlalchemy"].session.scalar(select(m.ApiToken).where(m.ApiToken.name == "amoCRM"))
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() and row.prefix == token[:8]
        assert row.scopes == "inquiries,recordings" and row.created_by_id == fresh_api.ids["people"]["root"]
        row_id = row.id
    assert token not in client.get("/admin/api-tokens/").get_data(as_text=True)  # never again
    assert fresh_api.get("/api/v1/inquiries", token=token).status_code == 200
    assert fresh_api.get("/api/v1/calls", token=token).status_code == 403
    r = client.post(f"/admin/api-tokens/{row_id}/revoke", data={"csrf_token": _csrf(client)})
    assert r.status_code == 302
    assert fresh_api.get("/api/v1/inquiries", token=token).status_code == 401


def test_creating_needs_csrf_a_name_and_a_scope(fresh_api):
    client = admin_login(fresh_api.app, "root")
    assert client.post("/admin/api-tokens/create", data={"name": "x", "scopes": "calls"}).status_code == 400
    for data in ({"name": "", "scopes": "calls"}, {"name": "x" * 121, "scopes": "calls"}, {"name": "x"},
                 {"name": "x", "scopes": "everything"}):
        r = client.post("/admin/api-tokens/create", data={**data, "csrf_token": _csrf(client)})
        assert r.status_code == 302
    with fresh_api.app.app_context():
        assert fresh_api.app.extensions["sqlalchemy"].session.query(m.ApiToken).count() == 3


# ---- the pure parts ------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("2026-11-23T10:00:00Z", datetime(2026, 11, 23, 10, tzinfo=timezone.utc)),
    ("2026-11-23t13:00:00+03:00", datetime(2026, 11, 23, 10, tzinfo=timezone.utc)),
    ("2026-11-23T10:00:00.123456789-00:30", datetime(2026, 11, 23, 10, 30, 0, 123456, tzinfo=timezone.utc)),
    ("2016-12-31T23:59:60Z", datetime(2016, 12, 31, 23, 59, 59, tzinfo=timezone.utc)),  # leap second
])
def test_parse_time_reads_rfc3339_as_utc(text, expected):
    assert query.parse_time("since", text) == expected


@pytest.mark.parametrize("text", ["2026-11-23T10:00:00", "2026-11-23 10:00:00Z", "2026-13-01T00:00:00Z",
                                  "2026-11-23T10:00:00+03:60", "9999-12-31T23:00:00-05:00", "", "now"])
def test_parse_time_refuses(text):
    with pytest.raises(BadParameter):
        query.parse_time("since", text)


def test_a_cursor_round_trips_and_refuses_forgeries():
    at = datetime(2026, 11, 23, 10, 0, 0, 5, tzinfo=timezone.utc)
    assert query.decode_cursor("cursor", query.encode_cursor(at, 42)) == (at, 42)
    for bad in ("", "x", "MjAyNi0xMS0yMw", query.encode_cursor(at, 1) + "!"):
        with pytest.raises(BadParameter):
            query.decode_cursor("cursor", bad)


NOW = datetime(2026, 11, 23, 10, tzinfo=timezone.utc)
TOKEN = "a" * 43


def _row(active=True, scopes=("calls",), last_used=None, token=TOKEN, row_id=1):
    return auth.TokenRow(row_id, auth.token_hash(token), active, frozenset(scopes), last_used)


@pytest.mark.parametrize("header, rows, scope, expected", [
    (None, [], "calls", auth.AuthDecision(401, "missing_token")),
    ("Token " + TOKEN, [_row()], "calls", auth.AuthDecision(401, "invalid_token")),
    ("Bearer " + TOKEN, [], "calls", auth.AuthDecision(401, "invalid_token")),
    ("Bearer " + TOKEN, [_row(active=False)], "calls", auth.AuthDecision(401, "invalid_token")),
    ("Bearer " + TOKEN, [_row()], "recordings", auth.AuthDecision(403, "insufficient_scope", 1)),
    ("Bearer " + TOKEN, [_row()], "calls", auth.AuthDecision(200, None, 1, touch=True)),
    ("Bearer " + TOKEN, [_row(last_used=NOW - timedelta(seconds=30))], "calls", auth.AuthDecision(200, None, 1)),
    ("Bearer " + TOKEN, [_row(last_used=NOW - timedelta(minutes=1))], "calls",
     auth.AuthDecision(200, None, 1, touch=True)),
    # two tokens share a prefix: the one whose hash matches decides
    ("Bearer " + TOKEN, [_row(token="a" * 42 + "b", row_id=7, scopes=()), _row(row_id=8)], "calls",
     auth.AuthDecision(200, None, 8, touch=True)),
])
def test_authorize(header, rows, scope, expected):
    assert auth.authorize(header, rows, scope, NOW) == expected


def test_new_tokens_are_long_random_and_url_safe():
    tokens = {auth.new_token() for _ in range(50)}
    assert len(tokens) == 50
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", t) for t in tokens)
    assert all(auth.presented_token(f"Bearer {t}") == t for t in tokens)

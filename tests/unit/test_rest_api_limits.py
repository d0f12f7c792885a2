"""The REST API's rate limits: the token buckets on a Clock (refill, burst, the LRU bound,
a clock gone back), and through Flask: a token past its minute gets 429 with Retry-After
until it refills, a client address past its 401s gets 429 whatever token it sends,
X-Forwarded-For counts only behind trusted proxies, 0 turns limits off; and the config."""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock

from admin.rest_api.limits import Decision, RateLimiter
from pbx_daemon.config import load_config, validate
from tests.unit.rest_api_fixture import CALLS_ONLY, FULL, seeded_api

BAD = "x" * 43  # a well-formed token no row has


# ---- the buckets -------------------------------------------------------------------------
def test_a_full_bucket_allows_the_burst_then_refuses_until_one_request_refills():
    clock = Clock()
    limiter = RateLimiter(clock, per_minute=60, burst=3)
    assert limiter.take("k") == Decision(True, 0.0, 2, 3)
    assert limiter.take("k") == Decision(True, 0.0, 1, 3)
    assert limiter.take("k") == Decision(True, 1.0, 0, 3)  # the next one only in a second
    assert limiter.take("k") == Decision(False, 1.0, 0, 3)
    clock.advance(0.25)
    assert limiter.take("k") == Decision(False, 0.75, 0, 3)  # a refusal spends nothing
    clock.advance(0.75)
    assert limiter.take("k").allowed
    assert not limiter.take("k").allowed


def test_a_bucket_refills_at_the_rate_and_never_past_the_burst():
    clock = Clock()
    limiter = RateLimiter(clock, per_minute=120)  # burst 120, one request back every 0.5 s
    for _ in range(120):
        assert limiter.take("k").allowed
    refused = limiter.take("k")
    assert not refused.allowed and refused.retry_after == 0.5
    clock.advance(10)  # 20 back
    assert [limiter.take("k").allowed for _ in range(21)] == [True] * 20 + [False]
    clock.advance(3600)  # an hour idle: full, not 7200
    assert limiter.check("k") == Decision(True, 0.0, 120, 120)
    assert sum(limiter.take("k").allowed for _ in range(200)) == 120


def test_keys_have_their_own_buckets_and_check_spends_nothing():
    clock = Clock()
    limiter = RateLimiter(clock, per_minute=2)
    limiter.take("a"), limiter.take("a")
    assert not limiter.check("a").allowed and limiter.check("a").retry_after == 30
    assert limiter.check("b") == Decision(True, 0.0, 2, 2)
    assert limiter.check("b") == Decision(True, 0.0, 2, 2)
    assert len(limiter) == 1  # looking remembers nothing
    assert limiter.take("b").allowed


def test_at_most_max_keys_are_remembered_the_least_recently_spending_forgotten():
    clock = Clock()
    limiter = RateLimiter(clock, per_minute=1, max_keys=3)
    for key in ("a", "b", "c"):
        limiter.take(key)
    limiter.take("a")  # refused: it does not make "a" recent
    for key in ("d", "e"):
        limiter.take(key)
    assert len(limiter) == 3
    assert limiter.check("a").allowed and limiter.check("b").allowed  # forgotten: full again
    assert not limiter.check("c").allowed and not limiter.check("e").allowed


def test_the_default_bound_holds_under_a_flood_of_keys():
    limiter = RateLimiter(Clock(), per_minute=10)
    for n in range(10500):
        limiter.take(f"198.51.{n // 256}.{n % 256}")
    assert len(limiter) == 10000


def test_a_clock_gone_back_refills_nothing():
    clock = Clock()
    clock.advance(1000)
    limiter = RateLimiter(clock, per_minute=60, burst=1)
    assert limiter.take("k").allowed
    clock.rightNow = 500.0  # the system clock set back
    assert not limiter.take("k").allowed
    clock.rightNow = 1000.5
    assert not limiter.take("k").allowed
    clock.rightNow = 1001.0
    assert limiter.take("k").allowed


def test_per_minute_0_turns_the_limiter_off():
    limiter = RateLimiter(Clock(), per_minute=0)
    assert not limiter.enabled
    assert all(limiter.take("k").allowed for _ in range(1000)) and len(limiter) == 0


def test_nonsense_limits_are_refused():
    for kwargs in ({"per_minute": -1}, {"per_minute": 10, "burst": 0}, {"per_minute": 10, "max_keys": 0}):
        with pytest.raises(ValueError):
            RateLimiter(Clock(), **kwargs)


# ---- through Flask -------------------------------------------------------------------------
@pytest.fixture
def api(tmp_path):
    """The default limits: 120 a minute per token, 10 bad tokens a minute per address."""
    return seeded_api(f"sqlite:///{tmp_path}/api.sqlite3", tmp_path)


def _rate_limited(r):
    assert r.status_code == 429, (r.status_code, r.data)
    assert r.json["error"] == "rate_limited" and r.json["message"]
    assert r.headers["Cache-Control"] == "no-store" and "WWW-Authenticate" not in r.headers
    return int(r.headers["Retry-After"])


def _from(address):
    return {"environ_base": {"REMOTE_ADDR": address}}


def test_the_121st_request_of_a_token_in_a_minute_is_429_until_it_refills(api):
    url = f"/api/v1/calls/{api.ids['calls'][0]}"
    for n in range(120):
        r = api.get(url)
        assert r.status_code == 200, n
    assert (r.headers["RateLimit-Limit"], r.headers["RateLimit-Remaining"]) == ("120", "0")
    retry_after = _rate_limited(api.get(url))
    assert retry_after == 1  # 0.5 s, in whole seconds
    _rate_limited(api.get("/api/v1/inquiries"))  # every endpoint of the token
    assert api.get(url, token=CALLS_ONLY).status_code == 200  # another token is not affected
    api.clock.advance(retry_after)
    r = api.get(url)
    assert r.status_code == 200 and r.headers["RateLimit-Remaining"] == "1"


def test_answers_carry_the_tokens_rate_limit_headers(api):
    r = api.get("/api/v1/calls")
    assert (r.headers["RateLimit-Limit"], r.headers["RateLimit-Remaining"]) == ("120", "119")
    r = api.get("/api/v1/calls?limit=0")  # a 400 spends one too
    assert r.status_code == 400 and r.headers["RateLimit-Remaining"] == "118"
    r = api.get("/api/v1/inquiries", token=CALLS_ONLY)
    assert r.status_code == 403 and r.headers["RateLimit-Remaining"] == "119"
    assert "RateLimit-Limit" not in api.get("/api/v1/openapi.json", token=None).headers


def test_an_address_past_10_bad_tokens_a_minute_gets_429_whatever_its_token(api):
    here, there = _from("203.0.113.5"), _from("203.0.113.6")
    for n in range(10):
        assert api.get("/api/v1/calls", token=BAD, **here).status_code == 401, n
    retry_after = _rate_limited(api.get("/api/v1/calls", token=BAD, **here))
    assert retry_after == 6  # one more try every 6 s
    _rate_limited(api.get("/api/v1/calls", token=FULL, **here))  # the good token too
    _rate_limited(api.get("/api/v1/calls", token=None, **here))
    assert api.get("/api/v1/calls", token=FULL, **there).status_code == 200  # another address works
    assert api.get("/api/v1/calls", token=BAD, **there).status_code == 401
    api.clock.advance(retry_after - 1)
    _rate_limited(api.get("/api/v1/calls", token=FULL, **here))
    api.clock.advance(1)
    assert api.get("/api/v1/calls", token=FULL, **here).status_code == 200
    assert api.get("/api/v1/calls", token=BAD, **here).status_code == 401  # the refilled try, spent
    _rate_limited(api.get("/api/v1/calls", token=FULL, **here))


def test_the_addresses_of_one_ipv6_64_share_the_limit(api):
    for n in range(10):  # every guess from another address of the same /64
        assert api.get("/api/v1/calls", token=BAD, **_from(f"2001:db8:1:2::{n + 1:x}")).status_code == 401
    _rate_limited(api.get("/api/v1/calls", token=FULL, **_from("2001:db8:1:2:ffff::99")))
    assert api.get("/api/v1/calls", token=FULL, **_from("2001:db8:1:3::1")).status_code == 200  # next /64


def test_good_requests_and_403s_do_not_count_as_failures(api):
    for _ in range(15):
        assert api.get("/api/v1/inquiries", token=CALLS_ONLY).status_code == 403
        assert api.get("/api/v1/calls").status_code == 200
    assert api.get("/api/v1/calls", token=BAD).status_code == 401


def test_a_forged_x_forwarded_for_does_not_escape_the_address_limit(api):
    for n in range(12):
        r = api.get("/api/v1/calls", token=BAD, headers={"X-Forwarded-For": f"198.51.100.{n}"})
    _rate_limited(r)


def test_behind_a_trusted_proxy_each_client_address_counts_apart(tmp_path):
    api = seeded_api(f"sqlite:///{tmp_path}/api.sqlite3", tmp_path, {"PBX_CRM_ADMIN_TRUSTED_PROXIES": "1"})
    nginx = {"REMOTE_ADDR": "127.0.0.1"}
    for _ in range(11):
        r = api.get("/api/v1/calls", token=BAD, headers={"X-Forwarded-For": "198.51.100.1"}, environ_base=nginx)
    _rate_limited(r)
    r = api.get("/api/v1/calls", token=FULL, headers={"X-Forwarded-For": "198.51.100.2"}, environ_base=nginx)
    assert r.status_code == 200


def test_limits_of_0_turn_both_off(tmp_path):
    api = seeded_api(f"sqlite:///{tmp_path}/api.sqlite3", tmp_path, {
        "PBX_CRM_ADMIN_API_RATE_PER_MINUTE": "0", "PBX_CRM_ADMIN_API_AUTH_FAILURES_PER_MINUTE": "0"})
    url = f"/api/v1/calls/{api.ids['calls'][0]}"
    assert all(api.get(url).status_code == 200 for _ in range(130))
    assert all(api.get(url, token=BAD).status_code == 401 for _ in range(20))
    r = api.get(url)
    assert r.status_code == 200 and "RateLimit-Limit" not in r.headers


# ---- config --------------------------------------------------------------------------------
def test_the_limits_default_to_120_and_10_and_are_checked():
    admin = load_config(None, {}).admin
    assert (admin.api_rate_per_minute, admin.api_auth_failures_per_minute) == (120, 10)
    for key in ("api_rate_per_minute", "api_auth_failures_per_minute"):
        for value, ok in (("0", True), ("1", True), ("100000", True), ("-1", False), ("100001", False)):
            config = load_config(None, {f"PBX_CRM_ADMIN_{key.upper()}": value})
            assert any(p.key == f"admin.{key}" for p in validate(config)) is not ok, (key, value)

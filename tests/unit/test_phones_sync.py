"""The phones file sync (pbx_daemon.telephony.phones_sync) with a fake ARI reload and
files in tmp_path, and its API path ``POST /v1/phones/sync`` over StubTreq."""

from __future__ import annotations

import json

import pytest
from treq.testing import StubTreq
from twisted.internet.defer import Deferred, fail, maybeDeferred, succeed
from twisted.logger import capturedLogs
from twisted.web.resource import Resource

from pbx_daemon.crm import models as m
from pbx_daemon.telephony.api import ApiResource
from pbx_daemon.telephony.ari.rest import AriError, AriRest
from pbx_daemon.telephony.asterisk_render import Phone, render_phones, sip_md5_cred
from pbx_daemon.telephony.metrics import DaemonMetrics
from pbx_daemon.telephony.phones_file import PHONES_FILE, set_sip_password
from pbx_daemon.telephony.phones_sync import (RELOAD_PATH, PhonesSync, ari_reload,
                                              database_render)
from tests.unit.helpers import memory_session

HA1 = sip_md5_cred("101", "secret-101")


class FakeReload:
    """ARI's PUT /asterisk/modules/res_pjsip.so: answers with ``results`` in order (a
    Deferred left pending, an exception fails it), then succeeds."""

    def __init__(self, *results):
        self.results = list(results)
        self.calls = 0

    def __call__(self):
        self.calls += 1
        result = self.results.pop(0) if self.results else None
        if isinstance(result, Deferred):
            return result
        if isinstance(result, Exception):
            return fail(result)
        return succeed(None)


class Renderer:
    def __init__(self, phones):
        self.phones = phones
        self.renders = 0

    def __call__(self):
        self.renders += 1
        return render_phones(self.phones), len(self.phones)


def installed(tmp_path, phones=()):
    path = tmp_path / PHONES_FILE
    path.write_text(render_phones(list(phones)))
    return path


def sync_of(path, renderer, reload, to_thread=maybeDeferred):
    return PhonesSync(renderer, path, reload, to_thread)


def result_of(d):
    out = []
    d.addBoth(out.append)
    assert out, "the sync did not finish"
    return out[0]


def test_a_changed_file_is_written_and_pjsip_reloaded_once(tmp_path):
    path = installed(tmp_path)
    reload = FakeReload()
    renderer = Renderer([Phone("101", md5_cred=HA1)])
    sync = sync_of(path, renderer, reload)
    with capturedLogs() as events:
        result = result_of(sync.sync())
    assert result.as_json() == {"installed": True, "changed": True, "phones": 1, "reloaded": True}
    assert f"md5_cred = {HA1}" in path.read_text()
    assert reload.calls == 1 and sync.reloads == 1
    logged = [e for e in events if e.get("log_format", "").startswith("PJSIP reloaded")]
    assert logged and logged[0]["phones"] == 1 and logged[0]["path"] == str(path)


def test_an_unchanged_file_is_reloaded_once_after_start_then_left_alone(tmp_path):
    # The daemon may have stopped between its last write and the reload: the first sync
    # of a start reloads even an unchanged file; later ones do not.
    phones = [Phone("101", md5_cred=HA1)]
    path = installed(tmp_path, phones)
    before = path.stat().st_mtime_ns
    reload = FakeReload()
    sync = sync_of(path, Renderer(phones), reload)
    result = result_of(sync.sync())
    assert (result.changed, result.reloaded, result.phones) == (False, True, 1)
    result = result_of(sync.sync())
    assert (result.changed, result.reloaded, result.phones) == (False, False, 1)
    assert reload.calls == 1 and path.stat().st_mtime_ns == before


@pytest.mark.parametrize("content", [None, "[101]\ntype = endpoint\n", ""])
def test_a_missing_or_foreign_file_is_left_alone_and_said_once(tmp_path, content):
    path = tmp_path / PHONES_FILE
    if content is not None:
        path.write_text(content)
    reload = FakeReload()
    renderer = Renderer([Phone("101", md5_cred=HA1)])
    sync = sync_of(path, renderer, reload)
    with capturedLogs() as events:
        first = result_of(sync.sync())
        result_of(sync.sync())
    assert first.as_json() == {"installed": False, "changed": False, "phones": 0, "reloaded": False}
    assert reload.calls == 0 and renderer.renders == 0
    assert path.exists() == (content is not None)
    if content is not None:
        assert path.read_text() == content
    said = [e for e in events if "not installed" in e.get("log_format", "")]
    assert len(said) == 1 and "pbx-crm asterisk install" in said[0]["log_format"]
    assert said[0]["log_level"].name == "info"


def test_a_failed_reload_is_logged_and_paid_at_the_next_sync(tmp_path):
    path = installed(tmp_path)
    reload = FakeReload(AriError(409, "Module could not be reloaded"))
    sync = sync_of(path, Renderer([Phone("101", md5_cred=HA1)]), reload)
    with capturedLogs() as events:
        first = result_of(sync.sync())
    assert (first.changed, first.reloaded) == (True, False)
    assert sync.reload_failures == 1 and sync.reload_owed
    assert any("failed" in e.get("log_format", "") and e["log_level"].name == "warn"
               for e in events)
    second = result_of(sync.sync())  # the file did not change since, but the reload is owed
    assert (second.changed, second.reloaded) == (False, True)
    assert reload.calls == 2 and not sync.reload_owed
    result_of(sync.sync())
    assert reload.calls == 2


def test_requests_during_a_sync_coalesce_into_exactly_one_more(tmp_path):
    path = installed(tmp_path)
    first_reload = Deferred()
    reload = FakeReload(first_reload)
    renderer = Renderer([Phone("101", md5_cred=HA1)])
    sync = sync_of(path, renderer, reload)
    d1 = sync.sync()
    renderer.phones = [Phone("101", md5_cred=HA1), Phone("102", md5_cred=sip_md5_cred("102", "x"))]
    waiting = [sync.sync() for _ in range(3)]
    assert renderer.renders == 1 and reload.calls == 1  # the others wait
    first_reload.callback(None)
    assert result_of(d1).phones == 1
    results = [result_of(d) for d in waiting]
    assert renderer.renders == 2 and reload.calls == 2
    assert all(r.phones == 2 and r.reloaded for r in results)
    assert "[102]" in path.read_text()


def test_a_render_failure_fails_the_sync_and_the_next_one_runs(tmp_path):
    path = installed(tmp_path)

    def broken():
        raise RuntimeError("database is locked")

    sync = sync_of(path, broken, FakeReload())
    with capturedLogs() as events:
        failure = result_of(sync.sync())
    assert failure.check(RuntimeError)
    assert any(e.get("log_failure") is not None for e in events)
    sync.render = Renderer([])
    assert result_of(sync.sync()).installed


def test_database_render_lists_active_employees_with_credentials():
    with memory_session() as session:
        anna = m.Employee(full_name="Anna", login="anna", role="manager", sip_endpoint="101")
        boris = m.Employee(full_name="Boris", login="boris", role="manager", sip_endpoint="102")
        gone = m.Employee(full_name="Gone", login="gone", role="manager", sip_endpoint="103",
                          active=False)
        set_sip_password(anna, "secret-101", now=None)
        set_sip_password(gone, "x", now=None)
        session.add_all([anna, boris, gone])
        session.commit()
        text, count = database_render(lambda: _Borrowed(session))()
    assert count == 1 and f"md5_cred = {HA1}" in text and "[102]" not in text and "[103]" not in text


class _Borrowed:
    """A test's open session as a session factory's context manager (left open)."""

    def __init__(self, session):
        self.session = session

    def __enter__(self):
        return self.session

    def __exit__(self, *exc):
        return False


class _Modules(Resource):
    isLeaf = True

    def __init__(self):
        super().__init__()
        self.seen = []

    def render(self, request):
        self.seen.append((request.method, request.path))
        request.setResponseCode(204)
        return b""


def test_ari_reload_is_a_put_on_res_pjsip():
    modules = _Modules()
    http = StubTreq(modules)
    rest = AriRest("http://127.0.0.1:8088/", "u", "p", http)
    d = ari_reload(rest)()
    http.flush()
    assert result_of(d) is None
    assert modules.seen == [(b"PUT", b"/ari" + RELOAD_PATH.encode())]


def test_metrics_count_reloads_and_failures(tmp_path):
    from twisted.internet.task import Clock

    path = installed(tmp_path)
    sync = sync_of(path, Renderer([Phone("101", md5_cred=HA1)]),
                   FakeReload(AriError(409, "no")))
    metrics = DaemonMetrics(Clock())
    metrics.watch(phones=sync)
    result_of(sync.sync())
    result_of(sync.sync())
    text = metrics.render().decode()
    assert "pbx_crm_phones_reloads_total 1.0" in text
    assert "pbx_crm_phones_reload_failures_total 1.0" in text


# ---- the API path ------------------------------------------------------------------------
TOKEN = "test-token-0123456789abcdef"
URL = "http://127.0.0.1:8091"


def call(treq, method, path, token=TOKEN):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    d = treq.request(method, URL + path, headers=headers)
    results = []
    d.addCallback(lambda r: r.content().addCallback(
        lambda c: results.append((r.code, r.headers.getRawHeaders("content-type")[0], json.loads(c)))))
    treq.flush()
    return results[0]


def test_the_api_syncs_with_the_token_and_answers_json(tmp_path):
    path = installed(tmp_path)
    reload = FakeReload()
    sync = sync_of(path, Renderer([Phone("101", md5_cred=HA1)]), reload)
    treq = StubTreq(ApiResource(TOKEN, object(), lambda body: None, phones=sync))
    assert call(treq, "POST", "/v1/phones/sync", token="wrong")[0] == 401
    assert call(treq, "POST", "/v1/phones/sync", token=None)[0] == 401
    assert reload.calls == 0 and "101" not in path.read_text()
    code, ctype, body = call(treq, "POST", "/v1/phones/sync")
    assert code == 200 and ctype.startswith("application/json")
    assert body["changed"] is True and body["phones"] == 1 and body["reloaded"] is True
    code, _, body = call(treq, "POST", "/v1/phones/sync")
    assert (code, body["changed"], body["phones"]) == (200, False, 1)
    assert call(treq, "GET", "/v1/phones/sync")[0] == 405


def test_the_api_says_500_when_the_sync_fails(tmp_path):
    def broken():
        raise RuntimeError("database is locked")

    sync = sync_of(installed(tmp_path), broken, FakeReload())
    treq = StubTreq(ApiResource(TOKEN, object(), lambda body: None, phones=sync))
    code, _, body = call(treq, "POST", "/v1/phones/sync")
    assert code == 500 and "daemon's log" in body["error"] and "locked" not in body["error"]


def test_the_daemon_syncs_the_phones_file_in_asterisks_etc_dir(tmp_path):
    """make_service (built, not started): the sync targets etc_dir's phones file, the API
    serves it and /metrics counts its reloads."""
    from twisted.internet.testing import MemoryReactorClock

    from pbx_daemon.config import load_config
    from pbx_daemon.service import make_service

    cfg = load_config(None, {"PBX_CRM_API_TOKEN": TOKEN, "PBX_CRM_ARI_PASSWORD": "Ari-Password-0123",
                             "PBX_CRM_DATABASE_URL": f"sqlite:///{tmp_path}/pbx.sqlite3",
                             "PBX_CRM_ASTERISK_ETC_DIR": str(tmp_path / "asterisk")})
    root = make_service(cfg, MemoryReactorClock())
    assert root.phones.path == tmp_path / "asterisk" / PHONES_FILE
    site = root.getServiceNamed("api").factory
    assert site.resource.phones is root.phones
    assert b"pbx_crm_phones_reloads_total 0.0" in root.metrics.render()

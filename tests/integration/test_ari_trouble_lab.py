"""ARI requests failing under a burst: the lab PBX's HTTP `sessionlimit` is cut to 3 (the
events WebSocket holds one), so most of the daemon's REST requests are turned away while
eight callers ring the department and give up. Hang-ups are retried until they go
through and the sweep catches the rest: 10 s after the last caller gave up no channel is
left (no phone rings for a caller who is gone), and every call is stored, missed, with
one inquiry per number."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from pbx_daemon import db
from pbx_daemon.crm import models as m
from pbx_daemon.lab import Lab
from tests.integration.conftest import running_daemon
from tests.integration.test_routing_lab import SALES_NUMBER, seed

pytestmark = pytest.mark.lab

CALLERS = [f"+7903555900{n}" for n in range(8)]


def _session_limit(lab: Lab, limit: int | None) -> None:
    http = lab.etc_dir("pbx") / "http.conf"
    lines = [line for line in http.read_text().splitlines() if not line.startswith("sessionlimit")]
    if limit is not None:
        lines.append(f"sessionlimit = {limit}")
    http.write_text("\n".join(lines) + "\n")
    lab.cli("pbx", "module reload http")


def test_no_phone_rings_on_when_most_ari_requests_are_refused(lab: Lab, tmp_path):
    url = f"sqlite:///{tmp_path}/pbx.sqlite3"
    db.upgrade(url)
    seed(url)
    lab.wait_idle()
    lab.reset_behaviour()  # every phone rings, nobody answers
    with running_daemon(lab, tmp_path, url):
        start = time.time()
        _session_limit(lab, 3)
        try:
            for caller in CALLERS:
                lab.call(caller, SALES_NUMBER, ring_timeout=5, hold=1)
            lab.wait_for(lambda: len({r.caller_num for r in lab.rings(start)} & set(CALLERS)) >= 4,
                         20, "the burst to ring")
            time.sleep(max(0.0, start + 10 - time.time()))  # every caller has given up
        finally:
            _session_limit(lab, None)
        gave_up = time.time()
        log = tmp_path / "daemon.log"

        def idle():
            return lab.ari_get("/channels") == []

        try:
            lab.wait_for(idle, 15, "every channel to be gone")
        except Exception:
            print(log.read_text()[-8000:])
            raise
        assert time.time() - gave_up < 15
        assert "retrying" in log.read_text()  # requests were refused and retried

        def stored():
            with db.make_session_factory(db.make_engine(url))() as s:
                calls = s.scalars(select(m.Call)).all()
                done = [c for c in calls if c.outcome != "in_progress"]
                return calls if len(done) == len(CALLERS) else None

        calls = lab.wait_for(stored, 30, "every call stored with its outcome")
    assert {c.caller for c in calls} == set(CALLERS)
    assert all(c.outcome in ("missed", "failed") for c in calls), [(c.caller, c.outcome) for c in calls]
    with db.make_session_factory(db.make_engine(url))() as s:
        missed = {c.caller for c in calls if c.outcome == "missed"}
        assert s.scalar(select(func.count(m.Inquiry.id))) == len(missed)

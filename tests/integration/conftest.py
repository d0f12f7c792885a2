"""Fixtures for the integration suite: the real Asterisk lab.

The lab is never skipped in CI: when it cannot come up (not root, no debootstrap, ports
taken) the tests that need it fail with the lab's own one-line reason.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pbx_daemon.lab import Lab
from pbx_daemon.lab.lab import LabSettings

# Ports and names apart from the demo lab (5060/8088/5070), so the suite can run while
# `pbx-crm lab up` is serving the demo.
TEST_LAB = dict(
    name="test",
    pbx_sip_port=int(os.environ.get("PBX_CRM_TEST_LAB_SIP_PORT", "15060")),
    pbx_ari_port=int(os.environ.get("PBX_CRM_TEST_LAB_ARI_PORT", "18088")),
    world_sip_port=int(os.environ.get("PBX_CRM_TEST_LAB_WORLD_PORT", "15070")),
    trunk_ip="127.0.0.2",
    fastagi_port=14573,
    fastagi_standby_port=14574,
)
# What the suite's daemons put in their config to match.
TEST_AGI_LISTEN = "tcp:14573:interface=127.0.0.1"
TEST_AGI_STANDBY_LISTEN = "tcp:14574:interface=127.0.0.1"
TEST_API_PORT = 18091
TEST_API_TOKEN = "test-token-0123456789abcdef"


def lab_settings() -> LabSettings:
    return LabSettings(
        root=Path(os.environ.get("PBX_CRM_LAB_ROOT", "/var/cache/pbx-crm/lab-root")),
        state_dir=Path("/run/pbx-crm-lab-test"),
        ari_password=secrets.token_urlsafe(18),
        **TEST_LAB,
    )


@pytest.fixture(scope="session")
def lab():
    """A running lab for the whole session, torn down at the end."""
    lab = Lab(lab_settings(), log=lambda m: print(f"lab: {m}"))
    lab.down()  # a previous run killed mid-way may have left it up
    lab.up()
    try:
        yield lab
    finally:
        lab.down()


@pytest.fixture
def fresh_lab(lab):
    """The session lab, idle, with every phone and PSTN number back to its default."""
    lab.wait_idle()
    lab.reset_behaviour()
    return lab


@contextlib.contextmanager
def running_daemon(lab: Lab, tmp_path: Path, database_url: str, extra: str = "",
                   app: str = "pbx-crm", after_crash: bool = False, asterisk_extra: str = "",
                   ari: tuple[int, str] | None = None):
    """`pbx-crm daemon` against the lab, as a subprocess, until the block ends.

    It takes recordings from the lab PBX's spool into ``tmp_path/recordings``;
    ``asterisk_extra`` adds keys to that [asterisk] section (``cel_log``: reconciliation
    is off unless a test names the lab's CEL log, which holds every test's calls).
    ``after_crash``: an earlier daemon was killed with calls still in the application,
    which Asterisk then keeps listed: wait for our own connection instead. ``ari``:
    (port, password) of another Asterisk in the lab root than the lab PBX."""
    s = lab.s
    ari_port, ari_password = ari or (s.pbx_ari_port, s.ari_password)
    config = tmp_path / "pbx-crm.toml"
    spool = lab.instance_dir("pbx") / "spool" / "recording"
    config.write_text(
        f'[general]\ndata_dir = "{tmp_path}"\n[database]\nurl = "{database_url}"\n'
        f'[ari]\nurl = "http://127.0.0.1:{ari_port}/"\npassword = "{ari_password}"\n'
        f'app = "{app}"\n[api]\ntoken = "{TEST_API_TOKEN}"\n'
        f'listen = "tcp:{TEST_API_PORT}:interface=127.0.0.1"\n'
        f'[agi]\nlisten = "{TEST_AGI_LISTEN}"\n'
        f'[asterisk]\nrecording_dir = "{spool}"\n'
        + ("" if "cel_log" in asterisk_extra else f'cel_log = "{tmp_path}/no-cel-log"\n')
        + asterisk_extra + extra)

    def registered():
        return any(a["name"] == app for a in lab.ari_get("/applications"))

    log_path = tmp_path / "daemon.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PBX_CRM_")}
    with open(tmp_path / "daemon.log", "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "pbx_daemon.cli", "--config", str(config),
                                 "daemon", "--log-format", "json"],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        # Its own connection, not the application list: Asterisk keeps listing an
        # application while calls a killed daemon left are still in it. And its warm-up
        # lookup over (or failed, with the database away): ready as a daemon that has run
        # a while, whose first call is not a cold lookup racing the routing deadline.
        def ready():
            text = log_path.read_text()
            return "ARI events connected" in text and \
                ("lookup warmed up" in text or "warm-up lookup failed" in text)
        lab.wait_for(ready, 15, "the daemon to connect and warm up")
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)


def reconciled_to_the_end(lab: Lab, database_url: str) -> Path:
    """Mark ``database_url`` as having reconciled the lab PBX's CEL log up to its end (as a
    daemon that ran before would have), so that its reconcile reads only the calls a test
    makes from now on: the log holds every earlier test's calls, a day of them on a busy
    machine, and a first reconcile would import them all (the 24 h horizon). Returns the
    log's path, for ``cel_log``."""
    from pbx_daemon import db
    from pbx_daemon.telephony.cel_tail import CelTail
    from pbx_daemon.telephony.reconcile import SavedPosition, save_position

    cel = lab.log_dir("pbx") / "cel-custom" / "pbx-crm.jsonl"
    tail = CelTail(cel)
    while tail.read():
        pass
    engine = db.make_engine(database_url)
    try:
        with db.make_session_factory(engine)() as s:
            save_position(s, SavedPosition(tail.end(), time.time() - 3600))
            s.commit()
    finally:
        tail.close()
        engine.dispose()
    return cel


@contextlib.contextmanager
def seeded_daemon(lab: Lab, tmp: Path, seed):
    """A fresh SQLite database in ``tmp``, migrated and filled by ``seed(url)``, and the
    daemon on it: yields (lab, url, the daemon's log) for a module of routing tests."""
    from pbx_daemon import db

    url = f"sqlite:///{tmp}/pbx.sqlite3"
    db.upgrade(url)
    seed(url)
    with running_daemon(lab, tmp, url):
        yield lab, url, tmp / "daemon.log"

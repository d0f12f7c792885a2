"""`pbx-crm daemon` against the real lab PBX: it registers the Stasis app, takes inbound
calls, and a call still rings somebody before, while and after it runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pbx_daemon.lab import Lab

pytestmark = pytest.mark.lab


def _write_config(lab: Lab, tmp_path: Path) -> Path:
    s = lab.s
    config = tmp_path / "pbx-crm.toml"
    config.write_text(
        f'[general]\ndata_dir = "{tmp_path}"\n'
        f'[ari]\nurl = "http://127.0.0.1:{s.pbx_ari_port}/"\npassword = "{s.ari_password}"\n'
        f'[api]\ntoken = "test-token-0123456789abcdef"\n'
        f'[agi]\nlisten = "tcp:14573:interface=127.0.0.1"\n'
    )
    return config


def _app_registered(lab: Lab) -> bool:
    try:
        return any(a["name"] == "pbx-crm" for a in lab.ari_get("/applications"))
    except Exception:  # noqa: BLE001 - polled until it answers
        return False


@pytest.fixture
def daemon(fresh_lab: Lab, tmp_path: Path):
    config = _write_config(fresh_lab, tmp_path)
    log_path = tmp_path / "daemon.log"
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pbx_daemon.cli", "--config", str(config), "daemon",
             "--log-format", "json"],
            stdout=log_file, stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if not k.startswith("PBX_CRM_")},
        )
    try:
        fresh_lab.wait_for(lambda: "ARI events connected" in log_path.read_text(), 15,
                           "the daemon to connect")
        yield proc, log_path
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)


def _log_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def test_daemon_takes_the_call_and_it_rings_the_group(fresh_lab: Lab, daemon):
    proc, log_path = daemon
    lab = fresh_lab
    start = time.time()
    lab.set_phone("102", "answer:1:1")
    lab.call("+79161230000", "+74951110009", ring_timeout=15, hold=1)

    def answered():
        rings = [r for r in lab.rings(start) if r.caller_num == "+79161230000" and r.ended_at]
        return rings if len(rings) == 2 else None

    rings = {r.target: r for r in lab.wait_for(answered, 20, "the group to ring")}
    assert rings["102"].answered_at and not rings["101"].answered_at

    records = _log_records(log_path)
    handled = [r for r in records if r.get("dialled") == "+74951110009"]
    assert len(handled) == 1, records[-5:]
    assert handled[0]["call_id"].startswith("pbx-")

    # SIGTERM: a clean stop, and Asterisk unregisters the application at once.
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert any(r.get("log_format") == "pbx-crm daemon stopped" for r in _log_records(log_path))
    lab.wait_for(lambda: not _app_registered(lab), 5, "pbx-crm to be unregistered")


def test_daemon_refuses_to_start_without_an_ari_password(tmp_path: Path):
    config = tmp_path / "pbx-crm.toml"
    config.write_text('[api]\ntoken = "test-token-0123456789abcdef"\n')
    proc = subprocess.run([sys.executable, "-m", "pbx_daemon.cli", "--config", str(config), "daemon"],
                          capture_output=True, text=True, timeout=30,
                          env={k: v for k, v in os.environ.items() if not k.startswith("PBX_CRM_")})
    assert proc.returncode == 2
    assert "ari.password" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1

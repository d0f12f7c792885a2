"""The lab smoke test: a real Asterisk PBX, a real SIP trunk peer and real SIP phones."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pbx_daemon.lab import Lab
from tests.integration.conftest import lab_settings

pytestmark = pytest.mark.lab


def test_ari_answers_with_asterisk_22(lab: Lab):
    info = lab.ari_get("/asterisk/info")
    assert info["system"]["version"].startswith("22."), info["system"]


def test_pbx_has_the_trunk_and_the_lab_phones(lab: Lab):
    endpoints = {e["resource"] for e in lab.ari_get("/endpoints/PJSIP")}
    assert {"pbxcrm-trunk", "101", "102"} <= endpoints


def test_trunk_call_reaches_pbx_and_rings_a_phone_which_answers(fresh_lab: Lab):
    """Daemon not running: Stasis() fails, the fallback group (101, 102) rings, 101 answers."""
    lab = fresh_lab
    start = time.time()
    lab.set_phone("101", "answer:1:2")
    lab.set_phone("102", "ring")
    lab.call("+79161234567", "+74951110001", name="Smoke Test", ring_timeout=15, hold=2)

    def both_ended():
        rings = [r for r in lab.rings(start) if r.caller_num == "+79161234567"]
        return rings if len(rings) == 2 and all(r.ended_at for r in rings) else None

    rings = lab.wait_for(both_ended, 20, "phones 101 and 102 to ring and hang up")
    by_phone = {r.target: r for r in rings}
    assert set(by_phone) == {"101", "102"}
    assert by_phone["101"].answered_at is not None
    assert by_phone["101"].answered_at - by_phone["101"].rang_at == pytest.approx(1.0, abs=0.5)
    assert by_phone["101"].caller_name == "Smoke Test"
    # First answer wins: 102 stops ringing (cause 26, answered elsewhere) the moment 101 answers.
    assert by_phone["102"].answered_at is None
    assert by_phone["102"].hangup_cause == 26
    assert abs(by_phone["102"].ended_at - by_phone["101"].answered_at) < 0.5

    # The PBX saw the call arrive on its trunk with the dialled number.
    cel = lab.log_dir("pbx") / "cel-custom" / "pbx-crm.jsonl"
    records = []
    for line in cel.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            # Asterisk's CEL JSON does not escape a backslash in a caller name; the
            # hostile-caller-id tests send those.
            continue
    trunk_starts = [r for r in records if r["eventtype"] == "CHAN_START"
                    and r["channame"].startswith("PJSIP/pbxcrm-trunk-") and r["eventtime"] >= start]
    assert [r["exten"] for r in trunk_starts] == ["+74951110001"]


def test_rejecting_and_busy_phones_are_observed(fresh_lab: Lab):
    lab = fresh_lab
    start = time.time()
    lab.set_phone("101", "reject")
    lab.set_phone("102", "busy")
    lab.call("+79035550000", "+74951110002", ring_timeout=10, hold=1)

    def both_ended():
        rings = [r for r in lab.rings(start) if r.caller_num == "+79035550000"]
        return rings if len(rings) == 2 and all(r.ended_at for r in rings) else None

    rings = {r.target: r for r in lab.wait_for(both_ended, 15, "both phones to end")}
    assert rings["101"].answered_at is None and rings["101"].hangup_cause == 21
    assert rings["102"].answered_at is None and rings["102"].hangup_cause == 17


def _cli(*args: str, config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pbx_daemon.cli", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=60)


def test_cli_drives_the_same_lab(lab: Lab, tmp_path: Path):
    """`pbx-crm lab phone|call|events|status` work against the running lab."""
    s = lab.s
    config = tmp_path / "pbx-crm.toml"
    config.write_text(
        f'[ari]\npassword = "{s.ari_password}"\n'
        f'[lab]\nname = "{s.name}"\nroot = "{s.root}"\nstate_dir = "{s.state_dir}"\n'
        f"pbx_sip_port = {s.pbx_sip_port}\npbx_ari_port = {s.pbx_ari_port}\n"
        f"world_sip_port = {s.world_sip_port}\n"
    )
    lab.reset_behaviour()
    status = _cli("lab", "status", config=config)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["ari"].startswith("22.")
    assert _cli("lab", "phone", "101", "answer", "--after", "1", "--hold", "1",
                config=config).returncode == 0
    assert _cli("lab", "phone", "102", "reject", config=config).returncode == 0
    start = time.time()
    placed = _cli("lab", "call", "--from", "+79267770011", "--to", "+74951110003",
                  "--ring-timeout", "10", "--hold", "1", config=config)
    assert placed.returncode == 0, placed.stderr

    def answered():
        out = _cli("lab", "events", "--since", str(time.time() - start + 1), "--json",
                   config=config)
        rows = [json.loads(line) for line in out.stdout.splitlines()]
        rows = [r for r in rows if r["caller_num"] == "+79267770011" and r["ended_at"]]
        return rows if {r["target"] for r in rows} == {"101", "102"} else None

    rows = {r["target"]: r for r in lab.wait_for(answered, 20, "the CLI to report both rings")}
    assert rows["101"]["answered_at"] and not rows["102"]["answered_at"]
    bad = _cli("lab", "call", "--from", "+7916", "--to", "12;Dial(x)", config=config)
    assert bad.returncode == 1 and "dialled number" in bad.stderr


def test_lab_down_stops_exactly_what_up_started():
    """A second lab (own name and ports) comes up and goes down without leftovers."""
    settings = lab_settings()
    other = Lab(type(settings)(**{**settings.__dict__, "name": "smoke2", "pbx_sip_port": 25060,
                                  "pbx_ari_port": 28088, "world_sip_port": 25070,
                                  "state_dir": Path("/run/pbx-crm-lab-smoke2")}))
    other.down()
    state = other.up()
    pids = list(state["pids"].values())
    assert all(Path(f"/proc/{pid}").exists() for pid in pids)
    assert other.status()["ari"].startswith("22.")
    stopped = other.down()
    assert len(stopped) == 2
    assert not any(Path(f"/proc/{pid}/cmdline").exists()
                   and b"asterisk" in Path(f"/proc/{pid}/cmdline").read_bytes() for pid in pids)
    assert not other.state_file.exists()
    assert other.down() == []

"""The systemd units under packaging/systemd: each runs a `pbx-crm` command the CLI really
has, with the config file, as the pbx-crm user, restarted on failure and hardened. Parsed
with configparser; `systemd-analyze verify` also reads them where it is installed."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from pbx_daemon.cli import build_parser

UNITS = Path(__file__).resolve().parents[2] / "packaging" / "systemd"
SERVICES = ("pbx-crm-daemon.service", "pbx-crm-admin.service", "pbx-crm-agi-server.service")
PREFIX = "/opt/pbx-crm/venv/bin/pbx-crm"
CONFIG = "/etc/pbx-crm/pbx-crm.toml"


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, empty_lines_in_values=False)
    parser.optionxform = str  # systemd's keys are case-sensitive
    parser.read(UNITS / name, encoding="utf-8")
    return parser


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_runs_a_real_cli_command_with_the_config_file(name):
    argv = shlex.split(unit(name)["Service"]["ExecStart"])
    assert argv[0] == PREFIX
    assert argv[1:3] == ["--config", CONFIG]
    args = build_parser().parse_args(argv[1:])  # exits (SystemExit) on an unknown command or option
    assert name == f"pbx-crm-{args.command}.service"
    assert args.config == CONFIG
    assert args.log_format == "json"  # JSON lines in the journal


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_is_the_pbx_crm_user_restarted_and_hardened(name):
    s = unit(name)["Service"]
    assert s["User"] == "pbx-crm"
    assert s["Restart"] == "on-failure"
    assert s["TimeoutStopSec"] == "10"
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
                       "PrivateTmp": "yes", "PrivateDevices": "yes", "LockPersonality": "yes",
                       "MemoryDenyWriteExecute": "yes", "SystemCallFilter": "@system-service",
                       "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
                       "CapabilityBoundingSet": ""}.items():
        assert s[key] == value, key
    assert "/var/lib/pbx-crm" in s["ReadWritePaths"].split()
    assert unit(name)["Install"]["WantedBy"] == "pbx-crm.target"


def test_only_the_daemon_is_in_group_asterisk():
    assert unit("pbx-crm-daemon.service")["Service"]["SupplementaryGroups"] == "asterisk"
    for name in ("pbx-crm-admin.service", "pbx-crm-agi-server.service"):
        assert "SupplementaryGroups" not in unit(name)["Service"]


def test_the_target_pulls_in_every_service_and_starts_at_boot():
    target = unit("pbx-crm.target")
    assert set(target["Unit"]["Wants"].split()) == set(SERVICES)
    assert target["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verify_finds_nothing(tmp_path: Path):
    """With ExecStart pointed at a stub (the install prefix does not exist here)."""
    stub = tmp_path / "pbx-crm"
    stub.write_text("#!/bin/sh\n")
    stub.chmod(0o755)
    names = SERVICES + ("pbx-crm.target",)
    for name in names:
        (tmp_path / name).write_text((UNITS / name).read_text().replace(PREFIX, str(stub)))
    result = subprocess.run(["systemd-analyze", "verify", *(f"./{n}" for n in names)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")

"""Fixtures for the integration suite: the real Asterisk lab.

The lab is never skipped in CI: when it cannot come up (not root, no debootstrap, ports
taken) the tests that need it fail with the lab's own one-line reason.
"""

from __future__ import annotations

import os
import secrets
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
)
# What the suite's daemons put in their config to match.
TEST_AGI_LISTEN = "tcp:14573:interface=127.0.0.1"


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

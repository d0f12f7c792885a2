"""What a lab is: its name, root, state directory, ports and the PBX's credentials, and
where its instances live inside the root."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from pbx_daemon.config import endpoint_port


class LabError(Exception):
    """Something the operator must fix; ``str()`` is one line saying what."""


@dataclass(frozen=True)
class LabSettings:
    root: Path
    state_dir: Path
    # Several labs can share one root (the demo's and the test suite's) when their names,
    # state dirs and ports differ.
    name: str = "lab"
    pbx_sip_port: int = 5060
    pbx_ari_port: int = 8088
    world_sip_port: int = 5070
    trunk_ip: str = "127.0.0.2"
    ari_username: str = "pbx-crm"
    ari_password: str = ""
    ari_app: str = "pbx-crm"
    trunk_endpoint: str = "pbxcrm-trunk"
    phones: tuple[str, ...] = ("101", "102", "103", "104", "105", "106", "107", "108")
    # Registering phones nobody registers: ARI reports them offline (presence tests).
    unregistered_phones: tuple[str, ...] = ("109",)
    # Rung by the dialplan when neither the daemon nor the AGI fallback can route a call.
    fallback_phones: tuple[str, ...] = ("101", "102")
    fallback_timeout: int = 30
    # Where the daemon serves FastAGI (agi.listen), as the lab PBX's dialplan calls it.
    fastagi_port: int = 4573
    fastagi_standby_port: int = 4574
    # At most this many process AGI fallbacks at once (one per core of this 2-core box);
    # calls beyond ring the fallback group.
    agi_process_max: int = 2
    # A DID the lab PBX's dialplan sends straight to a plain Dial() of these phones, not
    # to pbx-crm (templates/pbx_extensions_lab.conf): the baseline bench/load.py compares
    # the daemon's routing against.
    native_did: str = "+74951110090"
    native_ring_group: tuple[str, ...] = ("101", "102")
    blocked_action: str = "busy"
    mirror: str | None = None

    def __post_init__(self) -> None:
        if not re.match(r"^[a-z0-9-]{1,20}$", self.name):
            raise LabError(f"lab name {self.name!r}: lowercase letters, digits and '-'")
        # A literal extension: a leading "_" would make it a pattern that takes over DIDs.
        if not re.match(r"^\+?[0-9]{3,20}$", self.native_did):
            raise LabError(f"native ring group DID {self.native_did!r}: digits, optional +")

    @classmethod
    def from_config(cls, config) -> "LabSettings":
        lab = config.lab
        return cls(
            name=lab.name,
            root=Path(lab.root),
            state_dir=Path(lab.state_dir),
            pbx_sip_port=lab.pbx_sip_port,
            pbx_ari_port=lab.pbx_ari_port,
            world_sip_port=lab.world_sip_port,
            trunk_ip=lab.trunk_ip,
            ari_username=config.ari.username,
            ari_password=config.ari.password,
            ari_app=config.ari.app,
            trunk_endpoint=config.trunk.endpoint,
            fastagi_port=endpoint_port(config.agi.listen, 4573),
            fastagi_standby_port=endpoint_port(config.agi.standby_listen, 4574),
            blocked_action=config.routing.blocked_action,
            mirror=os.environ.get("PBX_CRM_LAB_MIRROR") or None,
        )


def instance_path(name: str, role: str) -> str:
    """Inside the root: one Asterisk instance's directory (etc, log, spool, ...)."""
    return f"/srv/pbx-crm-lab/{name}/{role}"


def opt_path(name: str) -> str:
    """Inside the root: our code, the AGI wrapper and the AGI's config, per lab."""
    return f"/opt/pbx-crm/{name}"

"""The lab's Asterisk configuration, as text. The PBX is a small customer box
(``templates/pbx_*.conf``: one transport, HTTP off, CEL off) into which pbx-crm is installed
by the same plan ``pbx-crm asterisk install`` applies on a real box
(:func:`~pbx_daemon.telephony.install.plan_install`), so every lab test runs the installed
files; then one lab-only file, ``templates/pbx_extensions_lab.conf`` (a native ring group
DID to compare against). The world (trunk and phones) gets ``templates/world_*.conf``.
Nothing is written here.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from pbx_daemon.lab.settings import LabError, LabSettings, instance_path, opt_path
from pbx_daemon.telephony.asterisk_render import Phone, dial_list, render_phones, render_text
from pbx_daemon.telephony.install import InstallSettings, TrunkSettings, plan_install

TEMPLATES = Path(__file__).resolve().parent / "templates"
# Where Debian's asterisk package puts its modules (inside the root).
MODDIR = "/usr/lib/x86_64-linux-gnu/asterisk/modules"


def render_files(s: LabSettings) -> dict[str, dict[str, str]]:
    """The files of both instances, by role then file name."""
    if not s.ari_password:
        raise LabError("ari.password is not set (set it in the config or PBX_CRM_ARI_PASSWORD)")
    common = {"MODDIR": MODDIR}
    pbx_values = {
        **common,
        "ROLE": "pbx",
        "INSTANCE_DIR": instance_path(s.name, "pbx"),
        "ARI_BIND": "127.0.0.1",
        "ARI_PORT": str(s.pbx_ari_port),
        "ARI_USERNAME": s.ari_username,
        "ARI_PASSWORD": s.ari_password,
        "ARI_APP": s.ari_app,
        "SIP_BIND": "127.0.0.1",
        "SIP_PORT": str(s.pbx_sip_port),
        "TRUNK_HOST": f"{s.trunk_ip}:{s.pbx_sip_port}",
        "TRUNK_MATCH": s.trunk_ip,
        "TRUNK_FROM_USER": "pbx-crm",
        "TRUNK_ENDPOINT": s.trunk_endpoint,
        "FALLBACK_DIAL": dial_list(s.fallback_phones),
        "FALLBACK_TIMEOUT": str(s.fallback_timeout),
        "AGI_COMMAND": f"{opt_path(s.name)}/agi-route",
        "AGI_PROCESS_MAX": str(s.agi_process_max),
        "FASTAGI_HOST": "127.0.0.1",
        "BLOCKED_ACTION": s.blocked_action,
        "FASTAGI_PORT": str(s.fastagi_port),
        "FASTAGI_STANDBY_PORT": str(s.fastagi_standby_port),
        "RECORDING_DIR": f"{instance_path(s.name, 'pbx')}/spool/recording",
        "NATIVE_DID": s.native_did,
        "NATIVE_DIAL": dial_list(s.native_ring_group),
    }
    phones = [Phone(endpoint=p, contact=f"sip:{p}@127.0.0.1:{s.world_sip_port}")
              for p in s.phones]
    # No contact until a REGISTER that never comes (the password is thrown away).
    phones += [Phone(endpoint=p, password=secrets.token_hex(12)) for p in s.unregistered_phones]
    base = {}
    for path in sorted(TEMPLATES.glob("pbx_*.conf")):
        if path.name != "pbx_extensions_lab.conf":
            name = path.name.removeprefix("pbx_")
            base[name] = render_text(path.read_text(), pbx_values, name=path.name)
    plan = plan_install(base, install_settings(s), phones=render_phones(phones))
    if plan.problems:
        raise LabError("; ".join(plan.problems))
    pbx = {**base, **{k: v for k, v in plan.writes.items() if v is not None}}
    pbx["extensions_lab.conf"] = render_text(
        (TEMPLATES / "pbx_extensions_lab.conf").read_text(), pbx_values,
        name="pbx_extensions_lab.conf")
    pbx["extensions.conf"] += "\n; pbx-crm lab only: the native ring group DID.\n#include extensions_lab.conf\n"
    world_values = {
        **common,
        "ROLE": "world",
        "INSTANCE_DIR": instance_path(s.name, "world"),
        "TRUNK_IP": s.trunk_ip,
        "PBX_SIP_PORT": str(s.pbx_sip_port),
        "WORLD_SIP_PORT": str(s.world_sip_port),
    }
    world: dict[str, str] = {}
    for role, files in (("pbx", pbx), ("world", world)):
        values = pbx_values if role == "pbx" else world_values
        for name in ("asterisk.conf", "modules.conf", "logger.conf"):
            files[name] = render_text((TEMPLATES / name).read_text(), values, name=name)
    for path in TEMPLATES.glob("world_*.conf"):
        name = path.name.removeprefix("world_")
        world[name] = render_text(path.read_text(), world_values, name=path.name)
    return {"pbx": pbx, "world": world}


def install_settings(s: LabSettings) -> InstallSettings:
    """The lab PBX's install: its trunk is the world, matched by address."""
    return InstallSettings(
        ari_username=s.ari_username, ari_password=s.ari_password, ari_app=s.ari_app,
        ari_bind="127.0.0.1", ari_port=s.pbx_ari_port,
        trunk=TrunkSettings(endpoint=s.trunk_endpoint, mode="ip",
                            host=f"{s.trunk_ip}:{s.pbx_sip_port}", match=(s.trunk_ip,),
                            from_user="pbx-crm"),
        fallback_phones=s.fallback_phones, fallback_timeout=s.fallback_timeout,
        agi_command=f"{opt_path(s.name)}/agi-route", agi_process_max=s.agi_process_max,
        fastagi_port=s.fastagi_port, fastagi_standby_port=s.fastagi_standby_port,
        blocked_action=s.blocked_action,
        recording_dir=f"{instance_path(s.name, 'pbx')}/spool/recording",
    )

"""The lab's Asterisk configuration, as text: the PBX gets the project's own
``asterisk_conf/`` and ``dialplan/`` rendered with the lab's settings (the files production
uses) plus one lab-only file, ``templates/pbx_extensions_lab.conf`` (a native ring group DID
to compare against); the world (trunk and phones) gets ``templates/world_*.conf``. Nothing
is written here.
"""

from __future__ import annotations

from pathlib import Path

from pbx_daemon.lab.settings import LabError, LabSettings, instance_path, opt_path
from pbx_daemon.telephony.asterisk_render import Phone, dial_list, render_pbx_files, render_text

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
    pbx = render_pbx_files(pbx_values, phones)
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

"""Putting pbx-crm into an existing Asterisk configuration, as text: what
``pbx-crm asterisk install`` writes and what ``uninstall`` takes back. Pure: the command
(:mod:`pbx_daemon.telephony.install_command`) reads the directory, backs up and writes.

Install never rewrites a file of the customer's. Everything of ours is in files of our
own (:data:`OUR_FILES`); each is hooked into the customer's file of the same kind with a
marked block appended at its end::

    ; pbx-crm >>> added by `pbx-crm asterisk install`; `pbx-crm asterisk uninstall` removes it
    #tryinclude ari_pbxcrm.conf
    ; pbx-crm <<<

Asterisk reads an included file in place, so a category we need to extend that the
customer already has (``[general]`` of http.conf, ``[globals]`` of extensions.conf) is
reopened as ``[general](+)``, which adds to it; the later value of a setting wins.
``(+)`` on a category that does not exist is an error in Asterisk, so it is written only
where the customer's file has one. Uninstall removes exactly the block and our files, so
the customer's files come back byte for byte (plus whatever they changed meanwhile).

Install refuses, with one line each, what it cannot add without changing the meaning of
the customer's configuration: a context, endpoint or ARI user of the same name, HTTP
already serving on a public address (ARI's user can place calls through the trunk), a
global of ours set to something else, modules it needs that are not loaded.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from pbx_daemon.telephony import asterisk_conf
from pbx_daemon.telephony.asterisk_render import (ENDPOINT_NAME, PHONE_TEMPLATE, RenderError,
                                                  check_value, dial_list, render_text)
from pbx_daemon.telephony.names import FROM_TRUNK_CONTEXT
from pbx_daemon.telephony.phones_file import PHONES_FILE

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = PROJECT_ROOT / "asterisk_conf"
DIALPLAN = PROJECT_ROOT / "dialplan" / "extensions_pbxcrm.conf"

# The customer's file -> ours, hooked into it.
HOOKS = (
    ("pjsip.conf", "pjsip_pbxcrm.conf"),
    ("extensions.conf", "extensions_pbxcrm.conf"),
    ("ari.conf", "ari_pbxcrm.conf"),
    ("http.conf", "http_pbxcrm.conf"),
    ("cel.conf", "cel_pbxcrm.conf"),
    ("cel_custom.conf", "cel_custom_pbxcrm.conf"),
)
OUR_FILES = tuple(ours for _, ours in HOOKS) + (PHONES_FILE,)
HEADER = ("; pbx-crm: written by `pbx-crm asterisk install`. Do not edit: install rewrites it\n"
          "; from the pbx-crm config, uninstall removes it.\n")
TRANSPORT = "pbxcrm-udp"
TRUNK_IN_CONTEXT = "pbxcrm-trunk-in"
# CEL must see these applications and events for reconciliation (pbx_daemon.telephony.reconcile).
CEL_APPS = ("dial", "stasis", "mixmonitor")
CEL_EVENTS = ("CHAN_START", "CHAN_END", "ANSWER", "HANGUP", "BRIDGE_ENTER", "BRIDGE_EXIT",
              "APP_START", "LINKEDID_END", "USER_DEFINED")
# What has to be loaded when modules.conf does not autoload.
MODULES = ("res_pjsip.so", "res_pjsip_session.so", "res_pjsip_outbound_registration.so",
           "chan_pjsip.so", "res_http_websocket.so", "res_ari.so", "res_stasis.so",
           "app_stasis.so", "res_ari_channels.so", "res_ari_bridges.so", "res_ari_events.so",
           "res_ari_recordings.so", "res_ari_playbacks.so", "res_ari_asterisk.so",
           "res_ari_endpoints.so", "cel_custom.so", "app_mixmonitor.so", "res_agi.so",
           "app_dial.so", "func_groupcount.so", "func_channel.so", "func_strings.so")


def hook_block(ours: str, created: bool = False) -> str:
    """The block appended to a customer's file (``created``: install made the file)."""
    note = " (and created this file)" if created else ""
    return (f"\n; pbx-crm >>> added by `pbx-crm asterisk install`{note}; "
            "`pbx-crm asterisk uninstall` removes it\n"
            f"#tryinclude {ours}\n; pbx-crm <<<\n")


@dataclass(frozen=True)
class TrunkSettings:
    endpoint: str = "pbxcrm-trunk"
    mode: str = "ip"  # ip | register
    host: str = ""  # host[:port]
    match: tuple[str, ...] = ()
    username: str = ""
    password: str = field(default="", repr=False)
    auth_username: str = ""
    from_domain: str = ""
    from_user: str = ""
    dids: tuple[str, ...] = ()


@dataclass(frozen=True)
class InstallSettings:
    """Everything the rendered files say (from the pbx-crm config, or the lab's)."""

    ari_username: str
    ari_password: str = field(repr=False)
    ari_app: str = "pbx-crm"
    ari_bind: str = "127.0.0.1"
    ari_port: int = 8088
    sip_bind: str = "0.0.0.0:5060"  # our transport, only where there is none
    trunk: TrunkSettings = TrunkSettings()
    fallback_phones: tuple[str, ...] = ()
    fallback_timeout: int = 30
    agi_command: str = "/opt/pbx-crm/venv/bin/pbx-crm-agi-route"
    agi_process_max: int = 2
    fastagi_host: str = "127.0.0.1"
    fastagi_port: int = 4573
    fastagi_standby_port: int = 4574
    blocked_action: str = "busy"
    recording_dir: str = "/var/spool/asterisk/recording"
    cel_file: str = "pbx-crm.jsonl"  # under astlogdir/cel-custom/

    @classmethod
    def from_config(cls, config) -> "InstallSettings":
        from urllib.parse import urlsplit

        from pbx_daemon.config import endpoint_port, split_list

        ari = urlsplit(config.ari.url)
        t = config.trunk
        host = t.host.split(":")[0]
        return cls(
            ari_username=config.ari.username, ari_password=config.ari.password,
            ari_app=config.ari.app, ari_bind=ari.hostname or "127.0.0.1",
            ari_port=ari.port or 8088, sip_bind=config.asterisk.sip_bind,
            trunk=TrunkSettings(
                endpoint=t.endpoint, mode=t.mode, host=t.host,
                match=tuple(split_list(t.match)) or ((host,) if host else ()),
                username=t.username, password=t.password, auth_username=t.auth_username,
                from_domain=t.from_domain, from_user=t.username, dids=tuple(split_list(t.dids))),
            fallback_phones=tuple(split_list(config.asterisk.fallback_phones)),
            fallback_timeout=config.asterisk.fallback_timeout,
            agi_command=config.asterisk.agi_command,
            agi_process_max=config.asterisk.agi_process_max,
            fastagi_port=endpoint_port(config.agi.listen, 4573),
            fastagi_standby_port=endpoint_port(config.agi.standby_listen, 4574),
            blocked_action=config.routing.blocked_action,
            recording_dir=config.asterisk.recording_dir,
            cel_file=Path(config.asterisk.cel_log).name,
        )


@dataclass
class Plan:
    """What to write (file name -> new text; None: delete) and what stops it."""

    writes: dict[str, str | None] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# ---- the trunk -------------------------------------------------------------------------
def render_trunk(t: TrunkSettings, *, transport: str, transport_block: str = "") -> str:
    """``pjsip_pbxcrm.conf``: our transport if needed, the trunk and the phones' template
    on ``transport``, and the phones file. An endpoint names its transport: without one
    PJSIP looks up this host's own name (DNS) for every call's SDP."""
    for name in (t.endpoint, f"{t.endpoint}-auth", f"{t.endpoint}-reg"):
        if not ENDPOINT_NAME.match(name):
            raise RenderError(f"trunk endpoint {t.endpoint[:40]!r} is not valid")
    transport = check_value("transport", transport)
    out = [HEADER, transport_block]
    if not t.host:
        out.append("\n; No trunk: set [trunk] host in the pbx-crm config and run install again.\n")
    else:
        host = check_value("trunk.host", t.host)
        context = TRUNK_IN_CONTEXT if t.dids else FROM_TRUNK_CONTEXT
        name = t.endpoint
        out.append(
            f"\n; ---- The provider's trunk ({t.mode} mode). ----\n[{name}]\ntype = endpoint\n"
            f"transport = {transport}\ncontext = {context}\ndisallow = all\nallow = alaw,ulaw\naors = {name}\n"
            "direct_media = no\n"
            "; The caller's number as the trunk sent it: the dialplan and the daemon\n"
            "; normalise and validate it before using it anywhere.\n"
            "trust_id_inbound = no\nsend_pai = no\n")
        if t.from_user:
            out.append(f"from_user = {check_value('trunk.username', t.from_user)}\n")
        if t.from_domain:
            out.append(f"from_domain = {check_value('trunk.from_domain', t.from_domain)}\n")
        if t.mode == "register":
            out.append(f"outbound_auth = {name}-auth\n")
        out.append(f"\n[{name}]\ntype = aor\ncontact = sip:{host}\n"
                   f"qualify_frequency = {60 if t.mode == 'register' else 0}\n")
        if t.match:
            matches = ",".join(check_value("trunk.match", m) for m in t.match)
            out.append(f"\n[{name}]\ntype = identify\nendpoint = {name}\nmatch = {matches}\n")
        if t.mode == "register":
            user = check_value("trunk.username", t.username)
            out.append(
                f"\n[{name}-auth]\ntype = auth\nauth_type = userpass\n"
                f"username = {check_value('trunk.auth_username', t.auth_username or t.username)}\n"
                f"password = {check_value('trunk.password', t.password)}\n"
                # line = yes: the provider's INVITEs to our registered contact are matched
                # to the trunk by the line parameter, whatever address they come from.
                f"\n[{name}-reg]\ntype = registration\noutbound_auth = {name}-auth\n"
                f"server_uri = sip:{host}\nclient_uri = sip:{user}@{host}\n"
                f"contact_user = {user}\nline = yes\nendpoint = {name}\n"
                "retry_interval = 60\nforbidden_retry_interval = 600\nexpiration = 300\n")
    out.append(f"\n; ---- Employees' phones (rewritten by the daemon), on this template ----\n"
               f"[{PHONE_TEMPLATE}](!)\ntype = endpoint\ntransport = {transport}\n"
               f"\n#include {PHONES_FILE}\n")
    return "".join(out)


def render_did_context(t: TrunkSettings) -> str:
    """With ``dids`` set, the trunk's calls enter here: each DID, in the forms a provider
    may send it (``+7495...``, ``7495...``, ``8495...``), goes on to pbx-crm as E.164; a
    registration trunk's username (what many providers put in the Request-URI) is read as
    the first DID; any other number is refused (unallocated)."""
    if not t.dids:
        return ""
    out = [f"\n[{TRUNK_IN_CONTEXT}]\n; The numbers pbx-crm answers ([trunk] dids).\n"]
    seen: set[str] = set()
    for did in t.dids:
        digits = check_value("trunk.dids", did).lstrip("+")
        e164 = "+" + digits
        forms = [e164, digits]
        if digits.startswith("7") and len(digits) == 11:
            forms.append("8" + digits[1:])
        for form in forms:
            if form not in seen:
                seen.add(form)
                out.append(f"exten => {form},1,Goto({FROM_TRUNK_CONTEXT},{e164},1)\n")
    if t.mode == "register" and t.username and t.username not in seen:
        first = "+" + t.dids[0].lstrip("+")
        out.append(f"exten => {check_value('trunk.username', t.username)},1,"
                   f"Goto({FROM_TRUNK_CONTEXT},{first},1)\n")
    out.append("exten => _X.,1,Hangup(1)\nexten => _+X.,1,Hangup(1)\nexten => i,1,Hangup(1)\n")
    return "".join(out)


def transport_block(bind: str) -> str:
    check_value("asterisk.sip_bind", bind)
    return (f"\n; ---- Added because this Asterisk had no PJSIP transport. ----\n[{TRANSPORT}]\n"
            f"type = transport\nprotocol = udp\nbind = {bind}\n")


# ---- the plan --------------------------------------------------------------------------
def plan_install(files: Mapping[str, str], s: InstallSettings, *, phones: str | None,
                 etc_dir: str = "") -> Plan:
    """The writes that install pbx-crm into ``files`` (name -> text of every file in
    astetcdir). ``phones``: the phones file's text (None: keep what is there)."""
    plan = Plan()
    theirs = {name: text for name, text in files.items() if name not in OUR_FILES}
    trees = {top: asterisk_conf.load(theirs, top, etc_dir) for top, _ in HOOKS}
    _check_conflicts(trees, s, plan, theirs)
    if plan.problems:
        return plan

    def add(top: str, category: str) -> str:
        return "(+)" if any(c.name == category for c in trees[top]) else ""

    udp = [c.name for c in trees["pjsip.conf"] if c.get("type") == "transport"
           and not c.is_template and (c.get("protocol") or "udp").lower() == "udp"]
    has_transport = bool(udp)
    cel = [c for c in trees["cel.conf"] if c.name == "general"]
    apps = _union(_last(cel, "apps"), CEL_APPS, lower=True)
    events = _union(_last(cel, "events"), CEL_EVENTS, lower=False)
    values = {
        "ARI_USERNAME": s.ari_username, "ARI_PASSWORD": s.ari_password, "ARI_APP": s.ari_app,
        "ARI_BIND": s.ari_bind, "ARI_PORT": str(s.ari_port),
        "TRUNK_ENDPOINT": s.trunk.endpoint,
        "FALLBACK_DIAL": dial_list(s.fallback_phones) if s.fallback_phones else "",
        "FALLBACK_TIMEOUT": str(s.fallback_timeout), "BLOCKED_ACTION": s.blocked_action,
        "FASTAGI_HOST": s.fastagi_host, "FASTAGI_PORT": str(s.fastagi_port),
        "FASTAGI_STANDBY_PORT": str(s.fastagi_standby_port),
        "AGI_COMMAND": s.agi_command, "AGI_PROCESS_MAX": str(s.agi_process_max),
        "RECORDING_DIR": s.recording_dir, "CEL_FILE": s.cel_file,
        "CEL_APPS": apps, "CEL_EVENTS": events,
        "GLOBALS_ADD": add("extensions.conf", "globals"),
        "HTTP_ADD": add("http.conf", "general"), "ARI_ADD": add("ari.conf", "general"),
        "CEL_ADD": add("cel.conf", "general"),
    }
    ours = {
        "pjsip_pbxcrm.conf": render_trunk(
            s.trunk, transport=udp[0] if udp else TRANSPORT,
            transport_block="" if has_transport else transport_block(s.sip_bind)),
        "extensions_pbxcrm.conf": HEADER + _template("globals_pbxcrm.conf", values)
        + render_did_context(s.trunk) + "\n" + render_text(DIALPLAN.read_text(), values,
                                                           name=DIALPLAN.name),
    }
    for name in ("ari_pbxcrm.conf", "http_pbxcrm.conf", "cel_pbxcrm.conf", "cel_custom_pbxcrm.conf"):
        ours[name] = HEADER + _template(name, values)
    if phones is not None:
        ours[PHONES_FILE] = phones
    elif PHONES_FILE not in files:
        ours[PHONES_FILE] = "; Generated by pbx-crm from the employee records. No phones yet.\n"
    for name, text in ours.items():
        if files.get(name) != text:
            plan.writes[name] = text
    for top, mine in HOOKS:
        current = files.get(top)
        if current is None:
            plan.writes[top] = hook_block(mine, created=True)
        elif not _has_hook(current, mine):
            plan.writes[top] = current + hook_block(mine)
    if not has_transport and "pjsip_pbxcrm.conf" in plan.writes:
        plan.notes.append(f"no PJSIP UDP transport found: adding {TRANSPORT} on {s.sip_bind}")
    return plan


def plan_uninstall(files: Mapping[str, str]) -> Plan:
    """The writes that take back exactly what install added."""
    plan = Plan()
    for top, mine in HOOKS:
        current = files.get(top)
        if current is None:
            continue
        for created in (True, False):
            block = hook_block(mine, created)
            if block in current:
                rest = _remove_last(current, block)
                plan.writes[top] = None if created and not rest.strip() else rest
                break
        else:
            if f"#tryinclude {mine}" in current:
                plan.problems.append(f"{top}: the pbx-crm block was edited; remove the lines "
                                     f"around '#tryinclude {mine}' by hand")
    for name in OUR_FILES:
        if name in files:
            plan.writes[name] = None
    return plan


def _check_conflicts(trees, s: InstallSettings, plan: Plan, theirs: Mapping[str, str]) -> None:
    pjsip = trees["pjsip.conf"]
    taken = {s.trunk.endpoint, f"{s.trunk.endpoint}-auth", f"{s.trunk.endpoint}-reg", TRANSPORT,
             PHONE_TEMPLATE}
    for c in pjsip:
        if c.name in taken and c.options != "+":
            plan.problems.append(f"{c.file}:{c.line}: PJSIP already has a section [{c.name}]; "
                                 "set [trunk] endpoint to another name")
    for c in trees["extensions.conf"]:
        if c.name.startswith("pbxcrm-"):
            plan.problems.append(f"{c.file}:{c.line}: the dialplan already has a context "
                                 f"[{c.name}]; pbx-crm's contexts are named pbxcrm-*")
        if c.name == "globals":
            for key, value in c.settings:
                if key.upper().startswith("PBXCRM_"):
                    plan.problems.append(f"{c.file}:{c.line}: [globals] sets {key}, one of pbx-crm's")
    for c in trees["ari.conf"]:
        if c.name == s.ari_username:
            plan.problems.append(f"{c.file}:{c.line}: ari.conf already has a user [{c.name}]; "
                                 "set ari.username to another name")
    general = [c for c in trees["http.conf"] if c.name == "general"]
    if _truthy(_last(general, "enabled")):
        bind = _last(general, "bindaddr") or "0.0.0.0"
        port = _last(general, "bindport") or "8088"
        if not _loopback(bind):
            plan.problems.append(f"http.conf: Asterisk's HTTP server is enabled on {bind}, not "
                                 "loopback; ARI must not be reachable from the network "
                                 "(set bindaddr = 127.0.0.1 there, or put it behind a proxy)")
        elif port != str(s.ari_port):
            plan.problems.append(f"http.conf: Asterisk's HTTP server already listens on port "
                                 f"{port}; set ari.url to that port")
    modules = [c for c in asterisk_conf.load(theirs, "modules.conf") if c.name == "modules"]
    if modules and not _truthy(_last(modules, "autoload") or "no"):
        loaded = {v.strip() for c in modules for k, v in c.settings if k.lower() == "load"}
        missing = [m for m in MODULES if m not in loaded]
        if missing:
            plan.problems.append("modules.conf: autoload is off and these are not loaded: "
                                 + ", ".join(missing))
    if "pjsip.conf" in theirs and not any(c.name for c in pjsip) and \
            "#exec" in theirs["pjsip.conf"]:
        plan.problems.append("pjsip.conf: uses #exec; install cannot see what it defines")


def _template(name: str, values: dict[str, str]) -> str:
    return render_text((TEMPLATES / name).read_text(), values, name=name)


def _has_hook(text: str, mine: str) -> bool:
    return hook_block(mine) in text or hook_block(mine, created=True) in text


def _remove_last(text: str, block: str) -> str:
    i = text.rfind(block)
    return text[:i] + text[i + len(block):]


def _last(categories, key: str) -> str | None:
    value = None
    for c in categories:
        v = c.get(key)
        if v is not None:
            value = v
    return value


def _union(current: str | None, ours: tuple[str, ...], *, lower: bool) -> str:
    items = [p.strip() for p in (current or "").split(",") if p.strip()]
    if any(p.upper() == "ALL" for p in items):
        return "ALL"
    norm = (str.lower if lower else str.upper)
    out = [norm(p) for p in items]
    for p in ours:
        if norm(p) not in out:
            out.append(norm(p))
    return ",".join(out)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("yes", "true", "y", "t", "1", "on")


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"

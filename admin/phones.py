"""Employees' SIP phones in the admin: what a softphone or desk phone is set up with, and
asking the daemon to rewrite the phones file after a change
(:mod:`pbx_daemon.telephony.phones_sync`, ``POST /v1/phones/sync``).

The password itself is made and stored by :mod:`pbx_daemon.telephony.phones_file` (only
its HA1 is kept); :class:`admin.views.EmployeeView` shows it once.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from flask import current_app, flash
from flask_babel import gettext

from pbx_daemon.config import api_base_url
from pbx_daemon.telephony.api_client import ClickToCallError, sync_phones
from pbx_daemon.telephony.asterisk_render import SIP_REALM

# What the phone asks for as its registration expiry. PJSIP's AOR accepts 60..7200 s
# (default 3600); 5 minutes finds a phone that went away (Wi-Fi, a laptop's lid) soon.
REGISTER_EXPIRY = 300


@dataclass(frozen=True)
class SipSettings:
    """The fields of a SIP account as softphones and desk phones name them."""

    server: str
    port: int
    username: str
    password: str
    realm: str = SIP_REALM
    transport: str = "UDP"
    expiry: int = REGISTER_EXPIRY

    @property
    def auth_user(self) -> str:
        return self.username


def server_address(sip_server: str, sip_bind: str, fqdn=socket.getfqdn) -> tuple[str, int]:
    """Where phones register: ``asterisk.sip_server`` (``host[:port]``), else this host's
    name; the port from ``sip_server`` or else ``asterisk.sip_bind`` (``addr:port``)."""
    host, _, port = (sip_server or "").partition(":")
    if not port:
        port = sip_bind.rpartition(":")[2] or "5060"
    return host or fqdn(), int(port)


def sip_settings(config, endpoint: str, password: str) -> SipSettings:
    host, port = server_address(config.asterisk.sip_server, config.asterisk.sip_bind)
    return SipSettings(server=host, port=port, username=endpoint, password=password)


def request_phones_sync() -> None:
    """Ask the daemon to rewrite the phones file now, and tell the admin how it went. The
    change is saved whatever happens: a daemon that is down syncs when it starts."""
    config = current_app.extensions["pbx_crm_config"]
    try:
        result = sync_phones(api_base_url(config), config.api.token)
    except ClickToCallError as e:
        current_app.logger.warning("phones sync not done (%s): %s", e.status, e.message)
        if e.status == 503:
            flash(gettext("The telephony daemon is not running: the phones will be updated "
                          "when it starts."), "warning")
        else:
            flash(gettext("The phones could not be updated in Asterisk now; see the daemon's "
                          "log."), "warning")
        return
    if not result.get("installed", True):
        flash(gettext("The phones file is not installed in Asterisk yet: run "
                      "«pbx-crm asterisk install» on the PBX."), "warning")
    elif result.get("changed") and not result.get("reloaded"):
        flash(gettext("The phones file is updated, but Asterisk did not reload it yet: the "
                      "daemon retries when it reconnects."), "warning")
    elif result.get("changed"):
        flash(gettext("Asterisk has the new phone settings."), "info")

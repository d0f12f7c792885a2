"""The phones file, ``pjsip_pbxcrm_phones.conf``: every active employee's phone as a PJSIP
endpoint, from the employee records. ``pbx-crm asterisk install`` writes it first; the
daemon rewrites it when an admin changes a phone and has Asterisk reload PJSIP.

An employee's phone registers with digest credentials (``sip_md5_cred``); a phone without
them but with a static contact (the lab's) is reached at that contact. Fetch, render
(pure, :func:`~pbx_daemon.telephony.asterisk_render.render_phones`), write.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from pbx_daemon.crm import models as m
from pbx_daemon.telephony.asterisk_render import Phone, render_phones, sip_md5_cred

PHONES_FILE = "pjsip_pbxcrm_phones.conf"
# 20 characters of [A-Za-z0-9] is ~119 bits; no characters a phone's keypad or a config
# parser trips over.
_ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def new_sip_password(length: int = 20) -> str:
    """A fresh SIP password: shown to the admin once, stored only as its HA1."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def set_sip_password(employee: m.Employee, password: str, now) -> None:
    """Give ``employee`` (who has a sip_endpoint) these credentials."""
    if not employee.sip_endpoint:
        raise ValueError("the employee has no SIP endpoint")
    employee.sip_md5_cred = sip_md5_cred(employee.sip_endpoint, password)
    employee.sip_password_set_at = now


def phones_from_session(session: Session) -> list[Phone]:
    """The registering phones: active employees with an endpoint and credentials."""
    rows = session.execute(
        select(m.Employee.sip_endpoint, m.Employee.sip_md5_cred)
        .where(m.Employee.active.is_(True), m.Employee.sip_endpoint.is_not(None),
               m.Employee.sip_md5_cred.is_not(None))
        .order_by(m.Employee.sip_endpoint)).all()
    return [Phone(endpoint=endpoint, md5_cred=cred) for endpoint, cred in rows]


def write_if_changed(path: Path, text: str, mode: int = 0o640) -> bool:
    """Write ``text`` to ``path`` unless it already holds exactly that; True when written.

    Written in place (truncate + write + fsync), not renamed: the daemon may only be
    allowed to write this one file in Asterisk's directory (systemd ReadWritePaths), and
    Asterisk reads it only when we ask it to reload, after the write."""
    data = text.encode()
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


def render_phones_file(session: Session) -> str:
    return render_phones(phones_from_session(session))

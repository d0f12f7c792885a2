"""The daily report sends itself (issue 18): the daemon, at ``report.send_at``, e-mails
yesterday's report to a real SMTP server (aiosmtpd on loopback), once, and not again when
it is restarted the same day."""

from __future__ import annotations

import socket
import time
from datetime import datetime, timedelta
from email import message_from_bytes
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from pbx_daemon import db
from pbx_daemon.crm import models as m
from pbx_daemon.lab import Lab
from tests.integration.conftest import running_daemon

pytestmark = pytest.mark.lab

TZ = "Europe/Moscow"


class Inbox:
    """aiosmtpd's handler: every message it is given."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp():
    inbox = Inbox()
    with socket.socket() as probe:  # a free port (aiosmtpd checks it is up by connecting)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def test_the_daemon_sends_yesterdays_report_once_also_across_a_restart(lab: Lab, tmp_path, smtp):
    inbox, port = smtp
    url = f"sqlite:///{tmp_path}/pbx.sqlite3"
    db.upgrade(url)
    now = datetime.now(ZoneInfo(TZ))
    # This minute (company time): the report is due as the daemon starts.
    send_at = now.strftime("%H:%M")
    extra = (f'\n[report]\nsmtp_host = "127.0.0.1"\nsmtp_port = {port}\nsmtp_starttls = false\n'
             f'mail_from = "pbx@example.ru"\nmail_to = "owner@example.ru"\nsend_at = "{send_at}"\n')
    yesterday = now.date() - timedelta(days=1)
    with running_daemon(lab, tmp_path, url, extra=extra):
        lab.wait_for(lambda: inbox.messages, 15, "the daily report to arrive")
    assert len(inbox.messages) == 1
    to, message = inbox.messages[0]
    assert to == ["owner@example.ru"]
    assert message["Subject"].startswith(f"pbx-crm {yesterday:%d.%m.%Y}: Lost Call Rate")

    # A restart the same day: the daemon checks at once (its first tick) and sends nothing.
    with running_daemon(lab, tmp_path, url, extra=extra):
        time.sleep(3)
    assert len(inbox.messages) == 1
    engine = db.make_engine(url)
    with db.make_session_factory(engine)() as s:
        rows = s.scalars(select(m.ReportSend)).all()
        assert [(r.day, r.status, r.attempts, r.recipients) for r in rows] == \
            [(yesterday, "sent", 1, "owner@example.ru")]
    engine.dispose()

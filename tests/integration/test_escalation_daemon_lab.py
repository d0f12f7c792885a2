"""A missed call nobody called back goes up to the head (issue 18): the daemon escalates a
missed-call task 30 minutes overdue to the head of its department, on the head's
screen-pop channel (real Redis) and by e-mail (a real SMTP server, aiosmtpd), once: not
again when the daemon is restarted. With the SMTP server down when it escalates, the
e-mail waits in the outbox and arrives, once, after the server is back."""

from __future__ import annotations

import json
import socket
import time
from datetime import datetime, timedelta, timezone

import pytest
import redis
from sqlalchemy import select

from pbx_daemon import db
from pbx_daemon.crm import models as m
from pbx_daemon.lab import Lab
from tests.integration.conftest import running_daemon
from tests.integration.test_report_daemon_lab import Inbox, smtp  # noqa: F401 - the aiosmtpd fixture

pytestmark = pytest.mark.lab
REDIS = "redis://127.0.0.1:6379/0"


def seed(url: str) -> tuple[int, int]:
    """Sales (head Olga, manager Anna) and Anna's call-back task, 31 minutes overdue."""
    db.upgrade(url)
    engine = db.make_engine(url)
    with db.make_session_factory(engine)() as s:
        sales = m.Department(name="Sales")
        s.add(sales)
        s.flush()
        olga = m.Employee(full_name="Ольга Петрова", login="olga", role="head", department_id=sales.id,
                          email="olga@example.ru")
        anna = m.Employee(full_name="Анна Смирнова", login="anna", role="manager", department_id=sales.id)
        s.add_all([olga, anna])
        s.flush()
        sales.head_id = olga.id
        deadline = datetime.now(timezone.utc) - timedelta(minutes=31)
        inquiry = m.Inquiry(channel="call", phone="+79030000001", status="open", responsible_id=anna.id,
                            department_id=sales.id, first_seen_at=deadline, last_seen_at=deadline)
        s.add(inquiry)
        s.flush()
        task = m.Task(title="Перезвонить: 1 пропущенный звонок", type="call", responsible_id=anna.id,
                      deadline=deadline, remind_at=deadline, comment="+79030000001", inquiry_id=inquiry.id)
        s.add(task)
        s.commit()
        ids = olga.id, task.id
    engine.dispose()
    return ids


def test_an_overdue_missed_call_task_goes_to_the_head_once(lab: Lab, tmp_path, smtp):  # noqa: F811
    inbox, port = smtp
    url = f"sqlite:///{tmp_path}/pbx.sqlite3"
    olga_id, task_id = seed(url)
    pubsub = redis.Redis.from_url(REDIS).pubsub()
    pubsub.subscribe(f"pbxcrm:screenpop:{olga_id}")
    pubsub.get_message(timeout=2)  # the subscription's confirmation
    extra = (f'\n[report]\nsmtp_host = "127.0.0.1"\nsmtp_port = {port}\nsmtp_starttls = false\n'
             f'mail_from = "pbx@example.ru"\n[inquiries]\nescalate_after_minutes = 30\n')

    def events():
        out = []
        while (message := pubsub.get_message(timeout=0.2)) is not None:
            if message["type"] == "message":
                out.append(json.loads(message["data"]))
        return out

    seen = []
    with running_daemon(lab, tmp_path, url, extra=extra):
        lab.wait_for(lambda: inbox.messages and (seen.extend(events()) or seen), 15,
                     "the escalation e-mail and event")
    assert [(e["event"], e["task_id"], e["employee_id"], e["responsible"]) for e in seen] == \
        [("escalation", task_id, olga_id, "Анна Смирнова")]
    assert seen[0]["overdue_minutes"] >= 31
    assert len(inbox.messages) == 1
    to, message = inbox.messages[0]
    assert to == ["olga@example.ru"] and "+79030000001" in message["Subject"]

    with running_daemon(lab, tmp_path, url, extra=extra):  # restarted: its first tick finds it done
        time.sleep(3)
    assert events() == [] and len(inbox.messages) == 1
    engine = db.make_engine(url)
    with db.make_session_factory(engine)() as s:
        assert s.scalar(select(m.Task.escalated_at).where(m.Task.id == task_id)) is not None
    engine.dispose()


def test_with_the_smtp_server_down_the_escalation_e_mail_arrives_once_it_is_back(lab: Lab, tmp_path):
    from aiosmtpd.controller import Controller

    url = f"sqlite:///{tmp_path}/pbx.sqlite3"
    _olga_id, task_id = seed(url)
    with socket.socket() as probe:  # a port nobody listens on, for now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    extra = (f'\n[report]\nsmtp_host = "127.0.0.1"\nsmtp_port = {port}\nsmtp_starttls = false\n'
             f'mail_from = "pbx@example.ru"\n[inquiries]\nescalate_after_minutes = 30\n')
    engine = db.make_engine(url)
    sessions = db.make_session_factory(engine)

    def outbox():
        with sessions() as s:
            return [(r.attempts, r.sent_at is not None, r.failed_at is not None)
                    for r in s.scalars(select(m.MailOutbox))]

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    with running_daemon(lab, tmp_path, url, extra=extra):
        # Escalated, its e-mail queued and tried once: refused, to be tried again in 30 s.
        lab.wait_for(lambda: outbox() == [(1, False, False)], 15, "the first attempt to fail")
        with sessions() as s:
            assert s.scalar(select(m.Task.escalated_at).where(m.Task.id == task_id)) is not None
        controller.start()  # the company's mail server is back
        try:
            lab.wait_for(lambda: inbox.messages, 60, "the queued e-mail to arrive")
            time.sleep(2)
        finally:
            controller.stop()
    assert len(inbox.messages) == 1
    to, message = inbox.messages[0]
    assert to == ["olga@example.ru"] and "+79030000001" in message["Subject"]
    assert outbox() == [(2, True, False)]
    tried = []  # the daemon's JSON log: one line per attempt
    for line in (tmp_path / "daemon.log").read_text().splitlines():
        event = json.loads(line) if line.startswith("{") else {}
        if "e-mail {mail_id}" in (event.get("log_format") or ""):
            tried.append((event["attempts"], event["log_level"]["name"]))
    assert tried == [(1, "warn"), (2, "info")]
    engine.dispose()

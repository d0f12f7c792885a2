"""The e-mail outbox (pbx_daemon.crm.outbox): the retry rules (tables); an escalation and
its e-mail committed together; an SMTP server that is down retried on the schedule on an
advanced clock and sent once back; a 5xx recipient refusal failed at once; a day of
failures given up; two appliers never both sending a row; one log line and one count per
attempt. The SQL runs on SQLite, and on PostgreSQL when PBX_CRM_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import smtplib
from datetime import datetime, timedelta, timezone

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from twisted.logger import LogLevel, capturedLogs

from pbx_daemon.crm import models as m
from pbx_daemon.crm.escalation import Escalator
from pbx_daemon.crm.outbox.rules import Attempted, Outcome, after_attempt, retry_delay, smtp_error
from pbx_daemon.crm.outbox.store import LEASE, Attempt, Outbox, claim, due, queue
from pbx_daemon.telephony.metrics import DaemonMetrics
from tests.postgres import migrated_sessions
from tests.unit.test_notifications import MIN, T0, Clock, seed_escalation

SEC = timedelta(seconds=1)
DAY = timedelta(hours=24)


# ---- the rules ------------------------------------------------------------------------------
RULE_CASES = [
    ("sent", Attempted(1, T0, None), T0, Outcome("sent", None)),
    ("1st failure: again in 30 s", Attempted(1, T0, "x"), T0, Outcome("pending", T0 + 30 * SEC)),
    ("2nd: in 2 min", Attempted(2, T0, "x"), T0 + 30 * SEC, Outcome("pending", T0 + 150 * SEC)),
    ("3rd: in 10 min", Attempted(3, T0, "x"), T0 + 150 * SEC, Outcome("pending", T0 + 750 * SEC)),
    ("4th: in 30 min", Attempted(4, T0, "x"), T0 + 750 * SEC, Outcome("pending", T0 + 2550 * SEC)),
    ("20th: still every 30 min", Attempted(20, T0, "x"), T0 + 9 * 60 * MIN,
     Outcome("pending", T0 + 9 * 60 * MIN + 30 * MIN)),
    ("the next try just under 24 h after queued: pending", Attempted(50, T0, "x"),
     T0 + DAY - 30 * MIN - SEC, Outcome("pending", T0 + DAY - SEC)),
    ("the next try 24 h after queued: given up", Attempted(51, T0, "x"), T0 + DAY - 30 * MIN,
     Outcome("failed", None)),
    ("a permanent refusal: failed at once", Attempted(1, T0, "x", permanent=True), T0,
     Outcome("failed", None)),
    ("sent late (a daemon away for a day): still sent", Attempted(2, T0, None), T0 + 2 * DAY,
     Outcome("sent", None)),
]


@pytest.mark.parametrize("why,attempted,now,outcome", RULE_CASES, ids=[c[0] for c in RULE_CASES])
def test_after_attempt(why, attempted, now, outcome):
    assert after_attempt(attempted, now) == outcome


def test_retry_delay_30s_2min_10min_then_every_30min():
    assert [retry_delay(n) for n in range(1, 7)] == [30, 120, 600, 1800, 1800, 1800]


SMTP_ERRORS = [
    ("the server dropped the connection", smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
     False),
    ("connection refused (the server is down)", ConnectionRefusedError(111, "Connection refused"), False),
    ("a timeout", TimeoutError("timed out"), False),
    ("the recipient refused with a 5xx", smtplib.SMTPRecipientsRefused(
        {"olga@example.ru": (550, b"5.1.1 No such user")}), True),
    ("the recipient refused with a 4xx (mailbox busy)", smtplib.SMTPRecipientsRefused(
        {"olga@example.ru": (450, b"4.2.1 Mailbox busy")}), False),
    ("the message refused after DATA with a 5xx", smtplib.SMTPDataError(554, b"5.7.1 Rejected"), True),
    ("a 4xx after DATA", smtplib.SMTPDataError(451, b"4.3.0 Try later"), False),
    ("the login refused (the config's fault): retried", smtplib.SMTPAuthenticationError(
        535, b"5.7.8 Bad credentials"), False),
    ("the sender refused (mail_from): retried", smtplib.SMTPSenderRefused(
        550, b"5.7.1 Not our domain", "crm@example.ru"), False),
]


@pytest.mark.parametrize("why,error,permanent", SMTP_ERRORS, ids=[c[0] for c in SMTP_ERRORS])
def test_smtp_error_permanent_only_for_the_messages_own_5xx(why, error, permanent):
    text, is_permanent = smtp_error(error)
    assert is_permanent is permanent and text.startswith(type(error).__name__ + ": ")


def test_smtp_error_text_fits_last_error():
    assert len(smtp_error(OSError("x" * 1000))[0]) == 300


# ---- the SQL and the apply step, on SQLite and PostgreSQL ------------------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def sessions(request, tmp_path):
    with migrated_sessions(request.param, tmp_path) as sessions:  # the migrations, 0018 included
        yield sessions


class Server:
    """A fake ``send``: raises ``down`` while it is set (or ``refuse[recipient]``), else keeps
    the message."""

    def __init__(self):
        self.down: BaseException | None = None
        self.refuse: dict[str, BaseException] = {}
        self.sent: list = []
        self.calls = 0
        self.during = None  # called inside a send (another applier's tick, ...)

    def __call__(self, message):
        self.calls += 1
        if self.during is not None:
            self.during()
        if self.down is not None:
            raise self.down
        if message["To"] in self.refuse:
            raise self.refuse[message["To"]]
        self.sent.append(message)


def queued(sessions, at: datetime, to: str = "olga@example.ru") -> int:
    with sessions() as s:
        row = queue(s, kind="escalation", recipient=to, subject="pbx-crm: не перезвонили",
                    body="Задача просрочена", now=at)
        s.commit()
        return row.id


def row_of(sessions, mail_id: int) -> m.MailOutbox:
    with sessions() as s:
        return s.get(m.MailOutbox, mail_id)


def outbox(sessions, clock, server) -> Outbox:
    return Outbox(sessions, server, mail_from="crm@example.ru", clock=clock.seconds)


def test_the_escalation_and_its_email_are_committed_together_once(sessions):
    seed_escalation(sessions)
    clock = Clock(T0 + 31 * MIN)
    escalator = Escalator(sessions, after_minutes=30, clock=clock.seconds, tz="Europe/Moscow", mail=True)
    [made] = escalator.tick()
    assert escalator.tick() == []  # escalated once: queued once
    with sessions() as s:
        [row] = s.scalars(select(m.MailOutbox)).all()
        escalated = s.scalar(select(m.Task.escalated_at).where(m.Task.id == made.task_id))
    assert escalated == T0 + 31 * MIN and made.mail_queued
    assert (row.kind, row.recipient, row.attempts, row.created_at, row.next_attempt_at, row.sent_at) == \
        ("escalation", "olga@example.ru", 0, T0 + 31 * MIN, T0 + 31 * MIN, None)
    assert row.subject == "pbx-crm: не перезвонили клиенту +79030000001"
    assert "просрочена на 31 мин" in row.body and "01.12.2026 12:00" in row.body


def test_a_server_down_is_retried_on_the_schedule_and_sent_once_it_is_back(sessions):
    clock, server = Clock(T0), Server()
    mail_id = queued(sessions, T0)
    sender = outbox(sessions, clock, server)
    server.down = smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
    at = T0
    for n, delay in enumerate([30, 120, 600, 1800, 1800], start=1):
        [a] = sender.tick()
        assert (a.attempts, a.status, a.next_attempt_at) == (n, "pending", at + delay * SEC)
        row = row_of(sessions, mail_id)
        assert (row.attempts, row.next_attempt_at, row.sent_at) == (n, at + delay * SEC, None)
        assert row.last_error.startswith(type(server.down).__name__)
        clock.now = (at + (delay - 1) * SEC).timestamp()
        assert sender.tick() == [] and server.calls == n  # not a second early
        at += delay * SEC
        clock.now = at.timestamp()
        server.down = ConnectionRefusedError(111, "Connection refused")
    server.down = None  # the server is back
    [a] = sender.tick()
    assert (a.attempts, a.status, a.next_attempt_at, a.error) == (6, "sent", None, None)
    row = row_of(sessions, mail_id)
    assert (row.sent_at, row.next_attempt_at, row.failed_at) == (at, None, None)
    [message] = server.sent
    assert (message["To"], message["From"], message["Subject"]) == \
        ("olga@example.ru", "crm@example.ru", "pbx-crm: не перезвонили")
    assert message.get_content() == "Задача просрочена\n"
    assert message["Message-ID"] == f"<pbx-crm.outbox.{mail_id}.{int(T0.timestamp())}@example.ru>"
    clock.now += 86400
    assert sender.tick() == [] and len(server.sent) == 1  # sent once


def test_a_server_down_costs_one_attempt_per_retry_not_one_per_row(sessions):
    """Behind a failure the other rows wait untouched; once the server is back, all go."""
    clock, server = Clock(T0), Server()
    first, second = queued(sessions, T0), queued(sessions, T0)
    sender = outbox(sessions, clock, server)
    server.down = TimeoutError("timed out")
    assert [a.mail_id for a in sender.tick()] == [first]
    assert row_of(sessions, second).attempts == 0
    clock.now += 29
    assert sender.tick() == [] and server.calls == 1  # paused until the first row's retry
    server.down = None
    clock.now += 1
    assert sorted((a.mail_id, a.status) for a in sender.tick()) == [(first, "sent"), (second, "sent")]


def test_send_again_during_a_pause_is_tried_at_the_next_tick(sessions):
    """The server came back before the pause ran out, and an admin pressed "Send again"."""
    from pbx_daemon.crm.outbox.store import send_again

    clock, server = Clock(T0), Server()
    first, second = queued(sessions, T0), queued(sessions, T0)
    sender = outbox(sessions, clock, server)
    server.down = TimeoutError("timed out")
    assert [a.mail_id for a in sender.tick()] == [first]  # paused for 30 s
    server.down = None
    clock.now += 10
    assert sender.tick() == []  # the second waits out the pause, as before
    with sessions() as s:
        assert send_again(s, second, datetime.fromtimestamp(clock.now, timezone.utc))
        s.commit()
    assert [(a.mail_id, a.status) for a in sender.tick()] == [(second, "sent")]
    assert row_of(sessions, first).sent_at is None  # its own retry is in 20 s
    clock.now += 20
    assert [(a.mail_id, a.status) for a in sender.tick()] == [(first, "sent")]


def test_an_email_that_cannot_be_built_fails_at_once_and_the_next_row_still_goes(sessions):
    clock, server = Clock(T0), Server()
    bad = queued(sessions, T0, to="olga@example.ru\r\nBcc: all@example.ru")
    good = queued(sessions, T0)
    made = outbox(sessions, clock, server).tick()
    assert [(a.mail_id, a.status) for a in made] == [(bad, "failed"), (good, "sent")]
    assert made[0].error.startswith("not an e-mail that can be sent")
    row = row_of(sessions, bad)
    assert (row.attempts, row.failed_at, row.next_attempt_at) == (1, T0, None)
    assert [m_["To"] for m_ in server.sent] == ["olga@example.ru"]


def test_a_5xx_recipient_refusal_fails_at_once_and_the_next_row_still_goes(sessions):
    clock, server = Clock(T0), Server()
    bad = queued(sessions, T0, to="gone@example.ru")
    good = queued(sessions, T0)
    server.refuse["gone@example.ru"] = smtplib.SMTPRecipientsRefused(
        {"gone@example.ru": (550, b"5.1.1 No such user")})
    assert [(a.mail_id, a.status) for a in outbox(sessions, clock, server).tick()] == \
        [(bad, "failed"), (good, "sent")]
    row = row_of(sessions, bad)
    assert (row.attempts, row.failed_at, row.next_attempt_at, row.sent_at) == (1, T0, None, None)
    assert "550" in row.last_error
    clock.now += 86400
    assert outbox(sessions, clock, server).tick() == [] and server.calls == 2  # never again


def test_a_day_of_failures_is_given_up(sessions):
    """Attempts at 0, 30 s, 2.5 min, 12.5 min, then every 30 min: the 51st (23 h 42.5 min
    in) would be followed by one 24 h after queued, so it is the last."""
    clock, server = Clock(T0), Server()
    mail_id = queued(sessions, T0)
    sender = outbox(sessions, clock, server)
    server.down = ConnectionRefusedError(111, "Connection refused")
    attempts: list[Attempt] = []
    while not attempts or attempts[-1].status == "pending":
        [a] = sender.tick()
        attempts.append(a)
        if a.next_attempt_at is not None:
            clock.now = a.next_attempt_at.timestamp()
    assert len(attempts) == 51 and attempts[-1].status == "failed"
    row = row_of(sessions, mail_id)
    assert (row.attempts, row.failed_at, row.next_attempt_at, row.sent_at) == \
        (51, T0 + timedelta(seconds=85350), None, None)
    assert row.failed_at - row.created_at < DAY
    clock.now += 86400
    server.down = None
    assert sender.tick() == [] and server.sent == []  # given up stays given up


def test_two_appliers_reading_the_same_row_claim_it_once(sessions):
    mail_id = queued(sessions, T0)
    with sessions() as a, sessions() as b:
        assert due(a, T0) == due(b, T0) == [(mail_id, 0)]
        assert claim(a, mail_id, 0, T0) is True
        assert claim(b, mail_id, 0, T0) is False  # read before a's claim: takes nothing
    row = row_of(sessions, mail_id)
    assert (row.attempts, row.next_attempt_at) == (1, T0 + LEASE)


def test_a_second_applier_ticking_while_the_first_sends_sends_nothing(sessions):
    clock, server = Clock(T0), Server()
    mail_id = queued(sessions, T0)
    other = outbox(sessions, clock, Server())
    seen = []
    server.during = lambda: seen.append(other.tick())  # a second daemon, mid-send
    assert [(a.mail_id, a.status) for a in outbox(sessions, clock, server).tick()] == [(mail_id, "sent")]
    assert seen == [[]] and len(server.sent) == 1
    assert other.tick() == []  # and not after either


def test_each_attempt_is_one_log_line_and_one_count():
    from pbx_daemon.service import _log_mails

    class ReactorClock:
        def seconds(self):
            return 0.0

    metrics = DaemonMetrics(ReactorClock())
    attempts = [
        Attempt(1, "escalation", "olga@example.ru", "s", 1, "pending", "ConnectionRefusedError: refused",
                T0 + 30 * SEC),
        Attempt(1, "escalation", "olga@example.ru", "s", 2, "sent", None, None),
        Attempt(2, "escalation", "gone@example.ru", "s", 1, "failed", "SMTPRecipientsRefused: 550", None),
    ]
    with capturedLogs() as events:
        _log_mails(attempts, metrics)
    assert [(e["log_level"], e["mail_id"], e["attempts"]) for e in events] == [
        (LogLevel.warn, 1, 1), (LogLevel.info, 1, 2), (LogLevel.warn, 2, 1)]
    assert events[0]["next_attempt_at"] == (T0 + 30 * SEC).isoformat()
    assert "given up" in events[2]["log_format"] and events[2]["error"] == "SMTPRecipientsRefused: 550"
    counts = {tuple(sorted(s.labels.items())): s.value
              for family in text_string_to_metric_families(metrics.render().decode())
              if family.name == "pbx_crm_mails" for s in family.samples if s.name.endswith("_total")}
    assert counts == {(("kind", "escalation"), ("result", r)): 1.0 for r in ("sent", "retried", "failed")}


@pytest.mark.parametrize("smtp,services", [
    (True, {"mail-outbox", "escalation"}),
    (False, {"escalation"}),
], ids=["with SMTP: the outbox runs", "without SMTP: no outbox"])
def test_the_daemon_runs_the_outbox_on_its_own_timer_only_with_smtp(tmp_path, smtp, services):
    from twisted.internet.testing import MemoryReactorClock

    from pbx_daemon.config import load_config
    from pbx_daemon.service import make_service

    env = {"PBX_CRM_API_TOKEN": "test-token-0123456789abcdef", "PBX_CRM_ARI_PASSWORD": "Ari-Password-0123",
           "PBX_CRM_DATABASE_URL": f"sqlite:///{tmp_path}/pbx.sqlite3"}
    if smtp:
        env |= {"PBX_CRM_REPORT_SMTP_HOST": "smtp.example.ru", "PBX_CRM_REPORT_MAIL_FROM": "crm@example.ru"}
    root = make_service(load_config(None, env), MemoryReactorClock())
    assert {s.name for s in root} & {"mail-outbox", "escalation"} == services
    assert hasattr(root, "send_mails") is smtp

"""The e-mail outbox in the admin: admins and the owner only; the list says each e-mail's
status (queued, sent, given up), attempts and last error, in company time, never its
text; filters by status and kind; "Send again" makes a given-up or queued e-mail due now
on the admin's clock and refuses a sent one; CSRF required. And store.send_again's SQL."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from twisted.internet.task import Clock

from pbx_daemon.crm import models as m
from pbx_daemon.crm.outbox.rules import status
from pbx_daemon.crm.outbox.store import STATUS_WHERE, due, queue, send_again
from pbx_daemon.db import make_engine, make_session_factory
from tests.postgres import migrated_sessions
from tests.unit.helpers import admin_login, staffed_admin

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)  # 12:00 in Moscow
HOUR = timedelta(hours=1)
PEOPLE = [("root", "admin", None), ("olga", "owner", None), ("hank", "head", "Sales"),
          ("mary", "manager", "Sales"), ("otto", "operator", "Sales")]
URL = "/admin/mail_outbox/"


def mail(s, subject: str, *, created: datetime, attempts: int = 0, sent: datetime | None = None,
         failed: datetime | None = None, due_at: datetime | None = None, error: str | None = None,
         kind: str = "escalation", body: str = "Задача просрочена") -> m.MailOutbox:
    row = m.MailOutbox(kind=kind, recipient="olga@example.ru", subject=subject, body=body,
                       created_at=created, attempts=attempts, sent_at=sent, failed_at=failed,
                       next_attempt_at=due_at, last_error=error)
    s.add(row)
    s.flush()
    return row


@pytest.fixture
def admin_app(tmp_path):
    """The app on the admin's clock at NOW; three e-mails: one sent, one given up after a
    day of failures, one queued (waiting for its 3rd try); a session on its database."""
    clock = Clock()
    clock.advance(NOW.timestamp())
    url = f"sqlite:///{tmp_path}/a.sqlite3"
    with staffed_admin(url, PEOPLE, clock=clock) as (app, s, _, staff):
        mail(s, "sent-subject", created=NOW - 3 * HOUR, attempts=1, sent=NOW - 3 * HOUR,
             body="sent-secret-body")
        mail(s, "failed-subject", created=NOW - 30 * HOUR, attempts=51, failed=NOW - 6 * HOUR,
             error="SMTPServerDisconnected: gone", body="failed-secret-body")
        mail(s, "queued-subject", created=NOW - HOUR, attempts=2, due_at=NOW + timedelta(minutes=10),
             error="ConnectionRefusedError: [Errno 111] Connection refused", body="queued-secret-body")
        s.commit()
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        yield app, session
    engine.dispose()


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)


def _row(s, subject: str) -> m.MailOutbox:
    s.expire_all()
    return s.scalar(select(m.MailOutbox).where(m.MailOutbox.subject == subject))


def _subjects(page: str) -> list[str]:
    return re.findall(r"(sent|failed|queued)-subject", page)


# ---- who gets in -------------------------------------------------------------------------------
@pytest.mark.parametrize("who,code", [("root", 200), ("olga", 200), ("hank", 403), ("mary", 403),
                                      ("otto", 403)])
def test_only_admins_and_the_owner_see_the_outbox(admin_app, who, code):
    app, s = admin_app
    client = admin_login(app, who)
    assert client.get(URL).status_code == code
    assert client.get(f"{URL}details/?id={_row(s, 'sent-subject').id}").status_code == code


def test_others_cannot_send_again(admin_app):
    app, s = admin_app
    client = admin_login(app, "hank")
    token = _csrf(client.get("/admin/my-tasks/").get_data(as_text=True))
    failed = _row(s, "failed-subject")
    assert client.post(f"{URL}{failed.id}/send-again", data={"csrf_token": token}).status_code == 403
    assert _row(s, "failed-subject").failed_at is not None


def test_no_create_edit_or_delete(admin_app):
    app, s = admin_app
    client = admin_login(app, "root")
    row_id = _row(s, "failed-subject").id
    token = _csrf(client.get(URL).get_data(as_text=True))
    assert client.get(f"{URL}new/").status_code in (302, 403, 404)
    assert client.get(f"{URL}edit/?id={row_id}").status_code in (302, 403, 404)
    client.post(f"{URL}delete/", data={"id": row_id, "csrf_token": token})
    assert _row(s, "failed-subject") is not None


# ---- the list ----------------------------------------------------------------------------------
def test_the_list_shows_status_attempts_and_errors_newest_first_in_company_time_not_the_body(admin_app):
    app, _ = admin_app
    page = admin_login(app, "olga").get(URL).get_data(as_text=True)
    assert _subjects(page) == ["queued", "sent", "failed"]  # newest first
    for word in ("Исходящие письма", "в очереди", "отправлено", "не отправлено", "эскалация",
                 "Попыток", "Следующая попытка", "Последняя ошибка", "SMTPServerDisconnected: gone"):
        assert word in page, word
    assert ">51</td>" in "".join(page.split())  # the given-up one's attempts
    assert "2026-12-01 11:00:00" in page  # the queued one's created_at, 08:00 UTC, in Moscow
    assert "2026-12-01 12:10:00" in page  # its next attempt
    assert "secret-body" not in page
    # The given-up and the queued one have the button, not the sent one.
    assert page.count('type="submit">Отправить снова') == 2


def test_the_details_page_shows_the_text(admin_app):
    app, s = admin_app
    page = admin_login(app, "root").get(f"{URL}details/?id={_row(s, 'failed-subject').id}")
    assert "failed-secret-body" in page.get_data(as_text=True)


def _filters(page: str) -> dict[str, str]:
    """Each filter's label -> its ``flt0_<arg>`` (Flask-Admin numbers them)."""
    import json

    groups = json.loads(re.search(r'<div id="filter-groups-data" class="d-none">(.*?)</div>', page).group(1))
    return {label: ops[0]["arg"] for label, ops in groups.items() if len(ops) == 1}


@pytest.mark.parametrize("value,shown", [("queued", ["queued"]), ("sent", ["sent"]),
                                         ("failed", ["failed"])])
def test_the_status_filter(admin_app, value, shown):
    app, _ = admin_app
    client = admin_login(app, "root")
    index = _filters(client.get(URL).get_data(as_text=True))["Статус"]
    page = client.get(f"{URL}?flt0_{index}={value}").get_data(as_text=True)
    assert _subjects(page) == shown


def test_the_kind_filter(admin_app):
    app, s = admin_app
    mail(s, "other-subject", created=NOW, kind="digest", sent=NOW)
    s.commit()
    client = admin_login(app, "root")
    index = _filters(client.get(URL).get_data(as_text=True))["Вид"]
    page = client.get(f"{URL}?flt0_{index}=escalation").get_data(as_text=True)
    assert _subjects(page) == ["queued", "sent", "failed"] and "other-subject" not in page
    page = client.get(f"{URL}?flt0_{index}=digest").get_data(as_text=True)
    assert _subjects(page) == [] and "other-subject" in page


# ---- send again --------------------------------------------------------------------------------
def test_send_again_makes_a_given_up_email_due_now(admin_app):
    app, s = admin_app
    client = admin_login(app, "root")
    page = client.get(URL).get_data(as_text=True)
    failed = _row(s, "failed-subject")
    answer = client.post(f"{URL}{failed.id}/send-again", data={"csrf_token": _csrf(page)},
                         follow_redirects=True).get_data(as_text=True)
    assert f"Письмо № {failed.id} поставлено на отправку сейчас" in answer
    row = _row(s, "failed-subject")
    assert row.failed_at is None and row.next_attempt_at == NOW  # the admin's clock
    assert (row.attempts, row.created_at, row.last_error) == \
        (51, NOW - 30 * HOUR, "SMTPServerDisconnected: gone")
    assert [mail_id for mail_id, _ in due(s, NOW)] == [row.id]  # the daemon's next tick takes it


def test_send_again_makes_a_queued_email_due_now(admin_app):
    app, s = admin_app
    client = admin_login(app, "olga")
    queued = _row(s, "queued-subject")
    token = _csrf(client.get(URL).get_data(as_text=True))
    client.post(f"{URL}{queued.id}/send-again", data={"csrf_token": token})
    assert _row(s, "queued-subject").next_attempt_at == NOW


def test_send_again_refuses_a_sent_email_and_changes_nothing(admin_app):
    app, s = admin_app
    client = admin_login(app, "root")
    sent = _row(s, "sent-subject")
    before = (sent.sent_at, sent.failed_at, sent.next_attempt_at, sent.attempts)
    token = _csrf(client.get(URL).get_data(as_text=True))
    answer = client.post(f"{URL}{sent.id}/send-again", data={"csrf_token": token},
                         follow_redirects=True).get_data(as_text=True)
    assert f"Письмо № {sent.id} уже отправлено" in answer
    row = _row(s, "sent-subject")
    assert (row.sent_at, row.failed_at, row.next_attempt_at, row.attempts) == before


def test_send_again_needs_the_csrf_token(admin_app):
    app, s = admin_app
    client = admin_login(app, "root")
    failed = _row(s, "failed-subject")
    answer = client.post(f"{URL}{failed.id}/send-again", data={})
    assert answer.status_code == 400
    assert _row(s, "failed-subject").failed_at is not None


def test_send_again_of_no_such_email_is_404(admin_app):
    app, _ = admin_app
    client = admin_login(app, "root")
    token = _csrf(client.get(URL).get_data(as_text=True))
    assert client.post(f"{URL}9999/send-again", data={"csrf_token": token}).status_code == 404


# ---- the rules and the SQL ---------------------------------------------------------------------
STATUS_CASES = [("neither: queued", None, None, "queued"), ("sent_at: sent", NOW, None, "sent"),
                ("failed_at: given up", None, NOW, "failed")]


@pytest.mark.parametrize("why,sent_at,failed_at,expected", STATUS_CASES, ids=[c[0] for c in STATUS_CASES])
def test_status(why, sent_at, failed_at, expected):
    assert status(sent_at, failed_at) == expected


@pytest.fixture
def sessions(tmp_path):
    with migrated_sessions("sqlite", tmp_path) as sessions:
        yield sessions


def test_send_again_sql(sessions):
    with sessions() as s:
        sent = mail(s, "sent", created=NOW - HOUR, attempts=1, sent=NOW - HOUR)
        failed = mail(s, "failed", created=NOW - 30 * HOUR, attempts=51, failed=NOW - 6 * HOUR, error="x")
        waiting = queue(s, kind="escalation", recipient="a@example.ru", subject="q", body="b", now=NOW - HOUR)
        s.commit()
        assert [send_again(s, i, NOW) for i in (sent.id, failed.id, waiting.id, 9999)] == \
            [False, True, True, False]
        s.commit()
        s.expire_all()
        untouched = s.get(m.MailOutbox, sent.id)
        assert (untouched.next_attempt_at, untouched.sent_at) == (None, NOW - HOUR)
        row = s.get(m.MailOutbox, failed.id)
        assert (row.failed_at, row.next_attempt_at, row.attempts, row.last_error) == (None, NOW, 51, "x")
        assert s.get(m.MailOutbox, waiting.id).next_attempt_at == NOW
        by_status = {k: sorted(s.scalars(select(m.MailOutbox.subject).where(w)))
                     for k, w in STATUS_WHERE.items()}
        assert by_status == {"queued": ["failed", "q"], "sent": ["sent"], "failed": []}

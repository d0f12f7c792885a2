"""Notifications (issue 18): which planned-call reminders are due (a table), which
missed-call tasks escalate to the head (a table), the escalation made once (twice ticked,
restarted) with its e-mail (queued in the same transaction, sent through the outbox) and
screen-pop event, and /notifications/due giving each employee only their own reminders, on
the admin's injected clock. The outbox's retries: tests/unit/test_mail_outbox.py."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, event, select
from sqlalchemy.orm import sessionmaker

from pbx_daemon.crm import models as m
from pbx_daemon.crm.escalation import HORIZON, Escalator, OverdueTask, escalation_due
from pbx_daemon.crm.outbox.store import Outbox
from pbx_daemon.crm.reminders import STALE_AFTER, PlannedCall, due_reminders
from pbx_daemon.telephony.outputs.screen_pop import MemoryPublisher, ScreenPopNotifier
from tests.unit.helpers import admin_login, staffed_admin

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)  # the planned call's time
MIN = timedelta(minutes=1)


def call(**kw) -> PlannedCall:
    fields = dict(id=1, type="call", status="open", title="Перезвонить", comment="КП", deadline=T0,
                  remind_at=T0 - 15 * MIN)
    return PlannedCall(**{**fields, **kw})


REMINDER_CASES = [
    ("16 minutes before the call: not yet", call(), T0 - 16 * MIN, False),
    ("15 minutes before: due", call(), T0 - 15 * MIN, True),
    ("at the planned time: still due", call(), T0, True),
    ("the call is late, within the hour: due", call(), T0 + 59 * MIN, True),
    ("over an hour late: no longer pops up", call(), T0 + STALE_AFTER + MIN, False),
    ("no remind_at: 15 minutes before the deadline", call(remind_at=None), T0 - 15 * MIN, True),
    ("no remind_at, 16 minutes before: not yet", call(remind_at=None), T0 - 16 * MIN, False),
    ("a missed call's call-back reminds at its deadline", call(remind_at=T0), T0 - 5 * MIN, False),
    ("a done task: never", call(status="done"), T0 - 10 * MIN, False),
    ("a cancelled task: never", call(status="cancelled"), T0 - 10 * MIN, False),
    ("a meeting: never", call(type="meeting"), T0 - 10 * MIN, False),
]


@pytest.mark.parametrize("why,task,now,due", REMINDER_CASES, ids=[c[0] for c in REMINDER_CASES])
def test_reminder_due(why, task, now, due):
    assert bool(due_reminders([task], now)) is due


def test_reminders_keyed_by_task_and_time_earliest_first():
    later = call(id=2, deadline=T0 + 5 * MIN, remind_at=T0 - 10 * MIN)
    moved = call(id=1, deadline=T0 + 30 * MIN, remind_at=T0 + 15 * MIN)
    assert [r.task_id for r in due_reminders([later, call()], T0)] == [1, 2]
    # The same task moved to a later time is a new reminder (the page shows each key once).
    assert due_reminders([call()], T0)[0].key != due_reminders([moved], T0 + 15 * MIN)[0].key


def overdue(**kw) -> OverdueTask:
    fields = dict(id=1, status="open", deadline=T0, escalated_at=None, responsible_id=7, head_id=3)
    return OverdueTask(**{**fields, **kw})


ESCALATION_CASES = [
    ("not overdue yet (29 of 30 minutes)", overdue(), T0 + 29 * MIN, 30, None),
    ("overdue by the configured minutes: the head", overdue(), T0 + 30 * MIN, 30, 3),
    ("hours overdue, never escalated: the head", overdue(), T0 + 600 * MIN, 30, 3),
    ("overdue over a day (escalation just switched on): left alone", overdue(), T0 + HORIZON + MIN, 30, None),
    ("already escalated: never again", overdue(escalated_at=T0 + 30 * MIN), T0 + 90 * MIN, 30, None),
    ("done task: nothing", overdue(status="done"), T0 + 60 * MIN, 30, None),
    ("cancelled task: nothing", overdue(status="cancelled"), T0 + 60 * MIN, 30, None),
    ("no head (or the head deactivated): nothing", overdue(head_id=None), T0 + 60 * MIN, 30, None),
    ("the head is the responsible: nothing", overdue(head_id=7), T0 + 60 * MIN, 30, None),
    ("escalation off (0 minutes)", overdue(), T0 + 600 * MIN, 0, None),
]


@pytest.mark.parametrize("why,task,now,after,to", ESCALATION_CASES, ids=[c[0] for c in ESCALATION_CASES])
def test_escalation_due(why, task, now, after, to):
    assert escalation_due(task, now, after) == to


# ---- the apply step on SQLite -----------------------------------------------------------------
class Clock:
    def __init__(self, at: datetime):
        self.now = at.timestamp()

    def seconds(self) -> float:
        return self.now


def seed_escalation(factory) -> None:
    """Sales (head Olga with an e-mail, manager Anna), the inquiry rules' call-back task
    for Anna (made by nobody, due T0) and a call task Anna made herself."""
    with factory() as s:
        sales = m.Department(name="Sales")
        s.add(sales)
        s.flush()
        head = m.Employee(full_name="Ольга Head", login="olga", role="head", department_id=sales.id,
                          email="olga@example.ru")
        anna = m.Employee(full_name="Анна Смирнова", login="anna", role="manager", department_id=sales.id)
        s.add_all([head, anna])
        s.flush()
        sales.head_id = head.id
        inquiry = m.Inquiry(channel="call", phone="+79030000001", status="open", responsible_id=anna.id,
                            department_id=sales.id, first_seen_at=T0, last_seen_at=T0)
        s.add(inquiry)
        s.flush()
        s.add_all([m.Task(title="Перезвонить: 1 пропущенный звонок", type="call", responsible_id=anna.id,
                          deadline=T0, remind_at=T0, comment="+79030000001", inquiry_id=inquiry.id),
                   m.Task(title="Своя задача", type="call", responsible_id=anna.id, deadline=T0,
                          comment="сама", inquiry_id=inquiry.id, created_by_id=anna.id)])
        s.commit()


@pytest.fixture
def sessions(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path}/e.sqlite3")
    m.Base.metadata.create_all(engine)
    factory = sessionmaker(engine, expire_on_commit=False)
    seed_escalation(factory)
    yield factory
    engine.dispose()


class EscalateAndMail:
    """What the daemon's escalation tick does: escalate (the e-mails queued in the same
    transaction), then send the outbox."""

    def __init__(self, escalator: Escalator, outbox: Outbox):
        self.escalator, self.outbox = escalator, outbox

    def tick(self):
        made = self.escalator.tick()
        self.outbox.tick()
        return made


def escalator(sessions, clock, mails, fail=False):
    def send(message):
        if fail:
            raise OSError("smtp down")
        mails.append(message)
    return EscalateAndMail(
        Escalator(sessions, after_minutes=30, clock=clock.seconds, tz="Europe/Moscow", mail=True),
        Outbox(sessions, send, mail_from="crm@example.ru", clock=clock.seconds))


def outbox_rows(sessions) -> list[m.MailOutbox]:
    with sessions() as s:
        return list(s.scalars(select(m.MailOutbox).order_by(m.MailOutbox.id)))


def test_escalated_once_even_ticked_twice_or_after_a_restart(sessions):
    clock, mails = Clock(T0 + 29 * MIN), []
    first = escalator(sessions, clock, mails)
    assert first.tick() == []
    clock.now = (T0 + 31 * MIN).timestamp()
    made = first.tick()
    assert [(e.title, e.head_email, e.responsible, e.overdue_minutes) for e in made] == [
        ("Перезвонить: 1 пропущенный звонок", "olga@example.ru", "Анна Смирнова", 31)]
    assert len(mails) == 1 and mails[0]["To"] == "olga@example.ru" and made[0].mail_queued
    assert mails[0]["From"] == "crm@example.ru" and "+79030000001" in mails[0]["Subject"]
    assert "просрочена на 31 мин" in mails[0].get_content() and "12:00" in mails[0].get_content()
    assert first.tick() == []  # the same tick again
    clock.now += 3600
    assert escalator(sessions, clock, mails).tick() == [] and len(mails) == 1  # a restarted daemon
    with sessions() as s:
        escalated = {t.title: t.escalated_at for t in s.scalars(select(m.Task))}
    assert escalated["Перезвонить: 1 пропущенный звонок"] == T0 + 31 * MIN
    assert escalated["Своя задача"] is None  # an employee's own task is not a missed call's
    assert [(r.kind, r.recipient, r.attempts, r.sent_at) for r in outbox_rows(sessions)] == [
        ("escalation", "olga@example.ru", 1, T0 + 31 * MIN)]


def test_a_failed_email_leaves_the_escalation_made_and_its_email_queued(sessions):
    """The SMTP server down: the escalation stands and its e-mail waits in the outbox."""
    clock = Clock(T0 + 40 * MIN)
    made = escalator(sessions, clock, [], fail=True).tick()
    assert len(made) == 1 and made[0].mail_queued
    [row] = outbox_rows(sessions)
    assert (row.attempts, row.sent_at, row.last_error) == (1, None, "OSError: smtp down")
    assert row.next_attempt_at == T0 + 40 * MIN + timedelta(seconds=30)
    mails = []
    assert escalator(sessions, clock, mails).tick() == [] and mails == []  # not due yet
    clock.now += 30
    assert escalator(sessions, clock, mails).tick() == [] and len(mails) == 1  # sent, not escalated again


def test_no_email_queued_without_smtp_or_without_the_heads_address(sessions):
    clock = Clock(T0 + 31 * MIN)
    made = Escalator(sessions, after_minutes=30, clock=clock.seconds, mail=False).tick()
    assert len(made) == 1 and not made[0].mail_queued and outbox_rows(sessions) == []
    with sessions() as s:
        for t in s.scalars(select(m.Task)):
            t.escalated_at = None
        s.scalar(select(m.Employee).where(m.Employee.login == "olga")).email = None
        s.commit()
    made = Escalator(sessions, after_minutes=30, clock=clock.seconds, mail=True).tick()
    assert len(made) == 1 and not made[0].mail_queued and outbox_rows(sessions) == []


def test_an_escalation_is_never_committed_without_its_email(sessions):
    """The outbox row cannot be written: the escalation is rolled back with it, and the
    next tick makes both."""
    def refuse(session, context, instances):
        if any(isinstance(o, m.MailOutbox) for o in session.new):
            raise RuntimeError("disk full")

    clock = Clock(T0 + 31 * MIN)
    escalate = Escalator(sessions, after_minutes=30, clock=clock.seconds, mail=True)
    event.listen(sessions, "before_flush", refuse)
    with pytest.raises(RuntimeError):
        escalate.tick()
    with sessions() as s:
        assert s.scalar(select(m.Task.escalated_at).where(m.Task.created_by_id.is_(None))) is None
    event.remove(sessions, "before_flush", refuse)
    assert len(escalate.tick()) == 1 and len(outbox_rows(sessions)) == 1


def test_a_done_task_or_a_headless_department_does_not_escalate(sessions):
    with sessions() as s:
        s.scalar(select(m.Department)).head_id = None
        s.commit()
    clock, mails = Clock(T0 + 60 * MIN), []
    assert escalator(sessions, clock, mails).tick() == []
    with sessions() as s:
        s.scalar(select(m.Department)).head_id = s.scalar(select(m.Employee.id).where(m.Employee.login == "olga"))
        for t in s.scalars(select(m.Task)):
            t.status = "done"
        s.commit()
    assert escalator(sessions, clock, mails).tick() == [] and mails == []


def test_a_deactivated_head_or_a_head_who_is_responsible_gets_nothing(sessions):
    clock, mails = Clock(T0 + 60 * MIN), []
    with sessions() as s:
        olga = s.scalar(select(m.Employee).where(m.Employee.login == "olga"))
        olga.active = False
        s.commit()
    assert escalator(sessions, clock, mails).tick() == []
    with sessions() as s:
        olga = s.scalar(select(m.Employee).where(m.Employee.login == "olga"))
        olga.active = True
        for t in s.scalars(select(m.Task)):
            t.responsible_id = olga.id
        s.commit()
    assert escalator(sessions, clock, mails).tick() == [] and mails == []


def test_the_head_gets_an_escalation_event_on_their_own_channel_only():
    publisher = MemoryPublisher()
    ScreenPopNotifier(publisher, Clock(T0)).escalated(5, 3, title="Перезвонить", responsible="Анна",
                                                      phone="+79030000001", overdue_minutes=31)
    assert [c for c, _ in publisher.published] == ["pbxcrm:screenpop:3"]
    event = publisher.to("pbxcrm:screenpop:3")[0]
    assert (event["event"], event["task_id"], event["employee_id"], event["overdue_minutes"]) == \
        ("escalation", 5, 3, 31)


# ---- /notifications/due ---------------------------------------------------------------------
def test_due_endpoint_gives_only_ones_own_reminders_on_the_admins_clock(tmp_path):
    clock = Clock(T0 - 16 * MIN)
    people = [("anna", "manager", "Sales"), ("boris", "manager", "Sales"), ("olga", "head", "Sales"),
              ("root", "admin", None)]
    with staffed_admin(f"sqlite:///{tmp_path}/a.sqlite3", people) as (app, s, _, staff):
        app.extensions["pbx_crm_clock"] = clock
        s.add_all([m.Task(title="Анне позвонить", type="call", responsible_id=staff["anna"].id,
                          deadline=T0, remind_at=T0 - 15 * MIN, comment="КП"),
                   m.Task(title="Борису позвонить", type="call", responsible_id=staff["boris"].id,
                          deadline=T0, remind_at=T0 - 15 * MIN, comment="счёт")])
        s.commit()
    clients = {who: admin_login(app, who) for who in ("anna", "boris", "olga", "root")}

    def titles(who):
        response = clients[who].get("/notifications/due")
        assert response.status_code == 200
        return [r["title"] for r in response.get_json()["reminders"]]

    assert titles("anna") == [] and titles("boris") == []  # 16 minutes before: not yet
    clock.now = (T0 - 15 * MIN).timestamp()
    assert titles("anna") == ["Анне позвонить"]
    assert titles("boris") == ["Борису позвонить"]
    # Not the department's (head) nor everyone's (admin): reminders are one's own.
    assert titles("olga") == [] and titles("root") == []
    first = clients["anna"].get("/notifications/due").get_json()["reminders"][0]
    assert first["url"].startswith("/admin/task/edit/") and first["minutes"] == 15
    assert app.test_client().get("/notifications/due").status_code == 401


def test_the_layout_loads_notify_js_for_logged_in_users_only(tmp_path):
    with staffed_admin(f"sqlite:///{tmp_path}/a.sqlite3", [("anna", "manager", "Sales")]) as (app, s, _, _):
        s.commit()
    page = admin_login(app, "anna").get("/admin/task/").get_data(as_text=True)
    assert 'id="pbx-notify"' in page and "/notifications/due" in page
    assert 'id="pbx-notify"' not in app.test_client().get("/login").get_data(as_text=True)
    assert app.test_client().get("/static/notify.js").status_code == 200

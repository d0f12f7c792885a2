"""The escalation's fetch and claim on PostgreSQL (migrated by alembic, 0014 included): an
overdue missed-call task goes to the head once, ticked twice or by a restarted daemon."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from pbx_daemon import db
from pbx_daemon.crm import models as m
from tests.postgres import throwaway_database
from tests.unit.test_notifications import MIN, T0, Clock, escalator, seed_escalation


@pytest.fixture
def sessions():
    for url in throwaway_database():
        db.upgrade(url)
        engine = db.make_engine(url)
        factory = db.make_session_factory(engine)
        seed_escalation(factory)
        yield factory
        engine.dispose()


def test_escalated_once_on_postgres(sessions):
    clock, mails = Clock(T0 + 31 * MIN), []
    made = escalator(sessions, clock, mails).tick()
    assert [(e.head_email, e.overdue_minutes) for e in made] == [("olga@example.ru", 31)] and len(mails) == 1
    assert escalator(sessions, clock, mails).tick() == [] and len(mails) == 1
    with sessions() as s:
        assert {t.title: t.escalated_at for t in s.scalars(select(m.Task))}[
            "Перезвонить: 1 пропущенный звонок"] == T0 + 31 * MIN

"""The daily report sends itself (issue 18): when it is due (a table of described cases),
and the claim that makes it once a day, also across a restart."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import sessionmaker

from pbx_daemon.crm import models as m
from pbx_daemon.crm.stats.report_send import (MAX_ATTEMPTS, LastSend, ReportSender, parse_send_at,
                                              report_due)

TZ = "Europe/Moscow"  # UTC+3 all year
NINE = time(9, 0)
DEC1 = date(2026, 12, 1)
NOV30 = date(2026, 11, 30)


def msk(hour: int, minute: int = 0, day: int = 1) -> datetime:
    """Moscow wall time on December ``day``, 2026, as an aware UTC datetime."""
    return datetime(2026, 12, day, hour, minute, tzinfo=timezone(timedelta(hours=3))) \
        .astimezone(timezone.utc)


CASES = [
    ("before send_at: nothing", msk(8, 59), None, None),
    ("at send_at: yesterday's report", msk(9, 0), None, NOV30),
    ("later the same day, never sent (daemon was down at 09:00): sent now", msk(17, 30), None, NOV30),
    ("already sent today", msk(9, 1), LastSend(NOV30, "sent", 1, msk(9, 0)), None),
    ("another daemon is sending it right now", msk(9, 1), LastSend(NOV30, "sending", 1, msk(9, 0)), None),
    ("a claim left by a daemon that died mid-send is taken over", msk(9, 20),
     LastSend(NOV30, "sending", 1, msk(9, 0)), NOV30),
    ("a failed send is tried again", msk(9, 1), LastSend(NOV30, "failed", 1, msk(9, 0)), NOV30),
    ("until it failed MAX_ATTEMPTS times", msk(9, 30), LastSend(NOV30, "failed", MAX_ATTEMPTS, msk(9, 25)), None),
    ("the last row is the day before: today's is due", msk(9, 0),
     LastSend(date(2026, 11, 29), "sent", 1, msk(9, 0, day=1) - timedelta(days=1)), NOV30),
    ("just after midnight company time it is still before send_at", msk(0, 5), None, None),
]


@pytest.mark.parametrize("why,now,last,due", CASES, ids=[c[0] for c in CASES])
def test_report_due(why, now, last, due):
    assert report_due(now, TZ, NINE, last) == due


def test_send_at_parses_and_empty_means_off():
    assert parse_send_at("09:00") == NINE and parse_send_at("") is None


class Clock:
    def __init__(self, at: datetime):
        self.now = at.timestamp()

    def seconds(self) -> float:
        return self.now


@pytest.fixture
def sessions(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path}/r.sqlite3")
    m.Base.metadata.create_all(engine)
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


def sender(sessions, clock, sent, fail=False):
    def send(session, day):
        if fail:
            raise OSError("smtp.example.ru:587: connection refused")
        sent.append(day)
    return ReportSender(sessions, tz=TZ, send_at=NINE, recipients="owner@example.ru",
                        send=send, clock=clock.seconds)


def test_sent_once_at_the_minute_and_not_again_after_a_restart(sessions):
    clock, sent = Clock(msk(8, 59, day=1)), []
    first = sender(sessions, clock, sent)
    assert first.tick() is None and sent == []
    clock.now = msk(9, 0).timestamp()
    assert first.tick() == NOV30 and sent == [NOV30]
    clock.now += 30
    assert first.tick() is None
    restarted = sender(sessions, clock, sent)  # a new daemon, the same database
    assert restarted.tick() is None and sent == [NOV30]
    with sessions() as s:
        row = s.scalar(select(m.ReportSend))
        assert (row.day, row.status, row.attempts, row.recipients) == (NOV30, "sent", 1, "owner@example.ru")
        assert row.sent_at is not None
    clock.now = msk(9, 0, day=2).timestamp()  # the next morning: the next day's report
    assert restarted.tick() == DEC1 and sent == [NOV30, DEC1]


def test_a_failed_send_is_written_down_and_tried_again(sessions):
    clock, sent = Clock(msk(9, 0)), []
    with pytest.raises(OSError):
        sender(sessions, clock, sent, fail=True).tick()
    with sessions() as s:
        row = s.scalar(select(m.ReportSend))
        assert (row.status, row.attempts) == ("failed", 1) and "connection refused" in row.error
    clock.now += 30
    assert sender(sessions, clock, sent).tick() == NOV30
    with sessions() as s:
        row = s.scalar(select(m.ReportSend))
        assert (row.status, row.attempts, row.error) == ("sent", 2, None)

"""The daemon's periodic reconcile (:class:`~pbx_daemon.telephony.reconcile.Reconciler`):
new CEL lines only, a restart from the stored safe position, the first start's horizon,
late call-backs without a task flood, rows left in progress by a killed daemon completed
exactly once, and the stop flag."""

from __future__ import annotations

import wave
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from twisted.internet.defer import succeed
from twisted.logger import capturedLogs

from pbx_daemon.crm import models as m
from pbx_daemon.db import make_engine, make_session_factory, seed_reference_data
from pbx_daemon.telephony.calls.interfaces import CallDetails
from pbx_daemon.telephony.outputs.store import SqlCallRecorder
from pbx_daemon.telephony.reconcile import (BATCH, POSITION_KEY, CelCalls, Reconciler,
                                            load_position, reconcile)
from pbx_daemon.telephony.routing.policy import RoutePlan
from tests.unit.cel_builder import inbound, leg_id, write

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc).timestamp()
HOUR = 3600.0


@pytest.fixture
def sessions(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/pbx.sqlite3")
    m.Base.metadata.create_all(engine)
    factory = make_session_factory(engine)
    with factory() as s:
        seed_reference_data(s)
        sales = m.Department(name="Sales")
        s.add(sales)
        s.flush()
        anna = m.Employee(full_name="Anna", login="anna", sip_endpoint="101", department_id=sales.id)
        vera = m.Employee(full_name="Vera", login="vera", role="head", sip_endpoint="103",
                          department_id=sales.id)
        s.add_all([anna, vera, m.TrackingNumber(number="+74951110001", department_id=sales.id)])
        s.flush()
        sales.head_id = vera.id
        s.commit()
    yield factory
    engine.dispose()


@pytest.fixture
def cel(tmp_path):
    return tmp_path / "pbx-crm.jsonl"


def reconciler(sessions, cel, tmp_path, **kw):
    (tmp_path / "spool").mkdir(exist_ok=True)
    return Reconciler(sessions, cel, recordings_dir=tmp_path / "spool",
                      store_dir=tmp_path / "store", **kw)


def count(sessions, model, *where):
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def call(sessions, linkedid):
    with sessions() as s:
        row = s.scalar(select(m.Call).where(m.Call.linkedid == linkedid))
        for leg in row.legs:
            pass  # loaded while the session is open
        return row


def login(sessions, employee_id):
    with sessions() as s:
        return s.get(m.Employee, employee_id).login


def missed(linkedid, caller, t0):
    start, rest = inbound(linkedid, caller, t0)
    return start + rest


# ---- new lines only, the safe position ---------------------------------------------------
def test_each_run_reads_only_the_lines_written_since_the_last(sessions, cel, tmp_path):
    write(cel, missed("pbx-1.1", "+79161110001", NOW - 600))
    r = reconciler(sessions, cel, tmp_path)
    assert (r.run(now=NOW).seen, r.run(now=NOW + 60).seen) == (1, 0)
    write(cel, missed("pbx-1.2", "+79161110002", NOW + 60))
    summary = r.run(now=NOW + 120)
    assert (summary.seen, summary.stored, summary.missed) == (1, 1, 1)
    with sessions() as s:
        assert load_position(s).position.offset == cel.stat().st_size


def test_a_call_ended_seconds_ago_waits_for_the_next_run(sessions, cel, tmp_path):
    """The daemon may still be writing it."""
    write(cel, missed("pbx-1.1", "+79161110001", NOW - 8))  # ended 2 s before NOW
    r = reconciler(sessions, cel, tmp_path)
    assert r.run(now=NOW).seen == 0
    assert r.run(now=NOW + 5).stored == 1


def test_a_restart_reads_a_call_still_ringing_whole_again(sessions, cel, tmp_path):
    write(cel, missed("pbx-1.1", "+79161110001", NOW - 600))
    start, rest = inbound("pbx-1.2", "+79161110002", NOW - 20, phones=("101", "103"))
    write(cel, start)
    first = reconciler(sessions, cel, tmp_path)
    assert first.run(now=NOW).stored == 1
    with sessions() as s:  # "read again from the first line of pbx-1.2"
        assert load_position(s).position.offset == len(
            "".join(line + "\n" for line in missed("pbx-1.1", "+79161110001", NOW - 600)))
    first.reset()  # the daemon is killed; the call ends while it is down
    write(cel, rest)
    again = reconciler(sessions, cel, tmp_path)
    summary = again.run(now=NOW + 60)
    assert (summary.seen, summary.stored) == (1, 1)  # pbx-1.1 was before it: not read again
    row = call(sessions, "pbx-1.2")
    assert (row.outcome, row.caller) == ("missed", "+79161110002")
    assert sorted(leg.endpoint for leg in row.legs) == ["PJSIP/101", "PJSIP/103"]
    assert count(sessions, m.Call) == 2


# ---- the first start's horizon, late call-backs -----------------------------------------
def old_and_new_calls(cel):
    for linkedid, caller, ago in (("pbx-0.1", "+79160000001", 72 * HOUR),
                                  ("pbx-0.2", "+79160000002", 30 * HOUR),
                                  ("pbx-0.3", "+79160000003", 2 * HOUR),
                                  ("pbx-0.4", "+79160000004", 600)):
        write(cel, missed(linkedid, caller, NOW - ago))


def test_a_new_database_imports_only_calls_within_the_horizon(sessions, cel, tmp_path):
    old_and_new_calls(cel)
    summary = reconciler(sessions, cel, tmp_path).run(now=NOW)
    assert (summary.stored, summary.old) == (2, 2)
    with sessions() as s:
        assert sorted(s.scalars(select(m.Call.caller))) == ["+79160000003", "+79160000004"]
        assert sorted(s.scalars(select(m.Inquiry.phone))) == ["+79160000003", "+79160000004"]
        tasks = s.scalars(select(m.Task).order_by(m.Task.id)).all()
        vera = s.scalar(select(m.Employee.id).where(m.Employee.login == "vera"))
    # Ten minutes old: its own call-back, due in five minutes. Two hours old: no overdue
    # task of its own, a summary task for the head, due from now.
    at = datetime.fromtimestamp(NOW, timezone.utc)
    assert [(t.title, t.deadline, t.responsible_id) for t in tasks] == [
        ("Перезвонить +79160000004", at + timedelta(minutes=5), vera),
        ("Перезвонить: 1 пропущенный звонок, сохранены после срока перезвона",
         at + timedelta(minutes=15), vera)]
    assert "+79160000003" in tasks[1].comment and tasks[1].inquiry_id is None
    assert all(t.deadline >= at for t in tasks)


def test_horizon_zero_imports_everything_with_one_summary_task(sessions, cel, tmp_path):
    old_and_new_calls(cel)
    reconciler(sessions, cel, tmp_path, horizon_hours=0).run(now=NOW)
    assert count(sessions, m.Call) == count(sessions, m.Inquiry) == 4
    with sessions() as s:
        summary = s.scalar(select(m.Task).where(m.Task.inquiry_id.is_(None)))
    assert summary.title == "Перезвонить: 3 пропущенных звонка, сохранены после срока перезвона"
    assert [line.split()[-1] for line in summary.comment.splitlines()[1:]] == \
        ["+79160000001", "+79160000002", "+79160000003"]
    assert count(sessions, m.Task) == 2


def test_stale_missed_tasks_none_leaves_only_the_inquiries(sessions, cel, tmp_path):
    old_and_new_calls(cel)
    reconciler(sessions, cel, tmp_path, horizon_hours=0, stale_missed_tasks="none").run(now=NOW)
    assert count(sessions, m.Inquiry) == 4
    with sessions() as s:
        assert [t.title for t in s.scalars(select(m.Task))] == ["Перезвонить +79160000004"]


def test_the_horizon_holds_after_a_first_run_cut_short(sessions, cel, tmp_path):
    """The cut-off is stored with the position: a restart does not import the rest of
    the old history."""
    for i in range(BATCH + 10):
        write(cel, missed(f"pbx-0.{i}", f"+7916000{i:04d}", NOW - 72 * HOUR + i))
    write(cel, missed("pbx-9.1", "+79169999991", NOW - 600))
    checks = iter([False, False, True])  # stop before the second batch
    summary = reconciler(sessions, cel, tmp_path).run(now=NOW, should_stop=lambda: next(checks))
    assert summary.stopped and summary.old == BATCH
    # Days later: a horizon computed again would take in the calls of 3 days ago.
    summary = reconciler(sessions, cel, tmp_path).run(now=NOW + 48 * HOUR)
    assert summary.stored == 1
    with sessions() as s:
        assert list(s.scalars(select(m.Call.caller))) == ["+79169999991"]


# ---- rows a killed daemon left in progress ----------------------------------------------
def daemon_began(sessions, linkedid, caller, t0, phones=("101",)):
    """What the daemon's store wrote before it was killed: the call and its ringing legs."""
    recorder = SqlCallRecorder(sessions, run=lambda fn: succeed(fn()))
    with sessions() as s:
        ids = {e.sip_endpoint: e.id for e in s.scalars(select(m.Employee))}
        sales = s.scalar(select(m.Department.id))
    recorder.caller_identified(linkedid, CallDetails(caller, caller, None))
    recorder.call_started(linkedid, "chan", RoutePlan(steps=(), department_id=sales), t0)
    for step, phone in enumerate(phones, 1):
        recorder.leg_ringing(linkedid, leg_id(linkedid, phone), phone, ids[phone], step, t0 + 0.1)


def snapshot(sessions):
    with sessions() as s:
        return ([(c.linkedid, c.outcome, c.ended_at, c.inquiry_id) for c in s.scalars(select(m.Call))],
                [(i.phone, i.missed_count) for i in s.scalars(select(m.Inquiry))],
                [(t.title, t.deadline, t.status) for t in s.scalars(select(m.Task))])


def test_a_ringing_call_the_daemon_lost_is_missed_with_one_inquiry_and_one_task(sessions, cel, tmp_path):
    daemon_began(sessions, "pbx-2.1", "+79162220001", NOW - 300)
    start, rest = inbound("pbx-2.1", "+79162220001", NOW - 300)
    write(cel, start + rest)
    summary = reconciler(sessions, cel, tmp_path).run(now=NOW)
    assert (summary.completed, summary.missed) == (1, 1)
    row = call(sessions, "pbx-2.1")
    assert (row.outcome, row.handled_by, row.duration_seconds) == ("missed", "daemon", 6)
    assert [(leg.outcome, leg.ended_at is not None) for leg in row.legs] == [("no_answer", True)]
    assert count(sessions, m.Inquiry, m.Inquiry.phone == "+79162220001") == 1
    assert count(sessions, m.Task) == 1
    before = snapshot(sessions)
    # Again, and again from scratch (a new database position, the whole file): no change.
    reconciler(sessions, cel, tmp_path).run(now=NOW + 60)
    with sessions() as s:
        s.delete(s.get(m.Setting, POSITION_KEY))
        s.commit()
    reconciler(sessions, cel, tmp_path).run(now=NOW + 120)
    with sessions() as s, open(cel) as f:
        reconcile(s, f, recordings_dir=tmp_path / "spool")
    assert snapshot(sessions) == before


def test_a_call_the_daemon_still_holds_is_left_to_it_until_it_lets_go(sessions, cel, tmp_path):
    daemon_began(sessions, "pbx-2.1", "+79162220001", NOW - 300)
    start, rest = inbound("pbx-2.1", "+79162220001", NOW - 300)
    write(cel, start + rest)
    r = reconciler(sessions, cel, tmp_path)
    assert r.run(now=NOW, live_call_ids=frozenset({"pbx-2.1"})).stored == 0
    assert call(sessions, "pbx-2.1").outcome == "in_progress"
    assert r.run(now=NOW + 60).completed == 1  # kept in memory, looked at again
    assert call(sessions, "pbx-2.1").outcome == "missed"
    assert count(sessions, m.Task) == 1


def test_an_answered_call_the_daemon_lost_gets_its_times_answerer_and_recording(sessions, cel, tmp_path):
    daemon_began(sessions, "pbx-2.2", "+79162220002", NOW - 300, phones=("101", "103"))
    start, rest = inbound("pbx-2.2", "+79162220002", NOW - 300, phones=("101", "103"),
                          answered_by="101", ring=4, talk=40)
    write(cel, start + rest)
    (tmp_path / "spool").mkdir()
    with wave.open(str(tmp_path / "spool" / "pbx-2.2.wav"), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes(b"\0\0" * 8000)
    r = reconciler(sessions, cel, tmp_path)
    assert r.run(now=NOW).answered == 1
    row = call(sessions, "pbx-2.2")
    t0 = datetime.fromtimestamp(NOW - 300, timezone.utc)
    assert (row.outcome, login(sessions, row.answered_by_id)) == ("answered", "anna")
    assert (row.answered_at, row.talk_seconds, row.duration_seconds) == \
        (t0 + timedelta(seconds=4), 40, 44)
    assert sorted((leg.endpoint, leg.outcome) for leg in row.legs) == \
        [("PJSIP/101", "answered"), ("PJSIP/103", "no_answer")]
    with sessions() as s:
        recording = s.scalar(select(m.Recording).where(m.Recording.call_id == row.id))
        assert recording.path == "pbx-2.2.wav" and (tmp_path / "store" / "pbx-2.2.wav").is_file()
        # A new number that got through: one inquiry to classify, no task.
        assert [(i.phone, i.missed_count) for i in s.scalars(select(m.Inquiry))] == \
            [("+79162220002", 0)]
    assert count(sessions, m.Task) == 0
    before = snapshot(sessions)
    with sessions() as s:
        s.delete(s.get(m.Setting, POSITION_KEY))
        s.commit()
    reconciler(sessions, cel, tmp_path).run(now=NOW + 60)
    assert snapshot(sessions) == before


def test_a_row_in_progress_for_hours_with_no_end_in_cel_is_closed_as_failed(sessions, cel, tmp_path):
    daemon_began(sessions, "pbx-3.1", "+79163330001", NOW - 7 * HOUR)
    daemon_began(sessions, "pbx-3.2", "+79163330002", NOW - 7 * HOUR)  # the daemon holds it
    daemon_began(sessions, "pbx-3.3", "+79163330003", NOW - HOUR)
    write(cel, missed("pbx-1.1", "+79161110001", NOW - 600))
    with capturedLogs() as events:
        summary = reconciler(sessions, cel, tmp_path).run(
            now=NOW, live_call_ids=frozenset({"pbx-3.2"}))
    assert summary.closed == 1
    assert [call(sessions, i).outcome for i in ("pbx-3.1", "pbx-3.2", "pbx-3.3")] == \
        ["failed", "in_progress", "in_progress"]
    assert [leg.outcome for leg in call(sessions, "pbx-3.1").legs] == ["failed"]
    assert any("closed as failed" in e["log_format"] and "pbx-3.1" in e["linkedids"]
               for e in events)
    assert count(sessions, m.Inquiry, m.Inquiry.phone == "+79163330001") == 0


def test_an_incomplete_call_left_for_hours_is_forgotten_with_a_log_line(sessions, cel, tmp_path):
    start, _ = inbound("pbx-4.1", "+79164440001", NOW - 8 * HOUR)
    write(cel, start)  # Asterisk never wrote its end (it was killed, say)
    write(cel, missed("pbx-1.1", "+79161110001", NOW - 600))
    with capturedLogs() as events:
        summary = reconciler(sessions, cel, tmp_path).run(now=NOW)
    assert summary.forgotten == 1
    assert any("forgot" in e["log_format"] for e in events)
    with sessions() as s:  # no longer holds the position back
        assert load_position(s).position.offset == cel.stat().st_size


def test_reading_old_history_forgets_nothing_early_and_memory_is_bounded():
    """Calls are forgotten by the log's own clock (its newest event), not the wall
    clock, so a first start reading months-old lines keeps a call whose end comes in a
    later chunk; and at most ``keep_at_most`` calls wait, the oldest going first."""
    calls = CelCalls()
    start, rest = inbound("pbx-6.1", "+79166660001", NOW - 90 * 24 * HOUR)
    for line in start:
        calls.add(line)
    assert calls.forget() == [] and len(calls) == 1
    for line in rest:
        calls.add(line)
    assert [c.linkedid for c in calls.settled(NOW)] == ["pbx-6.1"]
    for i in range(5):
        for line in inbound(f"pbx-7.{i}", "+79167770001", NOW + i)[0]:
            calls.add(line, (0, 1000 + i))
    assert [c.linkedid for c in calls.forget(keep_at_most=3)] == ["pbx-6.1", "pbx-7.0", "pbx-7.1"]


# ---- the stop flag ------------------------------------------------------------------------
def test_the_stop_flag_ends_a_long_run_between_batches_and_a_restart_goes_on(sessions, cel, tmp_path):
    calls = 2 * BATCH + 20
    for i in range(calls):
        write(cel, missed(f"pbx-5.{i}", f"+7916555{i:04d}", NOW - 600 + i))
    stop = []
    r = reconciler(sessions, cel, tmp_path)
    original = r.sessions

    def sessions_then_stop():  # SIGTERM arrives while the first batch is written
        opened.append(True)
        if len(opened) == 2:  # (the first reads the stored position)
            stop.append(True)
        return original()

    opened = []

    r.sessions = sessions_then_stop
    summary = r.run(now=NOW, should_stop=lambda: bool(stop))
    assert summary.stopped and summary.stored == BATCH
    # Whole calls only: each stored call is final and has its inquiry and task.
    assert count(sessions, m.Call) == count(sessions, m.Inquiry) == count(sessions, m.Task) == BATCH
    assert count(sessions, m.Call, m.Call.outcome != "missed") == 0
    summary = reconciler(sessions, cel, tmp_path).run(now=NOW + 60)
    assert summary.stored == calls - BATCH
    assert count(sessions, m.Call) == count(sessions, m.Inquiry) == calls


def test_a_failed_write_is_read_again_on_the_next_run(sessions, cel, tmp_path):
    """Nothing is lost when the database refuses a batch: memory is dropped and the next
    run reads again from the stored position."""
    write(cel, missed("pbx-1.1", "+79161110001", NOW - 600))
    r = reconciler(sessions, cel, tmp_path)
    assert r.run(now=NOW).stored == 1
    write(cel, missed("pbx-1.2", "+79161110002", NOW - 300))
    original, failures = r.sessions, [RuntimeError("database is locked")]

    def flaky():
        session = original()
        commit = session.commit

        def failing_commit():
            if failures:
                raise failures.pop()
            commit()
        session.commit = failing_commit
        return session

    r.sessions = flaky
    with pytest.raises(RuntimeError):
        r.run(now=NOW)
    summary = r.run(now=NOW + 60)
    assert (summary.seen, summary.stored) == (1, 1)
    assert count(sessions, m.Call) == 2

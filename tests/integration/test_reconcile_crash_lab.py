"""Crash safety of reconciliation, on the real lab: a call ringing when the daemon is
killed is missed exactly once after the restart; a new database against a CEL log with
old calls imports only the horizon, with no task overdue on arrival; SIGTERM during a
long reconcile stops the daemon within 3 s with nothing half-written."""

from __future__ import annotations

import json
import random
import signal
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from pbx_daemon import db
from pbx_daemon.crm import models as m
from pbx_daemon.lab import Lab
from pbx_daemon.telephony.reconcile import load_position
from tests.integration.conftest import reconciled_to_the_end, running_daemon
from tests.integration.test_routing_lab import SALES_NUMBER, seed
from tests.unit.cel_builder import inbound

pytestmark = pytest.mark.lab


def _cel(lab: Lab):
    return lab.log_dir("pbx") / "cel-custom" / "pbx-crm.jsonl"


def _database(tmp_path, name="pbx"):
    url = f"sqlite:///{tmp_path}/{name}.sqlite3"
    db.upgrade(url)
    seed(url)
    engine = db.make_engine(url)
    return url, engine, db.make_session_factory(engine)


def _reconcile(cel, interval=1):
    return f'cel_log = "{cel}"\nreconcile_interval = {interval}\n'


def _utc(ts):
    return datetime.fromtimestamp(ts, timezone.utc)


def test_a_call_ringing_when_the_daemon_is_killed_is_missed_once_after_the_restart(lab: Lab, tmp_path):
    url, engine, sessions = _database(tmp_path)
    cel = reconciled_to_the_end(lab, url)  # this database has reconciled before
    caller = f"+790377{random.randrange(10000, 99999)}"
    lab.wait_idle()
    lab.reset_behaviour()  # the phones ring; nobody answers
    (tmp_path / "first").mkdir()
    start = time.time()
    with running_daemon(lab, tmp_path / "first", url, asterisk_extra=_reconcile(cel)) as daemon:
        lab.call(caller, SALES_NUMBER, ring_timeout=4, hold=1)
        lab.wait_for(lambda: lab.rings(start), 5,
                     "a phone to ring")
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(5)
    with sessions() as s:
        row = s.scalar(select(m.Call).where(m.Call.caller == caller))
        assert row is not None and row.outcome == "in_progress"  # what the killed daemon left

    def caller_gone():  # the caller's own channel hung up (not a phone's)
        rung = {r.unique_id for r in lab.rings(start)}
        return [e for e in lab.events(start) if e.type == "HANGUP" and e.caller_num == caller
                and e.unique_id not in rung]

    lab.wait_for(caller_gone, 10, "the caller to give up while no daemon runs")
    (tmp_path / "second").mkdir()
    with running_daemon(lab, tmp_path / "second", url, after_crash=True,
                        asterisk_extra=_reconcile(cel)):
        def completed():
            with sessions() as s:
                call = s.scalar(select(m.Call).where(m.Call.caller == caller))
                return call if call.outcome != "in_progress" else None

        call = lab.wait_for(completed, 25, "the call to be completed from CEL")
        time.sleep(2)  # two more reconcile runs: nothing changes
    with sessions() as s:
        call = s.get(m.Call, call.id)
        assert (call.outcome, call.handled_by) == ("missed", "daemon")
        assert call.ended_at is not None and call.answered_at is None
        assert all(leg.outcome != "ringing" and leg.ended_at for leg in call.legs)
        inquiries = s.scalars(select(m.Inquiry).where(m.Inquiry.phone == caller)).all()
        assert [(i.missed_count, i.id) for i in inquiries] == [(1, call.inquiry_id)]
        tasks = s.scalars(select(m.Task).where(m.Task.inquiry_id == inquiries[0].id)).all()
        assert [(t.title, t.deadline) for t in tasks] == \
            [(f"Перезвонить {caller}", call.started_at + timedelta(minutes=15))]
    engine.dispose()


def _one_call_lines(lab: Lab, tmp_path) -> tuple[list[dict], str, str]:
    """A missed call routed by the daemon, as the lab's Asterisk wrote it in CEL."""
    url, engine, sessions = _database(tmp_path, "scratch")
    caller = f"+790388{random.randrange(10000, 99999)}"
    lab.wait_idle()
    lab.reset_behaviour()
    (tmp_path / "scratch").mkdir()
    with running_daemon(lab, tmp_path / "scratch", url):
        lab.call(caller, SALES_NUMBER, ring_timeout=2, hold=1)

        def ended():
            with sessions() as s:
                call = s.scalar(select(m.Call).where(m.Call.caller == caller))
                return call.linkedid if call is not None and call.ended_at else None

        linkedid = lab.wait_for(ended, 15, "the call to end")
    engine.dispose()

    def events():
        found = []
        for line in _cel(lab).read_text(errors="replace").splitlines():
            if linkedid not in line:  # the log holds every earlier test's calls
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("linkedid") == linkedid:
                found.append(event)
        return found if any(e["eventtype"] == "LINKEDID_END" for e in found) else None

    return lab.wait_for(events, 15, "the call's LINKEDID_END"), linkedid, caller


def test_a_new_database_imports_only_the_horizon_with_no_task_overdue_on_arrival(lab: Lab, tmp_path):
    events, linkedid, caller = _one_call_lines(lab, tmp_path)
    end = max(float(e["eventtime"]) for e in events)
    now = time.time()
    ages = {"3d": 72 * 3600, "30h": 30 * 3600, "2h": 2 * 3600, "10m": 600}
    numbers = {}
    cel = tmp_path / "cel" / "pbx-crm.jsonl"
    cel.parent.mkdir()
    with open(cel, "w") as f:
        for i, (label, age) in enumerate(ages.items()):
            numbers[label] = f"{caller[:-1]}{i}"
            shift = now - age - end
            for event in events:  # the same call, that long ago, from another number
                copy = dict(event)
                copy["eventtime"] = float(event["eventtime"]) + shift
                copy["linkedid"] = f"{linkedid}-{label}"
                copy["uniqueid"] = event["uniqueid"].replace(linkedid, f"{linkedid}-{label}")
                for key in ("num", "name"):
                    if copy.get(key) == caller:
                        copy[key] = numbers[label]
                f.write(json.dumps(copy, separators=(",", ":")) + "\n")
    url, engine, sessions = _database(tmp_path, "fresh")
    (tmp_path / "fresh").mkdir()
    with running_daemon(lab, tmp_path / "fresh", url, asterisk_extra=_reconcile(cel)):
        def reconciled():
            with sessions() as s:
                saved = load_position(s)
                return saved and saved.position and saved.position.offset == cel.stat().st_size

        lab.wait_for(reconciled, 15, "the CEL log to be reconciled")
        time.sleep(1.5)
    checked = time.time()
    with sessions() as s:
        assert sorted(s.scalars(select(m.Call.caller))) == sorted([numbers["2h"], numbers["10m"]])
        assert sorted(s.scalars(select(m.Inquiry.phone))) == sorted([numbers["2h"], numbers["10m"]])
        tasks = s.scalars(select(m.Task).order_by(m.Task.id)).all()
        assert all(t.deadline > _utc(checked) - timedelta(minutes=1) for t in tasks), \
            [(t.title, t.deadline) for t in tasks]
        recent = s.scalar(select(m.Call).where(m.Call.caller == numbers["10m"]))
        assert [(t.title, t.deadline) for t in tasks if t.inquiry_id is not None] == \
            [(f"Перезвонить {numbers['10m']}", recent.started_at + timedelta(minutes=15))]
        (summary,) = [t for t in tasks if t.inquiry_id is None]
        assert summary.title == "Перезвонить: 1 пропущенный звонок, сохранены после срока перезвона"
        assert numbers["2h"] in summary.comment and summary.responsible.login == "vera"
    engine.dispose()


def test_sigterm_during_a_long_reconcile_stops_the_daemon_within_3_s(lab: Lab, tmp_path):
    cel = tmp_path / "cel" / "pbx-crm.jsonl"
    cel.parent.mkdir()
    now = time.time()
    calls = 20_000
    with open(cel, "w") as f:
        for i in range(calls):
            start, rest = inbound(f"pbx-{int(now)}.{i}", f"+7904{i:07d}", now - 600 + i * 0.02)
            f.write("".join(line + "\n" for line in start + rest))
    url, engine, sessions = _database(tmp_path)
    (tmp_path / "daemon").mkdir()
    with running_daemon(lab, tmp_path / "daemon", url,
                        asterisk_extra=_reconcile(cel, interval=60)) as daemon:
        def storing():
            with sessions() as s:
                return s.scalar(select(func.count()).select_from(m.Call)) >= 100

        lab.wait_for(storing, 20, "the reconcile to be storing calls")
        asked = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(10)
        took = time.monotonic() - asked
    assert took < 3.0, f"the daemon took {took:.1f} s to stop"
    log = (tmp_path / "daemon" / "daemon.log").read_text()
    assert "reconcile stopped early" in log
    with sessions() as s:
        stored = s.scalar(select(func.count()).select_from(m.Call))
        assert 100 <= stored < calls
        # Whole calls only: each final, with its inquiry and its call-back task.
        assert s.scalar(select(func.count()).select_from(m.Call).where(
            m.Call.outcome != "missed")) == 0
        assert s.scalar(select(func.count()).select_from(m.Call).where(
            m.Call.inquiry_id.is_(None))) == 0
        assert s.scalar(select(func.count()).select_from(m.Inquiry)) == stored
        assert s.scalar(select(func.count()).select_from(m.Task)) == stored
        assert 0 < load_position(s).position.offset < cel.stat().st_size
    engine.dispose()

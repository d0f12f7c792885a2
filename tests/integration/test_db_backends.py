"""`pbx-crm db upgrade` builds the schema from the migrations on SQLite and PostgreSQL,
and the model works the same on both.

PostgreSQL runs when PBX_CRM_TEST_POSTGRES_URL names a server (scripts/test.sh sets it
when one answers on 127.0.0.1:5432); if it is set but unreachable the test fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select

from pbx_daemon import db
from tests.postgres import throwaway_database
from pbx_daemon.crm import models as m
from pbx_daemon.crm.lookups import find_by_phone, find_duplicates


_postgres_url = throwaway_database


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path: Path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/pbx-crm.sqlite3"
    else:
        yield from _postgres_url()


def test_cli_db_upgrade_builds_the_schema_and_it_works(database_url, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PBX_CRM_")}
    env["PBX_CRM_DATABASE_URL"] = database_url
    proc = subprocess.run([sys.executable, "-m", "pbx_daemon.cli", "db", "upgrade"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "revision 0018" in proc.stdout
    assert db.current_revision(database_url) == "0018"

    engine = db.make_engine(database_url)
    tables = set(inspect(engine).get_table_names())
    assert {"employees", "departments", "calls", "call_legs", "inquiries", "tasks",
            "tracking_numbers", "blocklist", "call_list_entries", "kb_articles"} <= tables
    indexed = {tuple(i["column_names"]) for i in inspect(engine).get_indexes("contact_phones")}
    assert ("phone",) in indexed

    with db.make_session_factory(engine)() as s:
        assert s.query(m.InquiryClass).count() == 8
        sales = m.Department(name="Продажи", fallback_ring_group="101,102")
        s.add(sales)
        s.flush()
        owner = m.Employee(full_name="Анна Смирнова", login="anna", sip_endpoint="101",
                           department_id=sales.id)
        s.add(owner)
        s.flush()
        client = m.Company(name="ООО Ромашка", responsible_id=owner.id,
                           phones=[m.CompanyPhone(phone="+74951234567")])
        s.add(client)
        s.add(m.Contact(full_name="Пётр Петров", company=client,
                        phones=[m.ContactPhone(phone="+79161234567"),
                                m.ContactPhone(phone="+79167654321", kind="work")],
                        emails=[m.ContactEmail(email="petr@romashka.ru")]))
        s.add(m.Call(linkedid="pbx-1.1", direction="inbound", caller="+79161234567",
                     started_at=datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)))
        s.commit()

        match = find_by_phone(s, "+79167654321")
        assert [(x.kind, x.company_id) for x in match] == [("contact", client.id)]
        assert [x.kind for x in find_duplicates(s, email="PETR@romashka.ru")] == ["contact"]
        call = s.scalar(select(m.Call).where(m.Call.linkedid == "pbx-1.1"))
        assert call.started_at.replace(tzinfo=timezone.utc).hour == 9
    engine.dispose()

    db.downgrade(database_url, "base")
    engine = db.make_engine(database_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    db.upgrade(database_url)  # and back up again: the migration is repeatable
    assert db.current_revision(database_url) == "0018"


def test_migration_matches_the_models(tmp_path: Path):
    """Alembic autogenerate finds nothing to add: the migration is the model."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    url = f"sqlite:///{tmp_path}/cmp.sqlite3"
    db.upgrade(url)
    engine = db.make_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), m.Base.metadata)
    engine.dispose()
    assert diff == []


def test_the_analytics_rollup_follows_changes_and_two_rebuilders_do_not_double_count(database_url):
    """The dirty-slot upsert and the per-day row lock, on each backend: a classification
    after the day was built reaches the figures, and rebuilding one day from two
    connections at once leaves one set of rows."""
    import threading
    from datetime import date, timedelta

    from pbx_daemon.crm.stats import analytics
    from pbx_daemon.crm.stats import rollup as call_stats

    db.upgrade(database_url)
    engine = db.make_engine(database_url)
    sessions = db.make_session_factory(engine)
    tz, day = "Europe/Moscow", date(2026, 11, 20)
    at = datetime(2026, 11, 20, 7, 0, tzinfo=timezone.utc)
    try:
        with sessions() as s:
            s.add_all(m.Call(linkedid=f"c{i}", direction="inbound", caller=f"+7916000000{i}",
                             outcome="missed" if i < 3 else "answered", started_at=at + timedelta(minutes=i))
                      for i in range(10))
            s.commit()
            assert [(d.inbound, d.missed) for d in analytics.lost_call_rate(s, day, day, tz)] == [(10, 3)]
            spam = s.scalar(select(m.InquiryClass.id).where(m.InquiryClass.code == "spam"))
            inquiry = m.Inquiry(channel="call", phone="+79160000000", status="open", first_seen_at=at,
                                last_seen_at=at)
            s.add(inquiry)
            s.flush()
            s.scalar(select(m.Call).where(m.Call.linkedid == "c0")).inquiry_id = inquiry.id
            s.commit()
            inquiry.class_id = spam
            s.commit()
            assert call_stats.stale_days(s, day, day, tz) == [day]
        barrier = threading.Barrier(2)
        errors = []

        def rebuild():
            try:
                with sessions() as s:
                    barrier.wait()
                    call_stats.refresh_day(s, day, tz, datetime.now(timezone.utc))
                    s.commit()
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=rebuild) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        with sessions() as s:
            assert [(d.inbound, d.missed) for d in analytics.lost_call_rate(s, day, day, tz)] == [(9, 2)]
            assert s.scalar(select(func.sum(m.CallStat.calls)).where(m.CallStat.kind == "inbound")) == 10
    finally:
        engine.dispose()


def test_a_rebuild_during_an_uncommitted_change_waits_for_it(database_url):
    """A call changes while its day is being rebuilt: the rebuild must not read the old
    call, drop the dirty mark and leave the day silently stale."""
    import threading
    from datetime import date

    from pbx_daemon.crm.stats import analytics
    from pbx_daemon.crm.stats import rollup as call_stats

    db.upgrade(database_url)
    engine = db.make_engine(database_url)
    sessions = db.make_session_factory(engine)
    tz, day = "Europe/Moscow", date(2026, 11, 20)
    at = datetime(2026, 11, 20, 7, 0, tzinfo=timezone.utc)
    try:
        with sessions() as s:
            s.add(m.Call(linkedid="c0", direction="inbound", caller="+79160000000", outcome="missed",
                         started_at=at))
            s.commit()
            assert [d.missed for d in analytics.lost_call_rate(s, day, day, tz)] == [1]
            s.scalar(select(m.Call)).talk_seconds = 5  # a committed change: the slot is dirty
            s.commit()
        writer = sessions()
        call = writer.scalar(select(m.Call))
        call.outcome, call.answered_at = "answered", at  # the change, flushed, not committed
        writer.flush()
        done = threading.Event()

        def rebuild():
            with sessions() as s:
                call_stats.refresh_day(s, day, tz, datetime.now(timezone.utc))
                s.commit()
            done.set()

        thread = threading.Thread(target=rebuild)
        thread.start()
        assert not done.wait(1.0), "the rebuild went ahead of an uncommitted change to its day"
        writer.commit()
        writer.close()
        thread.join(30)
        assert done.is_set()
        with sessions() as s:
            assert [d.missed for d in analytics.lost_call_rate(s, day, day, tz)] == [0]
    finally:
        engine.dispose()


def test_a_call_list_import_stores_the_same_entries_on_both_backends(database_url):
    """PostgreSQL imports with COPY, SQLite with INSERTs: the same rows, byte for byte,
    tabs, backslashes, quotes, line breaks and empty cells included."""
    from pbx_daemon.crm.importer import import_call_list

    db.upgrade(database_url)
    engine = db.make_engine(database_url)
    text_file = ('Компания;ФИО;Телефон;E-mail\n'
                 '"ООО ""Кавычки""\tи таб";Иванов \\ Иван;8 (916) 111-22-33, доб. 12;\n'
                 '"Две\nстроки";;+7 916 111-22-34;A@B.RU\n'
                 ';Пётр;нет;\n')
    try:
        with db.make_session_factory(engine)() as s:
            report = import_call_list(s, "list.csv", data=text_file.encode("cp1251"), list_name="L")
            assert (report.added, report.summary()) == (2, "3 строки: 2 добавлено, 1 нет верного номера телефона")
        with db.make_session_factory(engine)() as s:
            entries = s.scalars(select(m.CallListEntry).order_by(m.CallListEntry.position)).all()
            assert [(e.company_name, e.contact_name, e.phone, e.phone_ext, e.email, e.status, e.position)
                    for e in entries] == [
                ('ООО "Кавычки"\tи таб', "Иванов \\ Иван", "+79161112233", "12", None, "pending", 1),
                ("Две\nстроки", None, "+79161112234", "", "a@b.ru", "pending", 2)]
            # Rows are read without their trailing empty cells (pbx_daemon/crm/tables.py).
            assert entries[0].raw == {"0": 'ООО "Кавычки"\tи таб', "1": "Иванов \\ Иван",
                                      "2": "8 (916) 111-22-33, доб. 12"}
            assert entries[0].created_at is not None
            again = import_call_list(s, "list.csv", data=text_file.encode("cp1251"), list_name="L")
            assert again.added == 0
    finally:
        engine.dispose()


def test_an_answered_new_number_leaves_one_inquiry_on_both_backends(database_url):
    """The new-number rule on migrated schemas: one unclear inquiry for the employee who
    answered, repeat calls and a replay merge (stored times read back aware), a later miss
    gets its call-back task."""
    from datetime import timedelta

    from pbx_daemon.crm.inquiries.apply import apply_answered, apply_missed, missed_call_facts

    db.upgrade(database_url)
    engine = db.make_engine(database_url)
    at = datetime(2026, 11, 20, 7, 5, tzinfo=timezone.utc)
    try:
        with db.make_session_factory(engine)() as s:
            anna = m.Employee(full_name="Anna", login="anna")
            s.add(anna)
            s.commit()
            for n in range(2):
                call = m.Call(linkedid=f"a{n}", direction="inbound", caller="+79165550001",
                              started_at=at + timedelta(hours=n), outcome="answered",
                              answered_by_id=anna.id)
                s.add(call)
                s.flush()
                apply_answered(s, call, call.started_at)
                s.commit()
        with db.make_session_factory(engine)() as s:
            first = s.scalar(select(m.Call).where(m.Call.linkedid == "a0"))
            apply_answered(s, first, first.started_at)  # replayed, with times read back
            missed = m.Call(linkedid="m1", direction="inbound", caller="+79165550001",
                            started_at=at + timedelta(hours=2), outcome="missed")
            s.add(missed)
            s.flush()
            apply_missed(s, missed, missed_call_facts(
                s, missed, blocked=False, is_staff=False, owner_id=anna.id, source_id=None,
                tracking_number_id=None, at=missed.started_at), 15)
            s.commit()
        with db.make_session_factory(engine)() as s:
            inquiry = s.scalar(select(m.Inquiry))
            assert s.scalar(select(func.count(m.Inquiry.id))) == 1
            assert (inquiry.inquiry_class.code, inquiry.responsible_id, inquiry.missed_count,
                    inquiry.last_seen_at) == ("unclear", anna.id, 1, at + timedelta(hours=2))
            assert set(s.scalars(select(m.Call.inquiry_id))) == {inquiry.id}
            assert [(t.responsible_id, t.status) for t in s.scalars(select(m.Task))] == [
                (anna.id, "open")]
    finally:
        engine.dispose()

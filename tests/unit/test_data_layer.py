"""The data layer: the UtcDateTime column type, one set of engine settings for the daemon
and the admin, the rollup's dirty marker on each session factory (daemon, admin, CLI), and
the single homes of the E.164 pattern and the card match order."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from pbx_daemon import db
from pbx_daemon.config import load_config, validate
from pbx_daemon.crm import models as m
from pbx_daemon.crm.lookups import cards_by_phone
from pbx_daemon.crm.phones import is_e164
from pbx_daemon.crm.stats.rollup import mark_dirty_slots, stat_slot
from pbx_daemon.crm.types import UtcDateTime
from pbx_daemon.telephony.routing.directory import lookup_caller
from tests.unit.helpers import memory_session

UTC = timezone.utc
MSK = timezone(timedelta(hours=3))
AT = datetime(2026, 11, 20, 7, 10, tzinfo=UTC)  # 10:10 in Moscow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def engine(tmp_path):
    """A SQLite file with the schema, through the daemon's engine factory."""
    engine = db.make_engine(f"sqlite:///{tmp_path}/pbx.sqlite3")
    m.Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


def _store(engine, started_at, linkedid="c1"):
    with db.make_session_factory(engine)() as s:
        s.add(m.Call(linkedid=linkedid, direction="inbound", outcome="answered", started_at=started_at))
        s.commit()


def _read(engine, linkedid="c1"):
    with db.make_session_factory(engine)() as s:
        return s.scalar(select(m.Call.started_at).where(m.Call.linkedid == linkedid))


def _stored_text(engine, linkedid="c1") -> str:
    """The column's text as SQLite keeps it (no type processing on a text() query)."""
    with engine.connect() as conn:
        return conn.execute(text("SELECT started_at FROM calls WHERE linkedid = :l"), {"l": linkedid}).scalar()


def _dirty_slots(session) -> list[datetime]:
    return session.scalars(select(m.CallStatDirty.slot).order_by(m.CallStatDirty.slot)).all()


# ---- UtcDateTime ---------------------------------------------------------------------------
def test_an_aware_utc_time_comes_back_aware_utc_from_sqlite(engine):
    _store(engine, AT)
    back = _read(engine)
    assert back == AT and back.tzinfo is UTC


def test_a_plus_three_hours_time_is_stored_as_the_same_instant_in_utc(engine):
    _store(engine, datetime(2026, 11, 20, 10, 10, tzinfo=MSK))
    assert _stored_text(engine).startswith("2026-11-20 07:10:00")
    back = _read(engine)
    assert (back, back.tzinfo) == (AT, UTC)


def test_a_naive_time_is_taken_as_utc(engine):
    """Flask-Admin forms hand naive datetimes in; the column reads them as UTC."""
    _store(engine, datetime(2026, 11, 20, 7, 10))
    assert _stored_text(engine).startswith("2026-11-20 07:10:00")
    assert _read(engine) == AT


def test_values_compared_in_sql_are_converted_to_utc_too(engine):
    _store(engine, AT)
    with db.make_session_factory(engine)() as s:
        assert s.scalar(select(m.Call.linkedid).where(
            m.Call.started_at == datetime(2026, 11, 20, 10, 10, tzinfo=MSK))) == "c1"
        assert s.scalar(select(func.min(m.Call.started_at))).tzinfo is UTC


def test_the_column_keeps_its_ddl_and_still_looks_like_a_datetime_to_flask_admin():
    """Flask-Admin picks form fields and list filters by the type's class name; SQLite and
    PostgreSQL use UtcDateTime as the column's variant, with DateTime(timezone=True)'s DDL."""
    column_type = m.Task.__table__.c.deadline.type
    assert type(column_type).__name__ == "DateTime"
    assert all(isinstance(column_type._variant_mapping[name], UtcDateTime) for name in ("sqlite", "postgresql"))
    assert column_type.compile(dialect=sqlite.dialect()) == "DATETIME"
    assert column_type.compile(dialect=postgresql.dialect()) == "TIMESTAMP WITH TIME ZONE"


def test_stat_slot_gives_the_utc_quarter_hour_of_aware_and_naive_values():
    slot = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
    assert stat_slot(datetime(2026, 11, 20, 10, 14, 59, tzinfo=MSK)) == slot
    assert stat_slot(datetime(2026, 11, 20, 7, 14)) == slot


# ---- one set of engine settings -----------------------------------------------------------
def test_engine_options_per_backend():
    assert db.engine_options("sqlite:////var/lib/pbx-crm/pbx.sqlite3") == {"connect_args": {"timeout": 15}}
    assert db.engine_options("postgresql+psycopg2://pbx@db/pbx") == {"pool_pre_ping": True}


def _pragmas(connection) -> tuple:
    return tuple(connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                 for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous"))


def test_the_daemons_sqlite_engine_has_wal_foreign_keys_and_a_15_s_busy_timeout(engine):
    """sqlite3's ``timeout=15`` is SQLite's busy timeout, in milliseconds; synchronous 1 is NORMAL."""
    with engine.connect() as conn:
        assert _pragmas(conn) == ("wal", 1, 15000, 1)


def test_the_agi_fallbacks_readonly_engine_only_reads(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path}/pbx.sqlite3", readonly=True)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA query_only").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 15000
    finally:
        engine.dispose()


def _admin_app(url):
    from admin.app import create_app

    return create_app(load_config(None, {"PBX_CRM_DATABASE_URL": url, "PBX_CRM_ADMIN_SECRET_KEY": "s" * 40}))


def test_the_admins_sqlite_engine_has_the_daemons_settings(tmp_path):
    app = _admin_app(f"sqlite:///{tmp_path}/admin.sqlite3")
    with app.app_context():
        with app.extensions["sqlalchemy"].engine.connect() as conn:
            assert _pragmas(conn) == ("wal", 1, 15000, 1)


# ---- the rollup's dirty marker on each session factory --------------------------------------
def _has_marker(session_factory) -> bool:
    # event.contains alone is not proof: it answers by the id() of the sessionmaker's class,
    # which a garbage-collected earlier sessionmaker may have had. The session's own listener
    # list is.
    return (event.contains(session_factory, "after_flush", mark_dirty_slots)
            and mark_dirty_slots in list(session_factory().dispatch.after_flush))


def test_the_daemons_session_factory_marks_the_slot_of_a_written_call(engine):
    sessions = db.make_session_factory(engine)
    assert _has_marker(sessions)
    with sessions() as s:
        s.add(m.Call(linkedid="c1", direction="inbound", outcome="answered", started_at=AT))
        s.commit()
        assert _dirty_slots(s) == [datetime(2026, 11, 20, 7, 0, tzinfo=UTC)]


def test_the_admins_session_marks_the_slot_of_a_written_call(tmp_path):
    app = _admin_app(f"sqlite:///{tmp_path}/admin.sqlite3")
    with app.app_context():
        sqla = app.extensions["sqlalchemy"]
        m.Base.metadata.create_all(sqla.engine)
        assert _has_marker(sqla.sessionmaker)
        sqla.session.add(m.Call(linkedid="c1", direction="inbound", outcome="answered",
                                started_at=datetime(2026, 11, 20, 7, 10)))  # naive, as a form gives it
        sqla.session.commit()
        assert _dirty_slots(sqla.session) == [datetime(2026, 11, 20, 7, 0, tzinfo=UTC)]


def test_the_cli_marks_dirty_slots_and_reads_stored_times_back_aware(engine, tmp_path, monkeypatch):
    """``pbx-crm reconcile`` finishes a call the daemon handed to the fallback group: it reads
    the stored start back (aware, no hand fix), and its session marks the call's slot."""
    from pbx_daemon import cli

    with db.make_session_factory(engine)() as s:
        s.add(m.Call(linkedid="1700000000.1", direction="inbound", outcome="in_progress",
                     handled_by="fallback_group", started_at=AT))
        s.commit()
        s.execute(m.CallStatDirty.__table__.delete())
        s.commit()
    start = AT.timestamp()
    cel = tmp_path / "cel.jsonl"
    # Every line ends in a newline, as Asterisk writes them (a last line without one may
    # still be being written: the reader leaves it for the next run).
    cel.write_text("".join(json.dumps(e) + "\n" for e in (
        {"eventtype": "CHAN_START", "eventtime": start, "linkedid": "1700000000.1",
         "uniqueid": "1700000000.1", "channame": "PJSIP/pbxcrm-trunk-00000001", "num": "+79161234567",
         "exten": "+74950000000"},
        {"eventtype": "LINKEDID_END", "eventtime": start + 90, "linkedid": "1700000000.1",
         "uniqueid": "1700000000.1", "channame": "PJSIP/pbxcrm-trunk-00000001"},
    )))
    monkeypatch.setenv("PBX_CRM_DATABASE_URL", str(engine.url))
    assert cli.main(["reconcile", "--cel-log", str(cel)]) == 0
    with db.make_session_factory(engine)() as s:
        call = s.scalar(select(m.Call))
        assert (call.outcome, call.duration_seconds) == ("missed", 90)
        assert _dirty_slots(s) == [datetime(2026, 11, 20, 7, 0, tzinfo=UTC)]


def test_a_session_made_without_a_factory_marks_nothing(engine):
    """No global listener: the marker is where a factory put it, and only there."""
    with Session(engine) as s:
        s.add(m.Call(linkedid="c1", direction="inbound", outcome="answered", started_at=AT))
        s.commit()
        assert _dirty_slots(s) == []


# ---- one home each ------------------------------------------------------------------------
def test_a_trailing_line_break_is_not_e164_anywhere():
    assert not is_e164("+79161234567\n")
    with pytest.raises(ValueError, match="not an E.164 number"):
        m.Lead(title="x", phone="+79161234567\n")
    config = load_config(None, {"PBX_CRM_GENERAL_COMPANY_CALLER_ID": "+74951234567\n"})
    assert "general.company_caller_id" in {p.key for p in validate(config)}


def test_a_number_on_several_cards_is_the_contacts_then_the_companys_then_a_leads():
    with memory_session() as s:
        number = "+79161234567"
        company = m.Company(name="Romashka", phones=[m.CompanyPhone(phone=number)])
        s.add(company)
        s.flush()
        s.add_all([m.Inquiry(channel="call", phone=number, name="Caller"),
                   m.Lead(title="Lead", phone=number),
                   m.Contact(full_name="Ivan", company_id=company.id, phones=[m.ContactPhone(phone=number)])])
        s.flush()
        assert [c.kind for c in cards_by_phone(s, number)] == ["contact", "company", "lead", "inquiry"]
        caller = lookup_caller(s, number, None, AT)
        assert (caller.card[0], caller.crm_name) == ("contact", "Ivan / Romashka")


def test_the_crm_package_imports_no_twisted_flask_or_telephony():
    code = (
        "import importlib, pkgutil, sys\n"
        "import pbx_daemon.crm as crm\n"
        "for info in pkgutil.walk_packages(crm.__path__, 'pbx_daemon.crm.'):\n"
        "    importlib.import_module(info.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('twisted', 'flask')\n"
        "             or n.startswith('pbx_daemon.telephony'))\n"
        "print(' '.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""

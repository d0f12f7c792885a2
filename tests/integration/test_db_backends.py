"""`pbx-crm db upgrade` builds the schema from the migrations on SQLite and PostgreSQL,
and the model works the same on both.

PostgreSQL runs when PBX_CRM_TEST_POSTGRES_URL names a server (scripts/test.sh sets it
when one answers on 127.0.0.1:5432); if it is set but unreachable the test fails.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import make_url

from pbx_daemon import db
from pbx_daemon import models as m
from pbx_daemon.lookups import find_by_phone, find_duplicates


def _postgres_url():
    url = os.environ.get("PBX_CRM_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("PBX_CRM_TEST_POSTGRES_URL is not set and no PostgreSQL answered")
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    name = f"pbxcrm_test_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


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
    assert "revision 0002" in proc.stdout
    assert db.current_revision(database_url) == "0002"

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
    assert db.current_revision(database_url) == "0002"


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

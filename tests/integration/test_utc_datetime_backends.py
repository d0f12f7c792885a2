"""UtcDateTime on a migrated schema, SQLite and PostgreSQL: aware UTC out whatever the
server's session time zone, and the migrations' column types match the models'.

Needs no Asterisk lab; PostgreSQL runs as in test_db_backends (PBX_CRM_TEST_POSTGRES_URL).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from pbx_daemon import db
from pbx_daemon.crm import models as m
from tests.integration.test_db_backends import database_url  # noqa: F401 - the fixture

UTC = timezone.utc
AT = datetime(2026, 11, 20, 7, 10, tzinfo=UTC)


def test_times_come_back_aware_utc_on_both_backends(database_url):  # noqa: F811
    db.upgrade(database_url)
    kwargs = {}
    if database_url.startswith("postgresql"):
        # A server session in another zone: timestamptz comes back in it unless converted.
        kwargs["connect_args"] = {"options": "-c timezone=Asia/Vladivostok"}
    engine = db.make_engine(database_url, **kwargs)
    try:
        with db.make_session_factory(engine)() as s:
            s.add_all([
                m.Call(linkedid="utc", direction="inbound", outcome="answered", started_at=AT),
                m.Call(linkedid="msk", direction="inbound", outcome="answered",
                       started_at=AT.astimezone(timezone(timedelta(hours=3)))),
                m.Call(linkedid="naive", direction="inbound", outcome="answered",
                       started_at=AT.replace(tzinfo=None)),
            ])
            s.commit()
        with db.make_session_factory(engine)() as s:
            rows = s.execute(select(m.Call.linkedid, m.Call.started_at)).all()
            assert {(linkedid, at, at.tzinfo) for linkedid, at in rows} == {
                (linkedid, AT, UTC) for linkedid in ("utc", "msk", "naive")}
            assert s.scalar(select(m.CallStatDirty.slot)) == datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
    finally:
        engine.dispose()


def test_the_migrations_column_types_match_the_models(database_url):  # noqa: F811
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    db.upgrade(database_url)
    engine = db.make_engine(database_url)
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                     m.Base.metadata)
    finally:
        engine.dispose()
    # compare_metadata nests column changes in lists; a type change is "modify_type".
    changed_types = [d for d in diffs if isinstance(d, list) and any(c[0] == "modify_type" for c in d)]
    assert changed_types == []

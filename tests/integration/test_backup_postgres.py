"""pbx-crm backup / restore across database kinds (a real PostgreSQL server): SQLite ->
PostgreSQL -> SQLite gives the same rows, and PostgreSQL's id sequences continue after the
restored ids. The rest of backup / restore is in tests/unit/test_backup.py."""

from __future__ import annotations

import pytest

from pbx_daemon import db
from pbx_daemon.crm import models as m
from tests.postgres import throwaway_database
from tests.unit.test_backup import T0, env, run, snapshot, source, sqlite_url, use  # noqa: F401 - fixtures

@pytest.fixture
def postgres_url():
    yield from throwaway_database()


def test_sqlite_to_postgresql_and_back(postgres_url, source, env, tmp_path, capsys):  # noqa: F811
    assert run(capsys, "backup", str(tmp_path / "bk"))[0] == 0
    use(env, postgres_url, tmp_path / "pg-store")
    code, out, err = run(capsys, "restore", str(tmp_path / "bk"))
    assert (code, err) == (0, ""), err
    assert snapshot(postgres_url) == snapshot(source)

    # The sequences continue after the restored ids.
    engine = db.make_engine(postgres_url)
    with db.make_session_factory(engine)() as s:
        s.add(m.Department(name="New"))
        s.add(m.Call(linkedid="new.1", direction="inbound", started_at=T0))
        s.commit()
    engine.dispose()

    assert run(capsys, "backup", str(tmp_path / "bk-pg"))[0] == 0
    back = sqlite_url(tmp_path / "back.sqlite3")
    use(env, back, tmp_path / "back-store")
    code, _, err = run(capsys, "restore", str(tmp_path / "bk-pg"))
    assert (code, err) == (0, "")
    assert snapshot(back) == snapshot(postgres_url)
    assert len(snapshot(back)["calls"]) == 6



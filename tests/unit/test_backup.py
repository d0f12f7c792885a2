"""`pbx-crm backup DIR` / `pbx-crm restore DIR`: a populated database and its recordings go
into a directory and come back the same, on SQLite and (PBX_CRM_TEST_POSTGRES_URL) on
PostgreSQL; damaged, mismatched or unsafe restores are refused and change nothing."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select

from pbx_daemon import db
from pbx_daemon.backup import decoder_for, encode_value
from pbx_daemon.cli import main
from pbx_daemon.crm import models as m

T0 = datetime(2026, 11, 30, 9, 15, 30, 123456, tzinfo=timezone.utc)

# The newest schema revision: backups are taken at it.
HEAD = sorted(p.name[:4] for p in (Path(db.__file__).parent / "migrations" / "versions").glob("0*.py"))[-1]


@pytest.fixture
def env(monkeypatch, tmp_path: Path):
    """No PBX_CRM_* from the caller's shell; the store and spool in tmp_path."""
    for key in list(os.environ):
        if key.startswith("PBX_CRM_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("PBX_CRM_RECORDINGS_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("PBX_CRM_ASTERISK_RECORDING_DIR", str(tmp_path / "spool"))
    return monkeypatch


def use(env, url: str, store: Path | None = None) -> None:
    env.setenv("PBX_CRM_DATABASE_URL", url)
    if store is not None:
        env.setenv("PBX_CRM_RECORDINGS_DIR", str(store))


def populate(url: str, store: Path, spool: Path, *, calls: int = 5) -> None:
    """A migrated database with a bit of everything: the departments / employees cycle, a
    parent department with a higher id than its child, money, dates, JSON, recordings."""
    db.upgrade(url)
    store.mkdir(parents=True, exist_ok=True)
    spool.mkdir(parents=True, exist_ok=True)
    engine = db.make_engine(url)
    with db.make_session_factory(engine)() as s:
        child = m.Department(name="Продажи", fallback_ring_group="101,102")
        s.add(child)
        s.flush()
        parent = m.Department(name="Head office")
        s.add(parent)
        s.flush()
        child.parent_id = parent.id
        anna = m.Employee(full_name="Анна Смирнова", login="anna", role="head",
                          sip_endpoint="101", department_id=child.id)
        s.add(anna)
        s.flush()
        child.head_id = anna.id
        company = m.Company(name="ООО Ромашка", responsible_id=anna.id,
                            phones=[m.CompanyPhone(phone="+74951234567")])
        s.add(company)
        contact = m.Contact(full_name="Пётр", company=company,
                            phones=[m.ContactPhone(phone="+79161234567")])
        s.add(contact)
        s.flush()
        inquiry = m.Inquiry(channel="call", phone="+79161234567", department_id=child.id)
        s.add(inquiry)
        s.flush()
        s.add(m.Lead(title="lead", inquiry_id=inquiry.id, phone="+79161234567"))
        stage = s.scalars(select(m.DealStage)).first()
        s.add(m.Deal(title="Поставка", company_id=company.id, stage_id=stage.id,
                     amount=Decimal("123456.78"), closed_at=T0))
        s.add(m.CallScript(name="script", body={"steps": ["привет", {"ask": 1}]}))
        calls_list = m.CallList(name="cold", operators=[anna])
        calls_list.entries = [m.CallListEntry(phone="+79160000001", raw={"Телефон": "8916"},
                                              answers={"q": [1, 2]})]
        s.add(calls_list)
        s.add(m.CallStatDay(day=date(2026, 11, 29), tz="Europe/Moscow", refreshed_at=T0))
        s.add(m.CallStat(day=date(2026, 11, 29), kind="in", outcome="answered", calls=3))
        s.flush()
        for i in range(calls):
            call = m.Call(linkedid=f"1732345678.{i}", direction="inbound", caller="+79161234567",
                          started_at=T0 + timedelta(minutes=i), ended_at=T0 + timedelta(minutes=i, seconds=40),
                          outcome="answered", employee_id=anna.id, company_id=company.id)
            s.add(call)
            s.flush()
            if i % 2 == 0:
                name = f"{call.linkedid}.wav"
                (store / name).write_bytes(b"RIFF" + bytes([i]) * (1000 + i))
                s.add(m.Recording(call_id=call.id, path=name, size_bytes=1004 + i,
                                  duration_seconds=1.25 * i))
        s.commit()
    engine.dispose()
    (store / "sub").mkdir(exist_ok=True)
    (store / "sub" / "loose.gsm").write_bytes(b"loose file")
    (store / "half.wav.part").write_bytes(b"a move under way")
    (spool / "1732345678.99.wav").write_bytes(b"not yet moved")


def snapshot(url: str) -> dict[str, list]:
    """Every table's rows, values as the backup writes them, in primary-key order."""
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            out = {}
            for table in m.Base.metadata.sorted_tables:
                order = list(table.primary_key.columns) or list(table.columns)
                out[table.name] = [[encode_value(v) for v in row] for row in
                                   conn.execute(select(table).order_by(*order))]
            return out
    finally:
        engine.dispose()


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture
def source(env, tmp_path: Path) -> str:
    url = sqlite_url(tmp_path / "src" / "pbx.sqlite3")
    populate(url, tmp_path / "store", tmp_path / "spool")
    use(env, url)
    return url


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_values_round_trip_by_column_type():
    from sqlalchemy import JSON, Date, LargeBinary, Numeric, String

    cases = [(m.Call.__table__.c.started_at.type, T0), (Date(), date(2026, 1, 2)),
             (Numeric(14, 2), Decimal("0.10")), (LargeBinary(), b"\x00\xff"),
             (JSON(), {"a": "2026-01-02"}), (String(), "2026-01-02"), (Numeric(14, 2), None)]
    for column_type, value in cases:
        encoded = json.loads(json.dumps(encode_value(value)))
        assert decoder_for(column_type)(encoded) == value


def test_sqlite_round_trip_with_recordings(source, env, tmp_path, capsys):
    """Backup, then restore into a new database (migrated by the restore) and a new store."""
    code, out, err = run(capsys, "backup", str(tmp_path / "bk"))
    assert (code, err) == (0, "")
    assert out.startswith(f"backup: {len(m.Base.metadata.tables)} tables, ")
    assert " 5 recordings, " in out and f"schema {HEAD}" in out
    bk = tmp_path / "bk"
    manifest = json.loads((bk / "manifest.json").read_text())
    assert manifest["alembic_revision"] == HEAD and manifest["complete"]
    assert manifest["row_counts"]["calls"] == 5 and manifest["row_counts"]["recordings"] == 3
    assert sorted(r["file"] for r in manifest["recordings"]) == [
        "recordings/1732345678.0.wav", "recordings/1732345678.2.wav",
        "recordings/1732345678.4.wav", "recordings/sub/loose.gsm", "spool/1732345678.99.wav"]
    assert not (tmp_path / "bk.partial").exists()

    target = sqlite_url(tmp_path / "new" / "pbx.sqlite3")
    use(env, target, tmp_path / "new-store")
    env.setenv("PBX_CRM_ASTERISK_RECORDING_DIR", str(tmp_path / "new-spool"))
    code, out, err = run(capsys, "restore", str(bk))
    assert (code, err) == (0, "")
    assert out.startswith(f"restore: {len(m.Base.metadata.tables)} tables, ") and " 5 recordings, " in out
    assert snapshot(target) == snapshot(source)
    assert db.current_revision(target) == HEAD
    for rel in ("1732345678.0.wav", "1732345678.4.wav", "sub/loose.gsm"):
        assert (tmp_path / "new-store" / rel).read_bytes() == (tmp_path / "store" / rel).read_bytes()
    assert (tmp_path / "new-spool" / "1732345678.99.wav").read_bytes() == b"not yet moved"
    assert not (tmp_path / "new-store" / "half.wav.part").exists()


def test_backup_refuses_a_directory_that_is_not_empty(source, tmp_path, capsys):
    (tmp_path / "bk").mkdir()
    (tmp_path / "bk" / "x").write_text("mine")
    code, out, err = run(capsys, "backup", str(tmp_path / "bk"))
    assert code == 2 and out == ""
    assert err == f"pbx-crm: backup: {tmp_path / 'bk'} exists and is not an empty directory; " \
                  "back up into a new directory\n"
    assert os.listdir(tmp_path / "bk") == ["x"] and not (tmp_path / "bk.partial").exists()


def test_an_empty_directory_is_fine_and_a_stale_partial_is_replaced(source, tmp_path, capsys):
    (tmp_path / "bk").mkdir()
    (tmp_path / "bk.partial").mkdir()
    (tmp_path / "bk.partial" / ".pbx-crm-partial").write_text("")
    (tmp_path / "bk.partial" / "junk").write_text("")
    assert run(capsys, "backup", str(tmp_path / "bk"))[0] == 0
    assert not (tmp_path / "bk.partial").exists() and not (tmp_path / "bk" / "junk").exists()


def test_an_incomplete_backup_is_not_restorable(source, env, tmp_path, capsys):
    (tmp_path / "bk.partial" / "tables").mkdir(parents=True)
    use(env, sqlite_url(tmp_path / "new.sqlite3"))
    code, _, err = run(capsys, "restore", str(tmp_path / "bk.partial"))
    assert code == 2 and "is not a pbx-crm backup (no manifest.json" in err
    assert len(err.splitlines()) == 1


def test_a_damaged_file_is_refused_before_anything_changes(source, env, tmp_path, capsys):
    assert run(capsys, "backup", str(tmp_path / "bk"))[0] == 0
    damaged = tmp_path / "bk" / "tables" / "calls.jsonl.gz"
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    target = tmp_path / "new" / "pbx.sqlite3"
    use(env, sqlite_url(target), tmp_path / "new-store")
    code, out, err = run(capsys, "restore", str(tmp_path / "bk"))
    assert (code, out) == (2, "")
    assert err == "pbx-crm: restore: tables/calls.jsonl.gz does not match its checksum in the " \
                  "manifest: the backup is damaged\n"
    assert not inspect(create_engine(sqlite_url(target))).get_table_names()
    assert not (tmp_path / "new-store").exists()


def test_a_backup_from_a_newer_schema_is_refused(source, env, tmp_path, capsys):
    assert run(capsys, "backup", str(tmp_path / "bk"))[0] == 0
    path = tmp_path / "bk" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["alembic_revision"] = "0999"
    path.write_text(json.dumps(manifest))
    use(env, sqlite_url(tmp_path / "new.sqlite3"))
    code, _, err = run(capsys, "restore", str(tmp_path / "bk"))
    assert code == 2
    assert err == "pbx-crm: restore: the backup is at schema revision 0999, which this pbx-crm " \
                  f"does not know (its newest is {HEAD}): upgrade pbx-crm first\n"


def test_a_database_with_data_needs_force_and_force_replaces_it(source, env, tmp_path, capsys):
    assert run(capsys, "backup", str(tmp_path / "bk"))[0] == 0
    other = sqlite_url(tmp_path / "other.sqlite3")
    populate(other, tmp_path / "other-store", tmp_path / "other-spool", calls=2)
    use(env, other, tmp_path / "other-store")
    before = snapshot(other)
    code, _, err = run(capsys, "restore", str(tmp_path / "bk"))
    assert code == 2
    assert err.startswith("pbx-crm: restore: the database already holds data (")
    assert err.endswith("); pass --force to replace it\n")
    assert snapshot(other) == before

    # The store already holds 1732345678.0.wav with other bytes: never overwritten.
    (tmp_path / "other-store" / "1732345678.0.wav").write_bytes(b"another call")
    code, _, err = run(capsys, "restore", "--force", str(tmp_path / "bk"))
    assert code == 2 and "1732345678.0.wav exists and differs from the backup's copy" in err
    assert snapshot(other) == before

    (tmp_path / "other-store" / "1732345678.0.wav").unlink()
    code, out, err = run(capsys, "restore", "--force", str(tmp_path / "bk"))
    assert (code, err) == (0, "")
    assert snapshot(other) == snapshot(source)


def test_identical_recordings_in_place_are_kept(source, env, tmp_path, capsys):
    assert run(capsys, "backup", str(tmp_path / "bk"))[0] == 0
    use(env, sqlite_url(tmp_path / "new.sqlite3"))  # same store: every file is identical
    code, out, err = run(capsys, "restore", str(tmp_path / "bk"))
    assert (code, err) == (0, "")
    assert "note: 5 recordings were already in place, identical: kept" in out


def _rewrite_table(bk: Path, name: str, edit) -> None:
    """Change a table file and its manifest entry so every checksum still matches."""
    path = bk / "tables" / f"{name}.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        lines = f.read().splitlines()
    lines = edit(lines)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    manifest = json.loads((bk / "manifest.json").read_text())
    for entry in manifest["tables"]:
        if entry["name"] == name:
            entry.update(rows=len(lines) - 1, bytes=path.stat().st_size,
                         sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    (bk / "manifest.json").write_text(json.dumps(manifest))


def test_a_restore_that_fails_midway_leaves_the_database_as_it_was(source, env, tmp_path, capsys):
    """The last table holds a row the database refuses (a duplicate key): the tables
    already replaced come back too."""
    assert run(capsys, "backup", str(tmp_path / "bk"))[0] == 0
    _rewrite_table(tmp_path / "bk", "recordings", lambda lines: lines + [lines[-1]])
    other = sqlite_url(tmp_path / "other.sqlite3")
    populate(other, tmp_path / "other-store", tmp_path / "other-spool", calls=2)
    use(env, other, tmp_path / "empty-store")
    before = snapshot(other)
    code, out, err = run(capsys, "restore", "--force", str(tmp_path / "bk"))
    assert (code, out) == (1, "")
    assert err.startswith("pbx-crm: restore failed, the database is unchanged: UNIQUE constraint")
    assert len(err.splitlines()) == 1
    assert snapshot(other) == before


def test_a_malformed_row_is_refused_with_one_line(source, env, tmp_path, capsys):
    assert run(capsys, "backup", str(tmp_path / "bk"))[0] == 0
    _rewrite_table(tmp_path / "bk", "calls", lambda lines: lines[:1] + ["[1, 2]"] + lines[2:])
    use(env, sqlite_url(tmp_path / "new.sqlite3"), tmp_path / "new-store")
    code, _, err = run(capsys, "restore", str(tmp_path / "bk"))
    assert code == 2 and err.startswith("pbx-crm: restore: tables/calls.jsonl.gz: a row has 2 values")


def test_backup_of_a_missing_or_unmigrated_database_is_refused(env, tmp_path, capsys):
    use(env, sqlite_url(tmp_path / "nothing.sqlite3"))
    code, _, err = run(capsys, "backup", str(tmp_path / "bk"))
    assert code == 2 and err == f"pbx-crm: backup: there is no database at {tmp_path}/nothing.sqlite3\n"
    create_engine(sqlite_url(tmp_path / "bare.sqlite3")).connect().exec_driver_sql(
        "CREATE TABLE t (x)").close()
    use(env, sqlite_url(tmp_path / "bare.sqlite3"))
    code, _, err = run(capsys, "backup", str(tmp_path / "bk"))
    assert code == 2 and "the database has no schema revision" in err
    assert not (tmp_path / "bk").exists() and not (tmp_path / "bk.partial").exists()


def test_a_database_at_another_revision_is_refused(source, env, tmp_path, capsys):
    assert run(capsys, "backup", str(tmp_path / "bk"))[0] == 0
    older = sqlite_url(tmp_path / "older.sqlite3")
    db.upgrade(older, "0004")
    use(env, older, tmp_path / "new-store")
    code, _, err = run(capsys, "restore", str(tmp_path / "bk"))
    assert code == 2
    assert err == "pbx-crm: restore: the database is at schema revision 0004, the backup at " \
                  f"{HEAD}: restore into an empty database (it is migrated to {HEAD}), then run " \
                  "`pbx-crm db upgrade`\n"

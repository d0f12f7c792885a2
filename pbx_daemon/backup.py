"""``pbx-crm backup DIR`` and ``pbx-crm restore DIR``: the database and the recordings, in
a directory that restores onto SQLite or PostgreSQL whichever it was taken from.

The directory::

    manifest.json                 format, alembic revision, time, rows and sha256 per file
    tables/<table>.jsonl.gz       one per table: a header line {"table", "columns"}, then
                                  one JSON array per row, in primary-key order
    recordings/<path>             the recordings store (``recordings.dir``), same paths
    spool/<path>                  Asterisk's spool (``asterisk.recording_dir``): files not
                                  yet moved into the store

Values are written by column type, not by backend: times ISO 8601 (aware UTC), dates ISO,
``Numeric`` as a string, binary base64, JSON as JSON. Tables are written and loaded in
dependency order (``Base.metadata.sorted_tables``).

A backup reads every table in one transaction (SQLite: one ``BEGIN``; PostgreSQL:
``REPEATABLE READ``) and streams rows, and is written into ``DIR.partial``, renamed to
``DIR`` when complete. A restore checks the manifest and every checksum before it touches
anything, then loads all tables in one transaction: a failure leaves the database as it
was.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from datetime import time as dtime
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from sqlalchemy import Table, bindparam, func, inspect, select, text
from sqlalchemy import types as sqltypes
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from pbx_daemon.config import Config
from pbx_daemon.console import Console, safe_url

FORMAT = "pbx-crm-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PARTIAL_MARK = ".pbx-crm-partial"
BATCH = 1000
# Rows the first migration inserts: a freshly migrated database holds these and is empty.
SEEDED_TABLES = frozenset({"inquiry_classes", "deal_stages"})
# Files in the store that are a move still under way (crm.recordings._move).
SKIP_SUFFIXES = (".part",)
ROOTS = {"store": "recordings", "spool": "spool"}


class BackupError(Exception):
    """A backup or restore refused; ``str()`` is one line saying why."""


# ---- values: pure -----------------------------------------------------------------------
def encode_value(value: Any) -> Any:
    """A column value as JSON: times and dates ISO, Decimal as str, bytes base64."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (date, dtime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def decoder_for(column_type: sqltypes.TypeEngine) -> Callable[[Any], Any]:
    """How a JSON value goes back into a column of ``column_type``."""
    t = column_type
    if isinstance(t, sqltypes.JSON):
        return _same
    if isinstance(t, sqltypes.DateTime):
        return _none_or(_datetime)
    if isinstance(t, sqltypes.Date):
        return _none_or(date.fromisoformat)
    if isinstance(t, sqltypes.Time):
        return _none_or(dtime.fromisoformat)
    if isinstance(t, sqltypes.Float):
        return _same
    if isinstance(t, sqltypes.Numeric):
        return _none_or(lambda v: Decimal(str(v)))
    if isinstance(t, sqltypes.LargeBinary):
        return _none_or(base64.b64decode)
    return _same


def _same(value: Any) -> Any:
    return value


def _none_or(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda v: None if v is None else convert(v)


def _datetime(text_: str) -> datetime:
    value = datetime.fromisoformat(text_)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


# ---- manifest: pure ---------------------------------------------------------------------
def check_manifest(manifest: Any, table_names: Iterable[str]) -> list[str]:
    """Problems with a loaded manifest (empty: usable). ``table_names``: this code's tables."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return ["manifest.json is not a pbx-crm backup manifest"]
    if manifest.get("version") != FORMAT_VERSION:
        return [f"backup format version {manifest.get('version')!r} is not {FORMAT_VERSION}"]
    if not manifest.get("complete"):
        return ["the backup is not marked complete"]
    problems = []
    tables = manifest.get("tables")
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        return ["manifest.json has no table list"]
    names = [t.get("name") for t in tables]
    unknown = sorted(set(names) - set(table_names))
    if unknown:
        problems.append(f"the backup has tables this pbx-crm does not know: {', '.join(unknown)}")
    missing = sorted(set(table_names) - set(names))
    if missing:
        problems.append(f"the backup lacks tables: {', '.join(missing)}")
    recordings = manifest.get("recordings")
    if not isinstance(recordings, list) or not all(isinstance(r, dict) for r in recordings):
        return ["manifest.json has no recordings list"]
    if not all(isinstance(t.get("rows"), int) for t in tables):
        problems.append("manifest.json lacks a table's row count")
    for entry in tables + recordings:
        if not isinstance(entry.get("file"), str) or not _safe_relative(entry["file"]):
            problems.append(f"manifest names an unsafe path {entry.get('file')!r}")
    return problems


def _safe_relative(path: str) -> bool:
    p = Path(path)
    return bool(path) and not p.is_absolute() and ".." not in p.parts


# ---- files -------------------------------------------------------------------------------
def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _copy_hashed(src: Path, dst: Path) -> tuple[int, str]:
    """Copy ``src`` to ``dst`` through ``dst.part``; returns (bytes, sha256)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".part")
    h = hashlib.sha256()
    size = 0
    with open(src, "rb") as fin, open(tmp, "wb") as fout:
        for chunk in iter(lambda: fin.read(1 << 20), b""):
            h.update(chunk)
            fout.write(chunk)
            size += len(chunk)
    os.replace(tmp, dst)
    return size, h.hexdigest()


def _files_under(base: Path) -> Iterator[str]:
    """Regular files under ``base`` as relative POSIX paths (symlinks and ``.part`` left out)."""
    if not base.is_dir():
        return
    for root, dirs, files in os.walk(base):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            if path.is_symlink() or not path.is_file() or name.endswith(SKIP_SUFFIXES):
                continue
            yield path.relative_to(base).as_posix()


# ---- database ----------------------------------------------------------------------------
def _tables() -> list[Table]:
    from pbx_daemon.crm import models

    return list(models.Base.metadata.sorted_tables)


def _snapshot(engine: Engine) -> Connection:
    """A connection in a read transaction that sees one state of the database."""
    if engine.dialect.name == "postgresql":
        conn = engine.connect().execution_options(isolation_level="REPEATABLE READ",
                                                  postgresql_readonly=True)
        conn.begin()
    else:
        conn = engine.connect()
        # pysqlite begins only before writes; a plain BEGIN holds one read snapshot
        # from the first SELECT to the end.
        conn.exec_driver_sql("BEGIN")
    return conn


def _revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _referenced_recordings(conn: Connection) -> list[str]:
    from pbx_daemon.crm import models

    return [p for (p,) in conn.execute(select(models.Recording.path).order_by(models.Recording.id))]


def _dump_table(conn: Connection, table: Table, path: Path) -> int:
    order = list(table.primary_key.columns) or list(table.columns)
    names = [c.name for c in table.columns]
    rows = 0
    result = conn.execution_options(yield_per=BATCH).execute(select(table).order_by(*order))
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=6) as f:
        f.write(json.dumps({"table": table.name, "columns": names}, ensure_ascii=False) + "\n")
        for partition in result.partitions():
            f.write("".join(json.dumps([encode_value(v) for v in row], ensure_ascii=False,
                                       separators=(",", ":")) + "\n" for row in partition))
            rows += len(partition)
    return rows


# ---- backup ------------------------------------------------------------------------------
@dataclass
class Summary:
    tables: int = 0
    rows: int = 0
    recordings: int = 0
    recording_bytes: int = 0
    bytes: int = 0
    seconds: float = 0.0
    revision: str | None = None
    notes: list[str] = field(default_factory=list)


def _prepare_target(target: Path) -> Path:
    """``target`` must be new or an empty directory; returns its fresh ``.partial`` sibling."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BackupError(f"{target} exists and is not an empty directory; "
                          "back up into a new directory")
    partial = target.with_name(target.name + ".partial")
    if partial.exists():
        if not (partial / PARTIAL_MARK).exists():
            raise BackupError(f"{partial} exists and is not an interrupted backup; remove it")
        shutil.rmtree(partial)
    try:
        partial.mkdir(parents=True)
    except OSError as e:
        raise BackupError(f"cannot create {partial}: {e.strerror}") from None
    (partial / PARTIAL_MARK).write_text("an interrupted pbx-crm backup: safe to delete\n")
    return partial


def backup(engine: Engine, target: Path, *, store_dir: Path, spool_dir: Path | None,
           clock: Callable[[], float] = time.time) -> Summary:
    """Write the database behind ``engine`` and the recordings into ``target`` (new or empty).
    On an error the ``.partial`` directory is removed; a killed backup leaves it, marked."""
    started = time.monotonic()
    target = Path(target)
    partial = _prepare_target(target)
    try:
        summary = _backup_into(engine, partial, store_dir=store_dir, spool_dir=spool_dir,
                               clock=clock)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if target.exists():
        target.rmdir()  # checked empty above
    os.replace(partial, target)
    summary.seconds = time.monotonic() - started
    return summary


def _backup_into(engine: Engine, partial: Path, *, store_dir: Path, spool_dir: Path | None,
                 clock: Callable[[], float]) -> Summary:
    summary = Summary()
    (partial / "tables").mkdir()
    manifest: dict[str, Any] = {
        "format": FORMAT, "version": FORMAT_VERSION,
        "created": datetime.fromtimestamp(clock(), timezone.utc).isoformat(),
        "source_dialect": engine.dialect.name, "complete": False,
        "tables": [], "recordings": [], "missing_recordings": [],
    }
    conn = _snapshot(engine)
    try:
        manifest["alembic_revision"] = summary.revision = _revision(conn)
        if summary.revision is None:
            raise BackupError("the database has no schema revision: is it pbx-crm's "
                              "(run `pbx-crm db upgrade`)?")
        for table in _tables():
            rel = f"tables/{table.name}.jsonl.gz"
            rows = _dump_table(conn, table, partial / rel)
            manifest["tables"].append({"name": table.name, "file": rel, "rows": rows,
                                       "columns": [c.name for c in table.columns]})
            summary.rows += rows
            summary.tables += 1
        referenced = _referenced_recordings(conn)
    finally:
        conn.rollback()
        conn.close()

    for entry in manifest["tables"]:
        path = partial / entry["file"]
        entry["bytes"] = path.stat().st_size
        entry["sha256"] = sha256_file(path)
        summary.bytes += entry["bytes"]

    wanted: list[tuple[str, Path, str]] = []  # (root, base dir, relative path)
    seen: set[tuple[str, str]] = set()
    for rel in referenced:
        if not _safe_relative(rel):
            summary.notes.append(f"recording path {rel!r} leaves the store: not copied")
            continue
        if not (store_dir / rel).is_file():
            manifest["missing_recordings"].append(rel)
            continue
        seen.add(("store", rel))
        wanted.append(("store", store_dir, rel))
    for root, base in (("store", store_dir), ("spool", spool_dir)):
        if base is None or (root == "spool" and base.resolve() == store_dir.resolve()):
            continue
        for rel in _files_under(base):
            if (root, rel) not in seen:
                seen.add((root, rel))
                wanted.append((root, base, rel))
    for root, base, rel in wanted:
        src = base / rel
        dest_rel = f"{ROOTS[root]}/{rel}"
        expected = src.stat().st_size
        size, digest = _copy_hashed(src, partial / dest_rel)
        if size != expected or (partial / dest_rel).stat().st_size != size:
            raise BackupError(f"{src} changed size while it was copied ({expected} -> {size})")
        manifest["recordings"].append({"root": root, "path": rel, "file": dest_rel,
                                       "bytes": size, "sha256": digest})
        summary.recordings += 1
        summary.recording_bytes += size
        summary.bytes += size
    if manifest["missing_recordings"]:
        summary.notes.append(f"{len(manifest['missing_recordings'])} recordings the database "
                             "names are not on disk (listed in manifest.json)")

    manifest["complete"] = True
    manifest["row_counts"] = {t["name"]: t["rows"] for t in manifest["tables"]}
    tmp = partial / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, partial / MANIFEST)
    (partial / PARTIAL_MARK).unlink()
    return summary


# ---- restore -----------------------------------------------------------------------------
def read_manifest(source: Path) -> dict:
    """The manifest of the backup in ``source``, checked against this code's tables and every
    file's size and sha256; :class:`BackupError` on the first problem."""
    path = Path(source) / MANIFEST
    if not path.is_file():
        raise BackupError(f"{source} is not a pbx-crm backup (no {MANIFEST}; an interrupted "
                          "backup is left as DIR.partial)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise BackupError(f"{path} is not valid JSON: {e}") from None
    problems = check_manifest(manifest, [t.name for t in _tables()])
    if problems:
        raise BackupError(problems[0])
    for entry in manifest["tables"] + manifest["recordings"]:
        file = Path(source) / entry["file"]
        if not file.is_file():
            raise BackupError(f"{entry['file']} is missing from the backup")
        if file.stat().st_size != entry.get("bytes") or sha256_file(file) != entry.get("sha256"):
            raise BackupError(f"{entry['file']} does not match its checksum in the manifest: "
                              "the backup is damaged")
    return manifest


def _holds_data(conn: Connection) -> list[str]:
    names = set(inspect(conn).get_table_names())
    return [t.name for t in _tables() if t.name not in SEEDED_TABLES and t.name in names
            and conn.execute(select(func.count()).select_from(t)).scalar()]


def _code_knows(url: str, revision: str) -> bool:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from pbx_daemon import db

    try:
        return ScriptDirectory.from_config(db.alembic_config(url)).get_revision(revision) is not None
    except CommandError:
        return False


def _code_head(url: str) -> str | None:
    from alembic.script import ScriptDirectory

    from pbx_daemon import db

    return ScriptDirectory.from_config(db.alembic_config(url)).get_current_head()


def _rows(source: Path, entry: dict, table: Table) -> Iterator[list[dict]]:
    """The rows of one table file as batches of column -> value dicts."""
    with gzip.open(source / entry["file"], "rt", encoding="utf-8") as f:
        header = json.loads(f.readline())
        columns = header.get("columns") if isinstance(header, dict) else None
        if not isinstance(columns, list) or header.get("table") != table.name:
            raise BackupError(f"{entry['file']} has no header for table {table.name}")
        unknown = [c for c in columns if c not in table.columns]
        if unknown:
            raise BackupError(f"{entry['file']}: columns {', '.join(unknown)} are not in table "
                              f"{table.name} (a different schema revision?)")
        decoders = [decoder_for(table.columns[c].type) for c in columns]
        batch: list[dict] = []
        for line in f:
            values = json.loads(line)
            if len(values) != len(columns):
                raise BackupError(f"{entry['file']}: a row has {len(values)} values, "
                                  f"not {len(columns)}")
            batch.append({c: d(v) for c, d, v in zip(columns, decoders, values)})
            if len(batch) >= BATCH:
                yield batch
                batch = []
        if batch:
            yield batch


def deferred_columns(tables: list[Table]) -> dict[str, list[str]]:
    """Per table, the columns that point at its own table or one loaded after it (the
    ``use_alter`` cycle departments.head_id -> employees): loaded empty, set at the end."""
    position = {t.name: i for i, t in enumerate(tables)}
    return {t.name: sorted({fk.parent.name for fk in t.foreign_keys
                            if position.get(fk.column.table.name, -1) >= position[t.name]})
            for t in tables}


def _load_table(conn: Connection, source: Path, entry: dict, table: Table,
                deferred: list[str]) -> tuple[int, list[dict]]:
    """Insert one table's rows in batches; returns the count and the ``deferred`` values to
    set once every table is in (as update parameters)."""
    pk = list(table.primary_key.columns)
    if deferred and len(pk) != 1:
        raise BackupError(f"table {table.name} has deferred columns but no single primary key")
    later: list[dict] = []
    count = 0
    for batch in _rows(source, entry, table):
        for row in batch if deferred else ():
            if any(row.get(c) is not None for c in deferred):
                later.append({"_pk": row[pk[0].name],
                              **{f"_{c}": row.get(c) for c in _set_later(table, deferred)}})
                for c in deferred:
                    row[c] = None
        conn.execute(table.insert(), batch)
        count += len(batch)
    return count, later


def _set_later(table: Table, deferred: list[str]) -> list[str]:
    """The deferred columns, and those an UPDATE would otherwise stamp (``updated_at``)."""
    return deferred + [c.name for c in table.columns if c.onupdate is not None
                       and c.name not in deferred]


def _set_deferred(conn: Connection, table: Table, deferred: list[str], later: list[dict]) -> None:
    pk = list(table.primary_key.columns)[0]
    statement = table.update().where(pk == bindparam("_pk")) \
        .values({c: bindparam(f"_{c}") for c in _set_later(table, deferred)})
    for i in range(0, len(later), BATCH):
        conn.execute(statement, later[i:i + BATCH])


def _reset_sequences(conn: Connection) -> None:
    """PostgreSQL: each serial primary key's sequence continues after the restored rows."""
    if conn.dialect.name != "postgresql":
        return
    for table in _tables():
        pk = list(table.primary_key.columns)
        if len(pk) == 1 and isinstance(pk[0].type, sqltypes.Integer):
            name, col = table.name, pk[0].name
            conn.execute(text(
                f"SELECT setval(pg_get_serial_sequence(:t, :c), COALESCE(MAX({col}), 1), "
                f"MAX({col}) IS NOT NULL) FROM {name}"), {"t": name, "c": col})


def _begin_write(engine: Engine) -> Connection:
    conn = engine.connect()
    if engine.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock before the first check
    else:
        conn.begin()
    return conn


@dataclass(frozen=True)
class FilePlan:
    src: Path
    dst: Path
    identical: bool


def plan_recordings(source: Path, manifest: dict, *, store_dir: Path,
                    spool_dir: Path | None) -> list[FilePlan]:
    """Where each recording goes; refuses a different file already at a destination."""
    plans = []
    for entry in manifest["recordings"]:
        base = store_dir if entry.get("root") == "store" else spool_dir
        if base is None or not _safe_relative(entry.get("path", "")):
            raise BackupError(f"recording {entry.get('file')!r} has nowhere to go")
        dst = base / entry["path"]
        identical = False
        if dst.exists():
            if not dst.is_file() or dst.stat().st_size != entry["bytes"] \
                    or sha256_file(dst) != entry["sha256"]:
                raise BackupError(f"{dst} exists and differs from the backup's copy; "
                                  "move it away first")
            identical = True
        plans.append(FilePlan(Path(source) / entry["file"], dst, identical))
    return plans


def restore(engine: Engine, url: str, source: Path, *, store_dir: Path, spool_dir: Path | None,
            force: bool = False) -> Summary:
    """Load the backup in ``source`` into the database behind ``engine`` (at ``url``) and its
    recordings into the store and spool. Nothing changes when a check fails. The recordings
    are copied first (never over a different file), then the tables are replaced in one
    transaction."""
    from pbx_daemon import db

    started = time.monotonic()
    source = Path(source)
    manifest = read_manifest(source)
    revision = manifest.get("alembic_revision")
    if not revision:
        raise BackupError("the backup records no schema revision (its database was not "
                          "built by `pbx-crm db upgrade`)")
    if not _code_knows(url, revision):
        raise BackupError(f"the backup is at schema revision {revision}, which this pbx-crm "
                          f"does not know (its newest is {_code_head(url)}): upgrade pbx-crm first")
    with engine.connect() as conn:
        current = _revision(conn)
        has_tables = bool(inspect(conn).get_table_names())
    if current is None and has_tables:
        raise BackupError("the database has tables but no schema revision; restore into an "
                          "empty database")
    if current is not None and current != revision:
        raise BackupError(f"the database is at schema revision {current}, the backup at "
                          f"{revision}: restore into an empty database (it is migrated to "
                          f"{revision}), then run `pbx-crm db upgrade`")
    if current is not None and not force:
        with engine.connect() as conn:
            busy = _holds_data(conn)
        if busy:
            raise BackupError(f"the database already holds data ({', '.join(busy[:3])}"
                              f"{', ...' if len(busy) > 3 else ''}); pass --force to replace it")
    plans = plan_recordings(source, manifest, store_dir=store_dir, spool_dir=spool_dir)
    if current is None:
        db.upgrade(url, revision)
        engine.dispose()  # SQLite: see the new schema on a fresh connection

    summary = Summary(revision=revision)
    # The files first: a failure here leaves the database alone, and a second run keeps
    # the files already copied (identical).
    for plan in plans:
        if not plan.identical:
            _copy_hashed(plan.src, plan.dst)
        summary.recordings += 1
        summary.recording_bytes += plan.src.stat().st_size
    entries = {t["name"]: t for t in manifest["tables"]}
    conn = _begin_write(engine)
    try:
        if not force and _holds_data(conn):
            raise BackupError("the database received data during the restore; nothing changed")
        for table in reversed(_tables()):
            conn.execute(table.delete())
        tables = _tables()
        deferred = deferred_columns(tables)
        pending = []
        for table in tables:
            entry = entries[table.name]
            rows, later = _load_table(conn, source, entry, table, deferred[table.name])
            if rows != entry["rows"]:
                raise BackupError(f"{entry['file']} holds {rows} rows, the manifest says "
                                  f"{entry['rows']}")
            if later:
                pending.append((table, later))
            summary.rows += rows
            summary.tables += 1
        for table, later in pending:
            _set_deferred(conn, table, deferred[table.name], later)
        _reset_sequences(conn)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.close()

    summary.bytes = sum(e["bytes"] for e in manifest["tables"]) + summary.recording_bytes
    skipped = sum(p.identical for p in plans)
    if skipped:
        summary.notes.append(f"{skipped} recordings were already in place, identical: kept")
    head = _code_head(url)
    if head and revision != head:
        summary.notes.append(f"the schema is at {revision}; run `pbx-crm db upgrade` to bring "
                             f"it to {head}")
    summary.seconds = time.monotonic() - started
    return summary


# ---- commands ----------------------------------------------------------------------------
def _dirs(config: Config) -> tuple[Path, Path | None]:
    spool = config.asterisk.recording_dir
    return Path(config.recordings.dir), Path(spool) if spool else None


def _say(console: Console, verb: str, s: Summary, where: str) -> None:
    print(f"{verb}: {s.tables} tables, {s.rows} rows, {s.recordings} recordings, "
          f"{s.bytes / 1e6:.1f} MB in {s.seconds:.1f} s ({where}, schema {s.revision})",
          file=console.out)
    for note in s.notes:
        print(f"note: {note}", file=console.out)


def cmd_backup(args: argparse.Namespace, config: Config, console: Console) -> int:
    from pbx_daemon import db

    store, spool = _dirs(config)
    url = config.database.url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        return console.fail(f"backup: there is no database at {url.removeprefix('sqlite:///')}")
    engine = db.make_engine(url)
    try:
        summary = backup(engine, Path(args.dir), store_dir=store, spool_dir=spool)
    except BackupError as e:
        return console.fail(f"backup: {e}")
    except SQLAlchemyError as e:
        return console.fail(f"backup: database {safe_url(config.database.url)}: "
                            f"{str(e.orig if getattr(e, 'orig', None) else e).splitlines()[0]}", 1)
    except OSError as e:
        return console.fail(f"backup: {e.filename or args.dir}: {e.strerror}", 1)
    finally:
        engine.dispose()
    _say(console, "backup", summary, f"into {args.dir}")
    return 0


def cmd_restore(args: argparse.Namespace, config: Config, console: Console) -> int:
    from pbx_daemon import db

    store, spool = _dirs(config)
    url = config.database.url
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = db.make_engine(url)
    try:
        summary = restore(engine, url, Path(args.dir), store_dir=store, spool_dir=spool,
                          force=args.force)
    except BackupError as e:
        return console.fail(f"restore: {e}")
    except (SQLAlchemyError, ValueError) as e:
        # A row the database refuses, or a file that is not what its header says: the
        # transaction was rolled back.
        detail = str(getattr(e, "orig", None) or e).splitlines()[0]
        return console.fail(f"restore failed, the database is unchanged: {detail}", 1)
    except OSError as e:
        return console.fail(f"restore: {e.filename or args.dir}: {e.strerror}", 1)
    finally:
        engine.dispose()
    _say(console, "restore", summary, f"into {safe_url(url)}")
    return 0

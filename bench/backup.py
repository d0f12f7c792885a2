"""`pbx-crm backup` / `pbx-crm restore` on a database with --calls calls (100,000 by default).

Builds a migrated SQLite database in a temporary directory with one department, 20
employees, and --calls answered calls, each with two legs and every tenth with a recording
row (and a small file in the store); then times a backup of it and a restore into a new,
empty database (SQLite, or --restore-into a PostgreSQL URL whose database is empty), and
prints rows, bytes and seconds.

    .venv/bin/python bench/backup.py [--calls 100000]
    .venv/bin/python bench/backup.py --restore-into postgresql+psycopg2://postgres@127.0.0.1/pbxbench_restore
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pbx_daemon import backup, db  # noqa: E402
from pbx_daemon.crm import models as m  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def build(url: str, store: Path, calls: int) -> int:
    db.upgrade(url)
    engine = db.make_engine(url)
    rows = 0
    with engine.begin() as conn:
        conn.execute(m.Department.__table__.insert(), [{"id": 1, "name": "Sales",
                                                        "created_at": T0, "updated_at": T0}])
        conn.execute(m.Employee.__table__.insert(), [
            {"id": i, "full_name": f"Employee {i}", "login": f"e{i}", "role": "manager",
             "department_id": 1, "sip_endpoint": str(100 + i), "created_at": T0, "updated_at": T0}
            for i in range(1, 21)])
        for start in range(0, calls, 10_000):
            ids = range(start + 1, min(start + 10_001, calls + 1))
            conn.execute(m.Call.__table__.insert(), [
                {"id": i, "linkedid": f"1700000000.{i}", "direction": "inbound",
                 "caller": f"+7916{i:07d}", "callee": "+74951234567", "dialled_number": "+74951234567",
                 "started_at": T0 + timedelta(seconds=30 * i),
                 "answered_at": T0 + timedelta(seconds=30 * i + 5),
                 "ended_at": T0 + timedelta(seconds=30 * i + 65), "outcome": "answered",
                 "answered_by_id": 1 + i % 20, "employee_id": 1 + i % 20, "department_id": 1,
                 "duration_seconds": 65, "talk_seconds": 60, "handled_by": "daemon"} for i in ids])
            conn.execute(m.CallLeg.__table__.insert(), [
                {"call_id": i, "employee_id": 1 + (i + k) % 20, "endpoint": str(100 + (i + k) % 20),
                 "step": k + 1, "ringing_at": T0 + timedelta(seconds=30 * i + k),
                 "answered_at": T0 + timedelta(seconds=30 * i + 5) if k else None,
                 "ended_at": T0 + timedelta(seconds=30 * i + 65),
                 "outcome": "answered" if k else "no_answer"} for i in ids for k in (0, 1)])
            conn.execute(m.Recording.__table__.insert(), [
                {"call_id": i, "path": f"1700000000.{i}.wav", "format": "wav", "size_bytes": 4096,
                 "duration_seconds": 60.0, "created_at": T0} for i in ids if i % 10 == 0])
            rows += len(ids) * 3 + len(ids) // 10
    engine.dispose()
    store.mkdir(parents=True, exist_ok=True)
    for i in range(10, calls + 1, 10):
        (store / f"1700000000.{i}.wav").write_bytes(b"\0" * 4096)
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=100_000)
    p.add_argument("--restore-into", help="an empty database URL (default: a new SQLite file)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        tmp = Path(tmp)
        url = f"sqlite:///{tmp}/source.sqlite3"
        t = time.monotonic()
        rows = build(url, tmp / "store", args.calls)
        print(f"built {args.calls} calls ({rows} rows) in {time.monotonic() - t:.1f} s")

        engine = db.make_engine(url)
        s = backup.backup(engine, tmp / "bk", store_dir=tmp / "store", spool_dir=None)
        engine.dispose()
        print(f"backup:  {s.rows} rows, {s.recordings} recordings, {s.bytes / 1e6:.1f} MB "
              f"in {s.seconds:.1f} s")

        target = args.restore_into or f"sqlite:///{tmp}/target.sqlite3"
        engine = db.make_engine(target)
        s = backup.restore(engine, target, tmp / "bk", store_dir=tmp / "store2", spool_dir=None)
        engine.dispose()
        print(f"restore: {s.rows} rows, {s.recordings} recordings into "
              f"{engine.dialect.name} in {s.seconds:.1f} s")
        print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The analytics pages' queries over 10,000,000 stored calls, SQLite and PostgreSQL.

Builds (once, cached) a database with --calls calls spread over --days days (a year by
default, about 27,000 calls a day), 40 employees in 4 departments, legs for the missed
calls, 50,000 inquiries and 20,000 deals, and times building the daily rollup for the
whole history (``pbx-crm stats rebuild``). Then runs what each analytics page runs for a
7-day period (Lost Call Rate per day, per department, per employee, per source, per
cold-call operator) --repeat times and prints p50 / p95 per page, twice:

* rollup up to date (what the daemon's once-a-minute refresh leaves);
* the period's last day changed just before each view (a call just ended), so the page
  first rebuilds that day, about 27,000 calls.

    .venv/bin/python bench/analytics.py                                   # SQLite in /var/tmp
    .venv/bin/python bench/analytics.py --db postgresql+psycopg2://postgres@127.0.0.1/pbxbench_analytics

Targets (issue 6): p95 under 150 ms on PostgreSQL, under 300 ms on SQLite.
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select  # noqa: E402

from pbx_daemon.crm.stats import analytics as a  # noqa: E402
from pbx_daemon.crm.stats import rollup as call_stats  # noqa: E402
from pbx_daemon import db  # noqa: E402
from pbx_daemon.crm import models as m  # noqa: E402

TZ = "Europe/Moscow"
END = date(2026, 11, 22)


def build(url: str, calls: int, days: int) -> None:
    engine = db.make_engine(url)
    with db.make_session_factory(engine)() as s:
        try:
            have = s.scalar(select(func.count()).select_from(m.Call))
        except Exception:  # noqa: BLE001 - no schema yet
            have = None
    if have == calls:
        print(f"using the existing {calls:,} calls")
        return
    print(f"building {calls:,} calls over {days} days (once)...", flush=True)
    if url.startswith("postgresql"):
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    db.upgrade(url)
    rnd = random.Random(7)
    with db.make_session_factory(engine)() as s:
        depts = [m.Department(name=f"Dept {i}") for i in range(4)]
        s.add_all(depts)
        s.flush()
        emps = [m.Employee(full_name=f"Manager {i:02d}", login=f"m{i}", sip_endpoint=f"{100 + i}",
                           department_id=depts[i % 4].id, role="manager" if i < 36 else "cold_operator")
                for i in range(40)]
        s.add_all(emps)
        sources = [m.Source(name=f"Source {i}") for i in range(8)]
        s.add_all(sources)
        s.flush()
        s.commit()
        emp_ids = [e.id for e in emps]
        dept_of = {e.id: e.department_id for e in emps}
        src_ids = [x.id for x in sources]
        stage = s.scalar(select(m.DealStage.id))
    start = datetime.combine(END - timedelta(days=days - 1), datetime.min.time(), timezone.utc)
    span = days * 86400
    t0 = time.perf_counter()
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        batch = []
        cols = ("linkedid", "direction", "caller", "callee", "started_at", "answered_at", "ended_at",
                "answered_by_id", "employee_id", "department_id", "outcome", "talk_seconds",
                "duration_seconds", "handled_by", "recovered_at", "call_list_entry_id")

        def flush():
            if not batch:
                return
            if url.startswith("postgresql"):
                buf = io.StringIO()
                for row in batch:
                    buf.write("\t".join("\\N" if v is None else str(v) for v in row) + "\n")
                buf.seek(0)
                cur.copy_from(buf, "calls", columns=cols)
            else:
                cur.executemany(f"INSERT INTO calls ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})", batch)
            batch.clear()

        # Calls are stored as they happen, so a day's calls sit together on disk; random
        # order would make every rollup rebuild read one disk page per call.
        offsets = sorted(rnd.randrange(span) for _ in range(calls))
        for i, offset in enumerate(offsets):
            at = start + timedelta(seconds=offset)
            emp = rnd.choice(emp_ids)
            r = rnd.random()
            if r < 0.7:
                direction, outcome = "inbound", ("answered" if rnd.random() < 0.85 else "missed")
            else:
                direction, outcome = "outbound", ("answered" if rnd.random() < 0.6 else "no_answer")
            talk = rnd.randrange(10, 600) if outcome == "answered" else None
            ts = at.strftime("%Y-%m-%d %H:%M:%S")
            batch.append((f"b{i}", direction, f"+7916{rnd.randrange(10**7):07d}", None, ts,
                          ts if outcome == "answered" else None, ts,
                          emp if outcome == "answered" else None, emp if direction == "outbound" else None,
                          dept_of[emp], outcome, talk, (talk or 20) + 5, "daemon",
                          (at + timedelta(minutes=rnd.randrange(5, 240))).strftime("%Y-%m-%d %H:%M:%S")
                          if outcome == "missed" and rnd.random() < 0.5 else None, None))
            if len(batch) >= 50000:
                flush()
                raw.commit()
                print(f"  {i + 1:,} calls ({time.perf_counter() - t0:.0f} s)", flush=True)
        flush()
        raw.commit()
        # Legs for the missed inbound calls (who rang): what "missed per employee" counts.
        cur.execute("INSERT INTO call_legs (call_id, employee_id, endpoint, step, ringing_at, outcome) "
                    "SELECT id, department_id * 9 % 40 + 1, 'PJSIP/x', 1, started_at, 'no_answer' "
                    "FROM calls WHERE outcome = 'missed'")
        raw.commit()
    finally:
        raw.close()
    with db.make_session_factory(engine)() as s:
        for i in range(50000):
            at = start + timedelta(seconds=rnd.randrange(span))
            s.add(m.Inquiry(channel="call", phone=f"+7903{i:07d}", status="open", source_id=rnd.choice(src_ids),
                            class_id=rnd.choice([1, 2, 8]), first_seen_at=at, last_seen_at=at))
        for i in range(20000):
            at = start + timedelta(seconds=rnd.randrange(span))
            s.add(m.Deal(title=f"Deal {i}", stage_id=stage, responsible_id=rnd.choice(emp_ids), created_at=at))
        s.commit()
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    print(f"built in {time.perf_counter() - t0:.0f} s", flush=True)
    engine.dispose()


def backfill(sessions, days: int, force: bool) -> None:
    with sessions() as s:
        built = s.scalar(select(func.count()).select_from(m.CallStatDay).where(m.CallStatDay.tz == TZ))
        if built >= days and not force:
            print(f"using the existing rollup ({built} days)")
            return
        t0 = time.perf_counter()
        done = call_stats.rebuild(s, TZ, END - timedelta(days=days - 1), END)
        took = time.perf_counter() - t0
        rows = s.scalar(select(func.count()).select_from(m.CallStat))
    print(f"rollup built (pbx-crm stats rebuild): {len(done)} days, {rows:,} rows in {took:.1f} s "
          f"({took / len(done) * 1000:.0f} ms a day)", flush=True)


def percentiles(times: list[float]) -> tuple[float, float]:
    times = sorted(times)
    return statistics.median(times), times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default="sqlite:////var/tmp/pbx-bench-analytics-v2.sqlite3")
    ap.add_argument("--calls", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--rebuild", action="store_true", help="time building the rollup even if it exists")
    args = ap.parse_args()
    build(args.db, args.calls, args.days)
    db.upgrade(args.db)  # a database built by an older version gets the rollup tables
    engine = db.make_engine(args.db)
    sessions = db.make_session_factory(engine)
    backfill(sessions, args.days, args.rebuild)
    first, last = END - timedelta(days=6), END
    pages = {
        "Lost Call Rate (7 days)": lambda s: a.lost_call_rate(s, first, last, TZ),
        "per department": lambda s: a.per_department(s, first, last, TZ),
        "per employee": lambda s: a.per_employee(s, first, last, TZ),
        "per source": lambda s: a.per_source(s, first, last, TZ),
        "cold-call operators": lambda s: a.per_operator(s, first, last, TZ),
    }
    start, end = a.period_bounds(first, last, TZ)
    with sessions() as s:
        total = s.scalar(select(func.count()).select_from(m.Call))
        week = s.scalar(select(func.count()).select_from(m.Call).where(
            m.Call.started_at >= start, m.Call.started_at < end))
        a.lost_call_rate(s, first, last, TZ)  # whatever is stale is built before timing
    print(f"{args.db.split('@')[-1]}: {total:,} calls, {week:,} in the 7-day period; {args.repeat} runs each")
    print("rollup up to date:")
    everything = []
    for name, run in pages.items():
        times = []
        for _ in range(args.repeat):
            with sessions() as s:
                t0 = time.perf_counter()
                run(s)
                times.append((time.perf_counter() - t0) * 1000)
        p50, p95 = percentiles(times)
        everything.append(p95)
        print(f"  {name:26s} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms")
    print(f"  {'the whole page (sum of p95)':26s} {sum(everything):7.1f} ms")
    # A call of the last day just ended: its slot is dirty, the next view rebuilds the day.
    slot = call_stats.stat_slot(call_stats.day_bounds(last, TZ)[0] + timedelta(hours=12))
    page, rebuild = [], []
    for _ in range(args.repeat):
        with sessions() as s:
            s.execute(m.CallStatDirty.__table__.insert().values(slot=slot))
            s.commit()
            t0 = time.perf_counter()
            assert call_stats.stale_days(s, first, last, TZ) == [last]
            call_stats.ensure_fresh(s, first, last, TZ)
            t1 = time.perf_counter()
            for run in pages.values():
                run(s)
            t2 = time.perf_counter()
            rebuild.append((t1 - t0) * 1000)
            page.append((t2 - t0) * 1000)
    with sessions() as s:
        day_calls = s.scalar(select(func.count()).select_from(m.Call).where(
            m.Call.started_at >= call_stats.day_bounds(last, TZ)[0], m.Call.started_at < end))
    print(f"the last day changed before each view ({day_calls:,} calls that day):")
    for name, times in (("rebuilding the day", rebuild), ("the whole page", page)):
        p50, p95 = percentiles(times)
        print(f"  {name:26s} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms")
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())

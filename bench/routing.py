"""Routing decision latency with 1,000,000 stored phone numbers: the daemon's path and the
process AGI script, side by side.

    .venv/bin/python bench/routing.py [--numbers 1000000] [--calls 2000] [--agi-runs 40]
                                      [--db sqlite:///...] [--rebuild]

* daemon: what the daemon does per call on a warm connection: caller lookup (indexed by
  E.164 across companies, contacts, leads, inquiries), the directory, the routing plan.
* agi:    what the dialplan's process fallback costs per call: start `agi_scripts.route`
  as Asterisk would (AGI environment on stdin), until it has set PBXCRM_ROUTE.

The SQLite database is built once and kept in /var/tmp/pbx-crm-bench (about 200 MB).
Prints p50/p99/max in milliseconds; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select  # noqa: E402

from pbx_daemon import db  # noqa: E402
from pbx_daemon.crm import models as m  # noqa: E402
from pbx_daemon.telephony.routing.directory import load_directory, lookup_caller  # noqa: E402
from pbx_daemon.telephony.routing.policy import StepTimeouts, plan_route  # noqa: E402

DEFAULT_DB = "sqlite:////var/tmp/pbx-crm-bench/routing-1m.sqlite3"


def number(i: int) -> str:
    return f"+7916{i:07d}"


def build(url: str, numbers: int) -> None:
    db.upgrade(url)
    engine = db.make_engine(url)
    sessions = db.make_session_factory(engine)
    with sessions() as s:
        if s.scalar(select(func.count()).select_from(m.ContactPhone)) >= numbers // 2:
            return
        print(f"building {numbers:,} numbers in {url} ...", flush=True)
        sales = m.Department(name="Sales", fallback_ring_group="101,102")
        s.add(sales)
        s.flush()
        staff = [m.Employee(full_name=f"Manager {i}", login=f"m{i}", sip_endpoint=str(100 + i),
                            department_id=sales.id) for i in range(1, 31)]
        s.add_all(staff)
        s.flush()
        sales.head_id = staff[0].id
        s.add(m.TrackingNumber(number="+74951110001", department_id=sales.id))
        s.commit()
        staff_ids = [e.id for e in staff]
    t0 = time.perf_counter()
    # Half on contacts (one phone each), a quarter on companies, a quarter on leads.
    chunk = 20_000
    with engine.begin() as conn:
        for start in range(0, numbers, chunk):
            rows = range(start, min(start + chunk, numbers))
            contacts = [r for r in rows if r % 4 < 2]
            companies = [r for r in rows if r % 4 == 2]
            leads = [r for r in rows if r % 4 == 3]
            if contacts:
                first_id = conn.execute(select(func.coalesce(func.max(m.Contact.id), 0))).scalar() + 1
                conn.execute(insert(m.Contact), [
                    {"id": first_id + k, "full_name": f"Contact {r}", "name_key": f"contact {r}",
                     "responsible_id": staff_ids[r % len(staff_ids)],
                     "created_at": datetime.now(timezone.utc), "updated_at": datetime.now(timezone.utc)}
                    for k, r in enumerate(contacts)])
                conn.execute(insert(m.ContactPhone), [
                    {"contact_id": first_id + k, "phone": number(r), "kind": "mobile"}
                    for k, r in enumerate(contacts)])
            if companies:
                first_id = conn.execute(select(func.coalesce(func.max(m.Company.id), 0))).scalar() + 1
                conn.execute(insert(m.Company), [
                    {"id": first_id + k, "name": f"Company {r}", "name_key": f"company {r}",
                     "responsible_id": staff_ids[r % len(staff_ids)],
                     "created_at": datetime.now(timezone.utc), "updated_at": datetime.now(timezone.utc)}
                    for k, r in enumerate(companies)])
                conn.execute(insert(m.CompanyPhone), [
                    {"company_id": first_id + k, "phone": number(r), "kind": "work"}
                    for k, r in enumerate(companies)])
            if leads:
                conn.execute(insert(m.Lead), [
                    {"title": f"Lead {r}", "phone": number(r), "status": "new",
                     "responsible_id": staff_ids[r % len(staff_ids)],
                     "created_at": datetime.now(timezone.utc), "updated_at": datetime.now(timezone.utc)}
                    for r in leads])
    print(f"built in {time.perf_counter() - t0:.0f} s", flush=True)
    engine.dispose()


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def bench_daemon(url: str, numbers: int, calls: int) -> list[float]:
    engine = db.make_engine(url)
    sessions = db.make_session_factory(engine)
    timeouts = StepTimeouts()
    rng = random.Random(1)
    samples = []
    for i in range(calls + 50):
        caller = number(rng.randrange(numbers)) if i % 10 else "+79990000000"  # 10% unknown
        t0 = time.perf_counter()
        with sessions() as s:
            now = datetime.now(timezone.utc)
            plan = plan_route(lookup_caller(s, caller, "+74951110001", now), load_directory(s), timeouts)
        elapsed = (time.perf_counter() - t0) * 1000
        assert plan.steps, "the bench data must route somewhere"
        if i >= 50:  # warm-up
            samples.append(elapsed)
    engine.dispose()
    return samples


def bench_agi(url: str, numbers: int, runs: int) -> list[float]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PBX_CRM_")},
           "PBX_CRM_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    rng = random.Random(2)
    samples = []
    for i in range(runs + 3):
        caller = number(rng.randrange(numbers))
        agi_env = (f"agi_request: pbx-crm-agi-route\nagi_channel: PJSIP/trunk-00000001\n"
                   f"agi_callerid: {caller}\nagi_extension: s\n\n")
        # Asterisk answers every AGI command with "200 result=1".
        stdin = agi_env + "200 result=1\n" * 64
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "agi_scripts.route", "+74951110001"],
                              input=stdin, capture_output=True, text=True, env=env, timeout=30)
        elapsed = (time.perf_counter() - t0) * 1000
        assert '"PBXCRM_ROUTE" "ok"' in proc.stdout, proc.stdout[-300:] + proc.stderr[-300:]
        if i >= 3:
            samples.append(elapsed)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numbers", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--agi-runs", type=int, default=40)
    parser.add_argument("--db", default=DEFAULT_DB)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    if args.db.startswith("sqlite:///"):
        path = Path(args.db.removeprefix("sqlite:///"))
        if args.rebuild and path.exists():
            path.unlink()
        path.parent.mkdir(parents=True, exist_ok=True)
    build(args.db, args.numbers)
    daemon = bench_daemon(args.db, args.numbers, args.calls)
    agi = bench_agi(args.db, args.numbers, args.agi_runs)
    print(f"\nrouting decision with {args.numbers:,} stored numbers ({args.db.split(':')[0]})")
    print(f"{'path':<22}{'runs':>6}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for name, samples in (("daemon (in-process)", daemon), ("process AGI script", agi)):
        print(f"{name:<22}{len(samples):>6}{statistics.median(samples):>10.2f}"
              f"{pct(samples, 99):>10.2f}{max(samples):>10.2f}")
    print(f"\nthe daemon's p99 is {pct(agi, 99) / pct(daemon, 99):.0f}x faster than the script's; "
          f"p50 {statistics.median(agi) / statistics.median(daemon):.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

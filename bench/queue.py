"""The inquiries queue with 1,000 open inquiries (issue 15): server time of the queue page
and of a classify click, through the Flask test client on a temporary SQLite.

Seeds --inquiries open inquiries of one department (each with its missed call and its
call-back task, as the missed-call rules leave them) and a head, then times --repeat
GETs of the queue's first page and --repeat classify POSTs (the page's script's request:
``Accept: application/json``), each on another inquiry, and prints p50 / p95 / max and
the page's size.

    .venv/bin/python bench/queue.py
    .venv/bin/python bench/queue.py --inquiries 5000 --repeat 50

Target (issue 15): a classify click under 200 ms of server time.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder leads sys.path, and this file would stand in for the
# standard library's ``queue`` (which asgiref's thread pool imports): the repository instead.
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]

import argparse  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402

from werkzeug.security import generate_password_hash  # noqa: E402

from admin.app import create_app  # noqa: E402
from pbx_daemon.config import load_config  # noqa: E402
from pbx_daemon import db  # noqa: E402
from pbx_daemon.crm import models as m  # noqa: E402

CLASSES = ("partner", "own", "non_target", "wrong_number", "spam", "lead", "client")


def seed(url: str, count: int) -> None:
    db.upgrade(url)
    now = datetime.now(timezone.utc)
    with db.make_session_factory(db.make_engine(url))() as s:
        sales = m.Department(name="Продажи")
        s.add(sales)
        s.flush()
        head = m.Employee(full_name="Вера Руководитель", login="vera", role="head", department_id=sales.id,
                          password_hash=generate_password_hash("vera-Password-1"))
        s.add(head)
        s.add(m.Source(name="Сайт"))
        s.flush()
        for n in range(count):
            at = now - timedelta(minutes=n)
            inquiry = m.Inquiry(channel="call", phone=f"+7903{n:07d}", status="open", department_id=sales.id,
                                responsible_id=head.id, missed_count=1, first_seen_at=at, last_seen_at=at)
            s.add(inquiry)
            s.flush()
            s.add(m.Call(linkedid=f"bench-{n}", direction="inbound", caller=inquiry.phone, started_at=at,
                         outcome="missed", inquiry_id=inquiry.id, department_id=sales.id))
            s.add(m.Task(title=f"Перезвонить {inquiry.phone}", type="call", responsible_id=head.id,
                         deadline=at + timedelta(minutes=15), comment="пропущенный", inquiry_id=inquiry.id))
        s.commit()


def timed(call) -> tuple[float, object]:
    start = time.perf_counter()
    result = call()
    return (time.perf_counter() - start) * 1000, result


def summary(name: str, times: list[float]) -> str:
    times = sorted(times)
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    return f"{name:<28} p50 {statistics.median(times):7.1f} ms   p95 {p95:7.1f} ms   max {times[-1]:7.1f} ms"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inquiries", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pbx-bench-queue-") as tmp:
        url = f"sqlite:///{tmp}/queue.sqlite3"
        seed(url, args.inquiries)
        app = create_app(load_config(None, {"PBX_CRM_DATABASE_URL": url, "PBX_CRM_ADMIN_SECRET_KEY": "b" * 40}))
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        client.post("/login", data={"login": "vera", "password": "vera-Password-1", "csrf_token": token})
        client.get("/admin/queue/")  # warm: templates compiled, caches filled

        pages, size = [], 0
        for _ in range(args.repeat):
            ms, r = timed(lambda: client.get("/admin/queue/", headers={"Accept-Language": "ru"}))
            assert r.status_code == 200, r.status_code
            pages.append(ms)
            size = len(r.get_data())
        html = r.get_data(as_text=True)
        total = re.search(r'id="total">([^<]+)<', html).group(1)
        token = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
        ids = [int(i) for i in re.findall(r'<tr data-inquiry="(\d+)"', html)]

        clicks = []
        for n, inquiry_id in enumerate(ids[:args.repeat]):
            ms, r = timed(lambda: client.post(f"/admin/queue/{inquiry_id}/classify",
                                              data={"class": CLASSES[n % len(CLASSES)]},
                                              headers={"X-CSRFToken": token, "Accept": "application/json"}))
            assert r.status_code == 200, (r.status_code, r.get_data(as_text=True)[:300])
            clicks.append(ms)

    print(f"open inquiries: {args.inquiries}; the page says: {total}; page size {size / 1024:.0f} KiB")
    print(summary("GET /admin/queue/", pages))
    print(summary("POST classify (JSON)", clicks))
    target = statistics.median(clicks) < 200 and max(clicks) < 200
    print(f"classify under 200 ms: {'yes' if target else 'NO'}")
    return 0 if target else 1


if __name__ == "__main__":
    raise SystemExit(main())
